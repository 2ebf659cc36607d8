"""SQLite task queue: durable, at-least-once, Cloud Tasks' backoff, bounded attempts, dead-letter.

Deliveries go over real HTTP to a small stdlib server on 127.0.0.1 that answers
with a scripted sequence of statuses and records what it was sent.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from synthscope.backends.local.queue import Dispatcher, RetryPolicy, SqliteTaskQueue


class Clock:
    def __init__(self) -> None:
        self.t = 5_000.0

    def __call__(self) -> float:
        return self.t


def test_backoff_follows_cloud_tasks_retry_config() -> None:
    p = RetryPolicy(max_attempts=10, min_backoff_s=1.0, max_backoff_s=20.0, max_doublings=3)
    assert [p.backoff(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 20, 20, 20]
    p = RetryPolicy(min_backoff_s=0.5, max_backoff_s=100.0, max_doublings=1)
    assert [p.backoff(n) for n in range(1, 5)] == [0.5, 1.0, 2.0, 3.0]  # linear after the doublings


def test_enqueue_is_deduplicated_and_durable(tmp_path: Path) -> None:
    q = SqliteTaskQueue(tmp_path / "q.db")
    assert q.enqueue("t1", {"task_id": "t1"})
    assert not q.enqueue("t1", {"task_id": "other"})
    q.close()
    reopened = SqliteTaskQueue(tmp_path / "q.db")  # survives a restart
    leases = reopened.lease_due(10)
    assert [(lease.task_id, lease.payload, lease.attempts) for lease in leases] == [("t1", {"task_id": "t1"}, 1)]


def test_retries_back_off_then_dead_letter(tmp_path: Path) -> None:
    clock = Clock()
    q = SqliteTaskQueue(
        tmp_path / "q.db", policy=RetryPolicy(max_attempts=3, min_backoff_s=2, max_backoff_s=60), clock=clock
    )
    q.enqueue("t1", {})
    assert len(q.lease_due(5)) == 1
    assert q.lease_due(5) == []  # leased: not handed out twice
    assert q.nack("t1", status=500, error="boom") == "pending"
    assert q.lease_due(5) == []  # backing off
    clock.t += 1.9
    assert q.lease_due(5) == []
    clock.t += 0.2
    (second,) = q.lease_due(5)
    assert second.attempts == 2 and second.responses == 1
    assert q.nack("t1", status=None, error="connection refused") == "pending"
    clock.t += 4.1  # 2 s, then 4 s
    (third,) = q.lease_due(5)
    assert third.attempts == 3 and third.responses == 1  # a refused connection got no response
    assert q.nack("t1", status=503, error="busy") == "dead"
    clock.t += 3600
    assert q.lease_due(5) == []
    row = q.get("t1")
    assert row is not None and row["state"] == "dead" and row["last_status"] == 503


def test_a_lost_dispatch_is_sent_again_after_its_deadline(tmp_path: Path) -> None:
    clock = Clock()
    q = SqliteTaskQueue(tmp_path / "q.db", dispatch_deadline_s=30, clock=clock)
    q.enqueue("t1", {})
    assert len(q.lease_due(1)) == 1  # ...and the dispatcher died before it heard back
    clock.t += 30
    assert q.lease_due(1) == []
    clock.t += 10
    (again,) = q.lease_due(1)
    assert again.attempts == 2
    q.ack("t1", 200)
    clock.t += 3600
    assert q.lease_due(1) == []
    row = q.get("t1")
    assert row is not None and row["state"] == "done"


# -- real HTTP deliveries ---------------------------------------------------------------------------------


class Recorder:
    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.calls: list[dict[str, Any]] = []
        self.lock = threading.Lock()


@pytest.fixture
def worker() -> Iterator[Callable[[list[int]], tuple[str, Recorder]]]:
    servers: list[ThreadingHTTPServer] = []

    def start(statuses: list[int]) -> tuple[str, Recorder]:
        rec = Recorder(statuses)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with rec.lock:
                    rec.calls.append({"path": self.path, "headers": dict(self.headers), "body": json.loads(body)})
                    status = rec.statuses[min(len(rec.calls), len(rec.statuses)) - 1]
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        servers.append(srv)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{srv.server_address[1]}", rec

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def wait_for(cond: Callable[[], bool], timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def test_dispatcher_delivers_like_cloud_tasks_and_retries(
    tmp_path: Path, worker: Callable[[list[int]], tuple[str, Recorder]]
) -> None:
    url, rec = worker([500, 503, 200])
    q = SqliteTaskQueue(tmp_path / "q.db", policy=RetryPolicy(max_attempts=5, min_backoff_s=0.01, max_backoff_s=0.05))
    d = Dispatcher(q, worker_url=url, worker_secret="s3cret", queue_name="qq", poll_s=0.02)
    d.start()
    try:
        q.enqueue("rep_abc", {"task_id": "rep_abc"}, headers={"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"})
        wait_for(lambda: (q.get("rep_abc") or {}).get("state") == "done")
    finally:
        d.stop()
    assert len(rec.calls) == 3
    for i, call in enumerate(rec.calls):
        h = {k.lower(): v for k, v in call["headers"].items()}
        assert call["path"] == "/process-report" and call["body"] == {"task_id": "rep_abc"}
        assert h["authorization"] == "Bearer s3cret" and h["content-type"] == "application/json"
        assert h["x-cloudtasks-taskname"] == "rep_abc" and h["x-cloudtasks-queuename"] == "qq"
        assert h["x-cloudtasks-taskretrycount"] == str(i)
        assert h["x-cloudtasks-taskexecutioncount"] == str(i)
        assert h["traceparent"].startswith("00-aaaa")


def test_dispatcher_dead_letters_and_calls_the_hook(
    tmp_path: Path, worker: Callable[[list[int]], tuple[str, Recorder]]
) -> None:
    url, rec = worker([500])
    dead: list[tuple[str, str]] = []
    q = SqliteTaskQueue(tmp_path / "q.db", policy=RetryPolicy(max_attempts=3, min_backoff_s=0.01, max_backoff_s=0.02))
    d = Dispatcher(q, worker_url=url, worker_secret="s", poll_s=0.02, on_dead=lambda t, e: dead.append((t, e)))
    d.start()
    try:
        q.enqueue("rep_x", {"task_id": "rep_x"})
        wait_for(lambda: bool(dead))
    finally:
        d.stop()
    assert len(rec.calls) == 3 and dead[0][0] == "rep_x" and "500" in dead[0][1]
    assert (q.get("rep_x") or {})["state"] == "dead"


def test_unreachable_worker_is_retried(tmp_path: Path, worker: Callable[[list[int]], tuple[str, Recorder]]) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens here now
    q = SqliteTaskQueue(tmp_path / "q.db", policy=RetryPolicy(max_attempts=50, min_backoff_s=0.01, max_backoff_s=0.05))
    d = Dispatcher(q, worker_url=f"http://127.0.0.1:{port}", worker_secret="s", poll_s=0.02)
    d.start()
    try:
        q.enqueue("rep_y", {"task_id": "rep_y"})
        wait_for(lambda: (q.get("rep_y") or {}).get("attempts", 0) >= 2)
        row = q.get("rep_y")
        assert row is not None and row["state"] in ("pending", "leased") and row["responses"] == 0
    finally:
        d.stop()
