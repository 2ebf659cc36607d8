"""Per-key rate limits (anonymous token minting by client IP) on the `limits` library.

In-memory: each API instance counts its own callers, which is what a per-instance
abuse brake needs; a shared budget would take a Redis/Memcached storage URI.
"""

from __future__ import annotations

import math
import time

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from synthscope.errors import RateLimited


class RateLimiter:
    def __init__(self, rate: str, what: str = "anonymous token requests") -> None:
        self.item = parse(rate)
        self.what = what
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def hit(self, key: str) -> None:
        """Count one request for `key`; raise RateLimited (with a Retry-After) when over budget."""
        if self.limiter.hit(self.item, key):
            return
        reset = self.limiter.get_window_stats(self.item, key).reset_time
        retry = max(1, math.ceil(reset - time.time()))
        raise RateLimited(f"too many {self.what}; the limit is {self.item}", retry_after_s=retry)
