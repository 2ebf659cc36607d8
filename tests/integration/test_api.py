"""The API in-process (TestClient) on the real local backends: contract details that need no socket.

The socket-level flow with real server processes is in tests/e2e/test_service_http.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from synthscope.auth.entitlements import grant
from synthscope.config import TIER_LIMITS, Settings, Tier
from synthscope.pipeline import Pipeline
from synthscope.reports.schema import AnalysisResult, Report
from synthscope_api.app import create_app
from synthscope_api.openapi import render
from tests.fixtures.audio import voice_like, write_audio
from tests.fixtures.service import API_KEY, TEST_SECRET

ROOT = Path(__file__).resolve().parents[2]
PROBLEM = "application/problem+json"


def make_settings(tmp: Path, bundle: Path | None, **kw: Any) -> Settings:
    base: dict[str, Any] = {
        "data_dir": tmp,
        "bundle_path": bundle,
        "device": "cpu",
        "hmac_secret": SecretStr(TEST_SECRET),
        "api_keys": [SecretStr(API_KEY)],
        "queue_dispatch": False,
        "api_sync_analyze": bundle is not None,
        "anon_token_rate": "1000/minute",
        "cors_origins": ["https://app.example.com"],
        "quotas_enforced": False,  # tests/integration/test_quotas.py turns them on
    }
    base.update(kw)
    return Settings(_env_file=None, **base)  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory, tiny_bundle: Path) -> Iterator[TestClient]:
    settings = make_settings(tmp_path_factory.mktemp("api"), tiny_bundle)
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    p = write_audio(tmp_path_factory.mktemp("wav") / "a.wav", voice_like(10.0, np.random.default_rng(7)))
    return p.read_bytes()


def token(c: TestClient, user_id: str | None = None) -> dict[str, str]:
    if user_id is None:
        r = c.post("/auth/token")
    else:
        r = c.post("/auth/token", json={"user_id": user_id}, headers={"X-Api-Key": API_KEY})
    assert r.status_code == 200, r.text
    return {"Authorization": "Bearer " + r.json()["access_token"]}


def upload(c: TestClient, auth: dict[str, str], data: bytes, name: str = "a.wav", mime: str = "audio/wav") -> str:
    r = c.post(
        "/generate-upload-url", json={"file_name": name, "file_type": mime, "size_bytes": len(data)}, headers=auth
    )
    assert r.status_code == 200, r.text
    signed = r.json()
    put = c.put(signed["upload_url"], content=data, headers=signed["headers"])
    assert put.status_code == 200, put.text
    return str(signed["object_name"])


def assert_problem(r: Any, status: int, slug: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    doc: dict[str, Any] = r.json()
    assert {"type", "title", "status", "detail"} <= set(doc) and doc["status"] == status
    if slug:
        assert doc["type"].endswith("/" + slug), doc
    return doc


# -- OpenAPI ---------------------------------------------------------------------------------------------


def test_openapi_json_matches_the_code() -> None:
    committed = (ROOT / "openapi.json").read_text()
    assert committed == render(), "openapi.json is stale: run `make openapi` and commit it"


def test_openapi_declares_problems_and_stable_operation_ids() -> None:
    doc = json.loads(render())
    ops = {op["operationId"]: op for path in doc["paths"].values() for op in path.values()}
    assert {"createToken", "createUploadUrl", "createReport", "getReportStatus", "analyzeFile"} <= set(ops)
    assert "ProblemDetails" in doc["components"]["schemas"]
    for name in ("createUploadUrl", "createReport", "getReportStatus"):
        assert ops[name]["responses"]["401"]["content"][PROBLEM]["schema"]["$ref"].endswith("/ProblemDetails")
    for op in ops.values():  # validation errors are problems too, not FastAPI's default JSON
        if "422" in op["responses"]:
            assert list(op["responses"]["422"]["content"]) == [PROBLEM]
    refs = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(doc)))
    assert refs <= set(doc["components"]["schemas"]), refs - set(doc["components"]["schemas"])


# -- tokens ----------------------------------------------------------------------------------------------


def test_anonymous_tokens_are_rate_limited_per_ip(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path, None, anon_token_rate="3/minute"))) as c:
        for _ in range(3):
            assert c.post("/auth/token").status_code == 200
        r = c.post("/auth/token")
        assert_problem(r, 429, "rate-limited")
        assert int(r.headers["retry-after"]) >= 1
        # the trusted backend is not limited by the anonymous budget
        assert c.post("/auth/token", json={"user_id": "u1"}, headers={"X-Api-Key": API_KEY}).status_code == 200


def test_only_the_hop_our_proxy_appended_is_believed(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, None, anon_token_rate="2/minute", trusted_proxy_hops=1)
    with TestClient(create_app(settings)) as c:
        # the caller writes the left part; the front end appends the real address: only that one counts
        spoofed = [f"10.0.0.{i}, 198.51.100.7" for i in range(4)]
        codes = [c.post("/auth/token", headers={"X-Forwarded-For": h}).status_code for h in spoofed]
        assert codes == [200, 200, 429, 429]
        assert c.post("/auth/token", headers={"X-Forwarded-For": "198.51.100.8"}).status_code == 200


def test_client_ip_policy() -> None:
    from synthscope.auth.client_ip import client_ip

    assert client_ip("1.2.3.4", "9.9.9.9", 0) == "1.2.3.4"
    assert client_ip("1.2.3.4", "9.9.9.9, 5.6.7.8", 1) == "5.6.7.8"
    assert client_ip("1.2.3.4", "9.9.9.9, 5.6.7.8, 10.0.0.1", 2) == "5.6.7.8"
    assert client_ip("1.2.3.4", "5.6.7.8", 2) == "1.2.3.4"  # fewer hops than our proxies: not ours
    assert client_ip("1.2.3.4", "9.9.9.9, not-an-ip", 1) == "1.2.3.4"
    assert client_ip(None, None, 1) == "unknown"


def test_token_binding_needs_the_api_key(app_client: TestClient) -> None:
    assert_problem(app_client.post("/auth/token", json={"user_id": "mallory"}), 403, "forbidden")
    assert_problem(app_client.post("/auth/token", headers={"X-Api-Key": "nope"}), 401, "unauthorized")
    assert_problem(app_client.post("/auth/token", json={"user_id": "a b"}, headers={"X-Api-Key": API_KEY}), 400)
    body = app_client.post("/auth/token").json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900


def test_requests_without_a_valid_token_are_401(app_client: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer junk"}, {"Authorization": "Basic dTpw"}):
        r = app_client.post(
            "/generate-upload-url",
            json={"file_name": "a.wav", "file_type": "audio/wav", "size_bytes": 1},
            headers=headers,
        )
        assert_problem(r, 401, "unauthorized")
        assert r.headers["www-authenticate"] == "Bearer"


# -- upload URLs -----------------------------------------------------------------------------------------


def test_upload_url_admission(app_client: TestClient) -> None:
    auth = token(app_client)

    def ask(**body: Any) -> Any:
        return app_client.post("/generate-upload-url", json=body, headers=auth)

    ok = ask(file_name="../../x/Talk.MP3", file_type="audio/mpeg", size_bytes=123).json()
    assert ok["method"] == "PUT" and ok["object_name"].endswith("/Talk.mp3") and ok["bucket"] == "local"
    assert ok["headers"] == {
        "Content-Type": "audio/mpeg",
        "x-goog-content-length-range": "0,123",
        "x-goog-if-generation-match": "0",  # single use (issue 12 hole 3)
    }
    assert ok["upload_url"].startswith("http://testserver/local-upload/uploads/")
    assert_problem(ask(file_name="a.exe", file_type="audio/mpeg", size_bytes=1), 415, "unsupported-media-type")
    assert_problem(ask(file_name="a.mp3", file_type="audio/wav", size_bytes=1), 415)
    free_max = TIER_LIMITS[Tier.free].max_file_bytes
    assert_problem(ask(file_name="a.mp3", file_type="audio/mpeg", size_bytes=free_max + 1), 413, "file-too-large")
    doc = assert_problem(ask(file_name="a.mp3", file_type="audio/mpeg", size_bytes=0), 422, "validation-failed")
    assert doc["errors"][0]["loc"][-1] == "size_bytes"
    assert_problem(ask(file_name="a.mp3", file_type="audio/mpeg"), 422)


def test_tier_comes_from_the_store_on_each_request(app_client: TestClient) -> None:
    auth = token(app_client, "tier-user")
    big = {"file_name": "a.mp3", "file_type": "audio/mpeg", "size_bytes": 100 * 1_000_000}
    assert app_client.post("/generate-upload-url", json=big, headers=auth).status_code == 413
    accounts = app_client.app.state.api.backends.accounts  # type: ignore[attr-defined]
    grant(accounts, "tier-user", Tier.pro)
    assert app_client.post("/generate-upload-url", json=big, headers=auth).status_code == 200  # same token
    grant(accounts, "tier-user", Tier.pro, status="canceled")
    assert app_client.post("/generate-upload-url", json=big, headers=auth).status_code == 413


# -- reports ---------------------------------------------------------------------------------------------


def test_report_checks_the_object(app_client: TestClient, wav: bytes) -> None:
    alice, bob = token(app_client), token(app_client)
    obj = upload(app_client, alice, wav)
    assert_problem(app_client.post("/report", json={"object_name": obj}, headers=bob), 404, "not-found")
    missing = obj.rsplit("/", 2)[0] + "/AAAAAAAAAAAAAAAAAAAAAAAA/a.wav"
    assert_problem(app_client.post("/report", json={"object_name": missing}, headers=alice), 404)
    text = upload(app_client, alice, b"<html>hello</html>" * 30, "a.mp3", "audio/mpeg")
    assert_problem(app_client.post("/report", json={"object_name": text}, headers=alice), 415, "unsupported-media-type")
    wav_named_mp3 = upload(app_client, alice, wav, "song.mp3", "audio/mpeg")
    assert_problem(app_client.post("/report", json={"object_name": wav_named_mp3}, headers=alice), 415)
    r = app_client.post("/report", json={"object_name": obj}, headers=alice)
    assert r.status_code == 202
    body = r.json()
    assert body["status"] == "queued" and body["task_id"].startswith("rep_")
    assert r.headers["location"] == body["status_url"] == f"/report-status/{body['task_id']}"


def test_idempotency_key(app_client: TestClient, wav: bytes) -> None:
    auth = token(app_client)
    obj1, obj2 = upload(app_client, auth, wav), upload(app_client, auth, wav)

    def post(obj: str, key: str | None) -> Any:
        headers = {**auth, **({"Idempotency-Key": key} if key else {})}
        return app_client.post("/report", json={"object_name": obj}, headers=headers)

    first, again = post(obj1, "key-1"), post(obj1, "key-1")
    assert first.status_code == again.status_code == 202
    assert first.json()["task_id"] == again.json()["task_id"]
    assert_problem(post(obj2, "key-1"), 422, "idempotency-key-reused")
    assert post(obj2, "key-2").json()["task_id"] != first.json()["task_id"]
    assert post(obj1, None).json()["task_id"] != post(obj1, None).json()["task_id"]
    assert_problem(post(obj1, "bad key with spaces"), 422, "validation-failed")  # the pattern is in the schema
    other = token(app_client)  # keys are per caller: another caller's key-1 is unrelated
    assert_problem(
        app_client.post("/report", json={"object_name": obj1}, headers={**other, "Idempotency-Key": "key-1"}), 404
    )


def test_status_etag_retry_after_redaction_and_owner(app_client: TestClient, wav: bytes) -> None:
    state = app_client.app.state.api  # type: ignore[attr-defined]
    auth = token(app_client, "reader")
    task = app_client.post("/report", json={"object_name": upload(app_client, auth, wav)}, headers=auth).json()
    url = task["status_url"]
    r = app_client.get(url, headers=auth)
    assert r.status_code == 200 and r.headers["retry-after"] == "1" and r.headers["etag"].startswith('W/"')
    assert r.json()["status"] == "queued" and r.json()["result"] is None
    assert app_client.get(url, headers={**auth, "If-None-Match": r.headers["etag"]}).status_code == 304
    assert_problem(app_client.get(url, headers=token(app_client)), 404, "not-found")
    assert_problem(app_client.get("/report-status/rep_nope", headers=auth), 404)

    pipeline = Pipeline(state.settings, state.engine, state.backends.blobs, state.backends.reports)
    assert pipeline.process(task["task_id"]).kind == "completed"
    done = app_client.get(url, headers={**auth, "If-None-Match": r.headers["etag"]})
    assert done.status_code == 200 and "retry-after" not in done.headers
    free = Report.model_validate(done.json())
    assert free.status == "completed" and free.tier == "free" and free.limited
    assert free.result is not None and len(free.result.timeline) == 3 and free.result.detectors == []
    grant(state.backends.accounts, "reader", Tier.pro)  # an upgrade shows everything at once
    pro = Report.model_validate(app_client.get(url, headers=auth).json())
    assert pro.tier == "pro" and not pro.limited and pro.result is not None
    assert len(pro.result.timeline) == pro.result.summary.windows > 3 and pro.result.detectors


def test_a_report_abandoned_on_every_attempt_fails_when_polled(
    tmp_path: Path, wav: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker killed on every delivery (Cloud Tasks has no dead-letter hook): the poll after the last lease ran
    out turns the report into an honest failure; until then, and below the attempt limit, the poll writes nothing."""
    with TestClient(create_app(make_settings(tmp_path, None, queue_max_attempts=3))) as c:
        reports = c.app.state.api.backends.reports  # type: ignore[attr-defined]
        now = [1_000_000.0]
        monkeypatch.setattr(reports, "clock", lambda: now[0])
        auth = token(c)
        task = c.post("/report", json={"object_name": upload(c, auth, wav)}, headers=auth).json()
        url, task_id = task["status_url"], task["task_id"]

        def status() -> dict[str, Any]:
            r = c.get(url, headers=auth)
            assert r.status_code == 200, r.text
            return dict(r.json())

        for attempt in (1, 2, 3):  # each delivery claims the report, then the worker dies before finishing
            claim = reports.claim(task_id, worker_id=f"w{attempt}", lease_s=10)
            assert claim.outcome == "claimed" and claim.report["attempts"] == attempt
            now[0] += 5  # the attempt's lease is live: processing
            assert status()["status"] == "processing"
            now[0] += 6  # ... and it ran out: below the limit a retry may still come, so still processing
            body = status()
            if attempt < 3:
                assert body["status"] == "processing" and body["error"] is None
        stored = reports.get(task_id)
        assert body["status"] == "failed" and body["stage"] == "done" and body["eta_seconds"] is None
        problem = body["error"]
        assert problem["type"] == "https://synthscope.dev/problems/processing-failed"
        assert problem["title"] == "Processing failed" and problem["status"] == 500
        assert "every attempt (3)" in problem["detail"] and problem["instance"] == url
        assert stored is not None and stored["status"] == "failed" and stored["error"] == problem
        r = c.get(url, headers=auth)
        assert r.json() == body and "retry-after" not in r.headers  # terminal; the next poll reads it as is
        assert reports.claim(task_id, worker_id="late", lease_s=10).outcome == "finished"


