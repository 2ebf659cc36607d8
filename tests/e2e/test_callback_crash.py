"""Fault test: the worker process is SIGKILLed after the report is completed, while its callback is in flight.

The API and the worker run as separate processes, as in production: on the local backends (SQLite queue and
store) and on the gcp backends (the Cloud Tasks, Firestore and Cloud Storage emulators). The
callback receiver holds the first callback open without answering; the worker is killed then. The report is
already `completed`, but the queue never got its answer, so it retries the task; the restarted worker finds the
report finished with no recorded callback, sends the callback (signed) without analysing again, records it, and
only then answers the queue. Receivers see a callback at least once (here twice: the first one was cut off), so
they de-duplicate by task_id.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from synthscope import callbacks
from synthscope.client import ApiClient
from tests.e2e.test_worker_crash import _dispatches, _task_row, assert_one_terminal_log_line, json_lines
from tests.fixtures.audio import voice_like, write_audio
from tests.fixtures.callbacks import STALL, receiver
from tests.fixtures.service import WORKER_SECRET, Server, WorkerPool, free_port, local_split, service_env

pytestmark = pytest.mark.slow


@dataclass
class Deployment:
    api: Server
    new_worker: Callable[[], Server]
    env: dict[str, str]  # the services' environment (the admin CLI runs with it too)
    stored: Callable[[str], tuple[dict[str, Any], int]]  # the stored report (callback record included), results
    dispatches: Callable[[str], int]  # how often the queue has sent the task so far
    delivery_headers: Callable[[], dict[str, str]]  # what the queue sends as credentials
    settled: Callable[[str], bool]  # the queue got its 2xx for the task and will not send it again
    tmp: Path


@pytest.fixture
def local_deployment(tiny_bundle: Path, tmp_path: Path) -> Iterator[Deployment]:
    """SQLite backends: the API process runs the queue's dispatcher, the worker is its own process."""
    api_port, worker_port = free_port(), free_port()
    data = tmp_path / "data"
    env = service_env(
        data,
        tiny_bundle,
        SYNTHSCOPE_QUEUE_MAX_ATTEMPTS="100",
        SYNTHSCOPE_WORKER_URL=f"http://127.0.0.1:{worker_port}",
        SYNTHSCOPE_API_SYNC_ANALYZE="false",
        SYNTHSCOPE_CALLBACK_BACKOFF_S="0.1",
    )
    with local_split(env, tmp_path, api_port, worker_port) as (api, pool):
        yield Deployment(
            api,
            pool.new,
            env,
            partial(_sqlite_stored, data),
            lambda task_id: int(_task_row(data / "queue.db", task_id)["attempts"]),
            lambda: {"Authorization": f"Bearer {WORKER_SECRET}"},
            lambda task_id: _task_row(data / "queue.db", task_id)["state"] == "done",
            tmp_path,
        )


def _sqlite_stored(data: Path, task_id: str) -> tuple[dict[str, Any], int]:
    with sqlite3.connect(data / "reports.db") as db:
        raw, status, attempts = db.execute(
            "SELECT doc, status, attempts FROM reports WHERE task_id = ?", (task_id,)
        ).fetchone()
        results = db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    return {**json.loads(raw), "status": status, "attempts": attempts}, results


@pytest.fixture
def gcp_deployment(
    tiny_bundle: Path, tmp_path: Path, firestore_emu: Any, gcs_emu: Any, tasks_emu: Any
) -> Iterator[Deployment]:
    """The gcp backends on the emulators: Cloud Tasks delivers (with OIDC tokens), Firestore holds the report."""
    from tests.fixtures.gcp import firestore_client
    from tests.fixtures.gcp_stack import INVOKER, gcp_service

    extra = {
        "SYNTHSCOPE_QUEUE_MAX_ATTEMPTS": "100",
        "SYNTHSCOPE_API_SYNC_ANALYZE": "false",
        "SYNTHSCOPE_CALLBACK_BACKOFF_S": "0.1",
    }
    with gcp_service(
        firestore_emu, gcs_emu, tasks_emu, tmp_path, tiny_bundle, extra_env=extra, start_worker=False
    ) as api:
        worker_url = api.env["SYNTHSCOPE_WORKER_URL"]
        port = int(worker_url.rsplit(":", 1)[1])
        prefix, queue = api.env["SYNTHSCOPE_FIRESTORE_PREFIX"], api.env["SYNTHSCOPE_QUEUE_NAME"]
        db = firestore_client(firestore_emu.host)
        pool = WorkerPool(api.env, tmp_path, port)

        def stored(task_id: str) -> tuple[dict[str, Any], int]:
            raw = db.collection(f"{prefix}reports").document(task_id).get().to_dict()
            return raw, len(list(db.collection(f"{prefix}results").stream()))

        def token() -> dict[str, str]:
            return {"Authorization": f"Bearer {tasks_emu.issuer.token(audience=worker_url, email=INVOKER)}"}

        def settled(task_id: str) -> bool:
            """The callback is recorded and the emulator holds no task to send again (it drops a task on a 2xx)."""
            tasks = next(
                (t for n, t in list(tasks_emu.state._queue_tasks.items()) if n.endswith(f"/queues/{queue}")), []
            )
            return "callback" in stored(task_id)[0] and not tasks

        try:
            yield Deployment(
                api,
                pool.new,
                api.env,
                stored,
                lambda task_id: _dispatches(tasks_emu, queue),
                token,
                settled,
                tmp_path,
            )
        finally:
            pool.stop()


