"""Detection metrics on P(ai) scores: EER, AUC, calibration error, error rates, ROC/DET points.

Labels are 1 = AI, 0 = human throughout, and scores are P(ai). Evaluation slices the test
set into small groups (one engine, one source), and many of those hold a single class; the
functions return ``None`` for what a single class cannot define (EER, AUC, one of FPR/FNR)
instead of raising, so a report can still show counts and accuracy for every group.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve


class Rates(NamedTuple):
    """Error rates at one decision threshold (``p >= threshold`` means AI)."""

    accuracy: float | None  # None only for an empty group
    fpr: float | None  # humans called AI; None without humans
    fnr: float | None  # AI called human; None without AI


def _arrays(y: Any, p: Any) -> tuple[np.ndarray, np.ndarray]:
    ya = np.asarray(y).astype(np.int64).reshape(-1)
    pa = np.asarray(p, dtype=np.float64).reshape(-1)
    if ya.shape != pa.shape:
        raise ValueError(f"labels and scores differ in length: {ya.shape[0]} vs {pa.shape[0]}")
    if ya.size and not np.isin(ya, (0, 1)).all():
        raise ValueError("labels must be 0 (human) or 1 (AI)")
    return ya, pa


def has_both_classes(y: Any) -> bool:
    """EER, AUC and the ROC need at least one AI and one human sample."""
    ya = np.asarray(y).reshape(-1)
    return bool(ya.size) and bool((ya == 1).any()) and bool((ya == 0).any())


def roc_points(y: Any, p: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(fpr, tpr, thresholds) at every distinct score, or None for a single-class group."""
    ya, pa = _arrays(y, p)
    if not has_both_classes(ya):
        return None
    fpr, tpr, thr = roc_curve(ya, pa, drop_intermediate=False)
    return fpr, tpr, thr


def det_points(y: Any, p: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(fpr, fnr, thresholds): the DET curve, plotted on normal-deviate axes by the caller."""
    roc = roc_points(y, p)
    if roc is None:
        return None
    fpr, tpr, thr = roc
    return fpr, 1.0 - tpr, thr


def eer(y: Any, p: Any) -> tuple[float | None, float | None]:
    """Equal error rate and the threshold where it occurs; (None, None) for a single class.

    FPR rises and FNR falls as the threshold drops; the EER is where the two meet, found by
    linear interpolation between the two operating points either side of the crossing.
    """
    det = det_points(y, p)
    if det is None:
        return None, None
    fpr, fnr, thr = det
    diff = fnr - fpr  # starts at +1 (threshold +inf), ends at -1 (lowest threshold)
    i = int(np.argmax(diff <= 0))
    if i == 0:  # cannot happen with both classes present; guard anyway
        return float(fpr[0]), float(np.clip(thr[0], 0.0, 1.0))
    d0, d1 = diff[i - 1], diff[i]
    t = d0 / (d0 - d1) if d0 != d1 else 0.0
    rate = fpr[i - 1] + t * (fpr[i] - fpr[i - 1])
    return float(rate), float(thr[i])


def auc(y: Any, p: Any) -> float | None:
    """Area under the ROC curve, or None for a single-class group."""
    ya, pa = _arrays(y, p)
    if not has_both_classes(ya):
        return None
    return float(roc_auc_score(ya, pa))


def ece(y: Any, p: Any, n_bins: int = 15) -> float | None:
    """Expected calibration error of P(ai) over equal-width bins; None for an empty group.

    Per bin: |share of AI clips - mean P(ai)|, weighted by the bin's share of samples. It is
    defined for single-class groups too (a group of only AI clips should score near 1).
    """
    bins = reliability_bins(y, p, n_bins)
    if bins is None:
        return None
    n = bins["count"].sum()
    filled = bins["count"] > 0
    gaps = np.abs(bins["accuracy"][filled] - bins["confidence"][filled])
    return float(np.sum(gaps * bins["count"][filled]) / n)


def reliability_bins(y: Any, p: Any, n_bins: int = 15) -> dict[str, np.ndarray] | None:
    """Per equal-width bin: edges, count, mean P(ai) ("confidence") and AI share ("accuracy").

    Empty bins have count 0 and NaN means; shared by `ece` and the reliability plot.
    """
    if n_bins < 1:
        raise ValueError("n_bins must be at least 1")
    ya, pa = _arrays(y, p)
    if ya.size == 0:
        return None
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.floor(np.clip(pa, 0.0, 1.0) * n_bins).astype(np.int64), 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins).astype(np.float64)
    conf_sum = np.bincount(idx, weights=pa, minlength=n_bins)
    pos_sum = np.bincount(idx, weights=ya.astype(np.float64), minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.where(count > 0, conf_sum / count, np.nan)
        accuracy = np.where(count > 0, pos_sum / count, np.nan)
    return {"edges": edges, "count": count, "confidence": confidence, "accuracy": accuracy}


def rates_at(y: Any, p: Any, threshold: float = 0.5) -> Rates:
    """Accuracy, FPR and FNR when ``p >= threshold`` is called AI."""
    ya, pa = _arrays(y, p)
    if ya.size == 0:
        return Rates(None, None, None)
    pred = pa >= threshold
    pos, neg = ya == 1, ya == 0
    accuracy = float(np.mean(pred == pos))
    fpr = float(np.mean(pred[neg])) if neg.any() else None
    fnr = float(np.mean(~pred[pos])) if pos.any() else None
    return Rates(accuracy, fpr, fnr)


def summarize(y: Any, p: Any, threshold: float = 0.5, n_bins: int = 15) -> dict[str, Any]:
    """Every metric of one group as a JSON-ready dict (None where the group cannot define it)."""
    ya, pa = _arrays(y, p)
    rate, eer_thr = eer(ya, pa)
    rates = rates_at(ya, pa, threshold)
    return {
        "n": int(ya.size),
        "n_ai": int((ya == 1).sum()),
        "n_human": int((ya == 0).sum()),
        "eer": rate,
        "eer_threshold": eer_thr,
        "auc": auc(ya, pa),
        "threshold": float(threshold),
        "accuracy": rates.accuracy,
        "fpr": rates.fpr,
        "fnr": rates.fnr,
        "ece": ece(ya, pa, n_bins),
        "mean_p_ai": float(pa.mean()) if pa.size else None,
    }
