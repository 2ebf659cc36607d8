"""The worker pipeline on the real engine (tiny bundle) and the real local backends."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from synthscope.analysis import SharedEngine
from synthscope.backends.local.blobs import LocalBlobStore
from synthscope.backends.local.reports import SqliteReportStore
from synthscope.config import Settings
from synthscope.pipeline import Pipeline, Transient
from synthscope.reports.lifecycle import fail_if_abandoned, mark_dead
from synthscope.reports.schema import Report
from synthscope.uploads import new_object_name
from tests.fixtures.audio import voice_like, write_audio
from tests.fixtures.reports import stored_report
from tests.fixtures.service import fake_mp3


class FlakyBlobs(LocalBlobStore):
    """A store whose first `fail` downloads fail the way a network blip would."""

    fail = 0

    def download(self, object_name: str, target: Path) -> str:
        if self.fail > 0:
            self.fail -= 1
            raise OSError("connection reset by peer")
        return super().download(object_name, target)


@pytest.fixture(scope="module")
def shared(engine: Any) -> SharedEngine:
    return SharedEngine(engine)


@pytest.fixture
def env(tmp_path: Path, shared: SharedEngine) -> tuple[Pipeline, FlakyBlobs, SqliteReportStore]:
    blobs = FlakyBlobs(tmp_path / "blobs", b"k" * 32)
    reports = SqliteReportStore(tmp_path / "r.db")
    settings = Settings(device="cpu", progress_interval_s=0.0, lease_s=30)
    return Pipeline(settings, shared, blobs, reports, worker_id="test"), blobs, reports


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = write_audio(tmp_path_factory.mktemp("clip") / "a.flac", voice_like(12.0, np.random.default_rng(3)))
    return path.read_bytes()


def submit(blobs: LocalBlobStore, reports: SqliteReportStore, data: bytes, name: str = "a.flac", **extra: Any) -> str:
    obj = new_object_name("anon:t", name)
    blobs.put_bytes(obj, data, "audio/flac")
    task_id = "rep_" + obj.split("/")[3][:12]
    reports.create(stored_report(task_id, "anon:t", obj, **extra))
    return task_id


def test_completes_once_and_a_redelivery_is_a_no_op(env: Any, clip: bytes) -> None:
    pipe, blobs, reports = env
    task = submit(blobs, reports, clip)
    out = pipe.process(task)
    assert out.kind == "completed" and not out.retry
    doc = reports.get(task)
    assert doc["status"] == "completed" and doc["stage"] == "done" and doc["attempts"] == 1
    assert doc["progress"]["windows_done"] == doc["progress"]["windows_total"] == doc["result"]["summary"]["windows"]
    Report.model_validate({k: doc.get(k) for k in Report.model_fields if k in doc})
    again = pipe.process(task)
    assert again.kind == "duplicate"
    assert reports.get(task) == doc  # not touched


def test_concurrent_deliveries_yield_one_result(env: Any, clip: bytes, caplog: pytest.LogCaptureFixture) -> None:
    pipe, blobs, reports = env
    task = submit(blobs, reports, clip + b"")
    kinds: list[str] = []
    barrier = threading.Barrier(2)

    def deliver() -> None:
        barrier.wait()
        kinds.append(pipe.process(task).kind)

    with caplog.at_level(logging.INFO, logger="synthscope.pipeline"):
        threads = [threading.Thread(target=deliver) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(kinds) == ["completed", "duplicate"]
    assert sum(getattr(r, "outcome", None) == "completed" for r in caplog.records) == 1


def test_same_bytes_reuse_the_stored_result(env: Any, clip: bytes, caplog: pytest.LogCaptureFixture) -> None:
    pipe, blobs, reports = env
    first, second = submit(blobs, reports, clip), submit(blobs, reports, clip)
    assert pipe.process(first).kind == "completed"
    with caplog.at_level(logging.INFO, logger="synthscope.pipeline"):
        assert pipe.process(second).kind == "completed"
    assert any("de-duplicated" in r.getMessage() for r in caplog.records)
    assert reports.get(second)["result"] == reports.get(first)["result"]


@pytest.mark.parametrize(
    ("data", "slug"),
    [
        (fake_mp3(), "corrupt-audio"),
        (b"<html>not audio</html>" * 50, "unsupported-media-type"),
    ],
)
def test_bad_input_fails_the_report_without_retry(env: Any, data: bytes, slug: str) -> None:
    pipe, blobs, reports = env
    task = submit(blobs, reports, data, name="x.mp3")
    out = pipe.process(task)
    assert out.kind == "failed" and not out.retry
    doc = reports.get(task)
    assert doc["status"] == "failed" and doc.get("result") is None
    assert doc["error"]["type"].endswith(slug) and doc["error"]["detail"] and doc["error"]["status"] >= 400


def test_tier_duration_limit_is_enforced(env: Any, clip: bytes) -> None:
    pipe, blobs, reports = env
    task = submit(blobs, reports, clip, max_duration_s=5.0)
    assert pipe.process(task).kind == "failed"
    assert reports.get(task)["error"]["type"].endswith("audio-too-long")


def test_transient_failure_releases_the_lease_for_the_retry(env: Any, clip: bytes) -> None:
    pipe, blobs, reports = env
    task = submit(blobs, reports, clip)
    blobs.fail = 1
    with pytest.raises(Transient):
        pipe.process(task)
    doc = reports.get(task)
    assert doc["status"] == "processing" and doc.get("result") is None
    out = pipe.process(task)  # the queue's retry: claims at once, no lease to wait out
    assert out.kind == "completed" and reports.get(task)["attempts"] == 2


def test_final_attempt_marks_the_report_failed(env: Any, clip: bytes) -> None:
    pipe, blobs, reports = env
    task = submit(blobs, reports, clip)
    blobs.fail = 1
    out = pipe.process(task, final_attempt=True)
    assert out.kind == "failed"
    assert reports.get(task)["error"]["type"].endswith("processing-failed")


def test_missing_object_and_missing_report(env: Any, clip: bytes) -> None:
    pipe, blobs, reports = env
    task = submit(blobs, reports, clip)
    blobs.delete(reports.get(task)["object_name"])
    assert pipe.process(task).kind == "failed"
    assert pipe.process("rep_does_not_exist").kind == "missing"


def test_dead_letter_fails_only_unfinished_reports(env: Any, clip: bytes) -> None:
    pipe, blobs, reports = env
    queued, done = submit(blobs, reports, clip), submit(blobs, reports, clip)
    pipe.process(done)
    assert mark_dead(reports, queued, "HTTP 500")
    assert not mark_dead(reports, done, "HTTP 500")
    assert reports.get(queued)["status"] == "failed" and reports.get(done)["status"] == "completed"


def test_fail_if_abandoned_only_asks_the_store_for_exhausted_processing_reports(tmp_path: Path) -> None:
    """The cheap check on the document already read comes first: a normal poll makes no store call at all."""
    now = [1_000_000.0]
    reports = SqliteReportStore(tmp_path / "r.db", clock=lambda: now[0])
    calls: list[str] = []
    real = reports.fail_abandoned

    def spy(task_id: str, **kw: Any) -> bool:
        calls.append(task_id)
        return real(task_id, **kw)

    reports.fail_abandoned = spy  # type: ignore[method-assign]
    reports.create({"task_id": "rep_a", "owner": "anon:t", "object_name": "o", "status": "queued", "stage": "queued"})
    assert fail_if_abandoned(reports, reports.get("rep_a") or {}, 1) is None and calls == []  # queued
    reports.claim("rep_a", worker_id="w", lease_s=10)
    now[0] += 11
    before = reports.get("rep_a") or {}
    assert fail_if_abandoned(reports, before, 2) is None and calls == []  # 1 attempt of 2: a retry may come
    assert reports.get("rep_a") == before
    failed = fail_if_abandoned(reports, before, 1)
    assert calls == ["rep_a"] and failed is not None and failed["status"] == "failed"
    assert failed["error"]["detail"].startswith("the worker stopped while analysing this file on every attempt (1)")
    assert fail_if_abandoned(reports, failed, 1) is None and calls == ["rep_a"]  # failed: no second call
