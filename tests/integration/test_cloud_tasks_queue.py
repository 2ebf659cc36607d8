"""CloudTasksQueue against gcloud-tasks-emulator: real gRPC creates and real HTTP dispatch to a worker on 127.0.0.1.

The emulator ignores OIDC tokens, deadlines and duplicate names, so those are checked on the task the adapter
created (as the emulator received it) and through the fixture's ALREADY_EXISTS / UNAVAILABLE behaviour.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from synthscope.backends.gcp.queue import CloudTasksQueue, task_name_for
from tests.fixtures.gcp import PROJECT

INVOKER = "invoker@demo-synthscope.iam.gserviceaccount.com"


class Worker:
    """A minimal HTTP worker that records deliveries and answers the scripted statuses (then 200)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.calls: list[dict[str, Any]] = []
        self.got = threading.Event()
        worker = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                worker.calls.append({"path": self.path, "headers": dict(self.headers.items()), "body": body})
                status = worker.statuses.pop(0) if worker.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if status == 200:
                    worker.got.set()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def worker() -> Iterator[Worker]:
    w = Worker([500])
    yield w
    w.stop()


def make_queue(emu: Any, worker_url: str, **kw: Any) -> CloudTasksQueue:
    client = emu.client()
    name = f"q-{uuid.uuid4().hex[:10]}"  # unique per test: the emulator never dispatches a recreated queue
    client.create_queue(
        parent=f"projects/{PROJECT}/locations/us-central1",
        queue={"name": client.queue_path(PROJECT, "us-central1", name)},
    )
    return CloudTasksQueue(
        client, project=PROJECT, location="us-central1", queue=name, worker_url=worker_url, invoker_email=INVOKER, **kw
    )


def test_task_reaches_the_worker_with_payload_and_cloud_tasks_headers(tasks_emu: Any, worker: Worker) -> None:
    q = make_queue(tasks_emu, worker.url + "/", dispatch_deadline_s=900)
    q.ping()
    assert q.enqueue("rep_abc", {"task_id": "rep_abc"}, headers={"X-Trace": "t1"})
    assert worker.got.wait(10), "the emulator did not deliver the task"
    first, last = worker.calls[0], worker.calls[-1]
    assert len(worker.calls) == 2  # 500 then 200: retried by the queue, not by us
    assert last["path"] == "/process-report" and json.loads(last["body"]) == {"task_id": "rep_abc"}
    h = {k.lower(): v for k, v in last["headers"].items()}
    assert h["content-type"] == "application/json" and h["x-trace"] == "t1"
    assert h["x-cloudtasks-taskname"] == task_name_for("rep_abc")
    assert first["headers"]["X-Cloudtasks-Taskretrycount"] == "0" and h["x-cloudtasks-taskretrycount"] == "1"

    # what Cloud Tasks itself would act on: OIDC for the invoker with the worker's base URL as audience, deadline
    task = tasks_emu.created[f"{q.parent}/tasks/{task_name_for('rep_abc')}"]
    assert task.http_request.oidc_token.service_account_email == INVOKER
    assert task.http_request.oidc_token.audience == worker.url  # base URL, no path, no trailing slash
    assert task.dispatch_deadline.total_seconds() == 900


def test_same_task_id_is_created_once(tasks_emu: Any, worker: Worker) -> None:
    worker.statuses.clear()
    q = make_queue(tasks_emu, worker.url)
    assert q.enqueue("rep_dup", {"task_id": "rep_dup"})
    assert not q.enqueue("rep_dup", {"task_id": "rep_dup"})  # ALREADY_EXISTS is success, reported as "existed"
    assert worker.got.wait(10)
    time.sleep(0.5)
    assert len(worker.calls) == 1
    assert len(task_name_for("rep_dup")) == 32 and task_name_for("rep_dup") != task_name_for("rep_dup2")


def test_transient_create_errors_are_retried(tasks_emu: Any, worker: Worker) -> None:
    worker.statuses.clear()
    q = make_queue(tasks_emu, worker.url)
    before = tasks_emu.attempts
    tasks_emu.fail_next = 2  # UNAVAILABLE twice, then the create goes through
    assert q.enqueue("rep_retry", {"task_id": "rep_retry"})
    assert tasks_emu.fail_next == 0 and tasks_emu.attempts == before + 1
    assert worker.got.wait(10)


def test_deadline_is_clamped_and_audience_can_be_custom(tasks_emu: Any) -> None:
    q = make_queue(tasks_emu, "http://127.0.0.1:9/w", dispatch_deadline_s=5, audience="https://worker.example")
    task = q.build_task("rep_x", {})
    assert task.dispatch_deadline.total_seconds() == 15
    assert task.http_request.oidc_token.audience == "https://worker.example"
    assert task.http_request.url == "http://127.0.0.1:9/w/process-report"
    assert make_queue(tasks_emu, "http://x", dispatch_deadline_s=7200).deadline_s == 1800
