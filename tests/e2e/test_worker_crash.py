"""Fault test: the worker process is SIGKILLed in the middle of an analysis.

The API (with the SQLite queue's dispatcher) and the worker run as separate
processes, as in production. After the kill the queue keeps retrying; the report's
lease runs out; a restarted worker claims it again and completes it — once. Then the
same delivery, sent twice by hand, is a no-op both times.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from synthscope.client import ApiClient
from tests.fixtures.audio import voice_like, write_audio
from tests.fixtures.service import WORKER_SECRET, Server, WorkerPool, free_port, local_split, service_env

pytestmark = pytest.mark.slow

#: Long enough (with small batches and a progress write per batch) to be caught mid-analysis.
CLIP_S = 540.0


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_audio(tmp_path_factory.mktemp("long") / "long.flac", voice_like(CLIP_S, np.random.default_rng(5)))


@pytest.fixture
def deployment(tiny_bundle: Path, tmp_path: Path) -> Iterator[dict[str, Any]]:
    api_port, worker_port = free_port(), free_port()
    common = {
        "SYNTHSCOPE_LEASE_S": "3",
        "SYNTHSCOPE_PROGRESS_INTERVAL_S": "0",
        "SYNTHSCOPE_BATCH_WINDOWS": "4",
        "SYNTHSCOPE_QUEUE_MAX_ATTEMPTS": "100",
        "SYNTHSCOPE_WORKER_URL": f"http://127.0.0.1:{worker_port}",
        "SYNTHSCOPE_API_SYNC_ANALYZE": "false",
    }
    env = service_env(tmp_path / "data", tiny_bundle, **common)
    with local_split(env, tmp_path, api_port, worker_port) as (api, pool):
        yield {"api": api, "new_worker": pool.new, "workers": pool.started, "data": tmp_path / "data"}


def json_lines(server: Server) -> list[dict[str, Any]]:
    return [json.loads(line) for line in server.logs().splitlines() if line.startswith("{")]


def kill_mid_analysis(client: ApiClient, task_id: str, worker: Server) -> None:
    """Wait until the worker is inside the analysis (some windows scored, not all), then SIGKILL it."""
    deadline = time.monotonic() + 120
    while True:
        doc, _ = client.status(task_id)
        assert doc is not None and doc["status"] != "completed", "finished before it could be killed"
        p = doc["progress"]
        if doc["stage"] == "analyzing" and 0 < p["windows_done"] < (p["windows_total"] or 10**9):
            break
        assert time.monotonic() < deadline, doc
        time.sleep(0.02)
    worker.kill()
    killed_at = client.status(task_id)[0]
    assert killed_at is not None and killed_at["status"] == "processing" and killed_at["result"] is None


def assert_completed_in_full(client: ApiClient, task_id: str) -> None:
    done = client.wait(task_id, timeout_s=300)
    assert done["status"] == "completed" and done["error"] is None
    assert done["progress"]["windows_done"] == done["result"]["summary"]["windows"] == int(CLIP_S / 3)


def assert_one_terminal_log_line(task_id: str, *workers: Server) -> None:
    finals = [
        e
        for w in workers
        for e in json_lines(w)
        if e.get("task_id") == task_id and e.get("outcome") in ("completed", "failed")
    ]
    assert len(finals) == 1 and finals[0]["outcome"] == "completed"


def test_sigkill_mid_analysis_then_restart_completes_exactly_once(deployment: dict[str, Any], long_clip: Path) -> None:
    api: Server = deployment["api"]
    first: Server = deployment["new_worker"]()
    client = ApiClient(api.url)
    task_id = client.create_report(client.upload(long_clip))["task_id"]

    kill_mid_analysis(client, task_id, first)

    # While no worker runs, the queue keeps the task and retries it (connection refused, with backoff).
    queue_db = deployment["data"] / "queue.db"
    deadline = time.monotonic() + 60
    while _task_row(queue_db, task_id)["attempts"] < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)

    second: Server = deployment["new_worker"]()
    assert_completed_in_full(client, task_id)

    # Exactly once: one claim after the crash, one terminal write, one stored result.
    reports_db = deployment["data"] / "reports.db"
    with sqlite3.connect(reports_db) as db:
        attempts, status = db.execute("SELECT attempts, status FROM reports WHERE task_id = ?", (task_id,)).fetchone()
        cached = db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    assert status == "completed" and attempts == 2 and cached == 1
    # The report is written before the worker answers the queue, so the task turns `done` a moment later.
    deadline = time.monotonic() + 30
    while _task_row(queue_db, task_id)["state"] != "done" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _task_row(queue_db, task_id)["state"] == "done"
    assert_one_terminal_log_line(task_id, first, second)
    first_stages = [
        e["stage"] for e in json_lines(first) if e.get("task_id") == task_id and e.get("message") == "stage"
    ]
    assert "decoding" in first_stages and "finalizing" not in first_stages  # the first attempt died mid-analysis

    # The same delivery sent twice more: both are 2xx no-ops, the report is untouched.
    before = client.status(task_id)[0]
    with httpx.Client(trust_env=False, timeout=60) as http:
        delivery = {"Authorization": f"Bearer {WORKER_SECRET}", "X-CloudTasks-TaskRetryCount": "0"}
        answers = [http.post(second.url + "/process-report", json={"task_id": task_id}, headers=delivery) for _ in "12"]
        assert [(a.status_code, a.json()["outcome"]) for a in answers] == [(200, "duplicate")] * 2
        anonymous = http.post(second.url + "/process-report", json={"task_id": task_id})
        assert anonymous.status_code == 401
    assert client.status(task_id)[0] == before
    client.close()


def _task_row(queue_db: Path, task_id: str) -> dict[str, Any]:
    with sqlite3.connect(queue_db) as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
    assert row is not None
    return dict(row)


# --- the same fault on the gcp backends: Cloud Tasks (emulator) delivers, Firestore holds the report ---------------


@pytest.fixture
def gcp_deployment(
    tiny_bundle: Path,
    tmp_path: Path,
    firestore_emu: Any,
    gcs_emu: Any,
    tasks_emu: Any,
) -> Iterator[dict[str, Any]]:
    from tests.fixtures.gcp_stack import gcp_service

    common = {
        "SYNTHSCOPE_LEASE_S": "3",
        "SYNTHSCOPE_PROGRESS_INTERVAL_S": "0",
        "SYNTHSCOPE_BATCH_WINDOWS": "4",
        # The emulator re-dispatches every 0.1 s without backoff; the worker treats the queue's last attempt as
        # final, so allow as many as Cloud Tasks would be configured for here.
        "SYNTHSCOPE_QUEUE_MAX_ATTEMPTS": "100",
        "SYNTHSCOPE_API_SYNC_ANALYZE": "false",
    }
    with gcp_service(
        firestore_emu, gcs_emu, tasks_emu, tmp_path, tiny_bundle, extra_env=common, start_worker=False
    ) as api:
        port = int(api.env["SYNTHSCOPE_WORKER_URL"].rsplit(":", 1)[1])
        pool = WorkerPool(api.env, tmp_path, port)
        try:
            yield {"api": api, "new_worker": pool.new, "tasks": tasks_emu, "firestore": firestore_emu}
        finally:
            pool.stop()


def _dispatches(tasks_emu: Any, queue: str) -> int:
    """How often the Tasks emulator has dispatched the (only) task of this queue so far."""
    for name, pending in list(tasks_emu.state._queue_tasks.items()):
        if name.endswith(f"/queues/{queue}"):
            return max((t.dispatch_count for t in pending), default=0)
    return 0


def test_gcp_sigkill_mid_analysis_then_restart_completes_exactly_once(
    gcp_deployment: dict[str, Any], long_clip: Path
) -> None:
    from tests.fixtures.gcp import firestore_client
    from tests.fixtures.gcp_stack import INVOKER

    api: Server = gcp_deployment["api"]
    first: Server = gcp_deployment["new_worker"]()
    client = ApiClient(api.url)
    task_id = client.create_report(client.upload(long_clip))["task_id"]

    kill_mid_analysis(client, task_id, first)

    # With no worker up, Cloud Tasks keeps the task and re-dispatches it.
    queue = api.env["SYNTHSCOPE_QUEUE_NAME"]
    deadline = time.monotonic() + 60
    while _dispatches(gcp_deployment["tasks"], queue) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)

    second: Server = gcp_deployment["new_worker"]()
    assert_completed_in_full(client, task_id)

    # Exactly once in Firestore: one claim after the crash, one stored result, one terminal log line.
    prefix = api.env["SYNTHSCOPE_FIRESTORE_PREFIX"]
    db = firestore_client(gcp_deployment["firestore"].host)
    raw = db.collection(f"{prefix}reports").document(task_id).get().to_dict()
    assert raw["status"] == "completed" and raw["attempts"] == 2
    assert len(list(db.collection(f"{prefix}results").stream())) == 1
    assert_one_terminal_log_line(task_id, first, second)

    # The same Cloud Tasks delivery twice more (with a valid OIDC token): 2xx no-ops, report untouched.
    before = client.status(task_id)[0]
    token = gcp_deployment["tasks"].issuer.token(audience=api.env["SYNTHSCOPE_WORKER_URL"], email=INVOKER)
    with httpx.Client(trust_env=False, timeout=60) as http:
        delivery = {"Authorization": f"Bearer {token}", "X-CloudTasks-TaskRetryCount": "0"}
        answers = [http.post(second.url + "/process-report", json={"task_id": task_id}, headers=delivery) for _ in "12"]
        assert [(a.status_code, a.json()["outcome"]) for a in answers] == [(200, "duplicate")] * 2
        assert http.post(second.url + "/process-report", json={"task_id": task_id}).status_code == 401
    assert client.status(task_id)[0] == before
    client.close()
