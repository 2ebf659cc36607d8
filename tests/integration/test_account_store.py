"""The AccountStore contract (quotas, entitlements, API keys, billing customers, webhook events), run on SQLite
and on the Firestore emulator."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from synthscope.auth.entitlements import grant, tier_for
from synthscope.backends.local.accounts import SqliteAccountStore
from synthscope.config import Tier
from synthscope.ports import AccountStore


@pytest.fixture(params=["sqlite", "firestore"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "sqlite":
        s: Any = SqliteAccountStore(tmp_path / "reports.db")
    else:
        from synthscope.backends.gcp.accounts import FirestoreAccountStore
        from tests.fixtures.gcp import firestore_client

        emu = request.getfixturevalue("firestore_emu")  # a fresh prefix per test isolates it
        s = FirestoreAccountStore(firestore_client(emu.host), prefix=f"t{uuid.uuid4().hex[:10]}_")
    yield s
    s.close()


def test_entitlements_decide_the_tier(store: AccountStore) -> None:
    assert tier_for(store, None) is Tier.free
    assert tier_for(store, "alice") is Tier.free
    grant(store, "alice", Tier.pro)
    assert tier_for(store, "alice") is Tier.pro
    grant(store, "alice", Tier.enterprise, status="canceled")
    assert tier_for(store, "alice") is Tier.free
    store.set_entitlement("bob", {"tier": "pro", "status": "active", "current_period_end": 1.0})
    assert tier_for(store, "bob") is Tier.free  # lapsed
    store.set_entitlement("carol", {"tier": "platinum"})
    assert tier_for(store, "carol") is Tier.free


def test_quota_counters_are_atomic_and_give_back(store: AccountStore) -> None:
    assert store.consume_quota("ip:1.2.3.4", "20261122", 2) == (True, 1)
    assert store.consume_quota("ip:1.2.3.4", "20261122", 2) == (True, 2)
    assert store.consume_quota("ip:1.2.3.4", "20261122", 2) == (False, 2)  # over: nothing counted
    assert store.consume_quota("ip:1.2.3.4", "20261123", 2) == (True, 1)  # a new period starts at 0
    assert store.consume_quota("user:u", "20261122", 2) == (True, 1)  # keys are separate
    assert store.consume_quota("ip:1.2.3.4", "20261122", 2, amount=-1) == (True, 1)
    assert store.consume_quota("user:u", "20261122", 2, amount=-5) == (True, 0)  # never below zero


def test_concurrent_quota_hits_never_pass_the_limit(store: AccountStore) -> None:
    with ThreadPoolExecutor(5) as pool:
        got = list(pool.map(lambda _: store.consume_quota("user:race", "202611", 7)[0], range(12)))
    assert got.count(True) == 7 and store.consume_quota("user:race", "202611", 7) == (False, 7)


def test_billing_customers_link_both_ways_and_first_wins(store: AccountStore) -> None:
    assert store.customer_for_user("u1") is None and store.user_for_customer("cus_1") is None
    assert store.link_customer("u1", "cus_1") == "cus_1"
    assert store.link_customer("u1", "cus_2") == "cus_1"  # a racing second checkout reuses the first customer
    assert store.customer_for_user("u1") == "cus_1" and store.user_for_customer("cus_1") == "u1"
    assert store.user_for_customer("cus_2") is None


def test_webhook_events_are_recorded_once(store: AccountStore) -> None:
    assert store.record_event("evt_1", "invoice.paid")
    assert not store.record_event("evt_1", "invoice.paid")
    assert store.record_event("evt_2", "invoice.paid")
    store.forget_event("evt_1")  # handling failed: the provider's retry must be handled
    assert store.record_event("evt_1", "invoice.paid")
    with ThreadPoolExecutor(5) as pool:
        assert list(pool.map(lambda _: store.record_event("evt_race", "x"), range(10))).count(True) == 1


def test_api_keys_are_stored_revoked_and_listed(store: AccountStore) -> None:
    store.put_api_key("k1", {"org": "acme", "name": "ci", "sha256": "ab" * 32, "created_at": 1.0, "revoked_at": None})
    store.put_api_key("k2", {"org": "other", "name": "", "sha256": "cd" * 32, "created_at": 2.0, "revoked_at": None})
    got = store.get_api_key("k1")
    assert got is not None and got["org"] == "acme" and got["sha256"] == "ab" * 32 and got["key_id"] == "k1"
    assert store.get_api_key("nope") is None
    assert [k["key_id"] for k in store.list_api_keys("acme")] == ["k1"]
    assert {k["key_id"] for k in store.list_api_keys()} == {"k1", "k2"}
    assert store.revoke_api_key("k1", revoked_at=5.0) and not store.revoke_api_key("k1", revoked_at=6.0)
    assert not store.revoke_api_key("nope", revoked_at=5.0)
    assert store.get_api_key("k1")["revoked_at"] == 5.0  # type: ignore[index]
