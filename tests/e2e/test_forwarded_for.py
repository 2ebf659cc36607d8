"""Issue 12, hole 2, against a real server process: a caller on loopback sending a new `X-Forwarded-For` per
request reset the anonymous token limit (uvicorn believed the header from 127.0.0.1). The header is now read only
through `synthscope.auth.client_ip`, per `trusted_proxy_hops` (0 by default: ignored)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.fixtures.service import Server, free_port, service_env

pytestmark = pytest.mark.slow


def _server(root: Path, bundle: Path, **extra: str) -> Server:
    port = free_port()
    env = service_env(
        root / "data", bundle, SYNTHSCOPE_ANON_TOKEN_RATE="3/minute", SYNTHSCOPE_API_SYNC_ANALYZE="false", **extra
    )
    return Server(["-m", "synthscope_api.local", "--no-worker", "--port", str(port)], env, root / "server.log", port)


def test_a_new_spoofed_forwarded_for_per_request_does_not_reset_the_limit(tiny_bundle: Path, tmp_path: Path) -> None:
    srv = _server(tmp_path, tiny_bundle)
    srv.start()
    try:
        with httpx.Client(timeout=30, trust_env=False) as c:
            codes = [
                c.post(srv.url + "/auth/token", headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
                for i in range(8)
            ]
    finally:
        srv.stop()
    assert codes == [200, 200, 200] + [429] * 5, srv.logs()


def test_behind_one_trusted_proxy_only_its_hop_counts(tiny_bundle: Path, tmp_path: Path) -> None:
    srv = _server(tmp_path, tiny_bundle, SYNTHSCOPE_TRUSTED_PROXY_HOPS="1")
    srv.start()
    try:
        with httpx.Client(timeout=30, trust_env=False) as c:

            def post(xff: str) -> int:
                return c.post(srv.url + "/auth/token", headers={"X-Forwarded-For": xff}).status_code

            spoofed = [post(f"10.0.0.{i}, 198.51.100.7") for i in range(5)]
            other_client = post("198.51.100.8")
    finally:
        srv.stop()
    assert spoofed == [200, 200, 200, 429, 429] and other_client == 200, srv.logs()
