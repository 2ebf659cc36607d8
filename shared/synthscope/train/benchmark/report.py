"""Benchmark outputs: `loso.md`, `loso.json`, `loso_auc.png` and the console tables.

The Markdown puts the mean and worst rows right under each condition's per-group table,
because those two rows are what decide between models; the in-distribution row sits below
them, labelled as not used to choose.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from synthscope.train.benchmark.protocol import IN_DISTRIBUTION
from synthscope.train.benchmark.results import METRICS, BenchResult, FoldResult, mean_over_conditions

_SCOPE_LABEL = {"ai": "AI families", "human": "human groups", "all": "all groups"}
_HEAD = {"auc": "AUC", "eer": "EER", "fpr": "FPR", "fnr": "FNR", "ece": "ECE"}


def _fmt(metric: str, v: Any) -> str:
    if v is None:
        return "–"
    return f"{v:.3f}" if metric in ("auc", "ece") else f"{100 * v:.1f}%"


def reference_condition(result: BenchResult) -> str:
    return "wav" if "wav" in result.codecs else result.codecs[0]


@dataclass(frozen=True)
class _Line:
    """One table row: a held-out group, a mean / worst summary over a scope, or in-distribution."""

    label: str
    counts: str
    fold: FoldResult | None = None  # a group or in-distribution row
    scope: str = ""  # a summary row: "ai" | "human" | "all"
    kind: str = ""  # a summary row: "mean" | "worst"

    def value(self, result: BenchResult, cond: str, detector: str, metric: str) -> float | None:
        if self.fold is not None:
            return self.fold.value(cond, detector, metric)
        v = result.summary[cond][detector][self.scope][self.kind][metric]
        return None if v is None else float(v)


def _lines(result: BenchResult) -> list[_Line]:
    """Per-group rows, then mean / worst per scope, then the in-distribution row."""
    lines = [_Line(f.group, f"{f.eval_ai}/{f.eval_human}", fold=f) for f in result.folds]
    for scope in ("ai", "human", "all"):
        if scope == "all" or any(f.side == scope for f in result.folds):
            lines += [
                _Line(f"{kind} ({_SCOPE_LABEL[scope]})", "", scope=scope, kind=kind) for kind in ("mean", "worst")
            ]
    ind = result.in_distribution
    if ind is not None:
        lines.append(_Line(IN_DISTRIBUTION, f"{ind.eval_ai}/{ind.eval_human}", fold=ind))
    return lines


def markdown(result: BenchResult) -> str:
    t = result.timing
    lines = [
        "# Leave-one-source-out benchmark",
        "",
        f"Manifest `{result.manifest}`, seed {result.seed}, {result.window_s:g}-s windows, "
        f"conditions {', '.join(result.codecs)}. Detectors: {', '.join(result.detectors)} "
        f"(thresholds {', '.join(f'{k} {v:g}' for k, v in result.thresholds.items())}).",
        "",
        f"Wall time {t['total_s']:.0f} s: feature extraction {t['extraction_s']:.0f} s, "
        f"hashing {t['hash_s']:.0f} s, {len(result.folds)} folds + in-distribution {t['folds_s']:.0f} s. "
        f"Budget: {', '.join(f'{k}={v}' for k, v in result.budget.items())}.",
        "",
        "Each row holds one group out of training and calibration entirely (with every clip "
        "sharing an item or pair id with it) and scores it against the opposite class from the test "
        "split; n = AI/human clips scored. Mean and worst are over held-out groups (worst = lowest "
        "AUC, highest EER/FPR/FNR/ECE). FPR = humans called AI, FNR = AI called human. "
        "The in-distribution row is reported, never used to choose.",
        "",
    ]
    header = ["held-out group", "n"] + [f"{d} {_HEAD[k]}" for d in result.detectors for k in METRICS]
    for cond in result.codecs:
        lines += [f"## Condition `{cond}`", ""]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join(["---", "---:"] + ["---:"] * (len(header) - 2)) + "|")
        for line in _lines(result):
            cells = [_fmt(k, line.value(result, cond, d, k)) for d in result.detectors for k in METRICS]
            label = line.label.replace("|", "\\|")
            label = (
                f"**{label}**"
                if line.kind
                else f"_{label}_"
                if line.fold and line.fold.side == "in-distribution"
                else label
            )
            lines.append("| " + " | ".join([label, line.counts, *cells]) + " |")
        lines.append("")
    lines += _subset_lines(result)
    notes = [
        (f.group, n)
        for f in [*result.folds, *([result.in_distribution] if result.in_distribution else [])]
        for n in f.notes
    ]
    if notes:
        lines += ["## Notes", "", *[f"- {g}: {n}" for g, n in notes], ""]
    return "\n".join(lines)


def _subset_lines(result: BenchResult) -> list[str]:
    """Every detector subset's stacked ensemble (nested out-of-fold): which detectors earn their place."""
    if not result.subsets:
        return []
    out = [
        "## Ensembles of every detector subset",
        "",
        "Mean / worst AUC over held-out groups of the out-of-fold stacker restricted to each subset "
        "(nested: the stacker judged on a group never saw its labels). A detector whose removal does "
        "not lower mean or worst adds nothing and leaves the default profile. Profiles: "
        + "; ".join(f"{k} = {' + '.join(v)}" for k, v in result.profiles.items())
        + ".",
        "",
        "| subset | " + " | ".join(f"{c} mean | {c} worst" for c in result.codecs) + " |",
        "|---|" + "---:|" * (2 * len(result.codecs)),
    ]
    ref = reference_condition(result)
    order = sorted(result.subsets.get(ref, {}), key=lambda k: -result.subsets[ref][k]["mean"])
    for sub in order:
        cells = []
        for c in result.codecs:
            v = result.subsets.get(c, {}).get(sub)
            cells += ["–", "–"] if v is None else [f"{v['mean']:.3f}", f"{v['worst']:.3f}"]
        out.append(f"| {sub} | " + " | ".join(cells) + " |")
    return [*out, ""]


