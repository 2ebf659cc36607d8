"""`synthscope evaluate`: score a bundle on a corpus split, or on the user's own files, and print the tables.

Kept apart from cli.py so the command's options live next to the code they drive; the main
CLI mounts `evaluate_command`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from synthscope.errors import SynthscopeError

if TYPE_CHECKING:
    from synthscope.engine import Engine

DEFAULT_MANIFEST = Path("data/corpus/manifest.csv")
DEFAULT_OUT = Path("out/eval")
DEFAULT_SPLIT = "test"
MANIFEST_CODECS = "wav,mp3_64k,opus_24k,tel_8k"
FILES_CODECS = "wav"

_FILES_HELP = (
    "Your own audio instead of a manifest: a CSV with a header path,label[,group] (label human|ai, 0|1 or "
    "real|fake; paths relative to the CSV or absolute) or a folder holding human/ and ai/ (any format, any "
    "nesting; the first subfolder below human/ or ai/ is the group). Also writes report.md. "
    "Not with --manifest."
)
_CODECS_HELP = (
    "Comma-separated codec conditions each clip is scored under. Default: "
    f"{MANIFEST_CODECS} for a manifest; for --files just {FILES_CODECS}, i.e. as stored, because your files "
    "already went through their own recorder, channel and codec and re-encoding would stack ours on "
    "theirs. Add e.g. mp3_64k,tel_8k to see how the scores hold up after further compression."
)


def evaluate_command(
    manifest: Annotated[
        Path | None, typer.Option(help="Corpus manifest CSV.", show_default=str(DEFAULT_MANIFEST))
    ] = None,
    files: Annotated[Path | None, typer.Option("--files", help=_FILES_HELP)] = None,
    bundle: Annotated[Path | None, typer.Option(help="Model bundle directory; default: the shipped one.")] = None,
    split: Annotated[
        str | None, typer.Option(help="Manifest split to score (train|calib|test).", show_default=DEFAULT_SPLIT)
    ] = None,
    out: Annotated[Path, typer.Option(help="Where metrics.json, scores.csv and the plots go.")] = DEFAULT_OUT,
    codecs: Annotated[str | None, typer.Option(help=_CODECS_HELP)] = None,
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
    """Evaluate a model bundle: EER, AUC, calibration and error rates per source, engine, kind, codec.

    With --files, on your own labelled audio instead: per group and file format, plus report.md.
    """
    console = Console()
    if files is not None:
        manifest_only = (("--manifest", manifest), ("--split", split), ("--card", card), ("--notes", notes))
        given = [name for name, value in manifest_only if value]
        if given:
            raise typer.BadParameter(f"{' and '.join(given)} cannot be combined with --files", param_hint="--files")
        _evaluate_files(console, files, bundle, out, _conditions(codecs or FILES_CODECS), threshold)
        return
    _evaluate_manifest(
        console,
        manifest or DEFAULT_MANIFEST,
        bundle,
        split or DEFAULT_SPLIT,
        out,
        codecs or MANIFEST_CODECS,
        threshold,
        card=card,
        notes=notes,
    )


def _evaluate_manifest(
    console: Console,
    manifest: Path,
    bundle: Path | None,
    split: str,
    out: Path,
    codecs: str,
    threshold: float | None,
    *,
    card: bool,
    notes: Path | None,
) -> None:
    """A corpus split: score it, print the tables, and with `card` write the model card."""
    from synthscope.train.evaluation import evaluate, render_tables

    if not manifest.is_file():
        console.print(f"[red]No manifest at {manifest}[/]; build the corpus first (synthscope corpus build).")
        raise typer.Exit(2)
    conditions = _conditions(codecs)
    try:
        engine = _load_engine(console, bundle, f"split [bold]{split}[/], conditions {', '.join(conditions)}")
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
    _print_written(console, metrics, out, "clips")


def _evaluate_files(
    console: Console, files: Path, bundle: Path | None, out: Path, conditions: list[str], threshold: float | None
) -> None:
    """`--files`: check the set first (a bad path or CSV exits 2 before the model loads), then score it."""
    from synthscope.train.evaluation import UserFilesError, evaluate_files, read_user_files, render_tables
    from synthscope.train.evaluation.scoring import check_codecs

    try:
        check_codecs(conditions)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--codecs") from None
    try:
        user_set = read_user_files(files)
    except UserFilesError as exc:
        Console(stderr=True).print(f"[red]Cannot evaluate these files:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None
    n_ai = sum(f.clip.label for f in user_set.files)
    try:
        engine = _load_engine(
            console,
            bundle,
            f"{len(user_set.files)} readable files ({len(user_set.files) - n_ai} human, {n_ai} AI), "
            f"conditions {', '.join(conditions)}",
        )
        metrics = evaluate_files(
            engine, user_set, codecs=conditions, out_dir=out, threshold=threshold, progress=True, console=console
        )
    except (SynthscopeError, ValueError) as exc:
        console.print(f"[red]Evaluation failed:[/] {escape(str(getattr(exc, 'detail', exc)))}")
        raise typer.Exit(1) from None
    for table in render_tables(metrics):
        console.print(table)
    if metrics["skipped"]:
        console.print(f"[yellow]{len(metrics['skipped'])} file(s) not scored:[/]")
        for s in metrics["skipped"]:
            console.print(f"  {escape(s['path'])}: {escape(s['reason'])}", soft_wrap=True)
    for warning in metrics["warnings"]:
        console.print(f"[yellow]Note:[/] {escape(warning)}")
    _print_written(console, metrics, out, "files", extra=f", {out / 'report.md'}")


def _conditions(codecs: str) -> list[str]:
    conditions = [c.strip() for c in codecs.split(",") if c.strip()]
    if not conditions:
        raise typer.BadParameter("name at least one codec condition", param_hint="--codecs")
    return conditions


def _load_engine(console: Console, bundle: Path | None, what: str) -> Engine:
    from synthscope.config import Settings
    from synthscope.engine import Engine

    with console.status("Loading the model bundle…"):
        engine = Engine.load(Settings(), bundle_path=bundle)
    console.print(
        f"Bundle [bold]{engine.bundle.name}[/] {engine.bundle.version} "
        f"(sha256 {str(engine.bundle.sha256)[:12]}…), {what}"
    )
    return engine


def _print_written(console: Console, metrics: dict[str, Any], out: Path, unit: str, extra: str = "") -> None:
    t = metrics["timing"]
    console.print(
        f"{metrics['n_scored']} {unit}, {t['windows']} windows × conditions in {t['seconds']:.1f} s. "
        f"Wrote {out / 'metrics.json'}, {out / 'scores.csv'}, roc.png, det.png, reliability.png{extra}"
    )