def cli(env: dict[str, str], *args: str) -> str:
    """The admin CLI as an operator runs it, against the deployment's report store."""
    out = subprocess.run(
        [sys.executable, "-m", "synthscope.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.mark.parametrize("backend", ["local", "gcp"])
def test_sigkill_during_the_callback_then_restart_delivers_it_without_reanalysis(
    backend: str, request: pytest.FixtureRequest
) -> None:
    d: Deployment = request.getfixturevalue(f"{backend}_deployment")
    clip = write_audio(d.tmp / "clip.flac", voice_like(6.0, np.random.default_rng(11)))
    org_key = cli(d.env, "keys", "create", "--org", "acme")
    signing_key = bytes.fromhex(cli(d.env, "keys", "callback-secret", "--org", "acme"))
    first = d.new_worker()

    with receiver([STALL]) as rx:
        client = ApiClient(d.api.url, org_key=org_key)
        body = {"object_name": client.upload(clip), "callback_url": rx.url}
        r = client.http.post(f"{d.api.url}/report", json=body, headers=client.auth())
        assert r.status_code == 202, r.text
        task_id = r.json()["task_id"]

        # The first worker completed the report and is now waiting for the receiver's answer: kill it there.
        assert rx.stalled.wait(120), "the callback never arrived"
        doc, _ = d.stored(task_id)
        assert doc["status"] == "completed" and doc["attempts"] == 1 and "callback" not in doc
        first.kill()
        assert not d.settled(task_id)  # the queue never got its 2xx

        # With no worker up the queue keeps retrying; a restarted worker sends the callback that was lost.
        deadline = time.monotonic() + 60
        while d.dispatches(task_id) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        second = d.new_worker()
        deadline = time.monotonic() + 120
        while not d.settled(task_id):
            assert time.monotonic() < deadline, d.stored(task_id)[0].get("callback")
            time.sleep(0.05)

        # The receiver got the report twice: the cut-off one and the redelivered one, both signed, same report.
        assert len(rx.got) == 2
        (cut_body, _), (body_bytes, headers) = rx.got
        assert callbacks.verify(signing_key, body_bytes, headers)
        assert not callbacks.verify(signing_key, body_bytes + b" ", headers)
        report = json.loads(body_bytes)
        assert report == json.loads(cut_body)
        assert report["task_id"] == task_id and report["status"] == "completed" and report["tier"] == "enterprise"
        assert report["result"]["detectors"]

        # Recorded as delivered; the analysis was not repeated (one claim, one stored result, one terminal line).
        doc, results = d.stored(task_id)
        assert doc["callback"]["state"] == "delivered" and doc["callback"]["detail"] == "HTTP 200"
        assert doc["attempts"] == 1 and results == 1
        assert_one_terminal_log_line(task_id, first, second)
        second_lines = [e for e in json_lines(second) if e.get("task_id") == task_id]
        assert not [e for e in second_lines if e.get("message") == "stage"]  # no stage of an analysis ran again
        assert any(e.get("callback_state") == "delivered" for e in second_lines)

        # Further deliveries of the task: 2xx no-ops, no callback sent, the report untouched.
        before = client.status(task_id)[0]
        with httpx.Client(trust_env=False, timeout=60) as http:
            headers = {**d.delivery_headers(), "X-CloudTasks-TaskRetryCount": "0"}
            answers = [
                http.post(second.url + "/process-report", json={"task_id": task_id}, headers=headers) for _ in "12"
            ]
        assert [(a.status_code, a.json()["outcome"], a.json()["detail"]) for a in answers] == [
            (200, "duplicate", "")
        ] * 2
        assert len(rx.got) == 2 and d.stored(task_id)[0] == doc
        assert client.status(task_id)[0] == before
        client.close()
