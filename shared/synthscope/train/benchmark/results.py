"""What a benchmark run produces, and the mean / worst figures that decide between models.

Worst is what a user on an unseen engine or recording chain actually gets, so it is
reported next to the mean: lowest AUC and highest EER over held-out groups, with the group
named, separately for AI-family folds, human-group folds, and all folds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from synthscope.train.evaluation.summary import json_safe

ENSEMBLE = "ensemble"  # the stacked ensemble of every benchmarked detector (default profile)
ENSEMBLE_FAST = "ensemble_fast"  # the same, without detectors that need the speech encoder
METRICS = ("auc", "eer", "fpr", "fnr", "ece")
SCOPES = ("ai", "human", "all")


@dataclass
class FoldResult:
    """One held-out group (or the in-distribution split): sizes, timing, metrics[condition][detector]."""

    group: str
    side: str  # "ai" | "human" | "in-distribution"
    fit_clips: int = 0
    fit_windows: int = 0
    calib_clips: int = 0
    calib_windows: int = 0
    eval_ai: int = 0
    eval_human: int = 0
    seconds: float = 0.0
    fit_seconds: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def value(self, condition: str, detector: str, metric: str) -> float | None:
        v = self.metrics.get(condition, {}).get(detector, {}).get(metric)
        return None if v is None else float(v)


@dataclass
class BenchResult:
    """Everything `loso.json` holds."""

    manifest: str
    codecs: list[str]
    detectors: list[str]  # heads, then "ensemble"
    thresholds: dict[str, float]
    seed: int
    window_s: float
    budget: dict[str, Any]
    folds: list[FoldResult]
    in_distribution: FoldResult | None
    summary: dict[str, Any]  # condition -> detector -> scope -> figures
    timing: dict[str, float]
    extraction: dict[str, Any]
    profiles: dict[str, list[str]] = field(default_factory=dict)  # ensemble name -> detectors
    subsets: dict[str, Any] = field(default_factory=dict)  # condition -> "a+b" -> {mean, worst} AUC
    stacker: dict[str, Any] | None = None  # Ensemble.to_json() fitted on every fold's out-of-fold windows

    def to_json(self) -> dict[str, Any]:
        return json_safe(asdict(self))


def _scope_folds(folds: list[FoldResult], scope: str) -> list[FoldResult]:
    return [f for f in folds if scope == "all" or f.side == scope]


def summarise(folds: list[FoldResult], codecs: list[str], detectors: list[str]) -> dict[str, Any]:
    """condition -> detector -> scope -> {groups, mean: {metric: v}, worst: {metric: v}, worst_auc, worst_eer}.

    `worst` per metric is the lowest AUC and the highest EER / FPR / FNR / ECE over the scope's
    groups (each possibly from a different group); `worst_auc` / `worst_eer` also name the group.
    """
    out: dict[str, Any] = {}
    for cond in codecs:
        out[cond] = {}
        for det in detectors:
            out[cond][det] = {}
            for scope in SCOPES:
                fs = _scope_folds(folds, scope)
                mean: dict[str, float | None] = {}
                worst: dict[str, float | None] = {}
                for m in METRICS:
                    vals = [v for f in fs if (v := f.value(cond, det, m)) is not None]
                    mean[m] = float(np.mean(vals)) if vals else None
                    worst[m] = (min(vals) if m == "auc" else max(vals)) if vals else None
                aucs = [(v, f.group) for f in fs if (v := f.value(cond, det, "auc")) is not None]
                eers = [(v, f.group) for f in fs if (v := f.value(cond, det, "eer")) is not None]
                lo = min(aucs) if aucs else None
                hi = max(eers) if eers else None
                out[cond][det][scope] = {
                    "groups": len(aucs),
                    "mean": mean,
                    "worst": worst,
                    "worst_auc": None if lo is None else {"value": lo[0], "group": lo[1]},
                    "worst_eer": None if hi is None else {"value": hi[0], "group": hi[1]},
                }
    return out


def mean_over_conditions(fold: FoldResult, codecs: list[str], detector: str, metric: str = "auc") -> float | None:
    vals = [v for c in codecs if (v := fold.value(c, detector, metric)) is not None]
    return float(np.mean(vals)) if vals else None
