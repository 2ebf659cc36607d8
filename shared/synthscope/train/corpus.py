"""Training-corpus builder: fetch the allowed sources, debias, split by speaker/voice, write FLAC.

Output (under out_dir): audio/<label>/<kind>/<source>/<item>_<nn>.flac (16 kHz, ≤ 10 s each),
manifest.csv (one row per clip) and SUMMARY.md (clips/minutes per label, kind, source, engine,
split).  Work is tracked per item in progress.jsonl, so an interrupted build resumes where it
stopped; the manifest is rewritten atomically at the end.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import json
import math
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from . import sources as S
from .augment import SR, augment, trim_silence

MAX_CLIP_S = 10.0
MIN_CLIP_S = 1.0
SPLITS = ("train", "calib", "test")
SPLIT_FRACS = (0.6, 0.2, 0.2)
MANIFEST_COLUMNS = [
    "path",
    "label",
    "kind",
    "source",
    "engine",
    "speaker",
    "lang",
    "split",
    "codec",
    "duration_s",
]
EXTRA_COLUMNS = ["item", "pair_id", "lowpass_hz", "snr_db", "target_db", "text"]

SourceFn = Callable[[Path, float, np.random.Generator], list[S.Item]]

# name -> (kind, label, minutes at scale 1, enumerator).  Budgets come from engine speeds measured
# on 2 shared cores (vocoder 0.2–0.27x realtime, Kokoro 1.1x on one thread, Piper and festival
# 0.14x, the rest 0.01–0.03x) so scale=1 fits in ~35 min wall; human speech is capped so that
# vocoder twins + TTS can match it in duration.
SOURCES: dict[str, tuple[str, str, float, SourceFn]] = {
    "asterisk": ("speech", "human", 17.0, S.human_asterisk),
    "fillets-cs": ("speech", "human", 23.0, lambda c, b, r: S.human_fillets(c, "cs", b, r)),
    "fillets-nl": ("speech", "human", 19.0, lambda c, b, r: S.human_fillets(c, "nl", b, r)),
    "klettres": ("speech", "human", 11.0, S.human_klettres),
    "hedgewars-voices": ("speech", "human", 10.0, S.human_hedgewars_voices),
    "hedgewars-music": ("music", "human", 16.0, S.music_hedgewars),
    "fretsonfire": ("music", "human", 11.0, S.music_fretsonfire),
    "fillets-music": ("music", "human", 8.0, S.music_fillets),
    "asterisk-moh": ("music", "human", 5.0, S.music_moh),
    "espeak-ng": ("speech", "ai", 8.0, S.tts_espeak),
    "flite": ("speech", "ai", 7.0, S.tts_flite),
    "festival": ("speech", "ai", 11.0, S.tts_festival),
    "piper": ("speech", "ai", 13.0, S.tts_piper),
    "kokoro": ("speech", "ai", 6.0, S.tts_kokoro),
    "hifigan": ("speech+music", "ai", 0.0, lambda c, b, r: []),  # twins, derived from the humans
}
# relative compute cost per second of audio (progress bar ETA only)
_COST = {
    "twin": 0.25,
    "kokoro": 1.1,
    "piper": 0.14,
    "festival": 0.13,
    "flite": 0.03,
    "espeak": 0.03,
    "files": 0.012,
}


# --------------------------------------------------------------------------------------------
# Splits


def assign_splits(items: Iterable[S.Item]) -> dict[str, str]:
    """Map split-group -> split: whole speakers/voices go to one split, ≈ 60/20/20 by duration.

    Greedy per pool (largest group first into the split furthest below its target); a group seen
    in an earlier pool keeps its split (flite and festival share the kal and slt speakers), and
    pools with fewer groups go first so every engine still reaches every split.  Kokoro is the
    held-out engine: test only.
    """
    pools: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for it in items:
        pools[it.pool][it.group] += it.est_s
    out: dict[str, str] = {}
    for pool in sorted(pools, key=lambda p: (len(pools[p]), p)):
        groups = pools[pool]
        if pool == "kokoro":
            out.update({g: "test" for g in groups})
            continue
        total = sum(groups.values())
        have = dict.fromkeys(SPLITS, 0.0)
        for g, d in groups.items():
            if g in out:
                have[out[g]] += d
        for g in sorted(groups, key=lambda g: (-groups[g], g)):
            if g in out:
                continue
            deficits = [frac * total - have[s] for s, frac in zip(SPLITS, SPLIT_FRACS, strict=True)]
            best = SPLITS[int(np.argmax(deficits))]
            out[g] = best
            have[best] += groups[g]
    return out


# --------------------------------------------------------------------------------------------
# Worker


def _worker_init() -> None:
    """One BLAS/ORT thread per worker and a lower priority: other work shares this machine."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    with contextlib.suppress(OSError):
        os.nice(5)


def segment_bounds(n: int, sr: int = SR, max_s: float = MAX_CLIP_S) -> list[tuple[int, int]]:
    """Cut n samples into equal pieces of at most max_s seconds."""
    k = max(1, math.ceil(n / (max_s * sr)))
    edges = np.linspace(0, n, k + 1).astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges)]


