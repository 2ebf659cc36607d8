"""Stacking ensemble with calibration, and graceful degradation.

A logistic regression over the detectors' logits, fitted on held-out windows,
is both the stacker and a Platt calibrator. One is fitted for every non-empty
subset of detectors, so when a detector is unavailable the ensemble switches to
a model trained for exactly the detectors that remain, instead of guessing.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from synthscope.detect.base import logit, sigmoid


def _key(names: list[str] | tuple[str, ...]) -> str:
    return "+".join(sorted(names))


class Ensemble:
    def __init__(self, detectors: list[str], stackers: dict[str, dict[str, Any]]) -> None:
        self.detectors = sorted(detectors)
        self.stackers = stackers  # key -> {"coef": {name: w}, "intercept": b}

    def combine(self, scores: dict[str, np.ndarray]) -> np.ndarray:
        """Calibrated P(ai) from whichever known detectors produced scores."""
        names = [n for n in self.detectors if n in scores]
        if not names:
            raise ValueError("no detector produced a score")
        st = self.stackers[_key(names)]
        z = np.full(len(scores[names[0]]), st["intercept"], dtype=np.float64)
        for n in names:
            z += st["coef"][n] * logit(scores[n].astype(np.float64))
        return sigmoid(z).astype(np.float32)

    def calibrated(self, name: str, p: float) -> float:
        """One detector's P(ai) mapped through its own single-detector stacker (Platt scaling),
        so detectors can be compared on one calibrated scale."""
        st = self.stackers[_key([name])]
        return float(sigmoid(np.array([st["intercept"] + st["coef"][name] * float(logit(np.array([p]))[0])]))[0])

    def weights(self, available: list[str]) -> dict[str, float]:
        """Each detector's share of the stacker's total absolute weight, for reporting."""
        names = [n for n in self.detectors if n in available]
        if not names:
            return {}
        coef = self.stackers[_key(names)]["coef"]
        total = sum(abs(coef[n]) for n in names) or 1.0
        return {n: abs(coef[n]) / total for n in names}

    @classmethod
    def fit(
        cls,
        scores: dict[str, np.ndarray],
        labels: np.ndarray,
        *,
        c: float = 1.0,
        sample_weight: np.ndarray | None = None,
    ) -> Ensemble:
        """One stacker per non-empty subset of detectors.

        `sample_weight`: per-window weights (e.g. so that every held-out group counts the same in
        an out-of-fold fit); without them the classes are balanced.
        """
        names = sorted(scores)
        stackers: dict[str, dict[str, Any]] = {}
        for k in range(1, len(names) + 1):
            for subset in combinations(names, k):
                x = np.stack([logit(scores[n].astype(np.float64)) for n in subset], axis=1)
                lr = LogisticRegression(
                    C=c, max_iter=1000, class_weight=None if sample_weight is not None else "balanced"
                ).fit(x, labels, sample_weight=sample_weight)
                stackers[_key(subset)] = {
                    "coef": {n: float(w) for n, w in zip(subset, lr.coef_[0], strict=True)},
                    "intercept": float(lr.intercept_[0]),
                }
        return cls(names, stackers)

    def to_json(self) -> dict[str, Any]:
        return {"detectors": self.detectors, "stackers": self.stackers}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Ensemble:
        ens = cls(list(data["detectors"]), dict(data["stackers"]))
        for k in range(1, len(ens.detectors) + 1):
            for subset in combinations(ens.detectors, k):
                if _key(subset) not in ens.stackers:
                    raise ValueError(f"ensemble has no stacker for {_key(subset)}")
        return ens
