"""SQLite ReportStore (WAL): reports and their leases, idempotency keys, de-duplicated results, object pins.

The report is one JSON document; the columns beside it (status, lease) are what
claims and conditional writes test, inside one `BEGIN IMMEDIATE` transaction, so
two workers (threads or processes) can never both hold a report.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from synthscope.backends.local.sqlite import Database
from synthscope.ports import CallbackState, Claim, IdempotencyRecord
from synthscope.reports.schema import Status
from synthscope.reports.status import check_transition, claimable, is_terminal

SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
    task_id       TEXT PRIMARY KEY,
    owner         TEXT NOT NULL,
    status        TEXT NOT NULL,
    lease_token   TEXT,
    lease_expires REAL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    doc           TEXT NOT NULL,
    created_at    REAL NOT NULL,
    updated_at    REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
    scope       TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    task_id     TEXT NOT NULL,
    created_at  REAL NOT NULL,
    expires_at  REAL NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE TABLE IF NOT EXISTS results (
    audio_sha256  TEXT NOT NULL,
    bundle_sha256 TEXT NOT NULL,
    result        TEXT NOT NULL,
    created_at    REAL NOT NULL,
    PRIMARY KEY (audio_sha256, bundle_sha256)
);
CREATE TABLE IF NOT EXISTS object_pins (
    object_name TEXT PRIMARY KEY,
    sha256      TEXT NOT NULL,
    pinned_at   REAL NOT NULL
);
"""


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SqliteReportStore:
    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.db = Database(path, SCHEMA)
        self.clock = clock

    # -- reports ---------------------------------------------------------------------------------------

    def create(self, report: dict[str, Any]) -> bool:
        now = self.clock()
        doc = {**report, "created_at": report.get("created_at") or iso(now), "updated_at": iso(now)}
        with self.db.write() as c:
            cur = c.execute(
                "INSERT OR IGNORE INTO reports (task_id, owner, status, doc, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (doc["task_id"], doc.get("owner", ""), doc["status"], json.dumps(doc), now, now),
            )
            return cur.rowcount == 1

    def get(self, task_id: str) -> dict[str, Any] | None:
        rows = self.db.read("SELECT status, attempts, doc FROM reports WHERE task_id = ?", (task_id,))
        if not rows:
            return None
        doc: dict[str, Any] = json.loads(rows[0]["doc"])
        doc["status"] = rows[0]["status"]
        doc["attempts"] = rows[0]["attempts"]
        return doc

    def _merge(self, c: Any, row: Any, fields: dict[str, Any], now: float) -> None:
        doc = json.loads(row["doc"])
        doc.update(fields)
        doc["updated_at"] = iso(now)
        status = fields.get("status", row["status"])
        doc["status"] = status
        c.execute(
            "UPDATE reports SET doc = ?, status = ?, updated_at = ? WHERE task_id = ?",
            (json.dumps(doc), status, now, row["task_id"]),
        )

    def update(
        self,
        task_id: str,
        fields: dict[str, Any],
        *,
        lease_token: str | None = None,
        extend_lease_s: float | None = None,
    ) -> bool:
        now = self.clock()
        with self.db.write() as c:
            row = c.execute("SELECT * FROM reports WHERE task_id = ?", (task_id,)).fetchone()
            if row is None:
                return False
            if lease_token is not None and (row["lease_token"] != lease_token or row["status"] != "processing"):
                return False
            if "status" in fields and fields["status"] != row["status"]:
                check_transition(row["status"], fields["status"])
            self._merge(c, row, fields, now)
            if extend_lease_s is not None and lease_token is not None:
                c.execute("UPDATE reports SET lease_expires = ? WHERE task_id = ?", (now + extend_lease_s, task_id))
            return True

    def claim(self, task_id: str, *, worker_id: str, lease_s: float) -> Claim:
        now = self.clock()
        with self.db.write() as c:
            row = c.execute("SELECT * FROM reports WHERE task_id = ?", (task_id,)).fetchone()
            if row is None:
                return Claim("missing")
            if is_terminal(row["status"]):
                return Claim("finished", self._doc(row))
            if not claimable(row["status"], row["lease_expires"], now):
                return Claim("busy", self._doc(row))
            token = f"{worker_id}:{secrets.token_hex(8)}"
            attempts = row["attempts"] + 1
            c.execute(
                "UPDATE reports SET status = 'processing', lease_token = ?, lease_expires = ?, attempts = ?"
                " WHERE task_id = ?",
                (token, now + lease_s, attempts, task_id),
            )
            self._merge(c, {**dict(row), "status": "processing"}, {"status": "processing", "stage": "downloading"}, now)
            fresh = c.execute("SELECT * FROM reports WHERE task_id = ?", (task_id,)).fetchone()
            return Claim("claimed", self._doc(fresh), token)

    def finish(
        self,
        task_id: str,
        fields: dict[str, Any],
        *,
        lease_token: str | None,
        cache_key: tuple[str, str] | None = None,
    ) -> bool:
        if not is_terminal(fields["status"]):
            raise ValueError("finish() writes a terminal status")
        now = self.clock()
        with self.db.write() as c:
            row = c.execute("SELECT * FROM reports WHERE task_id = ?", (task_id,)).fetchone()
            if row is None or is_terminal(row["status"]):
                return False
            if lease_token is not None and row["lease_token"] != lease_token:
                return False
            check_transition(row["status"], fields["status"])
            self._merge(c, row, fields, now)
            c.execute("UPDATE reports SET lease_token = NULL, lease_expires = NULL WHERE task_id = ?", (task_id,))
            if cache_key is not None and fields.get("result") is not None:
                c.execute(
                    "INSERT OR IGNORE INTO results (audio_sha256, bundle_sha256, result, created_at)"
                    " VALUES (?, ?, ?, ?)",
                    (cache_key[0], cache_key[1], json.dumps(fields["result"]), now),
                )
            return True

    def fail_abandoned(self, task_id: str, *, max_attempts: int, fields: dict[str, Any]) -> bool:
        if fields.get("status") != Status.failed.value:
            raise ValueError("fail_abandoned() writes a failed status")
        now = self.clock()
        with self.db.write() as c:
            row = c.execute("SELECT * FROM reports WHERE task_id = ?", (task_id,)).fetchone()
            if row is None or row["status"] != Status.processing.value or row["attempts"] < max_attempts:
                return False
            if not claimable(row["status"], row["lease_expires"], now):  # an attempt still holds a live lease
                return False
            self._merge(c, row, fields, now)
            c.execute("UPDATE reports SET lease_token = NULL, lease_expires = NULL WHERE task_id = ?", (task_id,))
            return True

    def mark_callback(self, task_id: str, state: CallbackState, detail: str) -> None:
        record = {"state": state, "at": iso(self.clock()), "detail": detail}
        with self.db.write() as c:
            row = c.execute("SELECT doc FROM reports WHERE task_id = ?", (task_id,)).fetchone()
            if row is None:
                return
            doc = json.loads(row["doc"])
            doc["callback"] = record
            c.execute("UPDATE reports SET doc = ? WHERE task_id = ?", (json.dumps(doc), task_id))

    @staticmethod
    def _doc(row: Any) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(row["doc"])
        doc["status"] = row["status"]
        doc["attempts"] = row["attempts"]
        return doc

    # -- de-duplicated results -------------------------------------------------------------------------

    def cached_result(self, audio_sha256: str, bundle_sha256: str) -> dict[str, Any] | None:
        rows = self.db.read(
            "SELECT result FROM results WHERE audio_sha256 = ? AND bundle_sha256 = ?", (audio_sha256, bundle_sha256)
        )
        return json.loads(rows[0]["result"]) if rows else None

    def pin_object(self, object_name: str, audio_sha256: str) -> str:
        return self.db.first_writer_wins(
            "object_pins", ("object_name", object_name), ("sha256", audio_sha256), self.clock()
        )

    # -- idempotency keys ------------------------------------------------------------------------------

    def remember_idempotency(
        self, scope: str, key: str, fingerprint: str, task_id: str, *, ttl_s: int
    ) -> IdempotencyRecord:
        now = self.clock()
        with self.db.write() as c:
            row = c.execute(
                "SELECT fingerprint, task_id, expires_at FROM idempotency WHERE scope = ? AND key = ?", (scope, key)
            ).fetchone()
            if row is not None and row["expires_at"] > now:
                return IdempotencyRecord(key, row["fingerprint"], row["task_id"], created=False)
            c.execute(
                "INSERT OR REPLACE INTO idempotency (scope, key, fingerprint, task_id, created_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (scope, key, fingerprint, task_id, now, now + ttl_s),
            )
            return IdempotencyRecord(key, fingerprint, task_id, created=True)

    def forget_idempotency(self, scope: str, key: str, task_id: str) -> None:
        with self.db.write() as c:
            c.execute("DELETE FROM idempotency WHERE scope = ? AND key = ? AND task_id = ?", (scope, key, task_id))

    # -- concurrency -----------------------------------------------------------------------------------

    def count_active(self, quota_key: str, limit: int) -> int:
        rows = self.db.read(
            "SELECT COUNT(*) AS n FROM (SELECT 1 FROM reports WHERE status IN ('queued', 'processing')"
            " AND json_extract(doc, '$.quota_key') = ? LIMIT ?)",
            (quota_key, limit),
        )
        return int(rows[0]["n"])

    def ping(self) -> None:
        self.db.ping()

    def close(self) -> None:
        self.db.close()