def process_item(item: S.Item, split: str, out_dir: Path, seed: int) -> list[dict[str, Any]]:
    """Render one item, trim, cut into ≤ 10 s clips, augment each and write 16 kHz FLAC."""
    import soundfile as sf

    x = trim_silence(S.render(item, SR))
    rows: list[dict[str, Any]] = []
    if x.size < MIN_CLIP_S * SR or not np.isfinite(x).all() or float(np.max(np.abs(x))) < 1e-4:
        return rows
    rel_dir = Path("audio") / item.label / item.kind / item.source
    (out_dir / rel_dir).mkdir(parents=True, exist_ok=True)
    for i, (a, b) in enumerate(segment_bounds(x.size)):
        seg = x[a:b]
        if seg.size < MIN_CLIP_S * SR:
            continue
        rng = np.random.default_rng([seed, S.stable_hash(item.key) % 2**32, i])
        y, info = augment(seg, rng)
        if y.size < MIN_CLIP_S * SR:
            continue
        rel = rel_dir / f"{item.key}_{i:02d}.flac"
        tmp = out_dir / rel.with_suffix(".tmp.flac")
        sf.write(str(tmp), y, SR, subtype="PCM_16", format="FLAC")
        os.replace(tmp, out_dir / rel)
        rows.append(
            {
                "path": rel.as_posix(),
                "label": item.label,
                "kind": item.kind,
                "source": item.source,
                "engine": item.engine,
                "speaker": item.speaker,
                "lang": item.lang,
                "split": split,
                "codec": info["codec"],
                "duration_s": round(y.size / SR, 3),
                "item": item.key,
                "pair_id": item.twin_of or item.key,
                "lowpass_hz": info["lowpass_hz"],
                "snr_db": "" if info["snr_db"] is None else info["snr_db"],
                "target_db": info["target_db"],
                "text": item.text,
            }
        )
    return rows


# --------------------------------------------------------------------------------------------
# Planning


def plan(
    cache: Path, *, scale: float, seed: int, sources: list[str], log: Callable[[str], None] = print
) -> list[S.Item]:
    """Enumerate every selected source under its duration budget, then derive vocoder twins."""
    items: list[S.Item] = []
    for name in sources:
        _kind, _label, minutes, fn = SOURCES[name]
        if name == "hifigan":
            continue
        t0 = time.time()
        rng = np.random.default_rng([seed, S.stable_hash(name) % 2**32])
        got = fn(cache, minutes * 60.0 * scale, rng)
        log(f"  {name:<17} {len(got):5d} items  ~{sum(i.est_s for i in got) / 60:6.1f} min  ({time.time() - t0:.1f}s)")
        items += got
    if "hifigan" in sources:
        humans = [i for i in items if i.label == S.HUMAN]
        h_speech = sum(i.est_s for i in humans if i.kind == S.SPEECH)
        tts = sum(i.est_s for i in items if i.label == S.AI and i.kind == S.SPEECH)
        # twins make up whatever AI speech the TTS engines leave short of the human total
        frac = float(np.clip((h_speech - tts) / h_speech, 0.25, 1.0)) if h_speech else 0.0
        twins = S.vocoder_twins(humans, frac, seed)
        log(
            f"  {'hifigan':<17} {len(twins):5d} items  ~{sum(i.est_s for i in twins) / 60:6.1f} min  "
            f"(all music, {frac:.0%} of speech)"
        )
        items += twins
    return items


def _cost(it: S.Item) -> float:
    return max(0.05, it.est_s * _COST.get(it.spec.get("type", "files"), 0.02))


def _read_progress(path: Path) -> dict[str, list[dict[str, Any]]]:
    done: dict[str, list[dict[str, Any]]] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:  # a torn last line from a killed run
                continue
            done[rec["item"]] = rec["rows"]
    return done


def _write_manifest(out_dir: Path, rows: list[dict[str, Any]]) -> Path:
    path = out_dir / "manifest.csv"
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS + EXTRA_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)
    return path


def summary_markdown(rows: list[dict[str, Any]], notes: list[str]) -> str:
    """Clips and minutes per (label, kind, source, engine, split), plus totals."""
    agg: dict[tuple[str, ...], list[float]] = defaultdict(lambda: [0, 0.0])
    tot: dict[tuple[str, ...], list[float]] = defaultdict(lambda: [0, 0.0])
    for r in rows:
        for table, key in (
            (agg, (r["label"], r["kind"], r["source"], r["engine"], r["split"])),
            (tot, (r["label"], r["kind"], r["split"])),
            (tot, (r["label"], r["kind"], "all")),
        ):
            table[key][0] += 1
            table[key][1] += float(r["duration_s"])
    hours = sum(float(r["duration_s"]) for r in rows) / 3600
    lines = ["# Training corpus summary", "", f"{len(rows)} clips, {hours:.2f} h of 16 kHz FLAC.", ""]
    lines += [
        "| label | kind | source | engine | split | clips | minutes |",
        "|---|---|---|---|---|---:|---:|",
    ]
    for k in sorted(agg):
        lines.append(f"| {' | '.join(k)} | {int(agg[k][0])} | {agg[k][1] / 60:.1f} |")
    lines += ["", "## Totals", "", "| label | kind | split | clips | minutes |", "|---|---|---|---:|---:|"]
    for k in sorted(tot):
        lines.append(f"| {' | '.join(k)} | {int(tot[k][0])} | {tot[k][1] / 60:.1f} |")
    codecs: dict[tuple[str, str], int] = defaultdict(int)
    for r in rows:
        codecs[(r["label"], r["codec"].split("_")[0])] += 1
    lines += [
        "",
        "## Augmentation codec family per label (clips)",
        "",
        "| label | codec | clips |",
        "|---|---|---:|",
    ]
    lines += [f"| {a} | {b} | {n} |" for (a, b), n in sorted(codecs.items())]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Build


