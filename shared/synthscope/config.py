"""Runtime settings, read from the environment (prefix ``SYNTHSCOPE_``).

Secrets have development defaults so `make run` works with no setup, and the
settings refuse to load with those defaults anywhere but ``local``.
"""

from __future__ import annotations

import hashlib
import hmac
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "local-dev-secret-change-me"
DEV_API_KEY = "local-dev-api-key"
DEV_WORKER_SECRET = "local-dev-worker-secret"  # refused outside local if set explicitly

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
    max_concurrent_reports: int  # queued + processing at once, per caller


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
        max_concurrent_reports=2,
    ),
    Tier.pro: TierLimits(
        max_file_bytes=200 * MB,
        max_duration_s=2 * 3600,
        timeline_windows=None,
        detector_detail=True,
        reports_per_period=1000,
        period="month",
        batch_and_webhooks=False,
        max_concurrent_reports=10,
    ),
    Tier.enterprise: TierLimits(
        max_file_bytes=1000 * MB,
        max_duration_s=6 * 3600,
        timeline_windows=None,
        detector_detail=True,
        reports_per_period=None,
        period=None,
        batch_and_webhooks=True,
        max_concurrent_reports=100,
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

    # --- Services (API, worker, queue) ---
    #: Where the embedded backends keep blobs and the SQLite database.
    data_dir: Path = Path("data/local")
    #: Public base URL of the API, used in upload and status URLs; None = the URL the request came in on.
    public_url: str | None = None
    token_ttl_s: int = Field(default=900, ge=30, le=86_400)
    upload_url_ttl_s: int = Field(default=900, ge=30, le=7 * 86_400)
    #: How long after its upload an object may still be submitted with POST /report.
    upload_fresh_s: int = Field(default=86_400, ge=60)
    #: Anonymous POST /auth/token budget per client IP (a `limits` rate string).
    anon_token_rate: str = "30/minute"
    trusted_proxy_hops: int = Field(
        default=0,
        ge=0,
        le=8,
        description="Proxies of ours that append to X-Forwarded-For (Cloud Run: 1). 0 = ignore the header: "
        "anyone can write it, so rate limits and quotas key on the TCP peer",
    )
    #: Enterprise API keys (`synthscope keys create`): requests per key, and per client IP presenting any key.
    api_key_rate: str = "600/minute"
    api_key_ip_rate: str = "1200/minute"
    #: Report callbacks (enterprise): first retry after this many seconds, doubling, at most this many attempts.
    callback_backoff_s: float = Field(default=1.0, ge=0.0, le=60.0)
    callback_attempts: int = Field(default=5, ge=1, le=20)
    #: Enforce the tiers' report quotas and concurrency at POST /report (tests of other things turn it off).
    quotas_enforced: bool = True
    cors_origins: list[str] = ["http://localhost:3000", "http://127.0.0.1:3000"]
    #: Keys of trusted backends (the Next.js proxy) that may mint tokens bound to a user_id.
    #: Empty = none outside `local`, the development key in `local` (see `trusted_api_keys`).
    api_keys: list[SecretStr] = Field(default_factory=list)
    #: Local mode: the queue authenticates to the worker with this bearer secret (GCP uses OIDC).
    #: None = derived from hmac_secret, so it is as secret as that one (see `worker_bearer`).
    worker_secret: SecretStr | None = None
    #: Where the queue delivers tasks (the worker's base URL; POST {worker_url}/process-report).
    worker_url: str = "http://127.0.0.1:8080/_worker"
    #: Run the SQLite queue's dispatcher in the API process (local backend only).
    queue_dispatch: bool = True
    queue_name: str = "synthscope-reports"
    queue_max_attempts: int = Field(default=5, ge=1, le=100)
    queue_min_backoff_s: float = Field(default=1.0, gt=0.0)
    queue_max_backoff_s: float = Field(default=60.0, gt=0.0)
    queue_max_doublings: int = Field(default=5, ge=0)
    queue_max_concurrent: int = Field(default=2, ge=1, le=64)
    queue_dispatch_deadline_s: float = Field(default=600.0, ge=1.0, le=1800.0)
    queue_poll_s: float = Field(default=0.5, gt=0.0, le=10.0)
    #: A claimed report's lease; renewed with each progress write, so a crashed attempt is retried after it.
    lease_s: float = Field(default=60.0, ge=1.0)
    #: Progress is written at most this often (seconds) per report.
    progress_interval_s: float = Field(default=1.0, ge=0.0)
    #: Load the engine in the API process for POST /analyze (off = 503 there; the worker still analyses).
    api_sync_analyze: bool = True
    log_level: str = "INFO"
    #: GCP project for trace ids in logs (`projects/P/traces/T`) and for the gcp backends; None in local mode.
    gcp_project: str | None = None

    # --- gcp backend (SYNTHSCOPE_BACKEND=gcp; emulators via FIRESTORE_EMULATOR_HOST / STORAGE_EMULATOR_HOST) ---
    gcp_location: str = "us-central1"
    firestore_database: str = "(default)"
    #: Collection name prefix (tests and shared projects keep their documents apart).
    firestore_prefix: str = ""
    upload_bucket: str = "synthscope-uploads"
    results_bucket: str = "synthscope-results"
    #: Timelines whose JSON exceeds this spill to the results bucket (a Firestore document is capped at 1 MiB).
    timeline_spill_bytes: int = Field(default=256 * 1024, ge=1024, le=900 * 1024)
    #: A service-account key file to sign upload URLs with; None = IAM signBlob as the runtime service account.
    gcs_signing_key_file: Path | None = None
    #: The email IAM signBlob signs as (None = the runtime credentials' own email).
    gcs_signer_email: str | None = None
    #: Host of signed URLs (None = storage.googleapis.com, or STORAGE_EMULATOR_HOST under the emulator).
    gcs_signed_url_endpoint: str | None = None
    #: Cloud Tasks over an insecure channel to an emulator at host:port (tests, `make run-gcp-local`).
    tasks_emulator_host: str | None = None
    #: The service account Cloud Tasks mints OIDC tokens as; the worker accepts only this caller.
    invoker_email: str | None = None
    #: OIDC audience; None = the worker's base URL (worker_url).
    worker_audience: str | None = None
    #: Where the worker fetches Google's ID-token certificates (tests point it at their own).
    oidc_certs_url: str = "https://www.googleapis.com/oauth2/v1/certs"

    # --- billing (Stripe; DESIGN §8). Unset = the billing endpoints answer 503; analysis never needs them. ---
    #: Secret API key (sk_test_... / sk_live_...); required only when billing is used.
    stripe_api_key: SecretStr | None = None
    #: The webhook endpoint's signing secret (whsec_...); required only when webhooks are received.
    stripe_webhook_secret: SecretStr | None = None
    #: Tier -> Stripe price id a checkout subscribes to, e.g. {"pro": "price_123", "enterprise": "price_456"}.
    stripe_prices: dict[str, str] = Field(default_factory=dict)
    #: Where the Stripe client sends API calls (tests point it at a local server); None = api.stripe.com.
    stripe_api_base: str | None = None
    #: Webhook signatures older than this are refused (Stripe's default tolerance).
    stripe_webhook_tolerance_s: int = Field(default=300, ge=1, le=3600)
    billing_success_url: str = "http://localhost:3000/billing/success"
    billing_cancel_url: str = "http://localhost:3000/billing/cancel"

    @model_validator(mode="after")
    def _no_default_secrets_outside_local(self) -> Settings:
        if self.environment != "local":
            ws = self.worker_secret.get_secret_value() if self.worker_secret else None
            defaults = {
                "SYNTHSCOPE_HMAC_SECRET": self.hmac_secret.get_secret_value() == DEV_SECRET,
                "SYNTHSCOPE_WORKER_SECRET": ws == DEV_WORKER_SECRET,
                "SYNTHSCOPE_API_KEYS": any(k.get_secret_value() == DEV_API_KEY for k in self.api_keys),
            }
            for name, is_default in defaults.items():
                if is_default:
                    raise ValueError(
                        f"{name} must be set in environment {self.environment!r}; "
                        "the development default is only allowed in 'local'"
                    )
        return self

    @property
    def trusted_api_keys(self) -> list[SecretStr]:
        if self.api_keys:
            return list(self.api_keys)
        return [SecretStr(DEV_API_KEY)] if self.environment == "local" else []

    @property
    def worker_bearer(self) -> SecretStr:
        """The queue → worker shared secret: the configured one, or one derived from hmac_secret."""
        if self.worker_secret is not None:
            return self.worker_secret
        key = self.hmac_secret.get_secret_value().encode()
        return SecretStr(hmac.new(key, b"synthscope/worker-bearer", hashlib.sha256).hexdigest())

    def tier_for_price(self, price_id: str | None) -> Tier | None:
        """The tier a Stripe price grants (from `stripe_prices`); None for an unknown price."""
        for tier, pid in self.stripe_prices.items():
            if pid == price_id:
                return Tier(tier)
        return None

    @property
    def effective_hop_s(self) -> float:
        return self.hop_s if self.hop_s is not None else self.window_s


class ScreenSettings(BaseSettings):
    """The upload screen's settings (GCS "object finalized" function): no secrets, no queue, no database.

    It runs as its own Cloud Run service under an account that may only touch the upload bucket, so it must
    not need `Settings`, which insists on real secrets outside `local`.
    """

    model_config = SettingsConfigDict(env_prefix="SYNTHSCOPE_", extra="ignore")

    environment: Literal["local", "staging", "production"] = "local"
    gcp_project: str | None = None
    upload_bucket: str = "synthscope-uploads"
    #: Larger objects are quarantined: no tier accepts them (`TIER_LIMITS`).
    max_file_bytes: int = TIER_LIMITS[Tier.enterprise].max_file_bytes
    log_level: str = "INFO"


@lru_cache
def get_settings() -> Settings:
    return Settings()
