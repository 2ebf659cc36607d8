"""The shared rate-limit store (gcp mode) on the Firestore emulator: one budget per key whoever counts it."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from synthscope.auth.ratelimit import RateLimiter
from synthscope.backends.gcp.ratelimits import FirestoreLimitsStorage
from synthscope.errors import RateLimited
from tests.fixtures.gcp import firestore_client


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def storage(emu: Any, clock: Clock | None = None) -> FirestoreLimitsStorage:
    name = f"t{uuid.uuid4().hex[:8]}_rate_limits"
    if clock is None:
        return FirestoreLimitsStorage(firestore_client(emu.host), name)
    return FirestoreLimitsStorage(firestore_client(emu.host), name, clock=clock)


def test_counters_count_expire_and_clear(firestore_emu: Any) -> None:
    clock = Clock()
    s = storage(firestore_emu, clock)
    assert s.get("k") == 0 and s.check()
    assert [s.incr("k", 60) for _ in range(3)] == [1, 2, 3]
    assert s.incr("k", 60, amount=2) == 5 and s.get("k") == 5
    assert s.get_expiry("k") == clock.now + 60
    clock.now += 61  # the window ended: a new one starts at the next hit
    assert s.get("k") == 0 and s.incr("k", 60) == 1
    s.clear("k")
    assert s.get("k") == 0


def test_two_limiters_on_one_store_share_one_budget(firestore_emu: Any) -> None:
    """Two API instances are two RateLimiter objects over the same collection."""
    s = storage(firestore_emu)
    a = RateLimiter("4/minute", storage=s, namespace="token")
    b = RateLimiter("4/minute", storage=storage_like(s), namespace="token")
    allowed = 0
    for i in range(10):
        try:
            (a if i % 2 else b).hit("203.0.113.9")
            allowed += 1
        except RateLimited as exc:
            assert 1 <= exc.retry_after_s <= 60
    assert allowed == 4
    RateLimiter("4/minute", storage=s, namespace="key-ip").hit("203.0.113.9")  # another limiter: its own budget


def storage_like(s: FirestoreLimitsStorage) -> FirestoreLimitsStorage:
    """A second client on the same collection, as another process would have."""
    host = s.client._emulator_host
    return FirestoreLimitsStorage(firestore_client(host), s.collection.id)


def test_concurrent_hits_never_pass_the_limit(firestore_emu: Any) -> None:
    limiter = RateLimiter("5/minute", storage=storage(firestore_emu), namespace="token")

    def hit(_: int) -> bool:
        try:
            limiter.hit("198.51.100.1")
        except RateLimited:
            return False
        return True

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(hit, range(24)))
    assert 1 <= sum(results) <= 5  # contention may refuse some early; never more than the budget


def test_a_store_that_is_down_lets_requests_through() -> None:
    class Down(FirestoreLimitsStorage):
        def __init__(self) -> None:
            pass

        def incr(self, key: str, expiry: int, amount: int = 1) -> int:
            raise OSError("unreachable")

    RateLimiter("1/minute", storage=Down()).hit("x")
    RateLimiter("1/minute", storage=Down()).hit("x")  # both allowed: an abuse brake must not take the API down


@pytest.mark.parametrize("rate", ["2/second", "3/hour"])
def test_memory_limiter_still_moves_its_window(rate: str) -> None:
    limiter = RateLimiter(rate)
    n = int(rate.split("/")[0])
    for _ in range(n):
        limiter.hit("a")
    with pytest.raises(RateLimited):
        limiter.hit("a")
