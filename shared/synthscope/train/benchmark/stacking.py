"""The ensemble stacker, fitted on out-of-fold predictions of held-out source groups.

A stacker fitted on a calib split of the training sources learns how much to trust each
detector on audio like its training set, and its calibration is honest only there. Fitted on
what each fold's heads said about the group that fold held out, it learns how the detectors
behave on sources they never saw — the situation every user is in — and its probabilities are
calibrated for that.

* **benchmark (nested)**: the stacker scored on group G is fitted on the out-of-fold windows
  of every other fold, minus any window of a clip that G's eval set contains (a human test
  clip is judged in many AI folds), so G's figures never see G's labels.
* **shipping**: one stacker fitted on the out-of-fold windows of every fold (`fit_oof`).

Each fold's windows are weighted so that every (fold, class) carries the same total weight:
a large group does not outvote a small one, and the classes are balanced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from synthscope.detect.ensemble import Ensemble
from synthscope.detect.profiles import NEEDS_ENCODER, Profile
from synthscope.train.benchmark.results import FoldResult
from synthscope.train.metrics import summarize


@dataclass(frozen=True)
class WindowPreds:
    """One fold's eval windows under one condition: clip row per window, label, P(ai) per detector."""

    rows: np.ndarray  # int [W] manifest row of each window
    labels: np.ndarray  # int [W]
    scores: dict[str, np.ndarray]  # detector -> float32 [W]


#: fold group -> condition -> predictions
OOF = dict[str, dict[str, WindowPreds]]


def _weights(blocks: Sequence[WindowPreds]) -> np.ndarray:
    parts = []
    for b in blocks:
        w = np.zeros(len(b.labels), np.float64)
        for c in (0, 1):
            m = b.labels == c
            if m.any():
                w[m] = 1.0 / m.sum()
        parts.append(w)
    w = np.concatenate(parts)
    return w * (len(w) / w.sum())


def fit_stacker(blocks: Sequence[WindowPreds], detectors: Sequence[str]) -> Ensemble | None:
    """Stackers for every subset of `detectors` on the given blocks; None if a class is missing."""
    blocks = [b for b in blocks if len(b.labels)]
    if not blocks:
        return None
    y = np.concatenate([b.labels for b in blocks])
    if len(set(y.tolist())) < 2:
        return None
    scores = {d: np.concatenate([b.scores[d] for b in blocks]) for d in detectors}
    return Ensemble.fit(scores, y, sample_weight=_weights(blocks))


def fit_oof(oof: OOF, detectors: Sequence[str]) -> Ensemble | None:
    """The shipped stacker: every fold's out-of-fold windows, every condition."""
    return fit_stacker([b for conds in oof.values() for b in conds.values()], detectors)


def _without(b: WindowPreds, rows: set[int]) -> WindowPreds:
    keep = ~np.isin(b.rows, np.fromiter(rows, np.int64, len(rows)))
    return WindowPreds(b.rows[keep], b.labels[keep], {k: v[keep] for k, v in b.scores.items()})


def clip_means(b: WindowPreds, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(labels, mean window P(ai)) per clip, as the product scores a file."""
    clips, inv = np.unique(b.rows, return_inverse=True)
    counts = np.bincount(inv)
    y = np.zeros(len(clips), np.int64)
    y[inv] = b.labels
    return y, np.bincount(inv, weights=p) / counts


def subsets(detectors: Sequence[str]) -> list[tuple[str, ...]]:
    names = sorted(detectors)
    return [s for k in range(1, len(names) + 1) for s in combinations(names, k)]


def nested_scores(
    oof: OOF,
    folds: Sequence[FoldResult],
    detectors: Sequence[str],
    threshold: float,
    eval_rows: Mapping[str, set[int]],
) -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
    """group -> condition -> "a+b" -> metrics of the nested out-of-fold stacker on every detector subset."""
    table: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    for res in folds:
        mine = oof.get(res.group)
        if not mine:
            continue
        others = [
            _without(b, eval_rows[res.group]) for g, conds in oof.items() if g != res.group for b in conds.values()
        ]
        stacker = fit_stacker(others, detectors)
        if stacker is None:
            res.notes.append("no out-of-fold predictions from other folds: no ensemble")
            continue
        table[res.group] = {
            cond: {
                "+".join(sub): summarize(
                    *clip_means(block, stacker.combine({d: block.scores[d] for d in sub})), threshold
                )
                for sub in subsets(detectors)
            }
            for cond, block in mine.items()
        }
    return table


def subset_summary(table: dict[str, dict[str, dict[str, dict[str, Any]]]], cond: str) -> dict[str, dict[str, float]]:
    """subset -> {"mean": AUC, "worst": AUC} over the groups, for one condition."""
    per: dict[str, list[float]] = {}
    for conds in table.values():
        for sub, m in conds.get(cond, {}).items():
            if m.get("auc") is not None:
                per.setdefault(sub, []).append(float(m["auc"]))
    return {sub: {"mean": float(np.mean(v)), "worst": float(np.min(v))} for sub, v in per.items()}


def choose(summaries: Mapping[str, Mapping[str, Mapping[str, float]]], candidates: Sequence[str]) -> str | None:
    """The subset with the best (mean + worst) AUC averaged over conditions; near-ties (0.002) go to
    the smaller subset, so a detector stays only when it measurably helps."""
    scored = []
    for sub in candidates:
        vals = [(s[sub]["mean"] + s[sub]["worst"]) / 2 for s in summaries.values() if sub in s]
        if vals:
            scored.append((float(np.mean(vals)), sub))
    if not scored:
        return None
    best = max(v for v, _ in scored)
    return min((sub for v, sub in scored if v >= best - 0.002), key=lambda k: (k.count("+"), k))


def choose_profiles(
    summaries: Mapping[str, Mapping[str, Mapping[str, float]]], detectors: Sequence[str]
) -> dict[str, list[str]]:
    """default: the best subset of all detectors; fast: the best without the encoder detectors."""
    subs = ["+".join(s) for s in subsets(detectors)]
    out: dict[str, list[str]] = {}
    best = choose(summaries, subs)
    if best:
        out[Profile.default] = best.split("+")
    fast = choose(summaries, [s for s in subs if not set(s.split("+")) & NEEDS_ENCODER])
    if fast:
        out[Profile.fast] = fast.split("+")
    return out


def apply_profiles(
    folds: Sequence[FoldResult],
    table: dict[str, dict[str, dict[str, dict[str, Any]]]],
    profiles: Mapping[str, Sequence[str]],
    names: Mapping[str, str],
) -> None:
    """Copy each profile's subset metrics into the folds' `metrics` under the profile's report name."""
    for res in folds:
        for cond, per_subset in table.get(res.group, {}).items():
            for profile, members in profiles.items():
                res.metrics.setdefault(cond, {})[names[profile]] = per_subset["+".join(sorted(members))]
