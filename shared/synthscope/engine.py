"""The detection engine: one file in, one `AnalysisResult` out.

Load once (`Engine.load`), analyse many. Audio streams through in batches of
windows, so memory does not grow with duration; each detector runs batched.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from synthscope.audio.decode import AudioStream, StreamInfo, file_sha256
from synthscope.audio.gate import activity
from synthscope.audio.validate import check_file
from synthscope.audio.windows import iter_batches, window_count
from synthscope.config import SAMPLE_RATE, Settings, get_settings
from synthscope.detect.acoustic import AcousticDetector
from synthscope.detect.base import Detector, logit, sigmoid
from synthscope.detect.bundle import Bundle, load_bundle
from synthscope.detect.profiles import Profile
from synthscope.detect.verdict import FileVerdict, decide, window_label
from synthscope.reports.schema import (
    AnalysisResult,
    AudioInfo,
    DetectorScore,
    ModelInfo,
    NotApplicableReason,
    Summary,
    Timing,
    Verdict,
    WindowLabel,
    WindowScore,
)

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int | None], None]
#: More than this share of decoded samples non-finite or absurd: the file is `not_applicable` (invalid_samples).
INVALID_SHARE = 0.01


class _Precomputed:
    """Adapter: an acoustic detector whose features for this batch are already computed."""

    def __init__(self, det: AcousticDetector, feats: np.ndarray) -> None:
        self.det, self.feats = det, feats
        self.name, self.version = det.name, det.version

    def predict(self, windows: np.ndarray) -> np.ndarray:
        return self.det.predict_features(self.feats)


class _TimedChunks:
    """The decoded chunks of a stream, timing the decoder alone (`seconds`), so the result can tell decoding
    from analysis."""

    def __init__(self, chunks: Iterable[np.ndarray]) -> None:
        self._it = iter(chunks)
        self.seconds = 0.0

    def __iter__(self) -> Iterator[np.ndarray]:
        return self

    def __next__(self) -> np.ndarray:
        t0 = time.perf_counter()
        try:
            return next(self._it)
        finally:
            self.seconds += time.perf_counter() - t0


@dataclass
class _Scan:
    """What one pass over a file's windows gathered."""

    timeline: list[WindowScore] = field(default_factory=list)
    probs: list[np.ndarray] = field(default_factory=list)  # ensemble P(ai) of the scored windows, per batch
    acoustic_sum: np.ndarray | None = None  # sum of the acoustic features of scored windows (the explanation)
    noise_windows: int = 0

    def add_acoustic(self, feature_sum: np.ndarray) -> None:
        self.acoustic_sum = feature_sum if self.acoustic_sum is None else self.acoustic_sum + feature_sum


