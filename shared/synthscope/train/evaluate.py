"""Evaluate a model bundle on a corpus split: per source, engine, kind, codec and detector.

One number hides what matters here (DESIGN §6): formant voices are easy and neural ones are
not, and a detector that only works on clean WAV is useless after a phone call. So every
clip of the split is scored under each codec condition, and the report slices the scores by
every manifest column that could hide a failure. Clips are decoded one at a time and their
windows are scored in shared batches, so memory stays small whatever the split's size.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from synthscope.audio.decode import decode_all
from synthscope.audio.gate import activity
from synthscope.audio.windows import iter_windows
from synthscope.config import SAMPLE_RATE
from synthscope.errors import SynthscopeError
from synthscope.train.metrics import auc, det_points, eer, reliability_bins, roc_points, summarize

if TYPE_CHECKING:
    from rich.console import Console

    from synthscope.engine import Engine

DEFAULT_CODECS: tuple[str, ...] = ("wav", "mp3_64k", "opus_24k", "tel_8k")
#: Window length when the bundle names none; clips are cut like uploads, without overlap.
WINDOW_S = 3.0
#: Detectors report raw, uncalibrated P(ai): their error rates are read at this threshold.
DETECTOR_THRESHOLD = 0.5
HUMAN_ENGINE = "human"
DEFAULT_BATCH = 64

ProgressArg = bool | Callable[[int, int], None]


@dataclass(frozen=True)
class Clip:
    """One manifest row, as far as evaluation cares."""

    path: Path
    label: int  # 1 = AI, 0 = human
    kind: str
    source: str
    engine: str  # "human" for every human clip, so engines can be compared against one pool
    codec: str  # the codec the corpus builder applied (a column, not a test condition)


def read_manifest(manifest_csv: Path, split: str) -> list[Clip]:
    """Rows of one split; paths are relative to the manifest's directory."""
    root = manifest_csv.parent
    clips: list[Clip] = []
    with manifest_csv.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if (row.get("split") or "").strip() != split:
                continue
            label_text = (row.get("label") or "").strip().lower()
            if label_text not in ("ai", "human"):
                raise ValueError(f"{manifest_csv}: label must be 'ai' or 'human', got {label_text!r}")
            label = int(label_text == "ai")
            source = (row.get("source") or "").strip() or "unknown"
            engine = (row.get("engine") or "").strip() or source
            path = Path(row["path"])
            clips.append(
                Clip(
                    path=path if path.is_absolute() else root / path,
                    label=label,
                    kind=(row.get("kind") or "").strip() or "unknown",
                    source=source,
                    engine=engine if label else HUMAN_ENGINE,
                    codec=(row.get("codec") or "").strip(),
                )
            )
    return clips


