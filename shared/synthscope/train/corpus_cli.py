"""`synthscope corpus build`: Typer sub-app (the main CLI mounts `corpus_app`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

corpus_app = typer.Typer(help="Build the training corpus from the allowed Debian/PyPI sources.", no_args_is_help=True)

DEFAULT_OUT = Path("data/corpus")


@corpus_app.command("build")
def build(
    out: Annotated[Path, typer.Option(help="Output folder; downloads are cached in OUT/../cache.")] = DEFAULT_OUT,
    scale: Annotated[float, typer.Option(help="Multiply every per-source duration budget.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Seed for selection, splits and augmentation.")] = 0,
    sources: Annotated[str, typer.Option(help="Comma list of sources (default: all; see `sources`).")] = "",
    workers: Annotated[int, typer.Option(min=1, help="Rendering processes.")] = 2,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Fetch, render, debias and split the corpus; resumable (re-run to continue)."""
    from .corpus import build_corpus
    from .sources import REGISTRY

    names = [s.strip() for s in sources.split(",") if s.strip()] or None
    if names and (bad := [n for n in names if n not in REGISTRY]):
        raise typer.BadParameter(f"unknown sources {bad}; choose from {', '.join(REGISTRY)}")
    manifest = build_corpus(out, scale=scale, seed=seed, sources=names, progress=not quiet, workers=workers)
    typer.echo(str(manifest))


@corpus_app.command("sources")
def list_sources() -> None:
    """List the source names accepted by --sources with their budgets at scale 1."""
    from .corpus import BUDGET_MINUTES
    from .sources import REGISTRY

    for name, src in REGISTRY.items():
        minutes = BUDGET_MINUTES.get(name, 0.0)
        budget = "all" if minutes == float("inf") else f"{minutes:5.1f} min"
        typer.echo(f"{name:<18} {src.label:<6} {src.kind:<13} {budget}")
