"""Build (or resume) corpus v2: plan, render in worker processes, write the manifest and SUMMARY.md.

Work is tracked per item in progress.jsonl (one line per finished item, flushed as it lands), so an
interrupted build resumes where it stopped and a re-run with nothing to do only re-plans; the
manifest is rewritten atomically at the end from the plan (identity, split) and the progress file
(audio facts).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import IO

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

from synthscope.train.sources import REGISTRY, Item

from .manifest import manifest_row, summary_markdown, write_manifest
from .plan import assign_splits, plan
from .render import ClipRecord, process_item, worker_init

Done = dict[str, list[ClipRecord]]


def read_progress(path: Path) -> Done:
    """Finished items and their clips; a torn last line (killed run) is ignored and redone."""
    done: Done = {}
    if not path.exists():
        return done
    fields = set(ClipRecord.__dataclass_fields__)
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        clips = []
        for r in rec["rows"]:
            kept = {k: (None if r.get(k) == "" else r.get(k)) for k in fields}
            clips.append(ClipRecord(**kept))  # type: ignore[arg-type]
        done[rec["item"]] = clips
    return done


def _end_with_newline(path: Path) -> None:
    """A run killed mid-line leaves a torn record: start the next record on a line of its own."""
    if path.exists() and path.stat().st_size:
        with path.open("rb+") as f:
            f.seek(-1, 2)
            if f.read(1) != b"\n":
                f.write(b"\n")


@dataclass
class _Run:
    """Bookkeeping of one rendering run."""

    log: IO[str]
    done: Done
    failures: list[str] = field(default_factory=list)

    def record(self, item: Item, fut: Future[list[ClipRecord]]) -> None:
        try:
            clips = fut.result()
        except Exception as e:  # keep going; a failed item is retried on the next run
            self.failures.append(f"{item.key}: {type(e).__name__}: {e}"[:300])
            return
        rows = [asdict(c) for c in clips]
        self.log.write(json.dumps({"item": item.key, "rows": rows}, ensure_ascii=False) + "\n")
        self.log.flush()
        self.done[item.key] = clips


def _render_all(
    pending: list[Item], run: _Run, out_dir: Path, seed: int, workers: int, tick: Callable[[Item], None]
) -> None:
    """Longest work first (LPT) over a process pool, a bounded number in flight."""
    queue = sorted(pending, key=lambda i: (i.cost, i.key))  # pop() takes the costliest
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=worker_init) as ex:
        running: dict[Future[list[ClipRecord]], Item] = {}
        try:
            while queue or running:
                while queue and len(running) < workers * 3:
                    it = queue.pop()
                    running[ex.submit(process_item, it, out_dir, seed)] = it
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in finished:
                    it = running.pop(fut)
                    run.record(it, fut)
                    tick(it)
        except KeyboardInterrupt:
            ex.shutdown(wait=False, cancel_futures=True)
            raise


def _progress(console: Console, enabled: bool) -> Progress:
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    return Progress(*columns, console=console, disable=not enabled)


def _rows(items: list[Item], split_of: dict[str, str], done: Done) -> Iterator[dict[str, object]]:
    for it in items:
        for clip in done.get(it.key, []):
            yield manifest_row(it, split_of[it.group], clip)


def build_corpus(
    out_dir: Path,
    *,
    scale: float = 1.0,
    seed: int = 0,
    sources: Sequence[str] | None = None,
    progress: bool = True,
    workers: int = 2,
) -> Path:
    """Build (or resume) the corpus under out_dir; downloads are cached in out_dir/../cache.

    Args:
        out_dir: corpus folder (audio/, manifest.csv, SUMMARY.md, progress.jsonl).
        scale: multiplies every bounded per-source budget (budgets.py).
        seed: selection, splits and augmentation draws.
        sources: registry names to include (default: all).
        progress: show a Rich progress bar.
        workers: rendering processes.

    Returns:
        Path of the manifest.
    """
    console = Console(stderr=True, quiet=not progress)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = out_dir.resolve().parent / "cache"
    names = list(sources) if sources else list(REGISTRY)
    t_start = time.time()
    console.print(f"[bold]Planning[/] (scale={scale}, seed={seed}, cache={cache})")
    items = plan(cache, scale=scale, seed=seed, sources=names, log=console.print)
    split_of = assign_splits(items)

    prog_path = out_dir / "progress.jsonl"
    done = read_progress(prog_path)
    _end_with_newline(prog_path)
    pending = [i for i in items if i.key not in done]
    console.print(f"{len(items)} items planned, {len(items) - len(pending)} done, {len(pending)} to render")
    failures = _render_pending(pending, done, prog_path, out_dir, seed, workers, console, progress)

    rows = list(_rows(items, split_of, done))
    manifest = write_manifest(out_dir, rows)
    empty = sum(1 for i in items if i.key in done and not done[i.key])
    run_note = (
        f"built with scale={scale}, seed={seed}, sources={','.join(names)}; this run rendered {len(pending)} items "
        f"({len(items) - len(pending)} resumed) in {time.time() - t_start:.0f} s wall with {workers} workers"
    )
    _write_summary(out_dir, rows, run_note, empty, failures)
    hours = sum(float(str(r["duration_s"])) for r in rows) / 3600
    console.print(
        f"[bold green]Done[/]: {len(rows)} clips, {hours:.2f} h, {len(failures)} failed items, "
        f"{time.time() - t_start:.0f} s → {manifest}"
    )
    return manifest


def _render_pending(
    pending: list[Item],
    done: Done,
    prog_path: Path,
    out_dir: Path,
    seed: int,
    workers: int,
    console: Console,
    progress: bool,
) -> list[str]:
    """Render every pending item into `done` (and progress.jsonl) under a progress bar; the failures."""
    with _progress(console, progress) as bar, prog_path.open("a", encoding="utf-8") as log_f:
        run = _Run(log_f, done)
        cost_total, cost_done = sum(i.cost for i in pending) or 1e-9, 0.0
        task = bar.add_task("rendering", total=len(pending))

        def tick(it: Item) -> None:
            nonlocal cost_done
            cost_done += it.cost
            bar.update(task, advance=1, description=f"rendering ({100 * cost_done / cost_total:3.0f}% of work)")

        if pending:
            _render_all(pending, run, out_dir, seed, workers, tick)
    return run.failures


def _write_summary(
    out_dir: Path, rows: list[dict[str, object]], run_note: str, empty: int, failures: list[str]
) -> None:
    """SUMMARY.md: the corpus tables with how this run built it."""
    notes = [
        run_note,
        "splits are by speaker / voice / track group (≈60/20/20 of duration per pool); Kokoro blends follow their "
        "dominant voice; vocoder twins follow their human original (same speaker and content)",
        "both classes went through the same chain: 16 kHz, trim, loudness, room reverb, band-limit, noise, codec",
        f"{empty} items produced no clip ≥ 1 s after trimming (dropped)",
    ]
    if failures:
        notes.append(f"{len(failures)} items failed (retried on the next run): " + "; ".join(failures[:5]))
    (out_dir / "SUMMARY.md").write_text(summary_markdown(rows, notes), encoding="utf-8")