def build_corpus(
    out_dir: Path,
    *,
    scale: float = 1.0,
    seed: int = 0,
    sources: list[str] | None = None,
    progress: bool = True,
    workers: int = 2,
) -> Path:
    """Build (or resume) the corpus under out_dir; returns the manifest path."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True, quiet=not progress)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = out_dir.resolve().parent / "cache"
    names = sources if sources else list(SOURCES)
    unknown = [n for n in names if n not in SOURCES]
    if unknown:
        raise ValueError(f"unknown sources {unknown}; choose from {list(SOURCES)}")
    t_start = time.time()
    console.print(f"[bold]Planning[/] (scale={scale}, seed={seed}, cache={cache})")
    items = plan(cache, scale=scale, seed=seed, sources=names, log=console.print)
    split_of = assign_splits(i for i in items if not i.twin_of)
    keys = [i.key for i in items]
    if len(set(keys)) != len(keys):
        raise RuntimeError("duplicate item keys")

    prog_path = out_dir / "progress.jsonl"
    done = _read_progress(prog_path)
    pending = [i for i in items if i.key not in done]
    # longest work first (LPT scheduling) so both workers finish together
    pending.sort(key=lambda i: (-_cost(i), i.key))
    console.print(
        f"{len(items)} items planned, {len(items) - len(pending)} already done, "
        f"{len(pending)} to render with {workers} workers"
    )

    failures: list[str] = []
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with (
        Progress(*columns, console=console, disable=not progress) as bar,
        prog_path.open("a", encoding="utf-8") as log_f,
    ):
        cost_total = sum(_cost(i) for i in pending)
        task = bar.add_task("rendering", total=len(pending))
        cost_done = 0.0
        ctx = get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init) as ex:
            queue = list(reversed(pending))
            running: dict[Future[list[dict[str, Any]]], S.Item] = {}
            try:
                while queue or running:
                    while queue and len(running) < workers * 3:
                        it = queue.pop()
                        running[ex.submit(process_item, it, split_of[it.group], out_dir, seed)] = it
                    finished, _ = wait(running, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        it = running.pop(fut)
                        try:
                            rows = fut.result()
                        except Exception as e:  # keep going; a failed item is retried on resume
                            failures.append(f"{it.key}: {type(e).__name__}: {e}"[:300])
                            rows = None
                        if rows is not None:
                            log_f.write(json.dumps({"item": it.key, "rows": rows}, ensure_ascii=False) + "\n")
                            log_f.flush()
                            done[it.key] = rows
                        cost_done += _cost(it)
                        pct = 100 * cost_done / max(cost_total, 1e-9)
                        bar.update(task, advance=1, description=f"rendering ({pct:3.0f}% of work)")
            except KeyboardInterrupt:
                ex.shutdown(wait=False, cancel_futures=True)
                raise

    # split is metadata, not audio: take it from this run's plan so a resumed build stays consistent
    rows = [{**r, "split": split_of[i.group]} for i in items for r in done.get(i.key, [])]
    manifest = _write_manifest(out_dir, rows)
    empty = sum(1 for i in items if i.key in done and not done[i.key])
    notes = [
        f"built with scale={scale}, seed={seed}, sources={','.join(names)}; "
        f"this run rendered {len(pending)} items ({len(items) - len(pending)} resumed from an earlier run) "
        f"in {time.time() - t_start:.0f} s wall",
        "splits are by speaker/voice group (≈60/20/20 of duration per pool); vocoder twins (engine hifigan) "
        "inherit their human speaker's split; Kokoro (held-out neural engine) is in test only",
        "piper has a single voice (joe): its content is split by sentence (10 hash buckets), so the same "
        "voice appears in every split",
        "fillets speakers are characters (fonts); minor characters of one language share a split group "
        "because one actor may voice several; music is split by track",
        f"{empty} items produced no clip ≥ 1 s after trimming (dropped)",
    ]
    if failures:
        notes.append(f"{len(failures)} items failed (retried on the next run): " + "; ".join(failures[:5]))
    (out_dir / "SUMMARY.md").write_text(summary_markdown(rows, notes), encoding="utf-8")
    console.print(
        f"[bold green]Done[/]: {len(rows)} clips, "
        f"{sum(float(r['duration_s']) for r in rows) / 3600:.2f} h, {len(failures)} failed items, "
        f"{time.time() - t_start:.0f} s → {manifest}"
    )
    return manifest
