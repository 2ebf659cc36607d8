"""Report quotas and concurrency per caller, from the tier table (DESIGN §8).

Quotas are counted in the account store (not in memory) so every API instance sees one budget;
the running reports are counted by the caller in the report store and passed in. Anonymous callers are
counted by client IP, since a new anonymous token is one request away; users by their user id.
"""

from __future__ import annotations

import calendar
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from synthscope.config import TIER_LIMITS, Tier
from synthscope.errors import RateLimited
from synthscope.ports import AccountStore


@dataclass(frozen=True)
class QuotaGrant:
    """What was counted, to report in headers and to give back on an idempotent replay."""

    key: str
    period: str
    limit: int
    used: int
    reset_at: float

    def headers(self, now: float | None = None) -> dict[str, str]:
        """IETF draft RateLimit fields (Limit, Remaining, Reset in seconds), as separate headers."""
        reset = max(0, math.ceil(self.reset_at - (now if now is not None else time.time())))
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(max(0, self.limit - self.used)),
            "RateLimit-Reset": str(reset),
        }


def quota_key(user_id: str | None, client_ip: str, *, org: str | None = None) -> str:
    if org:
        return f"org:{org}"
    return f"user:{user_id}" if user_id else f"ip:{client_ip}"


def period_window(period: str, now: float) -> tuple[str, float]:
    """(period id, when it ends) in UTC: calendar days or calendar months."""
    t = datetime.fromtimestamp(now, UTC)
    if period == "day":
        start = calendar.timegm((t.year, t.month, t.day, 0, 0, 0))
        return t.strftime("%Y%m%d"), float(start + 86_400)
    if period == "month":
        year, month = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
        return t.strftime("%Y%m"), float(calendar.timegm((year, month, 1, 0, 0, 0)))
    raise ValueError(f"unknown quota period {period!r}")


def admit(store: AccountStore, key: str, tier: Tier, *, running: int, now: float | None = None) -> QuotaGrant | None:
    """Count one report against the caller's tier, or raise RateLimited (429 with Retry-After).

    Concurrency first (nothing is counted when `running`, the caller's queued and processing reports, is at the
    tier's limit), then the period quota. None when the tier has no quota (enterprise: by contract).
    """
    now = now if now is not None else time.time()
    limits = TIER_LIMITS[tier]
    active = running
    if active >= limits.max_concurrent_reports:
        raise RateLimited(
            f"{active} reports are still running; the {tier.value} tier allows {limits.max_concurrent_reports} at once",
            retry_after_s=5,
        )
    if limits.reports_per_period is None or limits.period is None:
        return None
    period, reset_at = period_window(limits.period, now)
    ok, used = store.consume_quota(key, period, limits.reports_per_period)
    grant = QuotaGrant(key, period, limits.reports_per_period, used, reset_at)
    if not ok:
        raise RateLimited(
            f"the {tier.value} tier allows {limits.reports_per_period} reports per {limits.period}; "
            "upgrade or wait for the quota to reset",
            retry_after_s=max(1, math.ceil(reset_at - now)),
            headers=grant.headers(now),
        )
    return grant


def give_back(store: AccountStore, grant: QuotaGrant | None) -> None:
    """Return one counted report (an idempotent replay, or a report that could not be queued)."""
    if grant is not None:
        store.consume_quota(grant.key, grant.period, grant.limit, amount=-1)
