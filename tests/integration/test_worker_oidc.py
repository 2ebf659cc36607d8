"""The worker in gcp mode accepts only Cloud Tasks' OIDC token for the invoker account, audience = its base URL.

Tokens are signed by a throwaway issuer whose certificate is served on 127.0.0.1 (settings.oidc_certs_url);
the backends are the gcp adapters on the real emulators.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from synthscope.analysis import SharedEngine
from synthscope.backends import build
from synthscope.config import Settings
from synthscope_worker.app import attach, create_app
from tests.fixtures.gcp import PROJECT
from tests.fixtures.oidc import Issuer
from tests.fixtures.service import TEST_SECRET

INVOKER = "invoker@demo-synthscope.iam.gserviceaccount.com"
WORKER_URL = "https://worker.synthscope.test"


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    i = Issuer()
    yield i
    i.stop()


def gcp_settings(firestore_emu: Any, gcs_emu: Any, tasks_emu: Any, **kw: Any) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        backend="gcp",
        gcp_project=PROJECT,
        hmac_secret=SecretStr(TEST_SECRET),
        device="cpu",
        tasks_emulator_host=f"127.0.0.1:{tasks_emu.port}",
        gcs_signed_url_endpoint=gcs_emu.url,
        worker_url=WORKER_URL,
        **kw,
    )


@pytest.fixture
def worker(
    firestore_emu: Any, gcs_emu: Any, tasks_emu: Any, issuer: Issuer, engine: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_emu.host)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emu.url)
    settings = gcp_settings(
        firestore_emu,
        gcs_emu,
        tasks_emu,
        invoker_email=INVOKER,
        oidc_certs_url=issuer.certs_url,
        firestore_prefix="oidc_",
    )
    backends = build(settings)
    app = create_app(settings, embedded=True)
    attach(app, settings, backends, SharedEngine(engine))
    with TestClient(app) as c:
        yield c
    backends.close()


def post(c: TestClient, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return c.post("/process-report", json={"task_id": "rep_nothing"}, headers=headers)


def test_only_the_invokers_token_for_this_audience_is_accepted(worker: TestClient, issuer: Issuer) -> None:
    good = issuer.token(audience=WORKER_URL, email=INVOKER)
    r = post(worker, good)
    assert r.status_code == 200 and r.json()["outcome"] == "missing"
    assert post(worker, issuer.token(audience=WORKER_URL + "/", email=INVOKER)).status_code == 401  # aud exact
    stranger = Issuer("other-kid")
    try:
        forged = stranger.token(audience=WORKER_URL, email=INVOKER)
    finally:
        stranger.stop()
    cases = {
        "no header": None,
        "not a jwt": "abc.def.ghi",
        "other audience": issuer.token(audience="https://other.example", email=INVOKER),
        "task URL as audience": issuer.token(audience=WORKER_URL + "/process-report", email=INVOKER),
        "expired": issuer.token(audience=WORKER_URL, email=INVOKER, ttl_s=-120),
        "unknown key": forged,
        "other issuer": issuer.token(audience=WORKER_URL, email=INVOKER, iss="https://evil.example"),
    }
    for why, token in cases.items():
        r = post(worker, token)
        assert r.status_code == 401, why
        assert r.headers["content-type"].startswith("application/problem+json")
    for token in (
        issuer.token(audience=WORKER_URL, email="someone@demo-synthscope.iam.gserviceaccount.com"),
        issuer.token(audience=WORKER_URL, email=INVOKER, email_verified=False),
    ):
        assert post(worker, token).status_code == 403
