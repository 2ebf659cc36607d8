"""One SQLite database file shared by threads and processes: WAL, a busy timeout, one connection per thread.

WAL lets readers (status polls) run while a writer (progress, claims) holds the
lock; `BEGIN IMMEDIATE` takes the write lock up front so read-modify-write
transactions (claim, lease renewal) cannot interleave across processes.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

BUSY_TIMEOUT_MS = 10_000


class Database:
    def __init__(self, path: Path, schema: str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.conn().executescript(schema)  # idempotent DDL; executescript manages its own transaction

    def conn(self) -> sqlite3.Connection:
        c: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if c is None:
            c = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
            c.row_factory = sqlite3.Row
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("PRAGMA synchronous=NORMAL")
            c.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            c.execute("PRAGMA foreign_keys=ON")
            self._local.conn = c
            with self._lock:
                self._all.append(c)
        return c

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE ... COMMIT), rolled back on any exception."""
        c = self.conn()
        c.execute("BEGIN IMMEDIATE")
        try:
            yield c
        except BaseException:
            c.execute("ROLLBACK")
            raise
        else:
            c.execute("COMMIT")

    def first_writer_wins(self, table: str, key: tuple[str, object], value: tuple[str, object], at: float) -> str:
        """Insert (key, value) unless the key has a row already; return the value stored under the key.

        `table` and the column names are ours (never a caller's input): `(key, value, <table>'s time column)`.
        """
        (key_col, key_val), (value_col, value_val) = key, value
        with self.write() as c:
            c.execute(f"INSERT OR IGNORE INTO {table} VALUES (?, ?, ?)", (key_val, value_val, at))
            row = c.execute(f"SELECT {value_col} FROM {table} WHERE {key_col} = ?", (key_val,)).fetchone()
        return str(row[0])

    def read(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        return self.conn().execute(sql, params).fetchall()

    def ping(self) -> None:
        self.conn().execute("SELECT 1").fetchone()

    def close(self) -> None:
        with self._lock:
            for c in self._all:
                with contextlib.suppress(sqlite3.Error):
                    c.close()
            self._all.clear()
        self._local = threading.local()
