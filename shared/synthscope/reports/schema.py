"""The report schema clients poll (DESIGN §5)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class Verdict(StrEnum):
    ai = "ai"
    human = "human"
    mixed = "mixed"
    uncertain = "uncertain"
    not_applicable = "not_applicable"


class WindowLabel(StrEnum):
    ai = "ai"
    human = "human"
    uncertain = "uncertain"
    silent = "silent"  # excluded from scoring: too quiet to judge


class NotApplicableReason(StrEnum):
    too_short = "too_short"
    silent = "silent"
    no_speech_or_music = "no_speech_or_music"
    invalid_samples = "invalid_samples"  # NaN / Inf / absurd values in the decoded samples


class Status(StrEnum):
    queued = "queued"
    processing = "processing"
    completed = "completed"
    failed = "failed"


class Stage(StrEnum):
    queued = "queued"
    downloading = "downloading"
    decoding = "decoding"
    analyzing = "analyzing"
    finalizing = "finalizing"
    done = "done"


class WindowScore(BaseModel):
    start: float
    end: float
    ai_probability: float | None  # None for silent windows
    label: WindowLabel
    detectors: dict[str, float] = Field(default_factory=dict)


class DetectorScore(BaseModel):
    name: str
    version: str
    ai_probability: float | None
    weight: float
    status: str = "ok"  # "ok" | "unavailable" | "failed"
    error: str | None = None


class Summary(BaseModel):
    windows: int
    ai_windows: int
    human_windows: int
    uncertain_windows: int
    silent_windows: int = 0
    ai_share: float


class AudioInfo(BaseModel):
    duration_s: float
    sample_rate: int
    channels: int
    format: str
    sha256: str
    size_bytes: int


class ModelInfo(BaseModel):
    bundle: str
    version: str
    sha256: str
    profile: str = Field(default="default", description="The analysis profile that ran: default or fast")
    detectors: list[str] = Field(default_factory=list, description="Detectors the profile's ensemble combines")


class Timing(BaseModel):
    decode_ms: float = 0.0
    analyze_ms: float = 0.0
    total_ms: float = 0.0


class AnalysisResult(BaseModel):
    verdict: Verdict
    ai_probability: float | None
    confidence: float | None
    reason: NotApplicableReason | None = None
    summary: Summary
    timeline: list[WindowScore]
    detectors: list[DetectorScore]
    degraded: list[str] = Field(
        default_factory=list,
        description="Detectors left out (unavailable or failed); the ensemble re-normalised without them",
    )
    explanation: list[str] = Field(default_factory=list)
    audio: AudioInfo
    model: ModelInfo
    timing: Timing


class Progress(BaseModel):
    windows_done: int = 0
    windows_total: int | None = None
    percent: float = 0.0


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None


class Report(BaseModel):
    task_id: str
    status: Status
    stage: Stage
    progress: Progress = Field(default_factory=Progress)
    eta_seconds: float | None = None
    created_at: datetime
    updated_at: datetime
    error: Problem | None = None
    tier: str = "free"
    limited: bool = False
    result: AnalysisResult | None = None
