"""Scoring for evaluation: clips in, clip-level P(ai) per codec condition out.

Every clip is scored under each codec condition, because a detector that only works on clean
WAV is useless after a phone call (DESIGN §6). Clips are decoded one at a time and their
windows are scored in shared batches, so memory stays small whatever the set's size.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import numpy as np
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from synthscope.audio.decode import decode_all
from synthscope.audio.gate import activity
from synthscope.audio.windows import iter_windows
from synthscope.config import SAMPLE_RATE
from synthscope.errors import SynthscopeError

if TYPE_CHECKING:
    from rich.console import Console

    from synthscope.engine import Engine

DEFAULT_CODECS: tuple[str, ...] = ("wav", "mp3_64k", "opus_24k", "tel_8k")
#: Window length when the bundle names none; clips are cut like uploads, without overlap.
WINDOW_S = 3.0
HUMAN_ENGINE = "human"
DEFAULT_BATCH = 64
#: What a file that cannot be decoded raises; it is skipped with the reason, never fatal.
DECODE_ERRORS: tuple[type[BaseException], ...] = (SynthscopeError, OSError, ValueError, av.error.FFmpegError)

ProgressArg = bool | Callable[[int, int], None]


@dataclass(frozen=True)
class Clip:
    """One clip to score, as far as evaluation cares."""

    path: Path
    label: int  # 1 = AI, 0 = human
    kind: str
    source: str
    engine: str  # "human" for every human clip, so engines can be compared against one pool
    codec: str  # the codec the clip was stored with (a column, not a test condition)


@dataclass(frozen=True)
class Skipped:
    """A clip or file left out of the metrics, and why."""

    path: str
    reason: str


def read_manifest(manifest_csv: Path, split: str) -> list[Clip]:
    """Rows of one split; paths are relative to the manifest's directory."""
    root = manifest_csv.parent
    clips: list[Clip] = []
    with manifest_csv.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if (row.get("split") or "").strip() != split:
                continue
            label_text = (row.get("label") or "").strip().lower()
            if label_text not in ("ai", "human"):
                raise ValueError(f"{manifest_csv}: label must be 'ai' or 'human', got {label_text!r}")
            label = int(label_text == "ai")
            source = (row.get("source") or "").strip() or "unknown"
            engine = (row.get("engine") or "").strip() or source
            path = Path(row["path"])
            clips.append(
                Clip(
                    path=path if path.is_absolute() else root / path,
                    label=label,
                    kind=(row.get("kind") or "").strip() or "unknown",
                    source=source,
                    engine=engine if label else HUMAN_ENGINE,
                    codec=(row.get("codec") or "").strip(),
                )
            )
    return clips


