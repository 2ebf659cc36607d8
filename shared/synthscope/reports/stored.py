"""The report as it is persisted: one typed record from `POST /report` to the worker's last write.

Stores hold it as a JSON document (`model_dump(mode="json")`) and add their own bookkeeping
(`created_at`, `updated_at`, `attempts`, `callback`); everything that reads a stored report
validates it into this model, so a missing or misspelled field fails loudly in one place.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from synthscope.config import Tier
from synthscope.reports.schema import Progress, Stage, Status


class StoredReport(BaseModel):
    model_config = ConfigDict(extra="ignore")

    task_id: str
    owner: str
    object_name: str
    status: Status = Status.queued
    stage: Stage = Stage.queued
    progress: Progress = Field(default_factory=Progress)
    eta_seconds: float | None = None
    error: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    #: The caller's tier limits when it was submitted: the worker enforces these, not today's tier.
    max_file_bytes: int
    max_duration_s: float
    submitted_tier: Tier
    quota_key: str
    callback_url: str | None = None
    profile: str = "default"
    size_bytes: int
    # -- written by the stores ------------------------------------------------------------------------
    created_at: str | None = None
    updated_at: str | None = None
    attempts: int = 0
    callback: dict[str, Any] | None = None

    def new_document(self) -> dict[str, Any]:
        """The JSON document a store's `create` takes (the stores' own fields left to them)."""
        return self.model_dump(mode="json", exclude={"created_at", "updated_at", "attempts", "callback"})
