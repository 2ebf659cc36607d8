"""Clip scores → the metrics dict (overall, per codec, per slice, per detector) and its files.

One number hides what matters (DESIGN §6): formant voices are easy and neural ones are not,
so the metrics are sliced by every column that could hide a failure. A slice is a named column
of per-clip values; a manifest and a user's own file set just name different columns.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from synthscope.train.metrics import auc, eer, reliability_bins, summarize

#: Detectors report raw, uncalibrated P(ai): their error rates are read at this threshold.
DETECTOR_THRESHOLD = 0.5


#: Columns the metrics can be sliced by (key ``by_<column>``), in table order, and whether each group
#: is also ranked against every clip of the other class. A manifest has kind/source/engine; a user's
#: own files have group/format.
SLICE_COLUMNS: dict[str, bool] = {"kind": False, "source": True, "engine": True, "group": True, "format": False}


def reference_codec(codecs: Sequence[str]) -> str:
    return "wav" if "wav" in codecs else codecs[0]


def _summ(y: np.ndarray, p: np.ndarray, thr: float) -> dict[str, Any]:
    ok = np.isfinite(p)
    return summarize(y[ok], p[ok], thr)


def _versus_other(y: np.ndarray, p: np.ndarray, members: np.ndarray) -> tuple[float | None, float | None]:
    """EER/AUC of a one-class group against every clip of the other class (one engine vs all humans)."""
    ok = np.isfinite(p)
    own = members & ok
    if not own.any():
        return None, None
    classes = np.unique(y[own])
    sel = own | ((y != classes[0]) & ok) if classes.size == 1 else own
    return eer(y[sel], p[sel])[0], auc(y[sel], p[sel])


def _by_values(
    values: Sequence[str], y: np.ndarray, p: np.ndarray, thr: float, versus_other: bool
) -> dict[str, dict[str, Any]]:
    column = np.array(values, dtype=object)
    out: dict[str, dict[str, Any]] = {}
    for value in sorted(set(column.tolist())):
        members = column == value
        stats = _summ(y[members], p[members], thr)
        if versus_other:
            stats["eer_vs_other"], stats["auc_vs_other"] = _versus_other(y, p, members)
        out[value] = stats
    return out


def compute_metrics(
    labels: Sequence[int],
    columns: Mapping[str, Sequence[str]],
    codecs: Sequence[str],
    ens: np.ndarray,
    dets: dict[str, np.ndarray],
    *,
    threshold: float,
    shipped: bool,
    window_s: float,
) -> dict[str, Any]:
    """Every table's numbers; `columns` (names from SLICE_COLUMNS) are sliced on the reference codec's scores."""
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    ref = reference_codec(codecs)
    r = list(codecs).index(ref)
    p_ref = ens[:, r]
    pooled_y = np.tile(y, len(codecs))
    pooled_p = ens.T.reshape(-1)  # codec-major: codec 0's clips, then codec 1's, ...
    bins = reliability_bins(y[np.isfinite(p_ref)], p_ref[np.isfinite(p_ref)])
    detectors: dict[str, dict[str, Any]] = {}
    for name in sorted(dets):
        d = dets[name]
        stats = _summ(y, d[:, r], DETECTOR_THRESHOLD)
        stats["by_codec"] = {}
        for j, codec in enumerate(codecs):
            s = _summ(y, d[:, j], DETECTOR_THRESHOLD)
            stats["by_codec"][codec] = {k: s[k] for k in ("n", "eer", "auc", "accuracy", "ece")}
        detectors[name] = stats
    metrics: dict[str, Any] = {
        "threshold": threshold,
        "threshold_source": "bundle" if shipped else "argument",
        "detector_threshold": DETECTOR_THRESHOLD,
        "window_s": window_s,
        "codecs": list(codecs),
        "reference_codec": ref,
        "overall": _summ(y, p_ref, threshold),
        "all_codecs": _summ(pooled_y, pooled_p, threshold),
        "by_codec": {c: _summ(y, ens[:, j], threshold) for j, c in enumerate(codecs)},
    }
    for column, values in columns.items():
        metrics[f"by_{column}"] = _by_values(values, y, p_ref, threshold, SLICE_COLUMNS[column])
    metrics["by_detector"] = detectors
    metrics["reliability"] = (
        None if bins is None else {k: bins[k].tolist() for k in ("edges", "count", "confidence", "accuracy")}
    )
    return metrics


def json_safe(obj: Any) -> Any:
    """NaN/inf are not JSON: write them as null."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def write_metrics_json(path: Path, metrics: dict[str, Any]) -> None:
    path.write_text(json.dumps(json_safe(metrics), indent=2) + "\n", encoding="utf-8")


def write_scores_csv(
    path: Path,
    ids: Sequence[str],
    labels: Sequence[int],
    columns: Mapping[str, Sequence[str]],
    codecs: Sequence[str],
    ens: np.ndarray,
    dets: dict[str, np.ndarray],
) -> None:
    """Per clip and condition, so a surprising group can be traced back to its clips."""
    names = sorted(dets)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", *columns, "condition", "p_ai", *names])
        for i, (clip_id, label) in enumerate(zip(ids, labels, strict=True)):
            described = [values[i] for values in columns.values()]
            for j, codec in enumerate(codecs):
                row = [ens[i, j], *(dets[n][i, j] for n in names)]
                w.writerow(
                    [clip_id, "ai" if label else "human", *described, codec]
                    + ["" if not np.isfinite(v) else f"{v:.6f}" for v in row]
                )
