"""From calibrated window probabilities to a file verdict.

`mixed` needs sustained runs of both classes (a lone outlier window is noise,
not an edit); `uncertain` is what we say when the evidence is near 0.5, or when the
detectors, each on its own calibrated scale, contradict each other on the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from synthscope.reports.schema import Verdict, WindowLabel


@dataclass(frozen=True)
class Thresholds:
    decision: float = 0.5  # P(ai) above which a clip counts as AI in the shipped metrics
    ai: float = 0.65  # a window at or above this is labelled ai
    human: float = 0.35  # at or below this, human; in between, uncertain
    mixed_min_run: int = 2  # consecutive windows of each class needed to call a file mixed
    mixed_min_share: float = 0.15
    #: calibrated per-detector file probabilities this far apart, one AI and one human: `uncertain`
    disagreement: float = 0.6

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Thresholds:
        return cls(**{k: v for k, v in (data or {}).items() if k in cls.__dataclass_fields__})


def window_label(p: float, t: Thresholds) -> WindowLabel:
    if p >= t.ai:
        return WindowLabel.ai
    if p <= t.human:
        return WindowLabel.human
    return WindowLabel.uncertain


def _longest_run(mask: np.ndarray) -> int:
    best = cur = 0
    for m in mask:
        cur = cur + 1 if m else 0
        best = max(best, cur)
    return best


@dataclass(frozen=True)
class FileVerdict:
    verdict: Verdict
    ai_probability: float
    confidence: float


def disagree(detector_probs: dict[str, float] | None, t: Thresholds) -> bool:
    """True when one detector says AI (≥ t.ai) and another human (≤ t.human), at least
    `t.disagreement` apart: then the ensemble's number hides a contradiction."""
    vals = list((detector_probs or {}).values())
    if len(vals) < 2:
        return False
    hi, lo = max(vals), min(vals)
    return hi >= t.ai and lo <= t.human and hi - lo >= t.disagreement


def decide(probs: np.ndarray, t: Thresholds, detector_probs: dict[str, float] | None = None) -> FileVerdict:
    """Verdict for the scored (non-silent) windows of one file, in time order.

    `detector_probs`: each detector's calibrated file-level P(ai), to catch disagreement."""
    p = np.asarray(probs, dtype=np.float64)
    ai, human = p >= t.ai, p <= t.human
    mean = float(p.mean())
    decisiveness = float(np.abs(2 * p - 1).mean())
    if (
        _longest_run(ai) >= t.mixed_min_run
        and _longest_run(human) >= t.mixed_min_run
        and ai.mean() >= t.mixed_min_share
        and human.mean() >= t.mixed_min_share
    ):
        # Confidence in "mixed" = how clearly the windows fall on either side.
        return FileVerdict(Verdict.mixed, mean, float((ai | human).mean()))
    if disagree(detector_probs, t):
        return FileVerdict(Verdict.uncertain, mean, decisiveness)
    if mean >= t.ai:
        return FileVerdict(Verdict.ai, mean, decisiveness)
    if mean <= t.human:
        return FileVerdict(Verdict.human, mean, decisiveness)
    return FileVerdict(Verdict.uncertain, mean, decisiveness)
