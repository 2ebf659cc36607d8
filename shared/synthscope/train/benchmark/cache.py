"""On-disk feature cache: one SQLite file per extractor@version, one row per (clip, condition, window).

Why SQLite: 20 000 clips × 5 conditions × 3 extractors as files would be 300 000 small files;
as rows they are three files. Each write batch is one transaction, so a killed run leaves the
cache at its last commit (atomic), WAL mode lets readers in while a batch is written, and a
row holds all judgeable windows of one clip under one condition ([n_windows, ...] in the
extractor's dtype), which is also the window -> clip index.

Key = clip file sha256 + extractor name + extractor version (the file name) + condition +
window length (ms). A new extractor version is a new file, so it cannot hit old features, and
retiring a version is deleting one file. The `wav` condition is the decoded clip untouched,
the same audio as `stored`, so both read and write the `stored` rows.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Conditions whose audio is identical and therefore share cached features.
ALIASES = {"wav": "stored"}
_SAFE = re.compile(r"[^A-Za-z0-9._+-]")
_CHUNK = 400  # sqlite host-parameter batches


def storage_condition(condition: str) -> str:
    return ALIASES.get(condition, condition)


@dataclass(frozen=True)
class Entry:
    """Features of one clip under one condition, ready to store."""

    sha: str
    condition: str
    features: np.ndarray  # [n_windows, ...]; n_windows may be 0 (nothing judgeable)


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


class FeatureCache:
    """Features by (extractor name, version) -> (clip sha, condition, window length)."""

    def __init__(self, root: Path, window_s: float = 3.0) -> None:
        self.root = root
        self.window_ms = round(window_s * 1000)
        root.mkdir(parents=True, exist_ok=True)
        self._conns: dict[tuple[str, str], sqlite3.Connection] = {}

    def path(self, name: str, version: str) -> Path:
        return self.root / f"{_SAFE.sub('_', name)}@{_SAFE.sub('_', version)}.sqlite"

    def _db(self, name: str, version: str) -> sqlite3.Connection:
        key = (name, version)
        if key not in self._conns:
            conn = sqlite3.connect(self.path(name, version))
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS features (sha TEXT NOT NULL, condition TEXT NOT NULL, "
                "window_ms INTEGER NOT NULL, n INTEGER NOT NULL, dtype TEXT NOT NULL, shape TEXT NOT NULL, "
                "data BLOB NOT NULL, "
                "PRIMARY KEY (sha, condition, window_ms))"
            )
            conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            with conn:
                conn.executemany(
                    "INSERT OR IGNORE INTO meta VALUES (?, ?)", [("extractor", name), ("version", version)]
                )
            self._conns[key] = conn
        return self._conns[key]

    def counts(self, name: str, version: str, condition: str, shas: Iterable[str]) -> dict[str, int]:
        """Windows stored per cached clip among `shas` (absent = not cached): lets a caller pick
        windows before reading any feature bytes."""
        db, cond = self._db(name, version), storage_condition(condition)
        found: dict[str, int] = {}
        for chunk in _chunks(sorted(set(shas))):
            marks = ",".join("?" * len(chunk))
            cur = db.execute(
                f"SELECT sha, n FROM features WHERE condition = ? AND window_ms = ? AND sha IN ({marks})",
                [cond, self.window_ms, *chunk],
            )
            found.update((sha, int(n)) for sha, n in cur)
        return found

    def put(self, name: str, version: str, entries: Iterable[Entry]) -> int:
        """Store a batch in one transaction (all or nothing); returns how many rows were written."""
        rows = [
            (
                e.sha,
                storage_condition(e.condition),
                self.window_ms,
                int(e.features.shape[0]),
                e.features.dtype.str,
                json.dumps(list(e.features.shape)),
                np.ascontiguousarray(e.features).tobytes(),
            )
            for e in entries
        ]
        db = self._db(name, version)
        with db:
            db.executemany("INSERT OR REPLACE INTO features VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        return len(rows)

    def get(self, name: str, version: str, condition: str, shas: Iterable[str]) -> dict[str, np.ndarray]:
        """Features of every cached clip among `shas` ([n_windows, ...] each)."""
        db, cond = self._db(name, version), storage_condition(condition)
        out: dict[str, np.ndarray] = {}
        for chunk in _chunks(sorted(set(shas))):
            marks = ",".join("?" * len(chunk))
            cur = db.execute(
                f"SELECT sha, dtype, shape, data FROM features "
                f"WHERE condition = ? AND window_ms = ? AND sha IN ({marks})",
                [cond, self.window_ms, *chunk],
            )
            for sha, dtype, shape, data in cur:
                out[sha] = np.frombuffer(data, dtype=np.dtype(dtype)).reshape(json.loads(shape))
        return out

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()