def test_a_poll_of_a_running_report_writes_nothing(tmp_path: Path, wav: bytes) -> None:
    with TestClient(create_app(make_settings(tmp_path, None, queue_max_attempts=2))) as c:
        reports = c.app.state.api.backends.reports  # type: ignore[attr-defined]
        auth = token(c)
        task = c.post("/report", json={"object_name": upload(c, auth, wav)}, headers=auth).json()
        assert reports.claim(task["task_id"], worker_id="w", lease_s=0.0).outcome == "claimed"  # lease run out
        before = reports.get(task["task_id"])
        r = c.get(task["status_url"], headers=auth)
        assert r.status_code == 200 and r.json()["status"] == "processing"
        assert reports.get(task["task_id"]) == before  # attempts 1 < 2: no write, not even updated_at


# -- synchronous analysis, health, CORS --------------------------------------------------------------------


def test_analyze_synchronously(app_client: TestClient, wav: bytes) -> None:
    auth = token(app_client)
    r = app_client.post("/analyze", files={"file": ("clip.wav", wav, "audio/wav")}, headers=auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["tier"] == "free" and body["limited"]
    AnalysisResult.model_validate(body["result"])
    bad = app_client.post("/analyze", files={"file": ("clip.wav", b"MZ\x90\x00" * 100, "audio/wav")}, headers=auth)
    assert_problem(bad, 415)
    assert_problem(app_client.post("/analyze", files={"file": ("x.txt", b"hi", "text/plain")}, headers=auth), 415)


def test_analyze_off_is_503_and_health(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path, None))) as c:
        r = c.post("/analyze", files={"file": ("a.wav", b"RIFF", "audio/wav")}, headers=token(c))
        assert_problem(r, 503, "unavailable")
        assert c.get("/healthz").json() == {"status": "ok", "checks": {}}
        ready = c.get("/readyz").json()
        assert ready["status"] == "ready" and ready["checks"]["reports"] == "ok"
        assert_problem(c.get("/nope"), 404)


