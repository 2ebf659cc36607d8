"""report.md for `evaluate --files`: what a team reads before deciding to trust the detector.

It states which model scored which files under which conditions, the same tables as the
terminal and the model card, the files the model got wrong (the fastest way to see *why*),
and every file that was left out with its reason, so nothing disappears silently.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from synthscope.train.evaluation.tables import markdown_tables
from synthscope.train.evaluation.user_files import UserFile

#: Wrong calls listed in the report, most confident first; scores.csv has every file.
MAX_MISTAKES = 25
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~])")


def md(text: str) -> str:
    """Text as a literal inside Markdown (file names are data, not formatting)."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def _label(y: int) -> str:
    return "ai" if y else "human"


def _mistakes(files: Sequence[UserFile], p_ai: np.ndarray, threshold: float) -> list[str]:
    rows = []
    for f, p in zip(files, p_ai, strict=True):
        if np.isfinite(p) and (p >= threshold) != bool(f.clip.label):
            rows.append((abs(float(p) - threshold), f, float(p)))
    rows.sort(key=lambda r: -r[0])
    if not rows:
        return ["None at this threshold."]
    out = ["| file | label | group | P(ai) |", "|---|---|---|---:|"]
    out += [f"| {md(f.name)} | {_label(f.clip.label)} | {md(f.group)} | {p:.3f} |" for _, f, p in rows[:MAX_MISTAKES]]
    if len(rows) > MAX_MISTAKES:
        out.append(f"\n{len(rows) - MAX_MISTAKES} more in scores.csv.")
    return out


def write_report(path: Path, metrics: dict[str, Any], files: Sequence[UserFile], p_ai: np.ndarray) -> Path:
    """Markdown summary of an evaluation on the user's files; `p_ai` is the reference condition's scores."""
    model = metrics["model"]
    thr = metrics["threshold"]
    ref = metrics["reference_codec"]
    n_human = sum(1 for f in files if not f.clip.label)
    conditions = ", ".join(
        f"`{c}` (as stored: decoded, not re-encoded)" if c == "wav" else f"`{c}` (re-encoded before scoring)"
        for c in metrics["codecs"]
    )
    form = "CSV list" if metrics["form"] == "csv" else "folder with human/ and ai/"
    threshold_from = "the bundle's shipped threshold" if metrics["threshold_source"] == "bundle" else "--threshold"
    lines = [
        "# Synthscope evaluation on your files",
        "",
        f"- Files: {md(metrics['files'])} ({form})",
        f"- Model: {md(str(model['bundle']))} {md(str(model['version']))} (sha256 `{str(model['sha256'])[:12]}`)",
        f"- Found {metrics['n_files']} files; {len(files)} readable ({n_human} human, {len(files) - n_human} AI), "
        f"{metrics['n_scored']} scored, {len(metrics['skipped'])} skipped (listed below).",
        f"- Conditions: {conditions}.",
        f"- A file's P(ai) is the mean over its {metrics['window_s']:g}-s windows (silent and noise-only windows "
        f"are left out); P(ai) ≥ {thr:.3f} ({threshold_from}) is called AI.",
        "",
    ]
    if metrics["warnings"]:
        lines += ["## Warnings", "", *(f"- {md(w)}" for w in metrics["warnings"]), ""]
    lines += ["## Results", "", markdown_tables(metrics), ""]
    lines += [f"## Wrong calls ({ref}, threshold {thr:.3f})", "", *_mistakes(files, p_ai, thr), ""]
    lines += ["## Skipped files", ""]
    if metrics["skipped"]:
        lines += ["| file | reason |", "|---|---|"]
        lines += [f"| {md(s['path'])} | {md(s['reason'])} |" for s in metrics["skipped"]]
    else:
        lines.append("None.")
    lines += [
        "",
        "## Files written",
        "",
        "metrics.json (every figure), scores.csv (P(ai) per file, condition and detector), "
        "roc.png, det.png, reliability.png.",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