@dataclass
class _Scores:
    """Running sums of window scores per (clip, codec condition), for ensemble and detectors."""

    n_clips: int
    n_codecs: int
    ens_sum: np.ndarray = field(init=False)
    ens_count: np.ndarray = field(init=False)
    det_sum: dict[str, np.ndarray] = field(default_factory=dict)
    det_count: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ens_sum = np.zeros((self.n_clips, self.n_codecs))
        self.ens_count = np.zeros((self.n_clips, self.n_codecs), dtype=np.int64)

    def add(self, keys: np.ndarray, p: np.ndarray, per_detector: dict[str, np.ndarray]) -> None:
        clip_idx, codec_idx = keys[:, 0], keys[:, 1]
        np.add.at(self.ens_sum, (clip_idx, codec_idx), np.asarray(p, np.float64))
        np.add.at(self.ens_count, (clip_idx, codec_idx), 1)
        for name, scores in per_detector.items():
            scores = np.asarray(scores, np.float64)
            ok = np.isfinite(scores)  # a detector may drop out for a batch (unavailable / failed)
            if name not in self.det_sum:
                self.det_sum[name] = np.zeros((self.n_clips, self.n_codecs))
                self.det_count[name] = np.zeros((self.n_clips, self.n_codecs), dtype=np.int64)
            np.add.at(self.det_sum[name], (clip_idx[ok], codec_idx[ok]), scores[ok])
            np.add.at(self.det_count[name], (clip_idx[ok], codec_idx[ok]), 1)

    def clip_means(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Clip score = mean window P(ai); NaN where a clip had no window."""
        with np.errstate(invalid="ignore", divide="ignore"):
            ens = np.where(self.ens_count > 0, self.ens_sum / np.maximum(self.ens_count, 1), np.nan)
            dets = {
                name: np.where(self.det_count[name] > 0, s / np.maximum(self.det_count[name], 1), np.nan)
                for name, s in self.det_sum.items()
            }
        return ens, dets


class _Batcher:
    """Collects windows from many clips and scores them in full batches."""

    def __init__(self, engine: Engine, scores: _Scores, batch_size: int) -> None:
        self.engine, self.scores, self.batch_size = engine, scores, batch_size
        self.rows: list[np.ndarray] = []
        self.keys: list[tuple[int, int]] = []
        self.windows_scored = 0
        self.windows_gated = 0

    def add(self, clip_i: int, codec_j: int, window: np.ndarray) -> None:
        self.rows.append(window)
        self.keys.append((clip_i, codec_j))
        if len(self.rows) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        batch = np.stack(self.rows).astype(np.float32, copy=False)
        keys = np.asarray(self.keys, dtype=np.int64)
        self.rows, self.keys = [], []
        # The same gate as Engine.analyze: silent and noise-only windows never reach the verdict,
        # so they must not reach the metrics either.
        keep = activity(batch).judgeable
        self.windows_gated += int((~keep).sum())
        if not keep.any():
            return
        p, per_detector = self.engine.score_windows(batch[keep])
        self.scores.add(keys[keep], p, per_detector)
        self.windows_scored += int(keep.sum())


def condition(x: np.ndarray, codec: str) -> np.ndarray:
    """The clip as heard through one codec; 'wav' is the decoded clip untouched."""
    if codec == "wav":
        return x
    from synthscope.train.augment import apply_codec  # heavy (encoders); only when asked for

    return np.asarray(apply_codec(x, codec), dtype=np.float32)


def check_codecs(
    codecs: Sequence[str], *, apply: Callable[[np.ndarray, str], np.ndarray] = condition
) -> tuple[str, ...]:
    """Deduplicated conditions, each tried once on a probe through `apply`: an unknown one fails now,
    not after an hour."""
    conditions = tuple(dict.fromkeys(c.strip() for c in codecs if c.strip()))
    if not conditions:
        raise ValueError("at least one codec condition is needed")
    probe = (0.1 * np.sin(2 * np.pi * 440 * np.arange(SAMPLE_RATE) / SAMPLE_RATE)).astype(np.float32)
    for codec in conditions:
        apply(probe, codec)
    return conditions


def window_s(engine: Engine) -> float:
    """The window the bundle was trained on (its manifest constant), else the settings', else 3 s."""
    for owner in (engine.bundle, getattr(engine, "settings", None)):
        value = getattr(owner, "window_s", None)
        if value:
            return float(value)
    return WINDOW_S


def _engine_batch_size(engine: Engine) -> int:
    settings = getattr(engine, "settings", None)
    return int(getattr(settings, "batch_windows", DEFAULT_BATCH) or DEFAULT_BATCH)


def shipped_threshold(engine: Engine) -> float:
    """The decision threshold the bundle ships with (0.5 when it names none)."""
    manifest = getattr(engine.bundle, "manifest", None) or {}
    return float((manifest.get("thresholds") or {}).get("decision", 0.5))


def model_info(engine: Engine) -> dict[str, Any]:
    """Which bundle produced the numbers, for metrics.json and reports."""
    b = engine.bundle
    return {
        "bundle": getattr(b, "name", None),
        "version": getattr(b, "version", None),
        "sha256": getattr(b, "sha256", None),
        "path": str(getattr(b, "path", "")) or None,
    }


@dataclass
class ScoreRun:
    """Clip-level scores of one run: ensemble and detectors, [clip, condition], NaN where unscored."""

    ens: np.ndarray
    dets: dict[str, np.ndarray]
    durations: np.ndarray  # decoded seconds per clip; NaN where decoding failed
    failed: dict[int, str]  # clip index -> why it could not be decoded, in clip order
    seconds: float
    windows: int
    windows_gated: int

    @property
    def no_window(self) -> np.ndarray:
        """Clips without a single scored window under any condition."""
        return np.isnan(self.ens).all(axis=1)

    def timing(self) -> dict[str, Any]:
        audio_s = float(np.nansum(self.durations))
        return {
            "seconds": round(self.seconds, 3),
            "audio_seconds": round(audio_s, 3),
            "windows": self.windows,
            "windows_gated": self.windows_gated,
            "windows_per_s": round(self.windows / self.seconds, 2) if self.seconds > 0 else None,
        }


def score_clips(
    engine: Engine,
    clips: Sequence[Clip],
    codecs: Sequence[str],
    *,
    label: str,
    progress: ProgressArg = True,
    console: Console | None = None,
    max_duration_s: float | None = None,
) -> ScoreRun:
    """Decode each clip once, cut it into windows under every condition, score in shared batches.

    `progress`: True shows a Rich bar over clips, False nothing, a callable gets (done, total).
    """
    win = window_s(engine)
    scores = _Scores(len(clips), len(codecs))
    batcher = _Batcher(engine, scores, _engine_batch_size(engine))
    durations = np.full(len(clips), np.nan)
    failed: dict[int, str] = {}
    started = time.perf_counter()
    with _clip_ticker(progress, label, len(clips), console) as tick:
        for i, clip in enumerate(clips):
            try:
                x = decode_all(clip.path, max_duration_s=max_duration_s)
            except DECODE_ERRORS as exc:
                failed[i] = f"{type(exc).__name__}: {exc}"
                tick(i, clip)
                continue
            durations[i] = x.size / SAMPLE_RATE
            for j, codec in enumerate(codecs):
                y = condition(x, codec)
                for _, _, window in iter_windows([y], window_s=win, hop_s=win):
                    batcher.add(i, j, window)
            tick(i, clip)
        batcher.flush()
    ens, dets = scores.clip_means()
    return ScoreRun(
        ens=ens,
        dets=dets,
        durations=durations,
        failed=failed,
        seconds=time.perf_counter() - started,
        windows=batcher.windows_scored,
        windows_gated=batcher.windows_gated,
    )


@contextmanager
def _clip_ticker(
    progress: ProgressArg, label: str, total: int, console: Console | None
) -> Iterator[Callable[[int, Clip], None]]:
    """`tick(index, clip)` after each clip: a Rich bar (True), the caller's (done, total) callback, or nothing."""
    if progress is True:
        with Progress(
            TextColumn("[bold]evaluate[/] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        ) as bar:
            task = bar.add_task(escape(label), total=total)
            yield lambda i, clip: bar.update(task, advance=1, description=escape(f"{label}: {clip.path.name}"))
    elif callable(progress):
        report = progress
        yield lambda i, clip: report(i + 1, total)
    else:
        yield lambda i, clip: None
