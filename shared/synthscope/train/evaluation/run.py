"""The two evaluations: a corpus manifest split, and a user's own files.

Both score the same way, compute the same tables and write the same files (metrics.json,
scores.csv, roc/det/reliability PNGs); they differ in where the clips come from and which
columns the per-group slices use. `evaluate --files` adds a Markdown report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from synthscope.audio.windows import MIN_TAIL_S
from synthscope.train.evaluation.plots import write_plots
from synthscope.train.evaluation.report import write_report
from synthscope.train.evaluation.scoring import (
    DEFAULT_CODECS,
    ProgressArg,
    ScoreRun,
    Skipped,
    check_codecs,
    model_info,
    read_manifest,
    score_clips,
    shipped_threshold,
    window_s,
)
from synthscope.train.evaluation.summary import compute_metrics, write_metrics_json, write_scores_csv
from synthscope.train.evaluation.user_files import MAX_DURATION_S, UserSet
from synthscope.train.metrics import has_both_classes

if TYPE_CHECKING:
    from rich.console import Console

    from synthscope.engine import Engine

#: User files are scored as stored: they already went through their own channel and codec.
FILES_CODECS: tuple[str, ...] = ("wav",)


def evaluate(
    engine: Engine,
    manifest_csv: Path,
    *,
    split: str = "test",
    codecs: Sequence[str] = DEFAULT_CODECS,
    out_dir: Path,
    threshold: float | None = None,
    progress: ProgressArg = True,
    console: Console | None = None,
) -> dict[str, Any]:
    """Score every clip of `split` under every codec condition; write metrics.json, scores.csv, plots.

    `progress`: True shows a Rich bar over clips, False nothing, a callable gets (done, total).
    Returns the metrics dict that is also written to ``out_dir/metrics.json``.
    """
    codecs = check_codecs(codecs)
    clips = read_manifest(manifest_csv, split)
    if not clips:
        raise ValueError(f"{manifest_csv} has no clips in split {split!r}")
    run = score_clips(engine, clips, codecs, label=split, progress=progress, console=console)
    skipped = [Skipped(str(clips[i].path), reason) for i, reason in run.failed.items()]
    skipped += [
        Skipped(str(clips[i].path), "too short, silent or noise only")
        for i in np.flatnonzero(run.no_window)
        if i not in run.failed
    ]
    columns = {
        "kind": [c.kind for c in clips],
        "source": [c.source for c in clips],
        "engine": [c.engine for c in clips],
    }
    context = {"manifest": str(manifest_csv), "split": split}
    return _summarise(
        engine,
        run,
        [str(c.path) for c in clips],
        [c.label for c in clips],
        columns,
        codecs,
        threshold=threshold,
        skipped=skipped,
        out_dir=out_dir,
        context=context,
    )


def evaluate_files(
    engine: Engine,
    user_set: UserSet,
    *,
    codecs: Sequence[str] = FILES_CODECS,
    out_dir: Path,
    threshold: float | None = None,
    progress: ProgressArg = True,
    console: Console | None = None,
) -> dict[str, Any]:
    """Score a user's own files (see `user_files`); the manifest's outputs plus ``report.md``.

    Files that cannot be scored are listed in ``skipped`` with their reason; a set holding one
    class still gets per-file scores, with a warning that AUC and EER need both.
    """
    codecs = check_codecs(codecs)
    files = user_set.files
    run = score_clips(
        engine,
        user_set.clips,
        codecs,
        label=user_set.root.name or "files",
        progress=progress,
        console=console,
        max_duration_s=MAX_DURATION_S,
    )
    skipped = list(user_set.skipped)
    for i, f in enumerate(files):
        if i in run.failed:
            skipped.append(Skipped(f.name, run.failed[i]))
        elif run.no_window[i]:
            skipped.append(Skipped(f.name, _no_window_reason(float(run.durations[i]))))
    labels = [f.clip.label for f in files]
    context = {
        "files": str(user_set.root),
        "form": user_set.form,
        "n_files": user_set.n_found,
        "warnings": _warnings(np.asarray(labels, dtype=np.int64)[~run.no_window]),
    }
    columns = {"group": [f.group for f in files], "format": [f.format for f in files]}
    metrics = _summarise(
        engine,
        run,
        [f.name for f in files],
        labels,
        columns,
        codecs,
        threshold=threshold,
        skipped=skipped,
        out_dir=out_dir,
        context=context,
    )
    ref = list(codecs).index(metrics["reference_codec"])
    write_report(out_dir / "report.md", metrics, files, run.ens[:, ref])
    return metrics


def _no_window_reason(duration_s: float) -> str:
    if duration_s < MIN_TAIL_S:
        return f"too short: {duration_s:.2f} s of audio, a file needs at least {MIN_TAIL_S:g} s"
    return "silent or noise only: no window passed the activity gate"


def _warnings(scored_labels: np.ndarray) -> list[str]:
    """What the figures cannot say about this set."""
    if scored_labels.size == 0:
        return ["No file could be scored: see the skipped files and their reasons."]
    if has_both_classes(scored_labels):
        return []
    only = "AI" if scored_labels[0] else "human"
    return [
        f"Only {only} files were scored: AUC and EER need both human and AI files. The per-file "
        f"scores, accuracy and {'FNR' if only == 'AI' else 'FPR'} are still valid."
    ]


def _summarise(
    engine: Engine,
    run: ScoreRun,
    ids: Sequence[str],
    labels: Sequence[int],
    columns: Mapping[str, Sequence[str]],
    codecs: Sequence[str],
    *,
    threshold: float | None,
    skipped: Sequence[Skipped],
    out_dir: Path,
    context: Mapping[str, Any],
) -> dict[str, Any]:
    """Metrics of one run (what was evaluated first, then the figures' provenance); writes the files."""
    metrics = compute_metrics(
        labels,
        columns,
        codecs,
        run.ens,
        run.dets,
        threshold=shipped_threshold(engine) if threshold is None else float(threshold),
        shipped=threshold is None,
        window_s=window_s(engine),
    )
    metrics.update(context)
    metrics.update(
        model=model_info(engine),
        n_clips=len(ids),
        n_scored=int((~run.no_window).sum()),
        skipped=[asdict(s) for s in skipped],
        timing=run.timing(),
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    write_metrics_json(out_dir / "metrics.json", metrics)
    write_scores_csv(out_dir / "scores.csv", ids, labels, columns, codecs, run.ens, run.dets)
    write_plots(labels, codecs, run.ens, run.dets, metrics["reference_codec"], out_dir)
    return metrics
