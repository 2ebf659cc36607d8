"""A durable SQLite task queue that delivers to the worker over HTTP, the way Cloud Tasks does.

- At-least-once: a task is leased for the dispatch deadline before it is sent, and
  only a 2xx marks it done. A dispatcher that dies mid-delivery leaves a lease
  that runs out, and the task is sent again.
- Retries: any non-2xx, timeout or connection error is retried after
  min_backoff·2^(n-1) (doubling `max_doublings` times, then linear in steps of the
  last doubled interval, capped at max_backoff: Cloud Tasks' RetryConfig), until
  `max_attempts`; then the task is dead-lettered (state `dead`) and `on_dead`
  is called so the report does not stay `queued` forever.
- Delivery: `POST {worker_url}/process-report` with the JSON payload and Cloud Tasks'
  headers (X-CloudTasks-TaskName, -QueueName, -TaskRetryCount, -TaskExecutionCount,
  -TaskETA); the bearer is the shared worker secret where Cloud Tasks sends an OIDC token.
- Dedupe: task ids are unique; enqueueing an existing id is a no-op that returns False.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from synthscope.backends.local.sqlite import Database

log = logging.getLogger("synthscope.queue")

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    task_id         TEXT PRIMARY KEY,
    payload         TEXT NOT NULL,
    headers         TEXT NOT NULL DEFAULT '{}',
    state           TEXT NOT NULL,          -- pending | leased | done | dead
    attempts        INTEGER NOT NULL DEFAULT 0,  -- dispatches started
    responses       INTEGER NOT NULL DEFAULT 0,  -- dispatches that got an HTTP response
    next_attempt_at REAL NOT NULL,
    lease_until     REAL,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_due ON tasks (state, next_attempt_at);
"""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    min_backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    max_doublings: int = 5

    def backoff(self, failed_attempts: int) -> float:
        """Delay before the next try after `failed_attempts` failures (1-based), as Cloud Tasks computes it."""
        n = max(1, failed_attempts)
        doublings = min(n - 1, self.max_doublings)
        delay = self.min_backoff_s * (2**doublings)
        if n - 1 > self.max_doublings:
            delay += (n - 1 - self.max_doublings) * self.min_backoff_s * (2**self.max_doublings)
        return min(delay, self.max_backoff_s)


@dataclass(frozen=True)
class Lease:
    task_id: str
    payload: dict[str, Any]
    headers: dict[str, str]
    attempts: int  # including this one
    responses: int
    created_at: float


