"""One analysis path for `POST /analyze` and the worker: check → stored result → decode under the duration limit.

Both callers hold a local file and its sha256 and know the caller's limits; everything from
there on is here, so a limit or a check added to one path can't be missing from the other.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthscope.audio.validate import check_extension, check_file
from synthscope.detect.profiles import Profile
from synthscope.errors import AudioTooLong

if TYPE_CHECKING:
    from synthscope.engine import Engine
    from synthscope.ports import ReportStore
    from synthscope.reports.schema import AnalysisResult

#: A decoded duration may exceed the limit by this much (the last partial frame) before it counts as over.
DURATION_SLACK_S = 1.0


class SharedEngine:
    """The engine keeps per-file state, so a process runs one analysis at a time; everyone shares this lock."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.lock = threading.RLock()
        s = engine.settings
        #: What a stored result depends on besides the bytes: the bundle and the window settings.
        self._key = f"{engine.bundle.sha256}:w{s.window_s:g}:h{s.effective_hop_s:g}"

    def key_for(self, profile: str) -> str:
        """What a stored result depends on besides the bytes: bundle, window settings and profile."""
        return self._key if profile == Profile.default else f"{self._key}:p{profile}"

    def analyze(
        self,
        path: Path,
        progress: Callable[[int, int | None], None] | None = None,
        sha256: str | None = None,
        profile: str = Profile.default,
        max_duration_s: float | None = None,
    ) -> AnalysisResult:
        with self.lock:
            return self.engine.analyze(
                path, progress=progress, sha256=sha256, profile=profile, max_duration_s=max_duration_s
            )


@dataclass(frozen=True)
class Limits:
    """What this caller may have analysed (from its tier, or from the tier the report was submitted under)."""

    max_file_bytes: int
    max_duration_s: float


@dataclass(frozen=True)
class Analysed:
    result: dict[str, Any]  # AnalysisResult as JSON
    #: (audio sha256, result key) under which to store the result for reuse; None when it came from the store.
    cache_key: tuple[str, str] | None


def check_cached_duration(result: dict[str, Any], max_duration_s: float) -> None:
    """A stored result (of the same bytes, maybe another caller's) is served only within this caller's limit."""
    duration = float((result.get("audio") or {}).get("duration_s") or 0.0)
    if duration > max_duration_s + DURATION_SLACK_S:
        raise AudioTooLong(f"the audio lasts {duration:.0f} s; the limit is {max_duration_s:.0f} s")


def analyze_file(
    engine: SharedEngine,
    reports: ReportStore,
    path: Path,
    sha256: str,
    limits: Limits,
    *,
    name: str,
    profile: str = "default",
    on_decoding: Callable[[], None] | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> Analysed:
    """Analyse a local file for a caller, or serve the stored result of the same bytes.

    Args:
        engine: the process's engine, shared under its lock.
        reports: where results of earlier analyses are kept (content-addressed).
        path: the audio, already on local disk.
        sha256: its digest (computed while it was received).
        limits: the caller's size and duration limits, enforced on what the file really is.
        name: the client's file name; its extension must agree with the bytes.
        profile: which detectors run.
        on_decoding: called once the checks passed and decoding starts (the worker's stage change).
        progress: called with (windows done, windows total or None) as the analysis goes.

    Returns:
        The result as JSON, and the key to store it under when it is new.

    Raises:
        BadInput and its subclasses: the file is not acceptable audio for this caller (never retried).
    """
    sniffed = check_file(path, max_bytes=limits.max_file_bytes)
    check_extension(name, sniffed.format)
    key = engine.key_for(profile)
    cached = reports.cached_result(sha256, key)
    if cached is not None:
        check_cached_duration(cached, limits.max_duration_s)  # another caller's result obeys this caller's tier
        return Analysed(cached, None)
    if on_decoding is not None:
        on_decoding()
    # The engine's decoder enforces the limit: on the header's duration when it opens the file, then on every
    # frame before it is resampled and on the decoded samples, whatever the header claimed.
    result = engine.analyze(
        path, progress=progress, sha256=sha256, profile=profile, max_duration_s=limits.max_duration_s
    )
    return Analysed(result.model_dump(mode="json"), (sha256, key))
