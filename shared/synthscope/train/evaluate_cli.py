"""`synthscope evaluate`: score a bundle on a corpus split and print the per-group tables.

Kept apart from cli.py so the command's options live next to the code they drive; the main
CLI mounts `evaluate_command`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from synthscope.errors import SynthscopeError

DEFAULT_MANIFEST = Path("data/corpus/manifest.csv")
DEFAULT_OUT = Path("out/eval")


def evaluate_command(
    manifest: Annotated[Path, typer.Option(help="Corpus manifest CSV.")] = DEFAULT_MANIFEST,
    bundle: Annotated[Path | None, typer.Option(help="Model bundle directory; default: the shipped one.")] = None,
    split: Annotated[str, typer.Option(help="Manifest split to score (train|calib|test).")] = "test",
    out: Annotated[Path, typer.Option(help="Where metrics.json, scores.csv and the plots go.")] = DEFAULT_OUT,
    codecs: Annotated[
        str, typer.Option(help="Comma-separated codec conditions each clip is scored under.")
    ] = "wav,mp3_64k,opus_24k,tel_8k",
    threshold: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="Decision threshold; default: the bundle's shipped one."),
    ] = None,
    card: Annotated[
        bool, typer.Option("--card", help="Write MODEL_CARD.md into the bundle and its metrics into the manifest.")
    ] = False,
    notes: Annotated[
        Path | None, typer.Option(help="Markdown file with training notes to include in the model card.")
    ] = None,
) -> None:
    """Evaluate a model bundle: EER, AUC, calibration and error rates per source, engine, kind, codec."""
    from synthscope.config import Settings
    from synthscope.engine import Engine
    from synthscope.train.evaluate import evaluate, render_tables

    console = Console()
    if not manifest.is_file():
        console.print(f"[red]No manifest at {manifest}[/]; build the corpus first (synthscope corpus build).")
        raise typer.Exit(2)
    conditions = [c.strip() for c in codecs.split(",") if c.strip()]
    if not conditions:
        raise typer.BadParameter("name at least one codec condition", param_hint="--codecs")
    try:
        with console.status("Loading the model bundle…"):
            engine = Engine.load(Settings(), bundle_path=bundle)
        console.print(
            f"Bundle [bold]{engine.bundle.name}[/] {engine.bundle.version} "
            f"(sha256 {str(engine.bundle.sha256)[:12]}…), split [bold]{split}[/], "
            f"conditions {', '.join(conditions)}"
        )
        metrics = evaluate(
            engine,
            manifest,
            split=split,
            codecs=conditions,
            out_dir=out,
            threshold=threshold,
            progress=True,
            console=console,
        )
    except (SynthscopeError, ValueError) as exc:
        console.print(f"[red]Evaluation failed:[/] {getattr(exc, 'detail', exc)}")
        raise typer.Exit(1) from None
    for table in render_tables(metrics):
        console.print(table)
    if card:
        from synthscope.train.model_card import write_model_card

        written = write_model_card(engine.bundle.path, metrics, notes=notes.read_text() if notes else "")
        console.print(f"Model card written to {written}")
    skipped = metrics["skipped"]
    if skipped:
        console.print(f"[yellow]{len(skipped)} clip(s) not scored[/] (listed in {out / 'metrics.json'})")
    t = metrics["timing"]
    console.print(
        f"{metrics['n_scored']} clips, {t['windows']} windows × conditions in {t['seconds']:.1f} s. "
        f"Wrote {out / 'metrics.json'}, {out / 'scores.csv'}, roc.png, det.png, reliability.png"
    )
