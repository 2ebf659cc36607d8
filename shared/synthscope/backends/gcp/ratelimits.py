"""A Firestore storage for the `limits` library: rate-limit counters shared by every API instance.

Cloud Run runs as many API instances as the load asks for; counters kept in each process
would multiply every limit by the instance count. Here a limit's counter is one document,
incremented in a transaction, so all instances draw on one budget. Fixed windows (one
document per key, reset when its window ends): `limits`' moving window needs a list of
timestamps per key, a poor fit for one small document. Documents carry `expires_at` for
Firestore's TTL policy (infra/terraform/main.tf), so old windows are deleted by Firestore.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore  # type: ignore[attr-defined]
from limits.storage import Storage

from synthscope.auth.ratelimit import Contention


class FirestoreLimitsStorage(Storage):
    """Counters in `collection`, one document per limit key (its id: the key's sha256)."""

    STORAGE_SCHEME = ["synthscope+firestore"]  # noqa: RUF012 (the base class declares it an instance attribute)

    def __init__(self, client: Any, collection: str, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(wrap_exceptions=False)
        self.client = client
        self.collection = client.collection(collection)
        self.clock = clock

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return gexc.GoogleAPIError

    def _ref(self, key: str) -> Any:
        return self.collection.document(hashlib.sha256(key.encode()).hexdigest())

    def _live(self, snap: Any, now: float) -> dict[str, Any] | None:
        doc = snap.to_dict() if snap.exists else None
        return doc if doc is not None and float(doc.get("window_end", 0.0)) > now else None

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        ref = self._ref(key)

        @firestore.transactional  # type: ignore[untyped-decorator]
        def body(tx: Any) -> int:
            now = self.clock()
            live = self._live(ref.get(transaction=tx), now)
            if live is None:
                count, window_end = amount, now + expiry
            else:
                count, window_end = int(live["count"]) + amount, float(live["window_end"])
            tx.set(
                ref,
                {
                    "key": key,
                    "count": count,
                    "window_end": window_end,
                    "expires_at": datetime.fromtimestamp(window_end, UTC),
                },
            )
            return count

        try:
            return int(body(self.client.transaction()))
        except ValueError as exc:  # "Failed to commit transaction in N attempts": lost to concurrent hits
            raise Contention(str(exc)) from exc

    def get(self, key: str) -> int:
        live = self._live(self._ref(key).get(), self.clock())
        return int(live["count"]) if live else 0

    def get_expiry(self, key: str) -> float:
        live = self._live(self._ref(key).get(), self.clock())
        return float(live["window_end"]) if live else self.clock()

    def check(self) -> bool:
        try:
            self.collection.document("_ping").get(timeout=5.0)
        except gexc.GoogleAPIError:
            return False
        return True

    def reset(self) -> int | None:
        return None  # counters expire by themselves; a bulk delete across instances is never wanted

    def clear(self, key: str) -> None:
        self._ref(key).delete()
