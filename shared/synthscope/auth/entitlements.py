"""The caller's tier, read from the stored entitlement on each request.

This is the one place that decides a tier. Billing (Stripe webhooks) will write the
entitlement documents later; until then every caller without one is `free`.
"""

from __future__ import annotations

import time
from typing import Any

from synthscope.config import Tier
from synthscope.ports import AccountStore

#: Subscription states that grant the stored tier (Stripe's names).
ACTIVE_STATES = frozenset({"active", "trialing", "past_due"})


def tier_for(store: AccountStore, user_id: str | None, *, now: float | None = None) -> Tier:
    """Anonymous callers, unknown users and lapsed subscriptions are `free`."""
    if user_id is None:
        return Tier.free
    ent = store.get_entitlement(user_id)
    return tier_of(ent, now=now)


def tier_of(ent: dict[str, Any] | None, *, now: float | None = None) -> Tier:
    if not ent:
        return Tier.free
    try:
        tier = Tier(ent.get("tier", "free"))
    except ValueError:
        return Tier.free
    if ent.get("status", "active") not in ACTIVE_STATES:
        return Tier.free
    end = ent.get("current_period_end")
    if end is not None and float(end) < (now if now is not None else time.time()):
        return Tier.free
    return tier


def grant(store: AccountStore, user_id: str, tier: Tier | str, *, status: str = "active") -> None:
    """Store an entitlement by hand (operators, tests) until billing writes them."""
    store.set_entitlement(user_id, {"tier": Tier(tier).value, "status": status, "updated_at": time.time()})