@dataclass
class _Scores:
    """Running sums of window scores per (clip, codec condition), for ensemble and detectors."""

    n_clips: int
    n_codecs: int
    ens_sum: np.ndarray = field(init=False)
    ens_count: np.ndarray = field(init=False)
    det_sum: dict[str, np.ndarray] = field(default_factory=dict)
    det_count: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ens_sum = np.zeros((self.n_clips, self.n_codecs))
        self.ens_count = np.zeros((self.n_clips, self.n_codecs), dtype=np.int64)

    def add(self, keys: np.ndarray, p: np.ndarray, per_detector: dict[str, np.ndarray]) -> None:
        clip_idx, codec_idx = keys[:, 0], keys[:, 1]
        np.add.at(self.ens_sum, (clip_idx, codec_idx), np.asarray(p, np.float64))
        np.add.at(self.ens_count, (clip_idx, codec_idx), 1)
        for name, scores in per_detector.items():
            scores = np.asarray(scores, np.float64)
            ok = np.isfinite(scores)  # a detector may drop out for a batch (unavailable / failed)
            if name not in self.det_sum:
                self.det_sum[name] = np.zeros((self.n_clips, self.n_codecs))
                self.det_count[name] = np.zeros((self.n_clips, self.n_codecs), dtype=np.int64)
            np.add.at(self.det_sum[name], (clip_idx[ok], codec_idx[ok]), scores[ok])
            np.add.at(self.det_count[name], (clip_idx[ok], codec_idx[ok]), 1)

    def clip_means(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Clip score = mean window P(ai); NaN where a clip had no window."""
        with np.errstate(invalid="ignore", divide="ignore"):
            ens = np.where(self.ens_count > 0, self.ens_sum / np.maximum(self.ens_count, 1), np.nan)
            dets = {
                name: np.where(self.det_count[name] > 0, s / np.maximum(self.det_count[name], 1), np.nan)
                for name, s in self.det_sum.items()
            }
        return ens, dets


class _Batcher:
    """Collects windows from many clips and scores them in full batches."""

    def __init__(self, engine: Engine, scores: _Scores, batch_size: int) -> None:
        self.engine, self.scores, self.batch_size = engine, scores, batch_size
        self.rows: list[np.ndarray] = []
        self.keys: list[tuple[int, int]] = []
        self.windows_scored = 0
        self.windows_gated = 0

    def add(self, clip_i: int, codec_j: int, window: np.ndarray) -> None:
        self.rows.append(window)
        self.keys.append((clip_i, codec_j))
        if len(self.rows) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        batch = np.stack(self.rows).astype(np.float32, copy=False)
        keys = np.asarray(self.keys, dtype=np.int64)
        self.rows, self.keys = [], []
        # The same gate as Engine.analyze: silent and noise-only windows never reach the verdict,
        # so they must not reach the metrics either.
        keep = activity(batch).judgeable
        self.windows_gated += int((~keep).sum())
        if not keep.any():
            return
        p, per_detector = self.engine.score_windows(batch[keep])
        self.scores.add(keys[keep], p, per_detector)
        self.windows_scored += int(keep.sum())


def _condition(x: np.ndarray, codec: str) -> np.ndarray:
    """The clip as heard through one codec; 'wav' is the decoded clip untouched."""
    if codec == "wav":
        return x
    from synthscope.train.augment import apply_codec  # heavy (encoders); only when asked for

    return np.asarray(apply_codec(x, codec), dtype=np.float32)


def _window_s(engine: Engine) -> float:
    """The window the bundle was trained on (its manifest constant), else the settings', else 3 s."""
    for owner in (engine.bundle, getattr(engine, "settings", None)):
        value = getattr(owner, "window_s", None)
        if value:
            return float(value)
    return WINDOW_S


def _engine_batch_size(engine: Engine) -> int:
    settings = getattr(engine, "settings", None)
    return int(getattr(settings, "batch_windows", DEFAULT_BATCH) or DEFAULT_BATCH)


def shipped_threshold(engine: Engine) -> float:
    """The decision threshold the bundle ships with (0.5 when it names none)."""
    manifest = getattr(engine.bundle, "manifest", None) or {}
    return float((manifest.get("thresholds") or {}).get("decision", 0.5))


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
    codecs = tuple(dict.fromkeys(c.strip() for c in codecs if c.strip()))
    if not codecs:
        raise ValueError("at least one codec condition is needed")
    clips = read_manifest(manifest_csv, split)
    if not clips:
        raise ValueError(f"{manifest_csv} has no clips in split {split!r}")
    thr = shipped_threshold(engine) if threshold is None else float(threshold)
    window_s = _window_s(engine)
    probe = (0.1 * np.sin(2 * np.pi * 440 * np.arange(SAMPLE_RATE) / SAMPLE_RATE)).astype(np.float32)
    for codec in codecs:  # an unknown condition fails here, not after an hour of scoring
        _condition(probe, codec)
    scores = _Scores(len(clips), len(codecs))
    batcher = _Batcher(engine, scores, _engine_batch_size(engine))
    skipped: list[dict[str, str]] = []
    started = time.perf_counter()
    audio_s = 0.0

    def run(tick: Callable[[int, Clip], None]) -> None:
        nonlocal audio_s
        for i, clip in enumerate(clips):
            try:
                x = decode_all(clip.path)
            except (SynthscopeError, OSError) as exc:
                skipped.append({"path": str(clip.path), "reason": f"{type(exc).__name__}: {exc}"})
                tick(i, clip)
                continue
            audio_s += x.size / SAMPLE_RATE
            for j, codec in enumerate(codecs):
                y = _condition(x, codec)
                for _, _, window in iter_windows([y], window_s=window_s, hop_s=window_s):
                    batcher.add(i, j, window)
            tick(i, clip)
        batcher.flush()

    if progress is True:
        with Progress(
            TextColumn("[bold]evaluate[/] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        ) as bar:
            task = bar.add_task(split, total=len(clips))
            run(lambda i, clip: bar.update(task, advance=1, description=f"{split}: {clip.path.name}"))
    elif callable(progress):
        run(lambda i, clip: progress(i + 1, len(clips)))
    else:
        run(lambda i, clip: None)
    elapsed = time.perf_counter() - started

    ens, dets = scores.clip_means()
    no_window = np.isnan(ens).all(axis=1)
    already = {s["path"] for s in skipped}
    for i in np.flatnonzero(no_window):
        if str(clips[i].path) not in already:
            skipped.append({"path": str(clips[i].path), "reason": "too short, silent or noise only"})

    metrics = _metrics(clips, codecs, ens, dets, thr, threshold is None, window_s)
    metrics.update(
        manifest=str(manifest_csv),
        split=split,
        model=_model_info(engine),
        n_clips=len(clips),
        n_scored=int((~no_window).sum()),
        skipped=skipped,
        timing={
            "seconds": round(elapsed, 3),
            "audio_seconds": round(audio_s, 3),
            "windows": batcher.windows_scored,
            "windows_gated": batcher.windows_gated,
            "windows_per_s": round(batcher.windows_scored / elapsed, 2) if elapsed > 0 else None,
        },
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(_json_safe(metrics), indent=2) + "\n", encoding="utf-8")
    _write_scores_csv(out_dir / "scores.csv", clips, codecs, ens, dets)
    write_plots(clips, codecs, ens, dets, metrics["reference_codec"], out_dir)
    return metrics


def _model_info(engine: Engine) -> dict[str, Any]:
    b = engine.bundle
    return {
        "bundle": getattr(b, "name", None),
        "version": getattr(b, "version", None),
        "sha256": getattr(b, "sha256", None),
        "path": str(getattr(b, "path", "")) or None,
    }


def _reference_codec(codecs: Sequence[str]) -> str:
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


def _by_column(
    clips: Sequence[Clip], column: str, y: np.ndarray, p: np.ndarray, thr: float, versus_other: bool
) -> dict[str, dict[str, Any]]:
    values = np.array([getattr(c, column) for c in clips])
    out: dict[str, dict[str, Any]] = {}
    for value in sorted(set(values.tolist())):
        members = values == value
        stats = _summ(y[members], p[members], thr)
        if versus_other:
            stats["eer_vs_other"], stats["auc_vs_other"] = _versus_other(y, p, members)
        out[value] = stats
    return out


def _metrics(
    clips: Sequence[Clip],
    codecs: Sequence[str],
    ens: np.ndarray,
    dets: dict[str, np.ndarray],
    thr: float,
    shipped: bool,
    window_s: float,
) -> dict[str, Any]:
    y = np.array([c.label for c in clips], dtype=np.int64)
    ref = _reference_codec(codecs)
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
    return {
        "threshold": thr,
        "threshold_source": "bundle" if shipped else "argument",
        "detector_threshold": DETECTOR_THRESHOLD,
        "window_s": window_s,
        "codecs": list(codecs),
        "reference_codec": ref,
        "overall": _summ(y, p_ref, thr),
        "all_codecs": _summ(pooled_y, pooled_p, thr),
        "by_codec": {c: _summ(y, ens[:, j], thr) for j, c in enumerate(codecs)},
        "by_kind": _by_column(clips, "kind", y, p_ref, thr, versus_other=False),
        "by_source": _by_column(clips, "source", y, p_ref, thr, versus_other=True),
        "by_engine": _by_column(clips, "engine", y, p_ref, thr, versus_other=True),
        "by_detector": detectors,
        "reliability": None
        if bins is None
        else {k: bins[k].tolist() for k in ("edges", "count", "confidence", "accuracy")},
    }


def _json_safe(obj: Any) -> Any:
    """NaN/inf are not JSON: write them as null."""
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _write_scores_csv(
    path: Path, clips: Sequence[Clip], codecs: Sequence[str], ens: np.ndarray, dets: dict[str, np.ndarray]
) -> None:
    """Per clip and condition, so a surprising group can be traced back to its clips."""
    names = sorted(dets)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "kind", "source", "engine", "condition", "p_ai", *names])
        for i, c in enumerate(clips):
            for j, codec in enumerate(codecs):
                row = [ens[i, j], *(dets[n][i, j] for n in names)]
                w.writerow(
                    [c.path, "ai" if c.label else "human", c.kind, c.source, c.engine, codec]
                    + ["" if not np.isfinite(v) else f"{v:.6f}" for v in row]
                )


# --------------------------------------------------------------------------- plots


def write_plots(
    clips: Sequence[Clip],
    codecs: Sequence[str],
    ens: np.ndarray,
    dets: dict[str, np.ndarray],
    reference: str,
    out_dir: Path,
) -> list[Path]:
    """roc.png, det.png, reliability.png; curves per codec (ensemble) and per detector (reference)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from scipy.stats import norm

    y = np.array([c.label for c in clips], dtype=np.int64)
    r = list(codecs).index(reference)
    panels: list[tuple[str, list[tuple[str, np.ndarray]]]] = [
        ("Ensemble by codec condition", [(c, ens[:, j]) for j, c in enumerate(codecs)]),
        (
            f"Detectors, raw scores ({reference})",
            [("ensemble", ens[:, r]), *((n, dets[n][:, r]) for n in sorted(dets))],
        ),
    ]

    def curves(items: Iterable[tuple[str, np.ndarray]]) -> Iterable[tuple[str, np.ndarray, np.ndarray]]:
        for label, p in items:
            ok = np.isfinite(p)
            det = det_points(y[ok], p[ok])
            if det is None:
                continue
            rate, _ = eer(y[ok], p[ok])
            yield f"{label} (EER {100 * (rate or 0):.1f} %)", det[0], det[1]

    written: list[Path] = []

    # ROC
    fig = Figure(figsize=(11, 5), constrained_layout=True)
    FigureCanvasAgg(fig)
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
    written.append(out_dir / "roc.png")
    fig.savefig(written[-1], dpi=120)

    # DET on normal-deviate axes
    lo, hi = 0.001, 0.95
    ticks = np.array([0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.95])
    fig = Figure(figsize=(11, 5), constrained_layout=True)
    FigureCanvasAgg(fig)
    for k, (title, items) in enumerate(panels):
        ax = fig.add_subplot(1, 2, k + 1)
        for label, fpr, fnr in curves(items):
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
    written.append(out_dir / "det.png")
    fig.savefig(written[-1], dpi=120)

    # Reliability: is 0.8 right 80 % of the time?
    fig = Figure(figsize=(6, 6.5), constrained_layout=True)
    FigureCanvasAgg(fig)
    top = fig.add_subplot(4, 1, (1, 3))
    bottom = fig.add_subplot(4, 1, 4, sharex=top)
    pooled = ("all codecs", np.tile(y, len(codecs)), ens.T.reshape(-1))
    for label, yy, p in [(reference, y, ens[:, r]), pooled]:
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
    written.append(out_dir / "reliability.png")
    fig.savefig(written[-1], dpi=120)
    return written


# --------------------------------------------------------------------------- tables


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
    return [
        (f"Overall (threshold {thr:.3f})", "condition", overall, False),
        ("By codec condition", "codec", list(metrics["by_codec"].items()), False),
        (f"By kind ({ref})", "kind", list(metrics["by_kind"].items()), False),
        (f"By source ({ref})", "source", list(metrics["by_source"].items()), True),
        (f"By engine ({ref})", "engine", list(metrics["by_engine"].items()), True),
        (
            f"By detector ({ref}, raw scores, threshold {metrics['detector_threshold']})",
            "detector",
            list(metrics["by_detector"].items()),
            False,
        ),
    ]


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
            table.add_row(name, *_cells(stats, versus_other))
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
    if metrics.get("by_source") or metrics.get("by_engine"):
        out.append(
            "*EER/AUC vs other*: a group holding one class only (one AI engine, one human source) "
            "ranked against every clip of the other class in the split. FPR is humans called AI, "
            "FNR is AI called human; ECE uses 15 equal-width bins of P(ai).\n"
        )
    return "\n".join(out)
