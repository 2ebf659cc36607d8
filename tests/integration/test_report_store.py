"""ReportStore contract, one suite over every store: SQLite (WAL) and Firestore on the real emulator.

Atomic claims with leases, conditional writes, idempotency keys, the result cache and
entitlements must behave the same whichever store is behind the port; a Firestore
timeline too big for one document spills to the results bucket (GCS emulator).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from synthscope.backends.local.reports import SqliteReportStore
from synthscope.ports import ReportStore
from synthscope.reports.status import InvalidTransition, check_transition, claimable, eta_seconds


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


def firestore_store(emu: Any, clock: Clock | None = None, **kw: Any) -> Any:
    from synthscope.backends.gcp.reports import FirestoreReportStore
    from tests.fixtures.gcp import firestore_client

    # a fresh collection prefix per test isolates it without resetting the emulator
    return FirestoreReportStore(
        firestore_client(emu.host), prefix=f"t{uuid.uuid4().hex[:10]}_", clock=clock or time.time, **kw
    )


@pytest.fixture(params=["sqlite", "firestore"])
def store(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Any:
    if request.param == "sqlite":
        s: Any = SqliteReportStore(tmp_path / "reports.db", clock=clock)
    else:
        s = firestore_store(request.getfixturevalue("firestore_emu"), clock)
    yield s
    s.close()


def new(store: ReportStore, task_id: str = "rep_1", owner: str = "anon:a") -> dict[str, Any]:
    doc = {"task_id": task_id, "owner": owner, "status": "queued", "stage": "queued", "object_name": "o"}
    assert store.create(doc)
    return doc


def test_create_is_idempotent_per_task_id(store: ReportStore) -> None:
    new(store)
    assert not store.create({"task_id": "rep_1", "owner": "anon:b", "status": "queued"})
    doc = store.get("rep_1")
    assert doc is not None and doc["owner"] == "anon:a" and doc["created_at"].endswith("Z")
    assert store.get("rep_missing") is None


def test_claim_lease_and_expiry(store: ReportStore, clock: Clock) -> None:
    new(store)
    first = store.claim("rep_1", worker_id="w1", lease_s=10)
    assert first.outcome == "claimed" and first.lease_token and first.report
    assert first.report["status"] == "processing" and first.report["attempts"] == 1
    assert store.claim("rep_1", worker_id="w2", lease_s=10).outcome == "busy"
    clock.t += 9.9
    assert store.claim("rep_1", worker_id="w2", lease_s=10).outcome == "busy"
    clock.t += 0.2  # the first attempt crashed: its lease ran out
    second = store.claim("rep_1", worker_id="w2", lease_s=10)
    assert second.outcome == "claimed" and second.lease_token != first.lease_token
    assert second.report is not None and second.report["attempts"] == 2
    # the crashed attempt's late writes are refused
    assert not store.update("rep_1", {"stage": "analyzing"}, lease_token=first.lease_token)
    assert not store.finish("rep_1", {"status": "completed", "result": {"x": 1}}, lease_token=first.lease_token)
    assert store.update("rep_1", {"stage": "analyzing"}, lease_token=second.lease_token, extend_lease_s=10)
    assert store.finish("rep_1", {"status": "completed", "result": {"x": 2}}, lease_token=second.lease_token)
    done = store.get("rep_1")
    assert done is not None and done["status"] == "completed" and done["result"] == {"x": 2}
    assert store.claim("rep_1", worker_id="w3", lease_s=10).outcome == "finished"
    assert store.claim("rep_nope", worker_id="w3", lease_s=10).outcome == "missing"


def test_progress_renews_the_lease(store: ReportStore, clock: Clock) -> None:
    new(store)
    c = store.claim("rep_1", worker_id="w1", lease_s=10)
    for _ in range(5):
        clock.t += 8
        assert store.update("rep_1", {"progress": {"windows_done": 1}}, lease_token=c.lease_token, extend_lease_s=10)
    assert store.claim("rep_1", worker_id="w2", lease_s=10).outcome == "busy"


def test_releasing_a_lease_lets_a_retry_claim_at_once(store: ReportStore) -> None:
    new(store)
    c = store.claim("rep_1", worker_id="w1", lease_s=60)
    assert store.update("rep_1", {"stage": "queued"}, lease_token=c.lease_token, extend_lease_s=0.0)
    assert store.claim("rep_1", worker_id="w2", lease_s=60).outcome == "claimed"


def test_finish_writes_once_and_fills_the_result_cache(store: ReportStore) -> None:
    new(store)
    c = store.claim("rep_1", worker_id="w1", lease_s=60)
    result = {"verdict": "ai"}
    assert store.finish(
        "rep_1", {"status": "completed", "result": result}, lease_token=c.lease_token, cache_key=("s", "b")
    )
    assert not store.finish("rep_1", {"status": "failed"}, lease_token=None)
    assert not store.finish("rep_1", {"status": "completed", "result": {}}, lease_token=c.lease_token)
    assert store.cached_result("s", "b") == result and store.cached_result("s", "other") is None
    with pytest.raises(ValueError):
        store.finish("rep_1", {"status": "processing"}, lease_token=None)


def test_callback_end_is_recorded_beside_the_finished_report(store: ReportStore, clock: Clock) -> None:
    new(store)
    c = store.claim("rep_1", worker_id="w1", lease_s=60)
    assert store.finish("rep_1", {"status": "completed", "result": {"x": 1}}, lease_token=c.lease_token)
    finished = store.claim("rep_1", worker_id="w2", lease_s=60)
    assert finished.outcome == "finished" and finished.report is not None and "callback" not in finished.report
    before = store.get("rep_1")
    assert before is not None
    clock.t += 5
    store.mark_callback("rep_1", "gave_up", "RetryableDelivery after 5 attempt(s): callback answered 503")
    clock.t += 5
    store.mark_callback("rep_1", "delivered", "HTTP 200")  # a later redelivery's outcome replaces it
    doc = store.get("rep_1")
    assert doc is not None
    assert doc["callback"] == {"state": "delivered", "at": "1970-01-12T13:46:50.000Z", "detail": "HTTP 200"}
    # nothing else changed: status, result, attempts, updated_at (the report as its owner sees it)
    assert {k: v for k, v in doc.items() if k != "callback"} == before
    # what a redelivery sees: the finished report with its callback record
    again = store.claim("rep_1", worker_id="w3", lease_s=60)
    assert again.outcome == "finished" and again.report is not None
    assert again.report["callback"]["state"] == "delivered"
    store.mark_callback("rep_missing", "rejected", "HTTP 410")  # no such report: nothing happens
    assert store.get("rep_missing") is None


def test_dead_letter_can_fail_a_queued_report(store: ReportStore) -> None:
    new(store)
    assert store.finish("rep_1", {"status": "failed", "error": {"title": "x"}}, lease_token=None)
    assert store.claim("rep_1", worker_id="w", lease_s=1).outcome == "finished"


def test_fail_abandoned_needs_every_attempt_claimed_and_the_last_lease_expired(
    store: ReportStore, clock: Clock
) -> None:
    problem = {"type": "https://synthscope.dev/problems/processing-failed", "title": "Processing failed"}
    failed = {"status": "failed", "stage": "done", "eta_seconds": None, "error": problem}
    new(store)
    assert store.claim("rep_1", worker_id="w1", lease_s=10).outcome == "claimed"
    clock.t += 11  # attempt 1 died; its lease ran out, but a second attempt is still allowed
    assert not store.fail_abandoned("rep_1", max_attempts=2, fields=failed)
    last = store.claim("rep_1", worker_id="w2", lease_s=10)
    assert last.outcome == "claimed" and last.report is not None and last.report["attempts"] == 2
    clock.t += 5  # the last attempt may still be working: its lease is live
    assert not store.fail_abandoned("rep_1", max_attempts=2, fields=failed)
    assert store.fail_abandoned("rep_1", max_attempts=3, fields=failed) is False  # fewer attempts than max
    doc = store.get("rep_1")
    assert doc is not None and doc["status"] == "processing" and "error" not in doc
    clock.t += 6  # ... and it died too
    assert store.fail_abandoned("rep_1", max_attempts=2, fields=failed)
    doc = store.get("rep_1")
    assert doc is not None and doc["status"] == "failed" and doc["stage"] == "done" and doc["error"] == problem
    assert doc["eta_seconds"] is None and doc["attempts"] == 2
    assert not store.fail_abandoned("rep_1", max_attempts=2, fields=failed)  # already failed
    assert store.claim("rep_1", worker_id="w3", lease_s=10).outcome == "finished"  # a late delivery: no-op
    # the dead attempt's late writes are refused (its lease was cleared)
    assert not store.finish("rep_1", {"status": "completed", "result": {}}, lease_token=last.lease_token)

    new(store, "rep_done")  # a completed report is never failed
    c = store.claim("rep_done", worker_id="w", lease_s=10)
    assert store.finish("rep_done", {"status": "completed", "result": {"x": 1}}, lease_token=c.lease_token)
    clock.t += 11
    assert not store.fail_abandoned("rep_done", max_attempts=1, fields=failed)
    assert (store.get("rep_done") or {})["status"] == "completed"

    new(store, "rep_queued")  # nor a queued one (the dead-letter path owns those)
    assert not store.fail_abandoned("rep_queued", max_attempts=0, fields=failed)
    assert (store.get("rep_queued") or {})["status"] == "queued"
    assert not store.fail_abandoned("rep_missing", max_attempts=1, fields=failed)
    with pytest.raises(ValueError):
        store.fail_abandoned("rep_queued", max_attempts=1, fields={"status": "completed"})


def test_concurrent_claims_have_one_winner(store: ReportStore) -> None:
    """20 claims of one task from 5 threads (the emulator serialises contended transactions): one winner."""
    new(store)
    barrier = threading.Barrier(5)

    def grab(i: int) -> str:
        if i < 5:
            barrier.wait()
        return store.claim("rep_1", worker_id=f"w{i}", lease_s=60).outcome

    with ThreadPoolExecutor(5) as pool:
        outcomes = list(pool.map(grab, range(20)))
    assert sorted(outcomes) == ["busy"] * 19 + ["claimed"]
    doc = store.get("rep_1")
    assert doc is not None and doc["attempts"] == 1


def test_idempotency_records(store: ReportStore, clock: Clock) -> None:
    first = store.remember_idempotency("anon:a", "k1", "fp1", "rep_1", ttl_s=100)
    assert first.created and first.task_id == "rep_1"
    again = store.remember_idempotency("anon:a", "k1", "fp2", "rep_2", ttl_s=100)
    assert not again.created and (again.fingerprint, again.task_id) == ("fp1", "rep_1")
    other_caller = store.remember_idempotency("anon:b", "k1", "fp3", "rep_3", ttl_s=100)
    assert other_caller.created  # keys are scoped per caller
    clock.t += 101
    expired = store.remember_idempotency("anon:a", "k1", "fp4", "rep_4", ttl_s=100)
    assert expired.created and expired.task_id == "rep_4"


def test_forget_idempotency_only_drops_its_own_record(store: ReportStore) -> None:
    assert store.remember_idempotency("anon:a", "k", "fp", "rep_1", ttl_s=60).created
    store.forget_idempotency("anon:a", "k", "rep_other")  # points elsewhere: kept
    assert not store.remember_idempotency("anon:a", "k", "fp", "rep_2", ttl_s=60).created
    store.forget_idempotency("anon:a", "k", "rep_1")
    assert store.remember_idempotency("anon:a", "k", "fp2", "rep_3", ttl_s=60).created


def test_active_reports_are_counted_per_quota_key(store: ReportStore) -> None:
    for i, status in enumerate(["queued", "queued", "queued"]):
        assert store.create({"task_id": f"rep_{i}", "owner": "anon:x", "status": status, "quota_key": "ip:9"})
    assert store.create({"task_id": "rep_other", "owner": "anon:y", "status": "queued", "quota_key": "ip:8"})
    assert store.count_active("ip:9", 10) == 3 and store.count_active("ip:9", 2) == 2
    claim = store.claim("rep_0", worker_id="w", lease_s=30)
    assert store.count_active("ip:9", 10) == 3  # processing still counts
    assert store.finish("rep_0", {"status": "completed", "result": None}, lease_token=claim.lease_token)
    assert store.finish("rep_1", {"status": "failed"}, lease_token=None)
    assert store.count_active("ip:9", 10) == 1 and store.count_active("ip:nobody", 10) == 0


def test_status_machine() -> None:
    check_transition("queued", "processing")
    check_transition("processing", "completed")
    check_transition("queued", "failed")
    for cur, nxt in (("completed", "processing"), ("failed", "completed"), ("queued", "completed")):
        with pytest.raises(InvalidTransition):
            check_transition(cur, nxt)
    assert claimable("queued", None, 0) and claimable("processing", 5.0, 6.0) and not claimable("processing", 7.0, 6.0)
    assert not claimable("completed", None, 0)
    assert eta_seconds(10, 40, 5.0) == 15.0 and eta_seconds(0, 40, 5.0) is None and eta_seconds(40, 40, 5) == 0.0
    assert eta_seconds(3, None, 1.0) is None


def six_hour_timeline() -> list[dict[str, Any]]:
    """6 h in 3-s windows with a 1.5-s hop (14 400 windows) and per-detector scores: ~1.8 MB in Firestore terms."""
    return [
        {
            "start": i * 1.5,
            "end": i * 1.5 + 3.0,
            "ai_probability": round((i % 97) / 97, 4),
            "label": "ai" if i % 3 else "human",
            "detectors": {"spectro_cnn": round((i % 89) / 89, 4), "fakeprint": 0.4125, "acoustic": 0.6031},
        }
        for i in range(14_400)
    ]


def test_firestore_spills_a_six_hour_timeline_to_the_results_bucket(firestore_emu: Any, gcs_emu: Any) -> None:
    from synthscope.backends.gcp.blobs import GcsBlobStore
    from synthscope.backends.gcp.reports import MAX_DOC_BYTES, stored_size
    from tests.fixtures.gcp import storage_client

    results = GcsBlobStore(storage_client(gcs_emu.url), "synthscope-results", validate_names=False)
    store = firestore_store(firestore_emu, spill=results)
    timeline = six_hour_timeline()
    assert len(json.dumps(timeline)) > 1 << 20
    result = {"verdict": "mixed", "ai_probability": 0.6, "timeline": timeline, "summary": {"windows": 14_400}}
    new(store)
    c = store.claim("rep_1", worker_id="w", lease_s=60)
    assert store.finish(
        "rep_1", {"status": "completed", "result": result}, lease_token=c.lease_token, cache_key=("a", "b")
    )
    raw = store.raw("rep_1")
    assert raw is not None and raw["result"]["timeline"] == []
    ref = raw["result"]["timeline_ref"]
    assert ref["windows"] == 14_400 and ref["bucket"] == "synthscope-results"
    assert results.get_bytes(ref["object_name"])[:2] == b"\x1f\x8b"  # gzip
    doc = store.get("rep_1")
    assert doc is not None and doc["result"] == result  # the caller never sees the spill
    assert store.cached_result("a", "b") == result

    # the emulator does not enforce the 1 MiB cap, so measure with Firestore's documented size rules
    assert stored_size(raw) < 64 * 1024
    assert stored_size({**raw, "result": result}) > MAX_DOC_BYTES  # what would have been written without a spill


def test_firestore_lists_an_owners_reports_newest_first(firestore_emu: Any, clock: Clock) -> None:
    store = firestore_store(firestore_emu, clock)
    for i, owner in enumerate(["u:a", "u:b", "u:a", "u:a"]):
        clock.t += 1
        new(store, f"rep_{i}", owner)
    assert [d["task_id"] for d in store.list_by_owner("u:a", limit=2)] == ["rep_3", "rep_2"]
    assert [d["task_id"] for d in store.list_by_owner("u:b")] == ["rep_1"]