def console_tables(result: BenchResult) -> list[Table]:
    """Per-group AUC / EER at the reference condition, and mean / worst AUC for every condition."""
    ref = reference_condition(result)
    per_group = Table(title=f"Held-out groups, condition {ref} (AUC / EER)", title_justify="left")
    per_group.add_column("held-out group", style="bold")
    per_group.add_column("n ai/human", justify="right")
    for d in result.detectors:
        per_group.add_column(d, justify="right")
    for line in _lines(result):
        cells = [
            f"{_fmt('auc', line.value(result, ref, d, 'auc'))} / {_fmt('eer', line.value(result, ref, d, 'eer'))}"
            for d in result.detectors
        ]
        per_group.add_row(line.label, line.counts, *cells, style="cyan" if line.kind else None)
    summary = Table(title="Mean / worst AUC over held-out groups, per condition", title_justify="left")
    summary.add_column("condition", style="bold")
    summary.add_column("detector")
    for scope in ("ai", "human", "all"):
        summary.add_column(f"{_SCOPE_LABEL[scope]} mean", justify="right")
        summary.add_column("worst (group)", justify="right")
    for cond in result.codecs:
        for d in result.detectors:
            cells = []
            for scope in ("ai", "human", "all"):
                s = result.summary[cond][d][scope]
                w = s["worst_auc"]
                cells += [_fmt("auc", s["mean"]["auc"]), "–" if w is None else f"{w['value']:.3f} ({w['group']})"]
            summary.add_row(cond, d, *cells)
    return [per_group, summary]


def heatmap(result: BenchResult, path: Path) -> Path:
    """Groups × detectors AUC: the reference condition and the mean over conditions, side by side."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    folds = [*result.folds, *([result.in_distribution] if result.in_distribution else [])]
    labels = [f.group if f.side != "in-distribution" else "in-distribution*" for f in folds]
    ref = reference_condition(result)
    panels: list[tuple[str, Callable[[FoldResult, str], float | None]]] = [
        (f"AUC, {ref}", lambda f, d: f.value(ref, d, "auc")),
        ("AUC, mean over conditions", lambda f, d: mean_over_conditions(f, result.codecs, d)),
    ]
    fig = Figure(figsize=(4 + 2.2 * len(result.detectors), 1.5 + 0.38 * len(folds)), constrained_layout=True)
    FigureCanvasAgg(fig)
    image = None
    for k, (title, value) in enumerate(panels):
        ax = fig.add_subplot(1, 2, k + 1)
        grid = np.array([[np.nan if (v := value(f, d)) is None else v for d in result.detectors] for f in folds])
        image = ax.imshow(np.ma.masked_invalid(grid), cmap="RdYlGn", vmin=0.0, vmax=1.0, aspect="auto")
        for (i, j), v in np.ndenumerate(grid):
            ax.text(j, i, "–" if np.isnan(v) else f"{v:.2f}", ha="center", va="center", fontsize=8)
        ax.set_xticks(range(len(result.detectors)), result.detectors, rotation=30, ha="right")
        ax.set_yticks(range(len(folds)), labels if k == 0 else [""] * len(folds))
        ax.set_title(title)
    if image is not None:
        fig.colorbar(image, ax=fig.axes, shrink=0.6, label="AUC (held-out group vs opposite class)")
    fig.suptitle("Leave-one-source-out AUC (* in-distribution: not used to choose)", fontsize=10)
    fig.savefig(path, dpi=110)
    return path


def write_all(result: BenchResult, out: Path) -> list[Path]:
    """Write loso.md, loso.json and loso_auc.png into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    md = out / "loso.md"
    md.write_text(markdown(result) + "\n", encoding="utf-8")
    js = out / "loso.json"
    js.write_text(json.dumps(result.to_json(), indent=1) + "\n", encoding="utf-8")
    return [md, js, heatmap(result, out / "loso_auc.png")]