def test_cors_for_configured_origins_only(app_client: TestClient) -> None:
    pre = {
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "content-type,x-goog-content-length-range",
    }
    ok = app_client.options("/local-upload/x", headers={"Origin": "https://app.example.com", **pre})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "x-goog-content-length-range" in ok.headers["access-control-allow-headers"].lower()
    bad = app_client.options("/local-upload/x", headers={"Origin": "https://evil.example", **pre})
    assert "access-control-allow-origin" not in bad.headers
    r = app_client.get("/healthz", headers={"Origin": "https://app.example.com", "X-Request-Id": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123" and "etag" in r.headers["access-control-expose-headers"].lower()


def test_profile_is_chosen_per_request(app_client: TestClient, wav: bytes) -> None:
    state = app_client.app.state.api  # type: ignore[attr-defined]
    auth = token(app_client, "profiler")
    grant(state.backends.accounts, "profiler", Tier.pro)
    tasks = {}
    for profile in ("fast", None):
        body = {"object_name": upload(app_client, auth, wav), **({"profile": profile} if profile else {})}
        r = app_client.post("/report", json=body, headers=auth)
        assert r.status_code == 202, r.text
        tasks[profile or "default"] = r.json()
    pipeline = Pipeline(state.settings, state.engine, state.backends.blobs, state.backends.reports)
    results = {}
    for profile, task in tasks.items():
        assert pipeline.process(task["task_id"]).kind == "completed"
        report = Report.model_validate(app_client.get(task["status_url"], headers=auth).json())
        assert report.result is not None
        results[profile] = report.result
    assert results["fast"].model.profile == "fast" and results["default"].model.profile == "default"
    assert "speech_encoder" not in results["fast"].model.detectors
    assert "speech_encoder" in results["default"].model.detectors
    assert {d.name for d in results["fast"].detectors} == set(results["fast"].model.detectors)
    turbo = {"object_name": upload(app_client, auth, wav), "profile": "turbo"}
    assert_problem(app_client.post("/report", json=turbo, headers=auth), 422)

    sync = app_client.post(
        "/analyze", files={"file": ("c.wav", wav, "audio/wav")}, data={"profile": "fast"}, headers=auth
    )
    assert sync.status_code == 200, sync.text
    assert sync.json()["result"]["model"]["profile"] == "fast"


def test_openapi_says_what_the_api_does(app_client: TestClient) -> None:
    """Issue 12, hole 6: X-Api-Key was declared required on /auth/token, and a non-UTF-8 body's 400 was undocumented."""
    doc = json.loads((ROOT / "openapi.json").read_text())
    token = doc["paths"]["/auth/token"]["post"]
    assert {} in token["security"]  # anonymous minting is allowed
    assert app_client.post("/auth/token").status_code == 200
    r = app_client.post("/auth/token", content=b'{"user_id": "\xff\xfe"}', headers={"content-type": "application/json"})
    assert_problem(r, 400)
    assert "400" in token["responses"]
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if "requestBody" in op:
                assert "400" in op["responses"], f"{method.upper()} {path}"


def _flac_with_a_lying_header(path: Path, minutes: float, claims_samples: int) -> bytes:
    """A FLAC that decodes to `minutes` of audio while its STREAMINFO claims `claims_samples` samples."""
    t = np.arange(int(minutes * 60 * 16000)) / 16000
    write_audio(path, (0.1 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(np.pi * t))).astype(np.float32))
    data = bytearray(path.read_bytes())
    assert data[:4] == b"fLaC"
    field = int.from_bytes(data[18:26], "big")  # rate | channels | bits | 36-bit total samples
    data[18:26] = ((field & ~((1 << 36) - 1)) | claims_samples).to_bytes(8, "big")
    return bytes(data)


def test_duration_limit_holds_on_decoded_audio_not_the_header(app_client: TestClient, tmp_path: Path) -> None:
    """Issue 12, hole 1: a FLAC claiming 1 s that decodes to 11 min was analysed in full on the free tier (10 min)."""
    lie = _flac_with_a_lying_header(tmp_path / "lie.flac", 11.0, claims_samples=16000)
    auth = token(app_client)
    r = app_client.post("/analyze", files={"file": ("lie.flac", lie, "audio/flac")}, headers=auth)
    assert_problem(r, 413, "audio-too-long")


def test_a_cached_result_obeys_the_callers_tier(app_client: TestClient, tmp_path: Path) -> None:
    """Issue 12, hole 1: a cached result was returned before any limit check (a free caller got a 30-min result)."""
    import hashlib

    state = app_client.app.state.api  # type: ignore[attr-defined]
    shared = state.engine
    # bytes no other test in this module has analysed (the first stored result of a digest is the one kept)
    path = write_audio(tmp_path / "a.wav", voice_like(4.0, np.random.default_rng(1234)))
    wav = path.read_bytes()
    result = shared.analyze(path).model_dump(mode="json")
    result["audio"]["duration_s"] = 1800.0  # as if another caller's 30-min upload had these bytes
    reports = state.backends.reports
    task = "rep_cached_long"
    reports.create({"task_id": task, "owner": "someone", "status": "processing", "stage": "analyzing"})
    key = shared.key_for("default")
    assert reports.finish(
        task,
        {"status": "completed", "result": result},
        lease_token=None,
        cache_key=(hashlib.sha256(wav).hexdigest(), key),
    )
    r = app_client.post("/analyze", files={"file": ("a.wav", wav, "audio/wav")}, headers=token(app_client))
    assert_problem(r, 413, "audio-too-long")