class SqliteTaskQueue:
    def __init__(
        self,
        path: Path,
        *,
        policy: RetryPolicy | None = None,
        dispatch_deadline_s: float = 600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = Database(path, SCHEMA)
        self.policy = policy or RetryPolicy()
        self.deadline_s = dispatch_deadline_s
        self.clock = clock
        #: Set on enqueue so an in-process dispatcher wakes at once instead of at its next poll.
        self.wakeup = threading.Event()

    def enqueue(self, task_id: str, payload: dict[str, Any], *, headers: dict[str, str] | None = None) -> bool:
        now = self.clock()
        with self.db.write() as c:
            cur = c.execute(
                "INSERT OR IGNORE INTO tasks"
                " (task_id, payload, headers, state, next_attempt_at, created_at, updated_at)"
                " VALUES (?, ?, ?, 'pending', ?, ?, ?)",
                (task_id, json.dumps(payload), json.dumps(headers or {}), now, now, now),
            )
        self.wakeup.set()
        return cur.rowcount == 1

    def lease_due(self, limit: int) -> list[Lease]:
        """Take up to `limit` due tasks (pending and due, or leased past the dispatch deadline)."""
        now = self.clock()
        out: list[Lease] = []
        with self.db.write() as c:
            rows = c.execute(
                "SELECT * FROM tasks WHERE (state = 'pending' AND next_attempt_at <= ?)"
                " OR (state = 'leased' AND lease_until <= ?) ORDER BY next_attempt_at LIMIT ?",
                (now, now, limit),
            ).fetchall()
            for r in rows:
                attempts = r["attempts"] + 1
                c.execute(
                    "UPDATE tasks SET state = 'leased', attempts = ?, lease_until = ?, updated_at = ?"
                    " WHERE task_id = ?",
                    (attempts, now + self.deadline_s + 5.0, now, r["task_id"]),
                )
                out.append(
                    Lease(
                        r["task_id"],
                        json.loads(r["payload"]),
                        json.loads(r["headers"]),
                        attempts,
                        r["responses"],
                        r["created_at"],
                    )
                )
        return out

    def ack(self, task_id: str, status: int) -> None:
        now = self.clock()
        with self.db.write() as c:
            c.execute(
                "UPDATE tasks SET state = 'done', responses = responses + 1, last_status = ?, last_error = NULL,"
                " lease_until = NULL, updated_at = ? WHERE task_id = ?",
                (status, now, task_id),
            )

    def nack(self, task_id: str, *, status: int | None, error: str) -> str:
        """Record a failed dispatch; schedule a retry or dead-letter. Returns the new state."""
        now = self.clock()
        with self.db.write() as c:
            row = c.execute("SELECT attempts FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
            if row is None:
                return "missing"
            attempts = row["attempts"]
            state = "dead" if attempts >= self.policy.max_attempts else "pending"
            c.execute(
                "UPDATE tasks SET state = ?, responses = responses + ?, last_status = ?, last_error = ?,"
                " next_attempt_at = ?, lease_until = NULL, updated_at = ? WHERE task_id = ?",
                (
                    state,
                    0 if status is None else 1,
                    status,
                    error[:500],
                    now + self.policy.backoff(attempts),
                    now,
                    task_id,
                ),
            )
        return state

    def get(self, task_id: str) -> dict[str, Any] | None:
        rows = self.db.read("SELECT * FROM tasks WHERE task_id = ?", (task_id,))
        return dict(rows[0]) if rows else None

    def next_due_in(self) -> float | None:
        rows = self.db.read("SELECT MIN(next_attempt_at) AS t FROM tasks WHERE state = 'pending'")
        t = rows[0]["t"] if rows else None
        return None if t is None else max(0.0, t - self.clock())

    def ping(self) -> None:
        self.db.ping()

    def close(self) -> None:
        self.db.close()


class Dispatcher:
    """Background thread that leases due tasks and POSTs them to the worker, a few at a time."""

    name = "dispatcher"

    def __init__(
        self,
        queue: SqliteTaskQueue,
        *,
        worker_url: str,
        worker_secret: str,
        queue_name: str = "synthscope-reports",
        max_concurrent: int = 2,
        poll_s: float = 0.5,
        on_dead: Callable[[str, str], object] | None = None,
    ) -> None:
        self.queue = queue
        self.url = worker_url.rstrip("/") + "/process-report"
        self.secret = worker_secret
        self.queue_name = queue_name
        self.max_concurrent = max_concurrent
        self.poll_s = poll_s
        self.on_dead = on_dead
        self._stop = threading.Event()
        self._slots = threading.Semaphore(max_concurrent)
        self._pool = ThreadPoolExecutor(max_workers=max_concurrent, thread_name_prefix="dispatch")
        self._thread = threading.Thread(target=self._loop, name="queue-dispatcher", daemon=True)
        self._client = httpx.Client(timeout=httpx.Timeout(queue.deadline_s, connect=5.0), trust_env=False)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop leasing; in-flight deliveries are abandoned (their leases run out and they are sent again)."""
        self._stop.set()
        self.queue.wakeup.set()
        self._thread.join(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)
        with contextlib.suppress(Exception):
            self._client.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                free = self._free_slots()
                leases = self.queue.lease_due(free) if free else []
            except Exception:
                log.exception("queue poll failed")
                leases = []
            for lease in leases:
                self._slots.acquire()
                self._pool.submit(self._deliver_and_release, lease)
            if leases:
                continue
            wait = self.poll_s
            with contextlib.suppress(Exception):
                due = self.queue.next_due_in()
                if due is not None:
                    wait = min(wait, due)
            self.queue.wakeup.wait(max(wait, 0.01))
            self.queue.wakeup.clear()

    def _free_slots(self) -> int:
        n = 0
        while n < self.max_concurrent and self._slots.acquire(blocking=False):
            n += 1
        for _ in range(n):
            self._slots.release()
        return n

    def _deliver_and_release(self, lease: Lease) -> None:
        try:
            self.deliver(lease)
        except Exception:
            log.exception("delivery of %s crashed", lease.task_id)
        finally:
            self._slots.release()
            self.queue.wakeup.set()

    def deliver(self, lease: Lease) -> None:
        headers = {
            **lease.headers,
            "Content-Type": "application/json",
            "User-Agent": "Google-Cloud-Tasks",
            "Authorization": f"Bearer {self.secret}",
            "X-CloudTasks-QueueName": self.queue_name,
            "X-CloudTasks-TaskName": lease.task_id,
            "X-CloudTasks-TaskRetryCount": str(lease.attempts - 1),
            "X-CloudTasks-TaskExecutionCount": str(lease.responses),
            "X-CloudTasks-TaskETA": f"{lease.created_at:.6f}",
        }
        t0 = time.perf_counter()
        status: int | None = None
        try:
            resp = self._client.post(self.url, content=json.dumps(lease.payload), headers=headers)
            status = resp.status_code
            error = "" if resp.is_success else f"HTTP {status}: {resp.text[:200]}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        ms = round((time.perf_counter() - t0) * 1000, 1)
        if status is not None and 200 <= status < 300:
            self.queue.ack(lease.task_id, status)
            log.info(
                "task delivered",
                extra={"task_id": lease.task_id, "attempt": lease.attempts, "http_status": status, "latency_ms": ms},
            )
            return
        state = self.queue.nack(lease.task_id, status=status, error=error)
        log.warning(
            "task delivery failed",
            extra={
                "task_id": lease.task_id,
                "attempt": lease.attempts,
                "http_status": status,
                "error": error,
                "next_state": state,
                "latency_ms": ms,
            },
        )
        if state == "dead" and self.on_dead is not None:
            try:
                self.on_dead(lease.task_id, error)
            except Exception:
                log.exception("dead-letter hook failed for %s", lease.task_id)
