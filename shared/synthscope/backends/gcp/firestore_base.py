"""What both Firestore stores share: the client, a collection prefix, a clock, and transactions with retries."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from google.cloud import firestore


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FirestoreStore:
    """`prefix` keeps deployments (and tests) apart in one database; `max_attempts` bounds a transaction's
    retries under contention."""

    def __init__(
        self,
        client: firestore.Client,
        *,
        prefix: str = "",
        clock: Callable[[], float] = time.time,
        max_attempts: int = 25,
    ) -> None:
        self.db = client
        self.prefix = prefix
        self.clock = clock
        self.max_attempts = max_attempts
        self.open_collections()

    def open_collections(self) -> None:
        """Bind the store's collections (`self.collection(name)`); each store names its own."""

    def collection(self, name: str) -> Any:
        return self.db.collection(f"{self.prefix}{name}")

    def _tx(self, fn: Callable[[Any], Any]) -> Any:
        """Run fn(transaction) in a Firestore transaction, retried on contention by the client."""
        return firestore.transactional(fn)(self.db.transaction(max_attempts=self.max_attempts))
