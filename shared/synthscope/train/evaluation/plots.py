"""ROC, DET and reliability plots of an evaluation, as PNG files next to metrics.json.

Curves are drawn per codec condition (ensemble) and per detector (reference condition), so a
condition or detector that falls apart is visible at a glance. matplotlib is imported only
when plots are written: the Agg canvas needs no display.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from synthscope.train.metrics import auc, det_points, eer, reliability_bins, roc_points

if TYPE_CHECKING:
    from matplotlib.figure import Figure


Panels = list[tuple[str, list[tuple[str, np.ndarray]]]]


def write_plots(
    labels: Sequence[int],
    codecs: Sequence[str],
    ens: np.ndarray,
    dets: dict[str, np.ndarray],
    reference: str,
    out_dir: Path,
) -> list[Path]:
    """roc.png, det.png, reliability.png; curves per codec (ensemble) and per detector (reference)."""
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    r = list(codecs).index(reference)
    panels: Panels = [
        ("Ensemble by codec condition", [(c, ens[:, j]) for j, c in enumerate(codecs)]),
        (
            f"Detectors, raw scores ({reference})",
            [("ensemble", ens[:, r]), *((n, dets[n][:, r]) for n in sorted(dets))],
        ),
    ]
    pooled = ("all codecs", np.tile(y, len(codecs)), ens.T.reshape(-1))
    figures: list[tuple[str, Callable[[], Figure]]] = [
        ("roc.png", lambda: _roc_figure(y, panels)),
        ("det.png", lambda: _det_figure(y, panels)),
        ("reliability.png", lambda: _reliability_figure([(reference, y, ens[:, r]), pooled])),
    ]
    written: list[Path] = []
    for name, draw in figures:  # each drawn and written before the next is drawn
        written.append(out_dir / name)
        draw().savefig(written[-1], dpi=120)
    return written


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), constrained_layout=True)
    FigureCanvasAgg(fig)
    return fig


def _roc_figure(y: np.ndarray, panels: Panels) -> Figure:
    fig = _figure(11, 5)
    for k, (title, items) in enumerate(panels):
        ax = fig.add_subplot(1, 2, k + 1)
        for label, p in items:
            ok = np.isfinite(p)
            roc = roc_points(y[ok], p[ok])
            if roc is None:
                continue
            ax.plot(roc[0], roc[1], label=f"{label} (AUC {auc(y[ok], p[ok]):.3f})")
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
        ax.set(title=title, xlabel="False positive rate (human called AI)", ylabel="True positive rate")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="lower right", fontsize=8)
    return fig


def _det_curves(y: np.ndarray, items: Iterable[tuple[str, np.ndarray]]) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    for label, p in items:
        ok = np.isfinite(p)
        det = det_points(y[ok], p[ok])
        if det is None:
            continue
        rate, _ = eer(y[ok], p[ok])
        yield f"{label} (EER {100 * (rate or 0):.1f} %)", det[0], det[1]


def _det_figure(y: np.ndarray, panels: Panels) -> Figure:
    """DET on normal-deviate axes."""
    from scipy.stats import norm

    lo, hi = 0.001, 0.95
    ticks = np.array([0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.95])
    fig = _figure(11, 5)
    for k, (title, items) in enumerate(panels):
        ax = fig.add_subplot(1, 2, k + 1)
        for label, fpr, fnr in _det_curves(y, items):
            ax.plot(norm.ppf(np.clip(fpr, lo, hi)), norm.ppf(np.clip(fnr, lo, hi)), label=label)
        ax.plot(norm.ppf([lo, hi]), norm.ppf([lo, hi]), color="grey", lw=0.8, ls=":")  # EER line
        ax.set_xticks(norm.ppf(ticks), [f"{100 * t:g}" for t in ticks])
        ax.set_yticks(norm.ppf(ticks), [f"{100 * t:g}" for t in ticks])
        ax.set_xlim(norm.ppf(lo), norm.ppf(hi))
        ax.set_ylim(norm.ppf(lo), norm.ppf(hi))
        ax.set(title=title, xlabel="False positive rate (%)", ylabel="False negative rate (%)")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper right", fontsize=8)
    return fig


def _reliability_figure(series: list[tuple[str, np.ndarray, np.ndarray]]) -> Figure:
    """Reliability: is 0.8 right 80 % of the time? One curve and histogram per (label, y, p)."""
    fig = _figure(6, 6.5)
    top = fig.add_subplot(4, 1, (1, 3))
    bottom = fig.add_subplot(4, 1, 4, sharex=top)
    for label, yy, p in series:
        ok = np.isfinite(p)
        bins = reliability_bins(yy[ok], p[ok])
        if bins is None:
            continue
        filled = bins["count"] > 0
        n = bins["count"].sum()
        gap = np.abs(bins["accuracy"][filled] - bins["confidence"][filled])
        err = float(np.sum(gap * bins["count"][filled]) / n)
        top.plot(bins["confidence"][filled], bins["accuracy"][filled], marker="o", label=f"{label} (ECE {err:.3f})")
        centres = (bins["edges"][:-1] + bins["edges"][1:]) / 2
        width = bins["edges"][1] - bins["edges"][0]
        bottom.bar(centres, bins["count"], width=width * 0.9, alpha=0.5, label=label)
    top.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
    top.set(title="Reliability of the calibrated ensemble", ylabel="Share of AI clips", xlim=(0, 1), ylim=(0, 1))
    top.grid(alpha=0.3)
    if top.get_legend_handles_labels()[0]:
        top.legend(loc="upper left", fontsize=8)
    bottom.set(xlabel="Predicted P(ai) (clip mean)", ylabel="Clips")
    return fig
