"""The corpus manifest (one CSV row per clip) and its human-readable SUMMARY.md."""

from __future__ import annotations

import csv
import os
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any

from synthscope.train.sources import Item

from .render import ClipRecord

MANIFEST_COLUMNS = [
    "path",
    "label",
    "kind",
    "source",
    "engine",
    "family",
    "speaker",
    "lang",
    "split",
    "codec",
    "duration_s",
]
EXTRA_COLUMNS = ["item", "pair_id", "lowpass_hz", "snr_db", "target_db", "rt60_s", "text"]
#: AI engine families built on neural networks (the ones that matter; corpus-sources.md).
NEURAL_FAMILIES = frozenset({"kokoro", "piper", "hifigan-lectura", "hifigan-ts"})


def manifest_row(item: Item, split: str, clip: ClipRecord) -> dict[str, Any]:
    """Identity and split from the plan, audio facts from rendering (so a resumed build stays consistent)."""
    facts = {k: ("" if v is None else v) for k, v in asdict(clip).items()}
    return {
        **facts,
        "label": item.label,
        "kind": item.kind,
        "source": item.source,
        "engine": item.engine,
        "family": item.family,
        "speaker": item.speaker,
        "lang": item.lang,
        "split": split,
        "item": item.key,
        "pair_id": item.twin_of or item.key,
        "text": item.text,
    }


def write_manifest(out_dir: Path, rows: list[dict[str, Any]]) -> Path:
    """Write manifest.csv atomically (a reader never sees half a file)."""
    path = out_dir / "manifest.csv"
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS + EXTRA_COLUMNS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)
    return path


def _table(header: list[str], agg: dict[tuple[str, ...], list[float]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " | clips | minutes |", "|" + "---|" * len(header) + "---:|---:|"]
    for k in sorted(agg):
        lines.append(f"| {' | '.join(k)} | {int(agg[k][0])} | {agg[k][1] / 60:.1f} |")
    return lines


def summary_markdown(rows: list[dict[str, Any]], notes: list[str]) -> str:
    """Clips and minutes per label × kind × source × engine × split, totals, neural share and codecs."""
    detail: dict[tuple[str, ...], list[float]] = defaultdict(lambda: [0, 0.0])
    totals: dict[tuple[str, ...], list[float]] = defaultdict(lambda: [0, 0.0])
    families: dict[tuple[str, ...], list[float]] = defaultdict(lambda: [0, 0.0])
    codecs: dict[tuple[str, ...], list[float]] = defaultdict(lambda: [0, 0.0])
    for r in rows:
        d = float(r["duration_s"])
        keys = [
            (detail, (r["label"], r["kind"], r["source"], r["engine"], r["split"])),
            (totals, (r["label"], r["kind"], r["split"])),
            (totals, (r["label"], r["kind"], "all")),
            (families, (r["label"], r["kind"], r["family"])),
            (codecs, (r["label"], str(r["codec"]).split("_")[0])),
        ]
        for table, key in keys:
            table[key][0] += 1
            table[key][1] += d
    hours = sum(float(r["duration_s"]) for r in rows) / 3600
    ai_speech = [r for r in rows if r["label"] == "ai" and r["kind"] == "speech"]
    neural = sum(float(r["duration_s"]) for r in ai_speech if r["family"] in NEURAL_FAMILIES)
    ai_total = sum(float(r["duration_s"]) for r in ai_speech)
    lines = ["# Training corpus summary", "", f"{len(rows)} clips, {hours:.2f} h of 16 kHz FLAC."]
    if ai_total:
        lines.append(
            f"Neural share of AI speech: {neural / ai_total:.0%} ({neural / 60:.0f} of {ai_total / 60:.0f} min)."
        )
    lines += ["", "## Totals", "", *_table(["label", "kind", "split"], totals)]
    lines += ["", "## Per leave-out family", "", *_table(["label", "kind", "family"], families)]
    lines += [
        "",
        "## Per source, engine and split",
        "",
        *_table(["label", "kind", "source", "engine", "split"], detail),
    ]
    lines += ["", "## Augmentation codec family per label", "", *_table(["label", "codec"], codecs)]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"
