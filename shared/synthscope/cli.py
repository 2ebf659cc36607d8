"""The `synthscope` command: analyze files, build the corpus, train, evaluate.

Heavy modules (torch, the engine) are imported inside commands so `--help`
stays instant.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from synthscope.detect.profiles import Profile
from synthscope.errors import SynthscopeError

if TYPE_CHECKING:
    from synthscope.reports.schema import AnalysisResult

app = typer.Typer(help="Tell AI-generated audio from human audio.", no_args_is_help=True, add_completion=False)
err = Console(stderr=True)
out = Console()

EXIT_BAD_INPUT = 2

VERDICT_STYLE = {
    "ai": "bold red",
    "human": "bold green",
    "mixed": "bold yellow",
    "uncertain": "yellow",
    "not_applicable": "dim",
}
LABEL_CHAR = {"ai": ("█", "red"), "human": ("█", "green"), "uncertain": ("▒", "yellow"), "silent": ("·", "dim")}


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )


@app.command()
def analyze(
    files: Annotated[list[Path], typer.Argument(help="Audio files (mp3, wav, flac, ogg/opus, m4a/aac, webm)")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line per file")] = False,
    window: Annotated[float | None, typer.Option("--window", help="Window length in seconds (default 3)")] = None,
    hop: Annotated[float | None, typer.Option("--hop", help="Hop in seconds (default: the window length)")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Draw the timeline to this PNG")] = None,
    bundle: Annotated[Path | None, typer.Option("--bundle", help="Model bundle directory")] = None,
    device: Annotated[str | None, typer.Option("--device", help="auto, cpu or cuda")] = None,
    profile: Annotated[
        Profile,
        typer.Option("--profile", help="default: most accurate (speech encoder); fast: no encoder, bulk screening"),
    ] = Profile.default,
) -> None:
    """Analyse files; exit 0 when all were analysed, 2 when any input was bad."""
    from synthscope.config import Settings
    from synthscope.engine import Engine

    overrides: dict[str, Any] = {
        k: v for k, v in {"window_s": window, "hop_s": hop, "device": device}.items() if v is not None
    }
    try:
        settings = Settings(**overrides)
        engine = Engine.load(settings, bundle)
        engine.bundle.members(profile)
    except (SynthscopeError, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    bad = 0
    for i, path in enumerate(files):
        try:
            if not path.is_file():
                raise _missing(path)
            with _progress() as prog:
                task = prog.add_task(path.name[:40], total=None)
                result = engine.analyze(path, profile=profile, progress=_updater(prog, task))
        except SynthscopeError as exc:
            bad += 1
            _emit_error(path, exc, as_json)
            continue
        if as_json:
            sys.stdout.write(json.dumps({"file": str(path), "result": result.model_dump(mode="json")}) + "\n")
            sys.stdout.flush()
        else:
            _print_result(path, result)
        if plot is not None:
            target = plot if len(files) == 1 else plot.with_name(f"{plot.stem}-{i + 1}-{path.stem}{plot.suffix}")
            from synthscope.plot import plot_timeline

            plot_timeline(result, target, title=path.name)
            if not as_json:
                out.print(f"timeline plot: {target}")
    if bad:
        raise typer.Exit(EXIT_BAD_INPUT)


def _updater(prog: Progress, task: TaskID) -> Callable[[int, int | None], None]:
    return lambda done, total: prog.update(task, completed=done, total=total)


def _missing(path: Path) -> SynthscopeError:
    from synthscope.errors import BadInput

    return BadInput(f"{path} does not exist or is not a file")


def _emit_error(path: Path, exc: SynthscopeError, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(
            json.dumps({"file": str(path), "error": {"type": exc.type, "title": exc.title, "detail": exc.detail}})
            + "\n"
        )
        sys.stdout.flush()
    else:
        err.print(f"[red]{path}:[/red] {exc.title}: {exc.detail}")


def _submit_batch(client: Any, files: list[Path], as_json: bool, timeout: float) -> int:
    """The batch path of `submit`: same output per file as one at a time; returns how many files failed."""
    from synthscope.client import ApiProblem
    from synthscope.reports.schema import AnalysisResult

    present = [p for p in files if p.is_file()]
    results = dict(zip(present, client.analyze_many(present, timeout_s=timeout), strict=True))
    bad = 0
    for path in files:
        entry = results.get(path, _missing(path))
        if isinstance(entry, dict) and entry["status"] == "failed":
            entry = ApiProblem(entry.get("error") or {"title": "Failed", "detail": "the report failed"})
        if isinstance(entry, SynthscopeError):
            bad += 1
            _emit_error(path, entry, as_json)
        elif as_json:
            sys.stdout.write(json.dumps({"file": str(path), "task_id": entry["task_id"], "result": entry["result"]}))
            sys.stdout.write("\n")
            sys.stdout.flush()
        else:
            _print_result(path, AnalysisResult.model_validate(entry["result"]))
    return bad


def _print_result(path: Path, r: AnalysisResult) -> None:
    verdict = r.verdict.value
    head = Table.grid(padding=(0, 2))
    head.add_row("[bold]file[/bold]", str(path))
    head.add_row(
        "[bold]verdict[/bold]", f"[{VERDICT_STYLE[verdict]}]{verdict}[/]" + (f" ({r.reason.value})" if r.reason else "")
    )
    if r.ai_probability is not None:
        head.add_row("[bold]P(AI)[/bold]", f"{r.ai_probability:.2f}   confidence {r.confidence:.2f}")
    s = r.summary
    head.add_row(
        "[bold]windows[/bold]",
        f"{s.windows} · ai {s.ai_windows} · human {s.human_windows} · "
        f"uncertain {s.uncertain_windows} · silent {s.silent_windows}",
    )
    strip = "".join(f"[{LABEL_CHAR[w.label.value][1]}]{LABEL_CHAR[w.label.value][0]}[/]" for w in r.timeline[:200])
    head.add_row("[bold]timeline[/bold]", strip + (" …" if len(r.timeline) > 200 else ""))
    a = r.audio
    head.add_row("[bold]audio[/bold]", f"{a.format}, {a.duration_s:.1f} s, {a.sample_rate} Hz, {a.channels} ch")
    head.add_row("[bold]model[/bold]", f"{r.model.bundle} {r.model.version} · profile {r.model.profile}")
    if r.detectors:
        head.add_row(
            "[bold]detectors[/bold]",
            "  ".join(
                f"{d.name} {d.ai_probability:.2f}" if d.ai_probability is not None else f"{d.name} {d.status}"
                for d in r.detectors
            ),
        )
    if r.degraded:
        head.add_row("[bold]degraded[/bold]", f"[yellow]left out: {', '.join(r.degraded)}[/yellow]")
    for line in r.explanation:
        head.add_row("", f"• {line}")
    t = r.timing
    head.add_row(
        "[bold]time[/bold]",
        f"{t.total_ms:.0f} ms (decode {t.decode_ms:.0f}, analyze {t.analyze_ms:.0f}); "
        f"{a.duration_s / max(t.total_ms / 1000, 1e-6):.0f}× realtime",
    )
    out.print(head)
    out.print()


@app.command()
def submit(
    files: Annotated[list[Path], typer.Argument(help="Audio files to send through the service")],
    api: Annotated[str, typer.Option("--api", envvar="SYNTHSCOPE_API_URL", help="API base URL")] = (
        "http://127.0.0.1:8080"
    ),
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line per file")] = False,
    api_key: Annotated[
        str | None, typer.Option("--api-key", envvar="SYNTHSCOPE_API_KEY", help="Trusted-backend key")
    ] = None,
    user_id: Annotated[
        str | None, typer.Option("--user-id", help="Bind the token to this user (needs --api-key)")
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for each report")] = 3600.0,
    org_key: Annotated[
        str | None,
        typer.Option("--key", envvar="SYNTHSCOPE_ORG_KEY", help="Enterprise API key (ssk_...); many files: one batch"),
    ] = None,
) -> None:
    """Analyse files through the running service: token, signed upload, report, poll; exit 2 on bad input.
    With an enterprise --key and several files, they are queued by POST /reports:batch (100 per request)."""
    import httpx

    from synthscope.client import ApiClient

    client = ApiClient(api, api_key=api_key, user_id=user_id, org_key=org_key)
    try:
        if org_key and len(files) > 1:
            bad = _submit_batch(client, files, as_json, timeout)
        else:
            bad = _submit_each(client, files, as_json, timeout)
    except httpx.HTTPError as exc:
        err.print(f"[red]error:[/red] cannot reach {api}: {exc}")
        raise typer.Exit(1) from None
    except (TimeoutError, SynthscopeError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        client.close()
    if bad:
        raise typer.Exit(EXIT_BAD_INPUT)


def _submit_each(client: Any, files: list[Path], as_json: bool, timeout: float) -> int:
    """`submit` one file at a time; a bad file is reported and skipped. Returns how many were bad."""
    bad = 0
    for path in files:
        try:
            report = _submit_one(client, path, timeout)
        except SynthscopeError as exc:
            bad += 1
            _emit_error(path, exc, as_json)
            continue
        _emit_report(path, report, as_json)
    return bad


def _submit_one(client: Any, path: Path, timeout: float) -> dict[str, Any]:
    """Upload one file and poll its report under a transient progress bar; a failed report raises."""
    from synthscope.client import ApiProblem

    if not path.is_file():
        raise _missing(path)
    with _progress() as prog:
        task = prog.add_task(path.name[:40], total=None)
        name = path.name[:30]

        def show(done: int, total: int | None, stage: str) -> None:
            prog.update(task, completed=done, total=total, description=f"{name} {stage}")

        report: dict[str, Any] = client.analyze_file(path, progress=show, timeout_s=timeout)
    if report["status"] == "failed":
        raise ApiProblem(report.get("error") or {"title": "Failed", "detail": "the report failed"})
    return report


def _emit_report(path: Path, report: dict[str, Any], as_json: bool) -> None:
    """One finished report: a JSON line, or the result table (with the tier note when limited)."""
    from synthscope.reports.schema import AnalysisResult

    if as_json:
        line = {"file": str(path), "task_id": report["task_id"], "result": report["result"]}
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
    else:
        _print_result(path, AnalysisResult.model_validate(report["result"]))
        if report.get("limited"):
            out.print(f"[dim]{report['tier']} tier: per-detector scores and most of the timeline hidden[/dim]\n")


@app.command()
def train(
    manifest: Annotated[Path, typer.Option(help="Corpus manifest CSV")] = Path("data/corpus/manifest.csv"),
    out_dir: Annotated[Path, typer.Option("--out", help="Bundle directory to write")] = Path("data/bundle"),
    epochs: Annotated[int, typer.Option(help="spectro_cnn epochs")] = 8,
    seed: int = 0,
) -> None:
    """Fit every detector and the ensemble from a manifest and write a bundle."""
    from synthscope.train.fit import train_bundle

    def track(it: Any, label: str) -> Any:
        items = list(it)
        with _progress() as prog:
            task = prog.add_task(label, total=len(items))
            for item in items:
                yield item
                prog.advance(task)

    path = train_bundle(manifest, out_dir, cnn_epochs=epochs, seed=seed, log=err.print, track=track)
    out.print(f"bundle written to {path}")


@app.command()
def ship(
    manifest: Annotated[Path, typer.Option(help="Corpus manifest CSV")] = Path("data/corpus/manifest.csv"),
    bench: Annotated[Path, typer.Option(help="loso.json of the full benchmark")] = Path("out/bench/loso.json"),
    out_dir: Annotated[Path, typer.Option("--out", help="Bundle directory to write")] = Path("data/bundle"),
    cache: Annotated[Path, typer.Option(help="The benchmark's feature cache")] = Path("data/features"),
    speed: Annotated[Path | None, typer.Option(help="bench/engine.py --json output, for the card")] = None,
    card_only: Annotated[
        bool, typer.Option(help="Only rewrite the existing bundle's MODEL_CARD.md (e.g. with --speed)")
    ] = False,
    seed: int = 0,
) -> None:
    """Build the shipped bundle: every clip of the corpus, the benchmark's profiles and out-of-fold stacker."""
    import json

    from synthscope.train.bundle_card import write_bundle_card
    from synthscope.train.ship import ShipConfig
    from synthscope.train.ship import ship as ship_bundle

    try:
        if card_only:
            card = write_bundle_card(
                out_dir, json.loads(bench.read_text()), json.loads(speed.read_text()) if speed else None
            )
            out.print(f"model card written to {card}")
            return
        path = ship_bundle(ShipConfig(manifest, bench, out_dir, cache=cache, seed=seed, speed=speed), log=err.print)
    except (ValueError, OSError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    out.print(f"bundle written to {path}")


def _mount_subcommands() -> None:
    from synthscope.keys_cli import keys_app
    from synthscope.train.benchmark_cli import benchmark_command
    from synthscope.train.corpus_cli import corpus_app
    from synthscope.train.evaluate_cli import evaluate_command

    app.add_typer(corpus_app, name="corpus", help="Build the training corpus from package sources.")
    app.add_typer(keys_app, name="keys", help="Enterprise API keys: create, revoke, list.")
    app.command("evaluate")(evaluate_command)
    app.command("benchmark")(benchmark_command)
    # Commands of the installed services (`synthscope serve` from synthscope-api): the core never imports them.
    from importlib.metadata import entry_points

    for ep in entry_points(group="synthscope.commands"):
        ep.load()(app)


_mount_subcommands()

if __name__ == "__main__":
    app()
