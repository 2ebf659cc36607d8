"""Report callbacks: enterprise only, URL rules, signed delivery with retries, verified as a receiver would."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from synthscope import callbacks
from synthscope.auth import apikeys
from synthscope.cli import app as cli
from synthscope.pipeline import Pipeline
from synthscope_api.app import create_app
from tests.fixtures.audio import voice_like, write_audio
from tests.integration.test_api import assert_problem, make_settings, token, upload


@contextmanager
def receiver(answers: list[int]) -> Iterator[tuple[str, list[tuple[bytes, dict[str, str]]]]]:
    """A callback receiver on 127.0.0.1 answering the given statuses in turn (then 200)."""
    got: list[tuple[bytes, dict[str, str]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            got.append((body, dict(self.headers.items())))
            self.send_response(answers.pop(0) if answers else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    finally:
        server.shutdown()
        server.server_close()


def test_callback_url_rules() -> None:
    for url in ("http://example.com/x", "ftp://example.com/x", "https://user:pw@example.com/x", "https:///x"):
        with pytest.raises(callbacks.BadCallbackUrl):
            callbacks.check_url(url, local=False)
    for ip in ("127.0.0.1", "10.1.2.3", "192.168.0.1", "169.254.169.254", "[::1]", "[fe80::1]", "0.0.0.0"):
        with pytest.raises(callbacks.BadCallbackUrl):
            callbacks.check_url(f"https://{ip}/hook", local=False)
    assert callbacks.check_url("https://8.8.8.8/hook", local=False)  # a public literal needs no DNS
    assert callbacks.check_url("http://127.0.0.1:9/hook", local=True)  # local mode only


def test_signed_callback_arrives_after_retries(
    tmp_path: Path, tiny_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path, tiny_bundle, callback_backoff_s=0.05, callback_attempts=4)
    wav = write_audio(tmp_path / "a.wav", voice_like(5.0, np.random.default_rng(2))).read_bytes()
    with receiver([503, 500]) as (url, got), TestClient(create_app(settings)) as c:
        state = c.app.state.api  # type: ignore[attr-defined]
        key, _ = apikeys.create(state.backends.reports, "acme")
        auth = {"Authorization": f"Bearer {key}"}
        free = token(c)
        r = c.post("/report", json={"object_name": upload(c, free, wav), "callback_url": url}, headers=free)
        assert_problem(r, 403, "forbidden")  # not the free tier's
        r = c.post("/report", json={"object_name": upload(c, auth, wav), "callback_url": url}, headers=auth)
        assert r.status_code == 202, r.text
        pipeline = Pipeline(settings, state.engine, state.backends.blobs, state.backends.reports)
        assert pipeline.process(r.json()["task_id"]).kind == "completed"
        for t in pipeline.callback_threads:
            t.join(30)
    assert len(got) == 3  # 503, 500, then delivered
    body, headers = got[-1]
    monkeypatch.setenv("SYNTHSCOPE_HMAC_SECRET", settings.hmac_secret.get_secret_value())
    secret = CliRunner().invoke(cli, ["keys", "callback-secret", "--org", "acme"]).stdout.strip()
    key_bytes = bytes.fromhex(secret)
    assert callbacks.verify(key_bytes, body, headers)
    assert not callbacks.verify(key_bytes, body + b" ", headers)  # tampered body
    assert not callbacks.verify(callbacks.callback_key(settings, "org:other"), body, headers)  # another org's key
    assert not callbacks.verify(key_bytes, body, headers, now=int(headers["Synthscope-Timestamp"]) + 301)  # stale
    report = json.loads(body)
    assert report["task_id"] == r.json()["task_id"] and report["status"] == "completed"
    assert report["tier"] == "enterprise" and report["limited"] is False and report["result"]["detectors"]
