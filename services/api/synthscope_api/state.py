"""What the API loads once at startup (lifespan) and hands to every request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from synthscope.auth.ratelimit import RateLimiter
from synthscope.backends import Backends
from synthscope.billing import Billing
from synthscope.config import Settings
from synthscope.reports.submission import Intake

if TYPE_CHECKING:
    from synthscope.analysis import SharedEngine


@dataclass
class ApiState:
    settings: Settings
    backends: Backends
    token_limiter: RateLimiter
    engine: SharedEngine | None = None
    billing: Billing | None = None
    key_limiter: RateLimiter | None = None  # per enterprise API key
    key_ip_limiter: RateLimiter | None = None  # per client IP presenting an API key
    intake: Intake = field(init=False)  # report submission, over these settings and backends

    def __post_init__(self) -> None:
        b = self.backends
        self.intake = Intake(self.settings, b.blobs, b.reports, b.accounts, b.queue)
