"""The evaluation's tables: Rich for the terminal, Markdown for model cards and reports.

Both render the same sections from the metrics dict, so what the terminal shows and what a
card or report states cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from synthscope.train.evaluation.summary import SLICE_COLUMNS

_COLUMNS = ("n", "AI/human", "EER", "AUC", "Acc", "FPR", "FNR", "ECE")


def _pct(v: Any) -> str:
    return "–" if v is None else f"{100 * v:.1f} %"


def _num(v: Any) -> str:
    return "–" if v is None else f"{v:.3f}"


def _cells(s: dict[str, Any], versus_other: bool) -> list[str]:
    cells = [
        str(s["n"]),
        f"{s['n_ai']}/{s['n_human']}",
        _pct(s["eer"]),
        _num(s["auc"]),
        _pct(s["accuracy"]),
        _pct(s["fpr"]),
        _pct(s["fnr"]),
        _num(s["ece"]),
    ]
    if versus_other:
        cells += [_pct(s.get("eer_vs_other")), _num(s.get("auc_vs_other"))]
    return cells


def _sections(metrics: dict[str, Any]) -> list[tuple[str, str, list[tuple[str, dict[str, Any]]], bool]]:
    """(title, first column, rows, has 'vs other' columns) for every table of the report."""
    thr = metrics["threshold"]
    ref = metrics["reference_codec"]
    overall = [(f"{ref} (reference)", metrics["overall"])]
    if len(metrics["codecs"]) > 1:
        overall.append(("all codecs pooled", metrics["all_codecs"]))
    sections = [
        (f"Overall (threshold {thr:.3f})", "condition", overall, False),
        ("By codec condition", "codec", list(metrics["by_codec"].items()), False),
    ]
    for column, versus_other in SLICE_COLUMNS.items():
        if f"by_{column}" in metrics:
            rows = list(metrics[f"by_{column}"].items())
            sections.append((f"By {column} ({ref})", column, rows, versus_other))
    sections.append(
        (
            f"By detector ({ref}, raw scores, threshold {metrics['detector_threshold']})",
            "detector",
            list(metrics["by_detector"].items()),
            False,
        )
    )
    return sections


def render_tables(metrics: dict[str, Any]) -> list[Table]:
    """Rich tables for the terminal: one per slice of the metrics."""
    tables: list[Table] = []
    for title, first, rows, versus_other in _sections(metrics):
        if not rows:
            continue
        table = Table(title=title, title_justify="left")
        table.add_column(first, style="bold")
        for col in _COLUMNS:
            table.add_column(col, justify="right")
        if versus_other:
            table.add_column("EER vs other", justify="right")
            table.add_column("AUC vs other", justify="right")
        for name, stats in rows:
            table.add_row(escape(str(name)), *_cells(stats, versus_other))  # names are data, not markup
        tables.append(table)
    return tables


def markdown_tables(metrics: dict[str, Any]) -> str:
    """The same tables as Markdown, for the bundle's MODEL_CARD.md."""
    out: list[str] = []
    for title, first, rows, versus_other in _sections(metrics):
        if not rows:
            continue
        header = [first, *_COLUMNS] + (["EER vs other", "AUC vs other"] if versus_other else [])
        out.append(f"**{title}**\n")
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
        for name, stats in rows:
            safe = str(name).replace("|", "\\|")
            out.append("| " + " | ".join([safe, *_cells(stats, versus_other)]) + " |")
        out.append("")
    if any(metrics.get(f"by_{column}") for column, versus_other in SLICE_COLUMNS.items() if versus_other):
        out.append(
            "*EER/AUC vs other*: a group holding one class only (one AI engine, one human source) "
            "ranked against every clip of the other class in the split. FPR is humans called AI, "
            "FNR is AI called human; ECE uses 15 equal-width bins of P(ai).\n"
        )
    return "\n".join(out)
