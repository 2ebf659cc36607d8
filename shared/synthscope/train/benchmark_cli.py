"""`synthscope benchmark`: the leave-one-source-out benchmark that decides between models.

Kept apart from cli.py so the options live next to the code they drive; the main CLI
mounts `benchmark_command`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from synthscope.train.benchmark.run import BenchConfig


def _names(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def benchmark_command(
    manifest: Annotated[Path, typer.Option(help="Corpus manifest CSV.")] = Path("data/corpus/manifest.csv"),
    out: Annotated[Path, typer.Option(help="Where loso.md, loso.json and loso_auc.png go.")] = Path("out/bench"),
    cache: Annotated[
        Path, typer.Option(help="Feature cache directory (one SQLite file per extractor version).")
    ] = Path("data/features"),
    codecs: Annotated[
        str, typer.Option(help="Comma-separated conditions every eval clip is scored under.")
    ] = "wav,mp3_64k,opus_24k,tel_8k",
    groups: Annotated[str, typer.Option(help="Comma-separated held-out groups to run (default: all).")] = "",
    detectors: Annotated[str, typer.Option(help="Comma-separated detectors (default: all registered).")] = "",
    workers: Annotated[int, typer.Option(min=1, help="Processes for feature extraction.")] = 1,
    seed: Annotated[int, typer.Option(help="Seed for head training and every subsample.")] = 0,
    max_eval_clips: Annotated[
        int, typer.Option(min=0, help="At most this many eval clips per class per fold (0 = all).")
    ] = 600,
    augment: Annotated[
        bool | None,
        typer.Option("--augment/--no-augment", help="Also fit on channel-augmented copies (default: the budget's)."),
    ] = None,
    extract_only: Annotated[bool, typer.Option(help="Fill the feature cache and stop.")] = False,
) -> None:
    """Leave-one-source-out benchmark: refit every detector with each engine family / human group held out."""
    from synthscope.train.benchmark.heads import BUDGET
    from synthscope.train.benchmark.run import BenchConfig

    console = Console()
    if not manifest.is_file():
        console.print(f"[red]No manifest at {manifest}[/]; build the corpus first (synthscope corpus build).")
        raise typer.Exit(2)
    cfg = BenchConfig(
        manifest=manifest,
        out=out,
        cache=cache,
        codecs=_names(codecs),
        groups=_names(groups),
        detectors=_names(detectors),
        workers=workers,
        seed=seed,
        max_eval_clips=max_eval_clips,
        budget=BUDGET if augment is None else replace(BUDGET, augment=augment),
        extract_only=extract_only,
    )
    _run_and_report(console, cfg)


def _run_and_report(console: Console, cfg: BenchConfig) -> None:
    """Run the benchmark, then print its tables and write the reports (or, extract-only, the cache line)."""
    from synthscope.train.benchmark.report import console_tables, write_all
    from synthscope.train.benchmark.run import run_benchmark

    try:
        result = run_benchmark(cfg, console=console)
    except ValueError as exc:
        console.print(f"[red]Benchmark failed:[/] {exc}")
        raise typer.Exit(1) from None
    if cfg.extract_only:
        console.print(f"Features cached in {cfg.cache} ({result.timing['extraction_s']:.0f} s of extraction).")
        return
    for table in console_tables(result):
        console.print(table)
    written = write_all(result, cfg.out)
    t = result.timing
    failed = result.extraction["failed"]
    if failed:
        console.print(f"[yellow]{len(failed)} clip(s) could not be read[/] (listed in {cfg.out / 'loso.json'})")
    console.print(
        f"Wall time {t['total_s']:.1f} s (feature extraction {t['extraction_s']:.1f} s, folds {t['folds_s']:.1f} s). "
        f"Wrote {', '.join(str(p) for p in written)}"
    )
