"""Runtime settings, read from the environment (prefix ``SYNTHSCOPE_``).

Secrets have development defaults so `make run` works with no setup, and the
settings refuse to load with those defaults anywhere but ``local``.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "local-dev-secret-change-me"

#: Every model works on this sample rate; decoders resample to it.
SAMPLE_RATE = 16_000


class Tier(StrEnum):
    free = "free"
    pro = "pro"
    enterprise = "enterprise"


class TierLimits(BaseModel):
    """What a subscription tier may do. The single table of limits (DESIGN §8)."""

    max_file_bytes: int
    max_duration_s: float
    timeline_windows: int | None  # None = the whole timeline
    detector_detail: bool
    reports_per_period: int | None
    period: Literal["day", "month"] | None
    batch_and_webhooks: bool


MB = 1_000_000
TIER_LIMITS: dict[Tier, TierLimits] = {
    Tier.free: TierLimits(
        max_file_bytes=20 * MB,
        max_duration_s=10 * 60,
        timeline_windows=3,
        detector_detail=False,
        reports_per_period=20,
        period="day",
        batch_and_webhooks=False,
    ),
    Tier.pro: TierLimits(
        max_file_bytes=200 * MB,
        max_duration_s=2 * 3600,
        timeline_windows=None,
        detector_detail=True,
        reports_per_period=1000,
        period="month",
        batch_and_webhooks=False,
    ),
    Tier.enterprise: TierLimits(
        max_file_bytes=1000 * MB,
        max_duration_s=6 * 3600,
        timeline_windows=None,
        detector_detail=True,
        reports_per_period=None,
        period=None,
        batch_and_webhooks=True,
    ),
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SYNTHSCOPE_", env_file=".env", extra="ignore")

    environment: Literal["local", "staging", "production"] = "local"
    backend: Literal["local", "gcp"] = "local"
    hmac_secret: SecretStr = SecretStr(DEV_SECRET)

    # Engine
    bundle_path: Path | None = Field(default=None, description="Model bundle dir; None = the shipped one")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    window_s: float = Field(default=3.0, gt=0.5, le=30.0)
    hop_s: float | None = Field(default=None, gt=0.0, le=30.0, description="None = no overlap")
    batch_windows: int = Field(default=64, ge=1, le=4096)
    min_duration_s: float = Field(default=1.0, ge=0.1)
    # Local/CLI limits: the most generous tier; the API narrows them per caller.
    max_file_bytes: int = TIER_LIMITS[Tier.enterprise].max_file_bytes
    max_duration_s: float = TIER_LIMITS[Tier.enterprise].max_duration_s

    # Optional Hugging Face detector (off unless a model path or id is given).
    hf_model: str | None = None
    hf_ai_labels: list[str] = ["fake", "spoof", "ai", "synthetic", "generated"]
    hf_weight: float = Field(default=0.5, ge=0.0, le=1.0, description="hf's share in logit space")

    @model_validator(mode="after")
    def _no_default_secrets_outside_local(self) -> Settings:
        if self.environment != "local" and self.hmac_secret.get_secret_value() == DEV_SECRET:
            raise ValueError(
                f"SYNTHSCOPE_HMAC_SECRET must be set in environment {self.environment!r}; "
                "the development default is only allowed in 'local'"
            )
        return self

    @property
    def effective_hop_s(self) -> float:
        return self.hop_s if self.hop_s is not None else self.window_s


@lru_cache
def get_settings() -> Settings:
    return Settings()
