"""Per-key rate limits (anonymous token minting by client IP, API-key traffic) on the `limits` library.

The storage comes from the backend factory: in memory in local mode (one process serves
everything), a shared store in gcp mode (`backends.gcp.ratelimits`), so every Cloud Run
instance draws on one budget instead of each counting its own callers. Storages that keep
per-hit timestamps get a moving window; counter stores get fixed windows.
"""

from __future__ import annotations

import logging
import math
import time

from limits import parse
from limits.storage import MemoryStorage, MovingWindowSupport, Storage
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter
from limits.strategies import RateLimiter as Strategy

from synthscope.errors import RateLimited

log = logging.getLogger("synthscope.ratelimit")


class Contention(Exception):
    """A shared store gave up on a counter that many concurrent hits were updating at once."""


class RateLimiter:
    def __init__(
        self,
        rate: str,
        what: str = "anonymous token requests",
        *,
        storage: Storage | None = None,
        namespace: str = "token",
    ) -> None:
        """`namespace` keeps limiters apart that count the same keys (client IPs) in one shared storage."""
        self.item = parse(rate)
        self.what = what
        self.namespace = namespace
        store = storage if storage is not None else MemoryStorage()
        self.limiter: Strategy = (
            MovingWindowRateLimiter(store) if isinstance(store, MovingWindowSupport) else FixedWindowRateLimiter(store)
        )

    def hit(self, key: str) -> None:
        """Count one request for `key`; raise RateLimited (with a Retry-After) when over budget.

        A shared store that is down lets the request through (logged): this is an abuse brake, and the
        quotas that bill are enforced transactionally in the report store. Contention on one key (many
        requests from one caller at once) counts as over budget."""
        try:
            allowed = self.limiter.hit(self.item, self.namespace, key)
        except Contention:
            raise RateLimited(f"too many {self.what} at once; retry shortly", retry_after_s=1) from None
        except Exception as exc:
            log.warning("rate-limit store unavailable; request allowed", extra={"error": repr(exc)[:300]})
            return
        if allowed:
            return
        reset = self.limiter.get_window_stats(self.item, self.namespace, key).reset_time
        retry = max(1, math.ceil(reset - time.time()))
        raise RateLimited(f"too many {self.what}; the limit is {self.item}", retry_after_s=retry)
