"""SQLite AccountStore: quotas, entitlements, API keys, billing customers and processed webhook events.

It lives in the same database file as the reports (`reports.db`), so a local data folder
from before the split keeps its keys and entitlements; the two stores share no transaction.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from synthscope.backends.local.sqlite import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS quotas (
    key    TEXT NOT NULL,
    period TEXT NOT NULL,
    used   INTEGER NOT NULL,
    PRIMARY KEY (key, period)
);
CREATE TABLE IF NOT EXISTS billing_customers (
    user_id     TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL UNIQUE,
    created_at  REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_events (
    event_id    TEXT PRIMARY KEY,
    type        TEXT NOT NULL,
    received_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
    key_id     TEXT PRIMARY KEY,
    org        TEXT NOT NULL,
    doc        TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS entitlements (
    user_id    TEXT PRIMARY KEY,
    doc        TEXT NOT NULL,
    updated_at REAL NOT NULL
);
"""


class SqliteAccountStore:
    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.db = Database(path, SCHEMA)
        self.clock = clock

    def consume_quota(self, key: str, period: str, limit: int, *, amount: int = 1) -> tuple[bool, int]:
        with self.db.write() as c:
            row = c.execute("SELECT used FROM quotas WHERE key = ? AND period = ?", (key, period)).fetchone()
            used = int(row["used"]) if row else 0
            if amount > 0 and used + amount > limit:
                return False, used
            used = max(0, used + amount)
            c.execute("INSERT OR REPLACE INTO quotas (key, period, used) VALUES (?, ?, ?)", (key, period, used))
            return True, used

    def get_entitlement(self, user_id: str) -> dict[str, Any] | None:
        rows = self.db.read("SELECT doc FROM entitlements WHERE user_id = ?", (user_id,))
        return json.loads(rows[0]["doc"]) if rows else None

    def set_entitlement(self, user_id: str, entitlement: dict[str, Any]) -> None:
        with self.db.write() as c:
            c.execute(
                "INSERT OR REPLACE INTO entitlements (user_id, doc, updated_at) VALUES (?, ?, ?)",
                (user_id, json.dumps(entitlement), self.clock()),
            )

    def put_api_key(self, key_id: str, record: dict[str, Any]) -> None:
        with self.db.write() as c:
            c.execute(
                "INSERT INTO api_keys (key_id, org, doc, created_at) VALUES (?, ?, ?, ?)",
                (key_id, record["org"], json.dumps({**record, "key_id": key_id}), self.clock()),
            )

    def get_api_key(self, key_id: str) -> dict[str, Any] | None:
        rows = self.db.read("SELECT doc FROM api_keys WHERE key_id = ?", (key_id,))
        return json.loads(rows[0]["doc"]) if rows else None

    def revoke_api_key(self, key_id: str, *, revoked_at: float) -> bool:
        with self.db.write() as c:
            row = c.execute("SELECT doc FROM api_keys WHERE key_id = ?", (key_id,)).fetchone()
            if row is None:
                return False
            doc = json.loads(row["doc"])
            if doc.get("revoked_at") is not None:
                return False
            doc["revoked_at"] = revoked_at
            c.execute("UPDATE api_keys SET doc = ? WHERE key_id = ?", (json.dumps(doc), key_id))
            return True

    def list_api_keys(self, org: str | None = None) -> list[dict[str, Any]]:
        if org is None:
            rows = self.db.read("SELECT doc FROM api_keys ORDER BY created_at", ())
        else:
            rows = self.db.read("SELECT doc FROM api_keys WHERE org = ? ORDER BY created_at", (org,))
        return [json.loads(r["doc"]) for r in rows]

    def link_customer(self, user_id: str, customer_id: str) -> str:
        customer = ("customer_id", customer_id)
        return self.db.first_writer_wins("billing_customers", ("user_id", user_id), customer, self.clock())

    def customer_for_user(self, user_id: str) -> str | None:
        rows = self.db.read("SELECT customer_id FROM billing_customers WHERE user_id = ?", (user_id,))
        return str(rows[0]["customer_id"]) if rows else None

    def user_for_customer(self, customer_id: str) -> str | None:
        rows = self.db.read("SELECT user_id FROM billing_customers WHERE customer_id = ?", (customer_id,))
        return str(rows[0]["user_id"]) if rows else None

    def record_event(self, event_id: str, event_type: str) -> bool:
        with self.db.write() as c:
            cur = c.execute(
                "INSERT OR IGNORE INTO webhook_events (event_id, type, received_at) VALUES (?, ?, ?)",
                (event_id, event_type, self.clock()),
            )
            return cur.rowcount == 1

    def forget_event(self, event_id: str) -> None:
        with self.db.write() as c:
            c.execute("DELETE FROM webhook_events WHERE event_id = ?", (event_id,))

    def ping(self) -> None:
        self.db.ping()

    def close(self) -> None:
        self.db.close()
