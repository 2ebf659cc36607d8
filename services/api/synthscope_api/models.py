"""Request and response bodies of the API (the report itself is `synthscope.reports.schema.Report`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from synthscope.detect.profiles import Profile
from synthscope.reports.schema import AnalysisResult


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: str | None = Field(
        default=None,
        max_length=128,
        description="Bind the token to this user (only with X-Api-Key, from a trusted backend)",
    )


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="Seconds until the token expires")
    expires_at: datetime


class UploadUrlRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file_name: str = Field(min_length=1, max_length=1024, examples=["interview.mp3"])
    file_type: str = Field(min_length=1, max_length=255, examples=["audio/mpeg"])
    size_bytes: int = Field(gt=0, description="Exact size of the file to upload")


class UploadUrlResponse(BaseModel):
    upload_url: str
    method: Literal["PUT"] = "PUT"
    headers: dict[str, str] = Field(
        description="Send exactly these headers with the PUT; the URL takes one PUT (a second one is 412)"
    )
    object_name: str
    bucket: str
    expires_at: datetime


class ReportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    object_name: str = Field(min_length=1, max_length=1024)
    callback_url: str | None = Field(
        default=None,
        max_length=2048,
        description="Enterprise: POST the final report here, signed (Synthscope-Timestamp / Synthscope-Signature "
        "headers, v1 = HMAC-SHA256 over '<t>.<body>'); https and public addresses only. Sent at least once: "
        "de-duplicate by task_id",
    )
    profile: Profile = Field(
        default=Profile.default,
        description="default: the most accurate ensemble (speech encoder included); fast: no encoder, for bulk "
        "screening (lower accuracy; see the model card)",
    )


class ReportAccepted(BaseModel):
    task_id: str
    status: Literal["queued", "processing", "completed", "failed"]
    status_url: str


class AnalyzeResponse(BaseModel):
    tier: str
    limited: bool
    result: AnalysisResult


class Health(BaseModel):
    status: str
    checks: dict[str, str] = Field(default_factory=dict)


class CheckoutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tier: Literal["pro", "enterprise"] = "pro"


class CheckoutResponse(BaseModel):
    checkout_url: str = Field(description="Send the user here (Stripe Checkout)")
    session_id: str
    customer_id: str


class SubscriptionResponse(BaseModel):
    tier: Literal["free", "pro", "enterprise"] = Field(description="What requests are served as, now")
    status: str = Field(description="Stripe's subscription status, or `none`")
    price_id: str | None = None
    current_period_end: float | None = Field(default=None, description="Unix time")
    cancel_at_period_end: bool = False


class WebhookAck(BaseModel):
    received: bool
    event_id: str
    handled: bool
    duplicate: bool = False


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    object_names: list[str] = Field(min_length=1, max_length=100, description="At most 100 uploaded objects")
    callback_url: str | None = Field(default=None, max_length=2048, description="As in POST /report, for each")
    profile: Profile = Field(default=Profile.default, description="As in POST /report, for each")


class BatchItem(BaseModel):
    object_name: str
    task_id: str | None = None
    status: Literal["queued"] | None = None
    status_url: str | None = None
    error: dict[str, Any] | None = Field(default=None, description="A problem (RFC 9457) when this item failed")


class BatchAccepted(BaseModel):
    items: list[BatchItem]
    queued: int
    failed: int
