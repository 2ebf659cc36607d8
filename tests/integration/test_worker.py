"""The worker's HTTP contract with the queue: who may call it, and which status means retry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from synthscope.config import Settings
from synthscope.uploads import new_object_name
from synthscope_worker.app import create_app
from tests.fixtures.audio import voice_like, write_audio
from tests.fixtures.reports import stored_report
from tests.fixtures.service import TEST_SECRET, WORKER_SECRET

AUTH = {"Authorization": f"Bearer {WORKER_SECRET}"}


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory, tiny_bundle: Path) -> Iterator[TestClient]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path_factory.mktemp("worker"),
        bundle_path=tiny_bundle,
        device="cpu",
        hmac_secret=SecretStr(TEST_SECRET),
        worker_secret=SecretStr(WORKER_SECRET),
        queue_max_attempts=3,
    )
    with TestClient(create_app(settings)) as c:
        yield c


def new_report(c: TestClient, data: bytes) -> str:
    state: Any = c.app.state.worker  # type: ignore[attr-defined]
    obj = new_object_name("anon:w", "a.wav")
    state.backends.blobs.put_bytes(obj, data, "audio/wav")
    task = "rep_" + obj.split("/")[3][:16]
    state.backends.reports.create(stored_report(task, "anon:w", obj))
    return task


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return write_audio(tmp_path_factory.mktemp("w") / "a.wav", voice_like(6.0, np.random.default_rng(1))).read_bytes()


def test_only_the_queue_may_deliver(worker: TestClient, wav: bytes) -> None:
    task = new_report(worker, wav)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {WORKER_SECRET}"}):
        r = worker.post("/process-report", json={"task_id": task}, headers=headers)
        assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")


def test_outcomes_map_to_queue_statuses(worker: TestClient, wav: bytes) -> None:
    reports = worker.app.state.worker.backends.reports  # type: ignore[attr-defined]
    task = new_report(worker, wav)
    held = reports.claim(task, worker_id="another-attempt", lease_s=600)
    assert held.outcome == "claimed"
    busy = worker.post("/process-report", json={"task_id": task}, headers=AUTH)
    assert busy.status_code == 503 and busy.headers["retry-after"]  # the queue tries again later
    reports.update(task, {}, lease_token=held.lease_token, extend_lease_s=0.0)  # that attempt died
    done = worker.post("/process-report", json={"task_id": task}, headers=AUTH)
    assert done.status_code == 200 and done.json()["outcome"] == "completed"
    again = worker.post("/process-report", json={"task_id": task}, headers=AUTH)
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    missing = worker.post("/process-report", json={"task_id": "rep_gone"}, headers=AUTH)
    assert missing.status_code == 200 and missing.json()["outcome"] == "missing"
    assert worker.post("/process-report", json={}, headers=AUTH).status_code == 422


def test_transient_failure_is_500_until_the_final_attempt(worker: TestClient, wav: bytes) -> None:
    state: Any = worker.app.state.worker  # type: ignore[attr-defined]
    task = new_report(worker, wav)
    real_download = state.backends.blobs.download

    def failing(object_name: str, target: Path) -> str:  # a storage outage: transient, not bad input
        raise OSError("storage timed out")

    state.backends.blobs.download = failing
    try:
        first = worker.post(
            "/process-report", json={"task_id": task}, headers={**AUTH, "X-CloudTasks-TaskRetryCount": "0"}
        )
        assert first.status_code == 500 and first.json()["type"].endswith("/transient")
        assert state.backends.reports.get(task)["status"] == "processing"
        last = worker.post(
            "/process-report", json={"task_id": task}, headers={**AUTH, "X-CloudTasks-TaskRetryCount": "2"}
        )
        assert last.status_code == 200 and last.json()["outcome"] == "failed"
        assert state.backends.reports.get(task)["error"]["type"].endswith("/processing-failed")
    finally:
        state.backends.blobs.download = real_download


def test_an_object_reported_once_cannot_be_reported_with_other_bytes(worker: TestClient, wav: bytes) -> None:
    """Issue 12 hole 3: an object replaced after its report (say deleted, then a replayed URL re-created it) was
    analysed afresh under the old name; now the bytes first reported are pinned and a second report fails."""
    state: Any = worker.app.state.worker  # type: ignore[attr-defined]
    reports = state.backends.reports
    task = new_report(worker, wav)
    first = worker.post("/process-report", json={"task_id": task}, headers=AUTH)
    assert first.status_code == 200 and first.json()["outcome"] == "completed"
    obj = reports.get(task)["object_name"]
    same = "rep_same" + task[4:]
    reports.create(stored_report(same, "anon:w", obj))
    assert worker.post("/process-report", json={"task_id": same}, headers=AUTH).json()["outcome"] == "completed"
    state.backends.blobs.delete(obj)
    other = wav[:44] + bytes(reversed(wav[44:]))
    state.backends.blobs.put_bytes(obj, other, "audio/wav")
    again = "rep_again" + task[4:]
    reports.create(stored_report(again, "anon:w", obj))
    r = worker.post("/process-report", json={"task_id": again}, headers=AUTH)
    assert r.status_code == 200 and r.json()["outcome"] == "failed"
    doc = reports.get(again)
    assert doc["status"] == "failed" and doc["error"]["type"].endswith("/upload-replaced") and not doc.get("result")
