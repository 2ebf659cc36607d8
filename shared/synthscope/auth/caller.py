"""Who is calling: the verified subject, the tier read from the account store, the organisation of an API key."""

from __future__ import annotations

from dataclasses import dataclass

from synthscope.config import TIER_LIMITS, Tier, TierLimits


@dataclass(frozen=True)
class Caller:
    sub: str  # owns uploads and reports: `anon:<id>`, `user:<id>` or `org:<org>`
    user_id: str | None
    tier: Tier
    org: str | None = None  # set for enterprise API keys; their reports and uploads belong to the organisation

    @property
    def limits(self) -> TierLimits:
        return TIER_LIMITS[self.tier]
