"""The whole pipeline over real sockets, driven with plain HTTP exactly as the web app would:
token → upload URL → PUT → /report → poll. Twice: `local` is one server process (API + worker + queue,
as `make run` starts it); `gcp` is the API and the worker as separate processes on the gcp backends,
over the Firestore, Cloud Storage and Cloud Tasks emulators (signed URLs and OIDC tokens verified)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import numpy as np
import pytest
import yaml
from pydantic import SecretStr

from synthscope.auth.keys import subkey
from synthscope.auth.tokens import mint
from synthscope.backends.local.blobs import LocalBlobStore
from synthscope.config import Settings
from synthscope.reports.schema import Report
from synthscope.uploads import owner_prefix
from tests.fixtures.audio import espeak, voice_like, write_audio
from tests.fixtures.service import API_KEY, TEST_SECRET, Server, fake_mp3, free_port, service_env

pytestmark = pytest.mark.slow

MIME = {".wav": "audio/wav", ".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".flac": "audio/flac"}


@pytest.fixture(scope="module", params=["local", "gcp"])
def server(
    request: pytest.FixtureRequest, tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    root = tmp_path_factory.mktemp(f"service-{request.param}")
    if request.param == "gcp":
        from tests.fixtures.gcp_stack import gcp_service

        emulators = [request.getfixturevalue(f) for f in ("firestore_emu", "gcs_emu", "tasks_emu")]
        with gcp_service(
            *emulators, root, tiny_bundle, extra_env={"SYNTHSCOPE_ANON_TOKEN_RATE": "10000/minute"}
        ) as api:
            yield api
        return
    port = free_port()
    srv = Server(
        ["-m", "synthscope_api.local", "--port", str(port)],
        service_env(root / "data", tiny_bundle, SYNTHSCOPE_ANON_TOKEN_RATE="10000/minute"),
        root / "server.log",
        port,
    )
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def local_only(server: Server) -> None:
    if server.backend != "local":
        pytest.skip("checks the local signer's own URL format; the gcp variant is test_tampered_gcs_upload_url")


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(11)
    speech = np.concatenate([espeak("Every window of audio gets its own probability."), voice_like(6.0, rng)])
    return {
        ".wav": write_audio(d / "talk.wav", voice_like(9.0, rng)),
        ".mp3": write_audio(d / "song.mp3", voice_like(10.0, rng)),
        ".ogg": write_audio(d / "speech.ogg", speech),
        "silent": write_audio(d / "quiet.wav", np.zeros(16_000 * 5, np.float32)),
    }


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60, trust_env=False) as c:
        yield c


def token(http: httpx.Client, url: str) -> dict[str, str]:
    r = http.post(url + "/auth/token")
    assert r.status_code == 200, r.text
    return {"Authorization": "Bearer " + r.json()["access_token"]}


def signed_url(http: httpx.Client, url: str, auth: dict[str, str], name: str, size: int) -> dict[str, Any]:
    body = {"file_name": name, "file_type": MIME[Path(name).suffix], "size_bytes": size}
    r = http.post(url + "/generate-upload-url", json=body, headers=auth)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def upload(http: httpx.Client, url: str, auth: dict[str, str], name: str, data: bytes) -> str:
    s = signed_url(http, url, auth, name, len(data))
    r = http.put(s["upload_url"], content=data, headers=s["headers"])
    assert r.status_code == 200, r.text
    return str(s["object_name"])


def submit(http: httpx.Client, url: str, auth: dict[str, str], object_name: str) -> dict[str, Any]:
    r = http.post(url + "/report", json={"object_name": object_name}, headers=auth)
    assert r.status_code == 202, r.text
    assert r.headers["location"] == r.json()["status_url"]
    return r.json()  # type: ignore[no-any-return]


def poll(http: httpx.Client, url: str, auth: dict[str, str], task_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    etag, doc, seen_304 = None, None, False
    while time.monotonic() < deadline:
        r = http.get(f"{url}/report-status/{task_id}", headers={**auth, **({"If-None-Match": etag} if etag else {})})
        if r.status_code == 304:
            seen_304 = True
        else:
            assert r.status_code == 200, r.text
            doc, etag = r.json(), r.headers["etag"]
        assert doc is not None
        if doc["status"] in ("completed", "failed"):
            assert "retry-after" not in r.headers
            doc["_seen_304"] = seen_304
            return doc
        assert r.headers["retry-after"] == "1"
        time.sleep(0.05)
    raise AssertionError(f"report {task_id} did not finish: {doc}")


def problem(r: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    doc: dict[str, Any] = r.json()
    assert doc["type"].endswith("/" + slug) and doc["status"] == status and doc["detail"]
    return doc


@pytest.mark.parametrize("ext", [".wav", ".mp3", ".ogg"])
def test_full_flow_completes(server: Server, clips: dict[str, Path], http: httpx.Client, ext: str) -> None:
    auth = token(http, server.url)
    data = clips[ext].read_bytes()
    obj = upload(http, server.url, auth, clips[ext].name, data)
    task = submit(http, server.url, auth, obj)
    assert task["status"] == "queued"
    doc = poll(http, server.url, auth, task["task_id"])
    assert doc["status"] == "completed" and doc["stage"] == "done" and doc["error"] is None
    report = Report.model_validate(doc)
    assert set(doc) - {"_seen_304"} == set(Report.model_fields)  # exactly the DESIGN §5 keys
    r = report.result
    assert r is not None and r.verdict in ("ai", "human", "mixed", "uncertain")
    assert 0.0 <= (r.ai_probability or 0) <= 1.0 and r.audio.format == ext[1:]
    assert r.summary.windows == doc["progress"]["windows_total"] == doc["progress"]["windows_done"]
    assert doc["progress"]["percent"] == 100.0 and doc["eta_seconds"] == 0.0
    assert report.tier == "free" and len(r.timeline) <= 3 and r.detectors == []
    import hashlib

    assert r.audio.sha256 == hashlib.sha256(data).hexdigest() and r.model.sha256


def test_expired_or_tampered_token_is_401(server: Server, http: httpx.Client) -> None:
    settings = Settings(_env_file=None, hmac_secret=SecretStr(TEST_SECRET))  # type: ignore[call-arg]
    expired = mint(settings, now=time.time() - 3600).token
    good = token(http, server.url)["Authorization"].removeprefix("Bearer ")
    head, payload, sig = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "user:admin"
    tampered = f"{head}.{base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b'=').decode()}.{sig}"
    forged = mint(Settings(_env_file=None, hmac_secret=SecretStr("attacker-guess")), "admin").token  # type: ignore[call-arg]
    body = {"file_name": "a.wav", "file_type": "audio/wav", "size_bytes": 10}
    for bad in (expired, tampered, forged, good[:-2]):
        r = http.post(server.url + "/generate-upload-url", json=body, headers={"Authorization": f"Bearer {bad}"})
        problem(r, 401, "unauthorized")
    assert (
        "expired" in http.get(server.url + "/report-status/rep_x", headers={"Authorization": f"Bearer {expired}"}).text
    )


def test_tampered_or_expired_upload_url_is_403(server: Server, clips: dict[str, Path], http: httpx.Client) -> None:
    local_only(server)
    auth = token(http, server.url)
    data = clips[".wav"].read_bytes()
    s = signed_url(http, server.url, auth, "talk.wav", len(data))
    u = urlsplit(s["upload_url"])
    q = dict(parse_qsl(u.query))
    base = f"{u.scheme}://{u.netloc}"

    def put(path: str, query: dict[str, str], headers: dict[str, str], method: str = "PUT") -> httpx.Response:
        return http.request(method, f"{base}{path}?{urlencode(query)}", content=data, headers=headers)

    sig = q["X-Synthscope-Signature"]
    problem(put(u.path, {**q, "X-Synthscope-Signature": sig[::-1]}, s["headers"]), 403, "forbidden")
    problem(put(u.path.replace("talk.wav", "evil.wav"), q, s["headers"]), 403, "forbidden")
    problem(put(u.path, {**q, "X-Synthscope-Expires": "604800"}, s["headers"]), 403, "forbidden")
    problem(put(u.path, q, {**s["headers"], "Content-Type": "audio/mpeg"}), 403, "forbidden")
    problem(put(u.path, q, {**s["headers"], "x-goog-content-length-range": "0,999999999"}), 403, "forbidden")
    problem(put(u.path, q, s["headers"], method="POST"), 403, "forbidden")
    r = http.post(server.url + "/report", json={"object_name": s["object_name"]}, headers=auth)
    problem(r, 404, "not-found")  # nothing was stored by any of those


def test_expired_upload_url_is_403(server: Server, http: httpx.Client, tmp_path: Path) -> None:
    local_only(server)
    auth = token(http, server.url)
    s = signed_url(http, server.url, auth, "a.wav", 100)
    signer = LocalBlobStore(tmp_path, subkey(SecretStr(TEST_SECRET), "upload-url"))
    fresh = signer.signed_upload(
        s["object_name"], content_type="audio/wav", max_bytes=100, ttl_s=600, base_url=server.url
    )
    old = signer.signed_upload(
        s["object_name"], content_type="audio/wav", max_bytes=100, ttl_s=600, base_url=server.url, now=time.time() - 601
    )
    doc = problem(http.put(old.upload_url, content=b"R" * 100, headers=old.headers), 403, "forbidden")
    assert "expired" in doc["detail"]
    assert http.put(fresh.upload_url, content=b"R" * 100, headers=fresh.headers).status_code == 200


def test_oversize_upload_is_rejected_at_the_put(server: Server, http: httpx.Client) -> None:
    auth = token(http, server.url)
    s = signed_url(http, server.url, auth, "a.wav", 1000)
    r = http.put(s["upload_url"], content=b"R" * 5000, headers=s["headers"])
    if server.backend == "local":
        problem(r, 413, "file-too-large")
    else:
        assert r.status_code == 400 and "EntityTooLarge" in r.text  # what GCS answers
    problem(http.post(server.url + "/report", json={"object_name": s["object_name"]}, headers=auth), 404, "not-found")


def test_every_response_carries_security_headers_and_no_banner(server: Server, http: httpx.Client) -> None:
    """Issue 12 hygiene: nosniff, no referrer, no framing on successes and problems alike; HSTS where every client
    comes over TLS (gcp mode, behind Cloud Run); no server/version banner."""
    auth = token(http, server.url)
    responses = [
        http.get(server.url + "/healthz"),
        http.post(server.url + "/auth/token"),
        http.get(server.url + "/report-status/rep_nope", headers=auth),  # 404 problem
        http.get(server.url + "/report-status/rep_nope"),  # 401 problem
        http.post(
            server.url + "/report", content=b'{"a": "\xc3"}', headers={**auth, "Content-Type": "application/json"}
        ),
    ]
    assert [r.status_code for r in responses] == [200, 200, 404, 401, 400]
    for r in responses:
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer" and r.headers["x-frame-options"] == "DENY"
        assert ("strict-transport-security" in r.headers) == (server.backend == "gcp")
        assert "server" not in r.headers, r.headers
        assert "Traceback" not in r.text and 'File "' not in r.text


def test_an_upload_url_takes_one_put(server: Server, clips: dict[str, Path], http: httpx.Client) -> None:
    """Issue 12 hole 3: a replayed URL overwrote the object and a new /report analysed the new bytes."""
    auth = token(http, server.url)
    data = clips[".wav"].read_bytes()
    s = signed_url(http, server.url, auth, "once.wav", len(data))
    assert http.put(s["upload_url"], content=data, headers=s["headers"]).status_code == 200
    replay = http.put(s["upload_url"], content=data[:44] + bytes(len(data) - 44), headers=s["headers"])
    assert replay.status_code == 412, replay.text
    if server.backend == "local":
        problem(replay, 412, "precondition-failed")
    done = poll(http, server.url, auth, submit(http, server.url, auth, s["object_name"])["task_id"])
    assert done["status"] == "completed"
    again = poll(http, server.url, auth, submit(http, server.url, auth, s["object_name"])["task_id"])
    assert again["status"] == "completed" and again["result"] == done["result"]  # the first bytes, still


def test_tampered_gcs_upload_url_is_403(server: Server, clips: dict[str, Path], http: httpx.Client) -> None:
    if server.backend != "gcp":
        pytest.skip("V4 signed URLs are the gcp backend's")
    auth = token(http, server.url)
    data = clips[".wav"].read_bytes()
    s = signed_url(http, server.url, auth, "talk.wav", len(data))
    assert s["bucket"] == "synthscope-uploads"
    assert set(s["headers"]) == {"Content-Type", "x-goog-content-length-range", "x-goog-if-generation-match"}
    u = urlsplit(s["upload_url"])
    q = dict(parse_qsl(u.query))
    base = f"{u.scheme}://{u.netloc}"

    def put(path: str, query: dict[str, str], headers: dict[str, str]) -> httpx.Response:
        return http.put(f"{base}{path}?{urlencode(query)}", content=data, headers=headers)

    sig = q["X-Goog-Signature"]
    assert put(u.path, {**q, "X-Goog-Signature": sig[::-1]}, s["headers"]).status_code == 403
    assert put(u.path.replace("talk.wav", "evil.wav"), q, s["headers"]).status_code == 403
    assert put(u.path, {**q, "X-Goog-Expires": "604800"}, s["headers"]).status_code == 403
    assert put(u.path, q, {**s["headers"], "Content-Type": "audio/mpeg"}).status_code == 403
    assert put(u.path, q, {**s["headers"], "x-goog-content-length-range": "0,999999999"}).status_code == 403
    r = http.post(server.url + "/report", json={"object_name": s["object_name"]}, headers=auth)
    problem(r, 404, "not-found")  # nothing was stored by any of those
    assert put(u.path, q, s["headers"]).status_code == 200


def test_non_audio_named_mp3(server: Server, http: httpx.Client) -> None:
    auth = token(http, server.url)
    # plain text: refused up front by the magic-bytes check
    text = upload(http, server.url, auth, "song.mp3", b"<html>definitely not audio</html>\n" * 40)
    doc = problem(
        http.post(server.url + "/report", json={"object_name": text}, headers=auth), 415, "unsupported-media-type"
    )
    assert "text/html" in doc["detail"]
    # bytes that look like MP3 in their first bytes but are noise: accepted, then a failed report with a reason
    obj = upload(http, server.url, auth, "track.mp3", fake_mp3())
    report = poll(http, server.url, auth, submit(http, server.url, auth, obj)["task_id"])
    assert report["status"] == "failed" and report["result"] is None
    err = report["error"]
    assert err["type"].endswith("/corrupt-audio") and err["status"] == 422 and "decode" in err["title"].lower()
    assert err["instance"] == f"/report-status/{report['task_id']}"


def test_silent_file_is_not_applicable(server: Server, clips: dict[str, Path], http: httpx.Client) -> None:
    auth = token(http, server.url)
    obj = upload(http, server.url, auth, "quiet.wav", clips["silent"].read_bytes())
    report = poll(http, server.url, auth, submit(http, server.url, auth, obj)["task_id"])
    assert report["status"] == "completed"
    assert report["result"]["verdict"] == "not_applicable" and report["result"]["reason"] == "silent"
    assert report["result"]["ai_probability"] is None


def test_another_users_task_is_404(server: Server, clips: dict[str, Path], http: httpx.Client) -> None:
    alice, bob = token(http, server.url), token(http, server.url)
    obj = upload(http, server.url, alice, "talk.wav", clips[".wav"].read_bytes())
    task = submit(http, server.url, alice, obj)
    problem(http.get(f"{server.url}/report-status/{task['task_id']}", headers=bob), 404, "not-found")
    problem(http.post(server.url + "/report", json={"object_name": obj}, headers=bob), 404, "not-found")
    assert not obj.startswith(owner_prefix("anon:whoever"))
    assert poll(http, server.url, alice, task["task_id"])["status"] == "completed"


def test_logs_are_json_lines_with_request_ids_and_traces(server: Server, http: httpx.Client, tmp_path: Path) -> None:
    auth = token(http, server.url)
    fresh = write_audio(tmp_path / "fresh.wav", voice_like(7.0, np.random.default_rng(99)))
    obj = upload(http, server.url, auth, "fresh.wav", fresh.read_bytes())
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    r = http.post(
        server.url + "/report",
        json={"object_name": obj},
        headers={**auth, "traceparent": f"00-{trace}-00f067aa0ba902b7-01", "X-Request-Id": "req-abc"},
    )
    task_id = r.json()["task_id"]
    assert r.headers["x-request-id"] == "req-abc"
    poll(http, server.url, auth, task_id)
    time.sleep(0.3)
    lines = [json.loads(line) for line in server.logs().splitlines() if line.startswith("{")]
    assert lines and all("severity" in e and "message" in e and "time" in e for e in lines)
    req = [e for e in lines if e.get("request_id") == "req-abc" and "httpRequest" in e]
    assert len(req) == 1 and req[0]["httpRequest"]["status"] == 202
    if server.backend == "gcp":  # with a project, Cloud Logging wants the full trace resource name
        trace = f"projects/{server.env['SYNTHSCOPE_GCP_PROJECT']}/traces/{trace}"
    assert req[0]["logging.googleapis.com/trace"] == trace
    stages = [e for e in lines if e.get("task_id") == task_id and e.get("message") == "stage"]
    assert [e["stage"] for e in stages][:2] == ["downloading", "decoding"] and stages[-1]["next_stage"] == "done"
    assert all(e.get("logging.googleapis.com/trace") == trace for e in stages)  # the worker joined the trace
    assert not any("X-Synthscope-Signature" in json.dumps(e) for e in lines)  # signatures never logged


def test_submit_command_runs_the_whole_client_flow(server: Server, clips: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "fake.mp3"
    bad.write_text("<html>not audio</html>\n" * 20)
    r = subprocess.run(
        [sys.executable, "-m", "synthscope.cli", "submit", str(clips[".ogg"]), str(bad), "--api", server.url, "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 2, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert lines[0]["file"] == str(clips[".ogg"]) and lines[0]["result"]["verdict"] in (
        "ai",
        "human",
        "mixed",
        "uncertain",
    )
    assert lines[0]["task_id"].startswith("rep_")
    assert lines[1]["file"] == str(bad) and lines[1]["error"]["type"].endswith("unsupported-media-type")
    table = subprocess.run(
        [sys.executable, "-m", "synthscope.cli", "submit", str(clips[".wav"]), "--api", server.url],
        capture_output=True,
        text=True,
        timeout=300,
        env={"COLUMNS": "120", "PATH": "/usr/bin:/bin"},
    )
    assert table.returncode == 0, table.stderr
    assert "verdict" in table.stdout and "free tier" in table.stdout


def test_same_bytes_reuse_the_stored_result(server: Server, clips: dict[str, Path], http: httpx.Client) -> None:
    auth = token(http, server.url)
    data = clips[".mp3"].read_bytes()
    first = poll(
        http, server.url, auth, submit(http, server.url, auth, upload(http, server.url, auth, "a.mp3", data))["task_id"]
    )
    second = poll(
        http, server.url, auth, submit(http, server.url, auth, upload(http, server.url, auth, "b.mp3", data))["task_id"]
    )
    assert first["task_id"] != second["task_id"] and second["result"] == first["result"]
    time.sleep(0.3)
    hits = [
        e
        for e in (json.loads(x) for x in server.logs().splitlines() if x.startswith("{"))
        if e.get("task_id") == second["task_id"] and "de-duplicated" in e["message"]
    ]
    assert len(hits) == 1 and hits[0]["sha256"] == first["result"]["audio"]["sha256"]


def test_submit_many_files_with_an_enterprise_key_uses_one_batch(
    server: Server, clips: dict[str, Path], tmp_path: Path
) -> None:
    if server.backend != "local":
        pytest.skip("the key is created in the local server's SQLite store")
    env = {**server.env, "COLUMNS": "120"}
    made = subprocess.run(
        [sys.executable, "-m", "synthscope.cli", "keys", "create", "--org", "batchco"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    bad = tmp_path / "fake.mp3"
    bad.write_text("<html>not audio</html>\n" * 20)
    files = [str(clips[".ogg"]), str(bad), str(clips[".wav"])]
    r = subprocess.run(
        [sys.executable, "-m", "synthscope.cli", "submit", *files, "--api", server.url, "--json", "--key", key],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert r.returncode == 2, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["file"] for x in lines] == files
    assert lines[0]["result"]["detectors"] and lines[2]["result"]["detectors"]  # enterprise: the full report
    assert lines[1]["error"]["type"].endswith("unsupported-media-type")
    assert server.logs().count("POST /reports:batch 202") == 1


def test_cloudbuild_end_to_end_step_passes_against_this_server(server: Server, tmp_path: Path) -> None:
    """The `e2e-report` step of cloudbuild.yaml, the script as Cloud Build runs it (`$$` -> `$`, the secret as
    env, /workspace holding the URL the smoke test found), against this server instead of the deployed one."""
    steps = yaml.safe_load((Path(__file__).parents[2] / "cloudbuild.yaml").read_text())["steps"]
    step = next(s for s in steps if s["id"] == "e2e-report")
    assert step["entrypoint"] == "bash" and step["secretEnv"] == ["API_KEYS"]
    script = step["args"][1].replace("$$", "$").replace("/workspace", str(tmp_path))
    (tmp_path / "api_url").write_text(server.url + "\n")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SYNTHSCOPE_")},
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",  # `python`, `synthscope` as in the image
        "API_KEYS": json.dumps([API_KEY, "another-key"]),
    }
    r = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    line = json.loads(r.stdout.splitlines()[-1])
    assert line["task_id"].startswith("rep_") and line["file"] == "/tmp/smoke.wav"
    assert line["result"]["verdict"] in ("ai", "human", "mixed", "uncertain"), line["result"]
    # A wrong key is refused, and the step fails (set -e): a broken deploy cannot pass it.
    env["API_KEYS"] = json.dumps(["not-a-key"])
    assert subprocess.run(["bash", "-c", script], env=env, capture_output=True, timeout=120).returncode != 0