class Engine:
    def __init__(self, bundle: Bundle, settings: Settings, extra: dict[str, tuple[Detector, float]] | None = None):
        self.bundle = bundle
        self.settings = settings
        #: Detectors outside the trained stack (e.g. `hf`), blended in logit space with a fixed weight.
        self.extra = extra or {}
        self.failed: dict[str, str] = {}

    @classmethod
    def load(cls, settings: Settings | None = None, bundle_path: Path | None = None) -> Engine:
        settings = settings or get_settings()
        bundle = load_bundle(bundle_path or settings.bundle_path, device=settings.device)
        extra: dict[str, tuple[Detector, float]] = {}
        if settings.hf_model:
            from synthscope.detect.hf import HFDetector

            extra["hf"] = (
                HFDetector(settings.hf_model, settings.hf_ai_labels, device=settings.device),
                settings.hf_weight,
            )
        engine = cls(bundle, settings, extra)
        engine.warm_up()
        return engine

    def warm_up(self) -> None:
        """Run one window through every detector so lazy set-up is paid at load, not on the first file."""
        t = np.arange(round(self.settings.window_s * SAMPLE_RATE), dtype=np.float32) / SAMPLE_RATE
        probe = (0.1 * np.sin(2 * np.pi * 220 * t) + 0.01 * np.cos(2 * np.pi * 3100 * t)).astype(np.float32)
        self.score_windows(probe[None, :])
        self.failed = {}

    # -- scoring ---------------------------------------------------------------------------------------

    def _predict_or_drop(self, name: str, det: Detector, windows: np.ndarray) -> np.ndarray | None:
        """The detector's P(ai) per window, or None (and it is dropped for the rest of the file) when it fails."""
        if name in self.failed:
            return None
        try:
            p = np.asarray(det.predict(windows), dtype=np.float32)
            if p.shape != (len(windows),) or not np.isfinite(p).all():
                raise ValueError(f"returned {p.shape} / non-finite scores")
            return p
        except Exception as exc:  # one broken detector must not sink the file: re-normalise without it
            log.warning("detector %s failed; continuing without it: %s", name, exc)
            self.failed[name] = str(exc)
            return None

    def score_windows(
        self, windows: np.ndarray, features: dict[str, np.ndarray] | None = None, members: list[str] | None = None
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Calibrated ensemble P(ai) per window, and each detector's own P(ai).

        `members`: the profile's detectors (None: all). Detectors with readable features
        (acoustic) leave them in `features` so the explanation reuses them instead of
        computing them twice.
        """
        scores: dict[str, np.ndarray] = {}
        for name, det in self.bundle.detectors.items():
            if members is not None and name not in members:
                continue
            if features is not None and isinstance(det, AcousticDetector) and name not in self.failed:
                try:
                    features[name] = det.features(windows)
                except Exception as exc:
                    self.failed[name] = str(exc)
                    continue
                p = self._predict_or_drop(name, _Precomputed(det, features[name]), windows)
            else:
                p = self._predict_or_drop(name, det, windows)
            if p is not None:
                scores[name] = p
        combined = self.bundle.ensemble.combine(scores)
        for name, (det, weight) in self.extra.items():
            p = self._predict_or_drop(name, det, windows)
            if p is not None:
                scores[name] = p
                combined = sigmoid((1 - weight) * logit(combined) + weight * logit(p)).astype(np.float32)
        return combined, scores

    # -- whole files -----------------------------------------------------------------------------------

    def analyze(
        self,
        path: Path,
        *,
        profile: str = Profile.default,
        progress: ProgressFn | None = None,
        sha256: str | None = None,
        max_duration_s: float | None = None,
    ) -> AnalysisResult:
        """Raises a `BadInput` subclass for input that can never be analysed.

        Args:
            path: the audio file.
            profile: which of the bundle's profiles runs (`default`, `fast`); ValueError if unknown.
            progress: called with (windows done, windows expected or None) after each batch.
            sha256: the file's digest when the caller already has it (the worker hashes while
                downloading), so a large upload is not read a second time just to hash it.
            max_duration_s: the caller's limit (their tier), below the service's own; decoding stops with
                `AudioTooLong` as soon as the decoded audio passes it, whatever the header claimed.
        """
        t_start = time.perf_counter()
        s = self.settings
        members = self.bundle.members(profile)
        self.failed = {}
        sniffed = check_file(path, max_bytes=s.max_file_bytes)
        limit = s.max_duration_s if max_duration_s is None else min(s.max_duration_s, max_duration_s)
        with AudioStream(path, max_duration_s=limit) as stream:
            declared = stream.info.declared_duration_s
            total = window_count(declared, s.window_s, s.effective_hop_s) if declared else None
            chunks = _TimedChunks(stream)
            scan = self._scan(chunks, members, total, progress)
            info = stream.info
        audio = AudioInfo(
            duration_s=round(info.duration_s, 3),
            sample_rate=info.sample_rate,
            channels=info.channels,
            format=sniffed.format,
            sha256=sha256 or file_sha256(path),
            size_bytes=path.stat().st_size,
        )
        total_s = time.perf_counter() - t_start
        timing = Timing(
            decode_ms=round(chunks.seconds * 1000, 1),
            analyze_ms=round((total_s - chunks.seconds) * 1000, 1),
            total_ms=round(total_s * 1000, 1),
        )
        model = self._model_info(profile)
        reason = self._not_applicable_reason(info, scan)
        if reason is not None:
            return self._not_applicable(reason, scan.timeline, audio, timing, model)
        return self._judge(scan, members, audio, timing, model)

    def _scan(
        self, chunks: Iterable[np.ndarray], members: list[str], total: int | None, progress: ProgressFn | None
    ) -> _Scan:
        """Window the decoded audio, skip what the gate can't judge (silence, noise) and score the rest in batches."""
        s = self.settings
        scan = _Scan()
        for batch in iter_batches(chunks, window_s=s.window_s, hop_s=s.effective_hop_s, batch_size=s.batch_windows):
            act = activity(batch.samples)
            scan.noise_windows += int(act.noise.sum())
            keep = act.judgeable
            p_kept = np.zeros(0, np.float32)
            det_scores: dict[str, np.ndarray] = {}
            if keep.any():
                feats: dict[str, np.ndarray] = {}
                p_kept, det_scores = self.score_windows(batch.samples[keep], feats, members)
                scan.probs.append(p_kept)
                if "acoustic" in det_scores:
                    scan.add_acoustic(feats["acoustic"].sum(0))
            scan.timeline += self._window_scores(batch.starts, batch.ends, keep, p_kept, det_scores)
            if progress:
                progress(len(scan.timeline), total)
        return scan

    def _window_scores(
        self,
        starts: np.ndarray,
        ends: np.ndarray,
        keep: np.ndarray,
        p_kept: np.ndarray,
        det_scores: dict[str, np.ndarray],
    ) -> list[WindowScore]:
        """One timeline entry per window of a batch: scored windows in order, the others silent."""
        out: list[WindowScore] = []
        k = 0
        for i in range(len(keep)):
            start, end = round(float(starts[i]), 3), round(float(ends[i]), 3)
            if not keep[i]:
                out.append(WindowScore(start=start, end=end, ai_probability=None, label=WindowLabel.silent))
                continue
            pi = float(p_kept[k])
            detectors = {n: round(float(v[k]), 4) for n, v in det_scores.items()}
            label = window_label(pi, self.bundle.thresholds)
            out.append(WindowScore(start=start, end=end, ai_probability=round(pi, 4), label=label, detectors=detectors))
            k += 1
        return out

    def _not_applicable_reason(self, info: StreamInfo, scan: _Scan) -> NotApplicableReason | None:
        if info.invalid_samples > INVALID_SHARE * max(1, info.decoded_samples):
            return NotApplicableReason.invalid_samples
        if info.duration_s < self.settings.min_duration_s:
            return NotApplicableReason.too_short
        if not scan.probs:
            return NotApplicableReason.no_speech_or_music if scan.noise_windows else NotApplicableReason.silent
        return None

    def _judge(
        self, scan: _Scan, members: list[str], audio: AudioInfo, timing: Timing, model: ModelInfo
    ) -> AnalysisResult:
        """The file's verdict from its scored windows, the detectors' own calibrated votes and which failed."""
        scored = np.concatenate(scan.probs)
        available = [n for n in members if n not in self.failed]
        detectors = self._detector_scores(scan.timeline, self.bundle.ensemble.weights(available), members)
        calibrated = {
            d.name: self.bundle.ensemble.calibrated(d.name, d.ai_probability)
            for d in detectors
            if d.ai_probability is not None and d.name in self.bundle.ensemble.detectors
        }
        fv = decide(scored, self.bundle.thresholds, calibrated)
        explanation: list[str] = []
        if len(members) > 1 and (len(available) <= 1 or 2 * len(available) < len(members)):
            # most detectors failed, or one is left: a lone survivor's confident call is not the ensemble's
            fv = FileVerdict(Verdict.uncertain, fv.ai_probability, 0.0)
            explanation.append(
                f"{len(members) - len(available)} of {len(members)} detectors failed on this file "
                f"({', '.join(sorted(self.failed))}); the verdict is withheld"
            )
        acoustic = self.bundle.detectors.get("acoustic")
        if isinstance(acoustic, AcousticDetector) and scan.acoustic_sum is not None:
            explanation += acoustic.explain(scan.acoustic_sum / scored.size, fv.ai_probability)
        return AnalysisResult(
            verdict=fv.verdict,
            ai_probability=round(fv.ai_probability, 4),
            confidence=round(fv.confidence, 4),
            summary=_summary(scan.timeline),
            timeline=scan.timeline,
            detectors=detectors,
            degraded=sorted(self.failed),
            explanation=explanation,
            audio=audio,
            model=model,
            timing=timing,
        )

    def _detector_scores(
        self, timeline: list[WindowScore], weights: dict[str, float], members: list[str]
    ) -> list[DetectorScore]:
        out = []
        names = [n for n in self.bundle.detectors if n in members] + list(self.extra)
        for name in names:
            det = self.bundle.detectors.get(name) or self.extra[name][0]
            vals = [w.detectors[name] for w in timeline if name in w.detectors]
            if name in self.failed:
                out.append(
                    DetectorScore(
                        name=name,
                        version=det.version,
                        ai_probability=None,
                        weight=0.0,
                        status="failed",
                        error=self.failed[name],
                    )
                )
                continue
            weight = weights.get(name, self.extra.get(name, (None, 0.0))[1])
            out.append(
                DetectorScore(
                    name=name,
                    version=det.version,
                    ai_probability=round(float(np.mean(vals)), 4) if vals else None,
                    weight=round(weight, 4),
                )
            )
        return out

    def _model_info(self, profile: str) -> ModelInfo:
        return ModelInfo(
            bundle=self.bundle.name,
            version=self.bundle.version,
            sha256=self.bundle.sha256,
            profile=str(profile),
            detectors=self.bundle.members(profile),
        )

    def _not_applicable(
        self,
        reason: NotApplicableReason,
        timeline: list[WindowScore],
        audio: AudioInfo,
        timing: Timing,
        model: ModelInfo,
    ) -> AnalysisResult:
        return AnalysisResult(
            verdict=Verdict.not_applicable,
            ai_probability=None,
            confidence=None,
            reason=reason,
            summary=_summary(timeline),
            timeline=timeline,
            detectors=[],
            audio=audio,
            model=model,
            timing=timing,
        )


def _summary(timeline: list[WindowScore]) -> Summary:
    """Window counts by label, each counted once; the AI share is of the windows that were judged."""
    counts = Counter(w.label for w in timeline)
    judged = len(timeline) - counts[WindowLabel.silent]
    return Summary(
        windows=len(timeline),
        ai_windows=counts[WindowLabel.ai],
        human_windows=counts[WindowLabel.human],
        uncertain_windows=counts[WindowLabel.uncertain],
        silent_windows=counts[WindowLabel.silent],
        ai_share=round(counts[WindowLabel.ai] / max(1, judged), 4),
    )


__all__ = ["SAMPLE_RATE", "Engine"]
