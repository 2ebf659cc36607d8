"""The detection engine: one file in, one `AnalysisResult` out.

Load once (`Engine.load`), analyse many. Audio streams through in batches of
windows, so memory does not grow with duration; each detector runs batched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from synthscope.audio.decode import AudioStream, file_sha256
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

    def _run(self, name: str, det: Detector, windows: np.ndarray) -> np.ndarray | None:
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
                p = self._run(name, _Precomputed(det, features[name]), windows)
            else:
                p = self._run(name, det, windows)
            if p is not None:
                scores[name] = p
        combined = self.bundle.ensemble.combine(scores)
        for name, (det, weight) in self.extra.items():
            p = self._run(name, det, windows)
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
        window_s, hop_s = s.window_s, s.effective_hop_s
        decode_s = 0.0
        timeline: list[WindowScore] = []
        probs: list[np.ndarray] = []
        acoustic_sum: np.ndarray | None = None
        acoustic = self.bundle.detectors.get("acoustic")
        n_noise = 0
        limit = s.max_duration_s if max_duration_s is None else min(s.max_duration_s, max_duration_s)
        with AudioStream(path, max_duration_s=limit) as stream:
            declared = stream.info.declared_duration_s
            total = window_count(declared, window_s, hop_s) if declared else None

            def timed_chunks() -> Iterator[np.ndarray]:
                nonlocal decode_s
                it = iter(stream)
                while True:
                    t0 = time.perf_counter()
                    try:
                        chunk = next(it)
                    except StopIteration:
                        decode_s += time.perf_counter() - t0
                        return
                    decode_s += time.perf_counter() - t0
                    yield chunk

            for batch in iter_batches(timed_chunks(), window_s=window_s, hop_s=hop_s, batch_size=s.batch_windows):
                act = activity(batch.samples)
                n_noise += int(act.noise.sum())
                keep = act.judgeable
                p_all = np.full(len(batch), np.nan, np.float32)
                det_scores: dict[str, np.ndarray] = {}
                if keep.any():
                    active = batch.samples[keep]
                    feats: dict[str, np.ndarray] = {}
                    p, det_scores = self.score_windows(active, feats, members)
                    p_all[keep] = p
                    probs.append(p)
                    if "acoustic" in det_scores:
                        f_sum = feats["acoustic"].sum(0)
                        acoustic_sum = f_sum if acoustic_sum is None else acoustic_sum + f_sum
                k = 0
                for i in range(len(batch)):
                    start, end = round(float(batch.starts[i]), 3), round(float(batch.ends[i]), 3)
                    if keep[i]:
                        per_det = {n: round(float(v[k]), 4) for n, v in det_scores.items()}
                        k += 1
                        pi = float(p_all[i])
                        timeline.append(
                            WindowScore(
                                start=start,
                                end=end,
                                ai_probability=round(pi, 4),
                                label=window_label(pi, self.bundle.thresholds),
                                detectors=per_det,
                            )
                        )
                    else:
                        timeline.append(
                            WindowScore(start=start, end=end, ai_probability=None, label=WindowLabel.silent)
                        )
                if progress:
                    progress(len(timeline), total)
            info = stream.info
        duration = info.duration_s
        audio = AudioInfo(
            duration_s=round(duration, 3),
            sample_rate=info.sample_rate,
            channels=info.channels,
            format=sniffed.format,
            sha256=sha256 or file_sha256(path),
            size_bytes=path.stat().st_size,
        )
        total_s = time.perf_counter() - t_start
        timing = Timing(
            decode_ms=round(decode_s * 1000, 1),
            analyze_ms=round((total_s - decode_s) * 1000, 1),
            total_ms=round(total_s * 1000, 1),
        )
        scored = np.concatenate(probs) if probs else np.zeros(0, np.float32)
        n_silent = sum(1 for w in timeline if w.label is WindowLabel.silent)
        model = self._model_info(profile)
        if info.invalid_samples > INVALID_SHARE * max(1, info.decoded_samples):
            return self._not_applicable(NotApplicableReason.invalid_samples, timeline, audio, timing, model)
        if duration < s.min_duration_s:
            return self._not_applicable(NotApplicableReason.too_short, timeline, audio, timing, model)
        if scored.size == 0:
            reason = NotApplicableReason.no_speech_or_music if n_noise else NotApplicableReason.silent
            return self._not_applicable(reason, timeline, audio, timing, model)
        available = [n for n in members if n not in self.failed]
        detectors = self._detector_scores(timeline, self.bundle.ensemble.weights(available), members)
        calibrated = {
            d.name: self.bundle.ensemble.calibrated(d.name, d.ai_probability)
            for d in detectors
            if d.ai_probability is not None and d.name in self.bundle.ensemble.detectors
        }
        fv = decide(scored, self.bundle.thresholds, calibrated)
        explanation: list[str] = []
        survivors = [n for n in members if n not in self.failed]
        if len(members) > 1 and (len(survivors) <= 1 or 2 * len(survivors) < len(members)):
            # most detectors failed, or one is left: a lone survivor's confident call is not the ensemble's
            fv = FileVerdict(Verdict.uncertain, fv.ai_probability, 0.0)
            explanation.append(
                f"{len(members) - len(survivors)} of {len(members)} detectors failed on this file "
                f"({', '.join(sorted(self.failed))}); the verdict is withheld"
            )
        labels = [w.label for w in timeline]
        if isinstance(acoustic, AcousticDetector) and acoustic_sum is not None:
            explanation += acoustic.explain(acoustic_sum / scored.size, fv.ai_probability)
        return AnalysisResult(
            verdict=fv.verdict,
            ai_probability=round(fv.ai_probability, 4),
            confidence=round(fv.confidence, 4),
            summary=Summary(
                windows=len(timeline),
                ai_windows=labels.count(WindowLabel.ai),
                human_windows=labels.count(WindowLabel.human),
                uncertain_windows=labels.count(WindowLabel.uncertain),
                silent_windows=n_silent,
                ai_share=round(labels.count(WindowLabel.ai) / max(1, len(timeline) - n_silent), 4),
            ),
            timeline=timeline,
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
        n_silent = sum(1 for w in timeline if w.label is WindowLabel.silent)
        return AnalysisResult(
            verdict=Verdict.not_applicable,
            ai_probability=None,
            confidence=None,
            reason=reason,
            summary=Summary(
                windows=len(timeline),
                ai_windows=0,
                human_windows=0,
                uncertain_windows=0,
                silent_windows=n_silent,
                ai_share=0.0,
            ),
            timeline=timeline,
            detectors=[],
            audio=audio,
            model=model,
            timing=timing,
        )


__all__ = ["SAMPLE_RATE", "Engine"]
