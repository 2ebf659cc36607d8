"""Request and response bodies of the API (the report itself is `synthscope.reports.schema.Report`)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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
    headers: dict[str, str] = Field(description="Send exactly these headers with the PUT")
    object_name: str
    bucket: str
    expires_at: datetime


class ReportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    object_name: str = Field(min_length=1, max_length=1024)


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
