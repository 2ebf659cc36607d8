"""File fuzzing at scale (issue 12, "keep them closed" item 2): `make fuzz`.

    .venv/bin/python bench/fuzz.py [--files 10000] [--seed 12] [--start 0] [--bundle DIR] [--device cpu]
                                   [--save-failures DIR] [--torch-threads 1]

Generates malformed audio with tests/fuzz/generate.py (truncations, random bytes behind audio magic numbers, WAV
header lies, bit flips, NaN/Inf float WAVs, m4a duration lies, FLAC bombs, empty and one-sample files, hostile
names) and sends every file down both paths: the engine directly, capped at the free tier's duration, and
POST /analyze of the real API app in-process, as an anonymous (free-tier) caller. Both run on the shipped model
bundle unless --bundle says otherwise, loaded once and shared. It prints outcome counts per class and path, the
slowest file per path, the file that raised the peak RSS most, the resident set over the run, and exits 1 when
any file broke the contract (a 5xx, an exception that is not a typed SynthscopeError, a malformed problem, or
a class's fixed outcome not met; tests/fuzz/__init__.py).
A case is rebuilt from (seed, index): `FuzzCorpus(seed).case(index)`; the index is in the case's name.
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import SecretStr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.fuzz (generator and harness) and tests.fixtures

from tests.fixtures.service import TEST_SECRET  # noqa: E402
from tests.fuzz import Outcome, run_api, run_engine  # noqa: E402
from tests.fuzz.generate import KINDS, Case, FuzzCorpus, disk_name  # noqa: E402

PATHS = ("engine", "api")
#: Anonymous tokens last 15 minutes; a fresh one every this many files keeps a long run authenticated.
TOKEN_EVERY = 200


def app_settings(data_dir: Path, bundle: Path | None, device: str) -> Any:
    """The API as `make run` serves it, minus the queue and quotas: synchronous /analyze on the given bundle."""
    from synthscope.config import Settings

    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=data_dir,
        bundle_path=bundle,
        device=device,
        hmac_secret=SecretStr(TEST_SECRET),
        queue_dispatch=False,
        api_sync_analyze=True,
        anon_token_rate="100000/minute",
        quotas_enforced=False,
    )


class Tally:
    """Outcome counts, the slowest file and every broken contract, per path."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str, str]] = Counter()  # (path, kind, label)
        self.slowest: dict[str, tuple[float, str, str]] = {p: (0.0, "", "") for p in PATHS}
        self.failures: list[tuple[str, Case, int, Outcome]] = []
        #: The file that raised the process's peak RSS the most, per path: (MB it added, name, label).
        self.rss_rise: dict[str, tuple[float, str, str]] = {p: (0.0, "", "") for p in PATHS}
        self.rss_after_mb: list[float] = []  # resident set after each file (a leak would climb)

    def add(self, path: str, case: Case, index: int, outcome: Outcome, peak_before_mb: float) -> None:
        rise = _peak_rss_mb() - peak_before_mb
        if rise > self.rss_rise[path][0]:
            self.rss_rise[path] = (rise, case.name, outcome.label)
        self.counts[(path, case.kind, outcome.label)] += 1
        if outcome.seconds > self.slowest[path][0]:
            self.slowest[path] = (outcome.seconds, case.name, outcome.label)
        if outcome.violation:
            self.failures.append((path, case, index, outcome))

    def labels(self, path: str, kind: str | None = None) -> Counter[str]:
        out: Counter[str] = Counter()
        for (p, k, label), n in self.counts.items():
            if p == path and kind in (None, k):
                out[label] += n
        return out

    def count(self, path: str, prefix: str) -> int:
        return sum(n for lb, n in self.labels(path).items() if lb.startswith(prefix))


def run(args: argparse.Namespace) -> Tally:
    from fastapi.testclient import TestClient
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from synthscope_api.app import create_app

    tally = Tally()
    with tempfile.TemporaryDirectory(prefix="synthscope-fuzz-") as tmp:
        work = Path(tmp) / "files"
        work.mkdir()
        settings = app_settings(Path(tmp) / "data", args.bundle, args.device)
        print("loading the model bundle and the API app ...", flush=True)
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            engine = client.app.state.api.engine.engine  # type: ignore[attr-defined]  # the app's own, loaded once
            print(f"bundle {engine.bundle.name} {engine.bundle.version}; encoding the seed files ...", flush=True)
            corpus = FuzzCorpus(args.seed)
            cols = (
                TextColumn("{task.description:<16}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("5xx/unexpected {task.fields[bad]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
            )
            with Progress(*cols) as progress:
                task = progress.add_task("fuzzing", total=args.files, bad=0)
                auth: dict[str, str] = {}
                for n, index in enumerate(range(args.start, args.start + args.files)):
                    if n % TOKEN_EVERY == 0:
                        auth = _token(client)
                    case = corpus.case(index)
                    progress.update(task, description=case.kind)
                    peak = _peak_rss_mb()
                    tally.add("engine", case, index, run_engine(engine, case, work / disk_name(case, index)), peak)
                    peak = _peak_rss_mb()
                    tally.add("api", case, index, run_api(client, auth, case), peak)
                    tally.rss_after_mb.append(_rss_mb())
                    bad = sum(tally.count(p, "5xx") + tally.count(p, "unexpected") for p in PATHS)
                    progress.update(task, advance=1, bad=bad)
    return tally


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mb() -> float:
    """The resident set now (Linux), to tell a leak (climbing) from one file's spike."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize() / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


def _token(client: Any) -> dict[str, str]:
    r = client.post("/auth/token")
    if r.status_code != 200:
        raise SystemExit(f"cannot get an anonymous token: {r.status_code} {r.text}")
    return {"Authorization": "Bearer " + r.json()["access_token"]}


def report(tally: Tally, args: argparse.Namespace, wall_s: float) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(width=max(Console().width, 180))
    table = Table(title=f"Outcomes per class — {args.files} files, seed {args.seed}, start {args.start}")
    table.add_column("class")
    for p in PATHS:
        table.add_column(p)
    for kind in KINDS:
        cells = [escape(", ".join(f"{lb} {n}" for lb, n in tally.labels(p, kind).most_common())) for p in PATHS]
        if any(cells):
            table.add_row(kind, *cells)
    console.print(table)
    for p in PATHS:
        labels = tally.labels(p)
        verdicts = {lb.removeprefix("result:"): n for lb, n in labels.items() if lb.startswith("result:")}
        problems = {lb.removeprefix("problem:"): n for lb, n in labels.items() if lb.startswith("problem:")}
        console.print(f"[bold]{p}[/]: results {sum(verdicts.values())} {dict(sorted(verdicts.items()))}")
        console.print(f"  problems {sum(problems.values())} {dict(sorted(problems.items()))}")
        seconds, name, label = tally.slowest[p]
        n5xx, unexpected = tally.count(p, "5xx"), tally.count(p, "unexpected")
        other = sum(1 for f in tally.failures if f[0] == p) - n5xx - unexpected
        console.print(f"  5xx {n5xx}, unexpected exceptions {unexpected}, other broken contracts {other}")
        console.print(f"  slowest file {seconds:.2f} s: {name[:100]!r} ({label})", markup=False)
        rise, name, label = tally.rss_rise[p]
        console.print(f"  largest peak-RSS rise from one file {rise:.0f} MB: {name[:100]!r} ({label})", markup=False)
    after = tally.rss_after_mb or [0.0]
    tenth = max(1, len(after) // 10)
    console.print(
        f"peak RSS {_peak_rss_mb():.0f} MB; resident after the first / last tenth of the files "
        f"{max(after[:tenth]):.0f} / {max(after[-tenth:]):.0f} MB; wall time {wall_s:.0f} s"
    )
    for p, case, index, outcome in tally.failures[:20]:
        console.print(
            f"[red]BROKEN[/] {p} " + escape(f"[{case.kind}] index {index} {case.name[:100]!r}: {outcome.label}")
        )
        console.print(f"  {outcome.violation}", markup=False)
    if args.save_failures and tally.failures:
        args.save_failures.mkdir(parents=True, exist_ok=True)
        for _, case, index, _ in tally.failures:
            (args.save_failures / disk_name(case, index)).write_bytes(case.data)
        console.print(f"the failing files are in {args.save_failures}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=10_000, help="how many generated files (each down both paths)")
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--start", type=int, default=0, help="first case index (rerun a window of a long run)")
    ap.add_argument("--bundle", type=Path, default=None, help="model bundle dir (default: the shipped one)")
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    ap.add_argument("--save-failures", type=Path, default=None, help="write each failing file here")
    ap.add_argument("--torch-threads", type=int, default=1, help="intra-op threads (0: torch's default)")
    args = ap.parse_args()
    if args.torch_threads > 0:  # files are one window each: more threads only spin-wait on a busy machine
        import torch

        torch.set_num_threads(args.torch_threads)
    # Detectors that give up on a broken file log a warning each; only errors belong above the progress bar.
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    t0 = time.perf_counter()
    tally = run(args)
    report(tally, args, time.perf_counter() - t0)
    return 1 if tally.failures else 0


if __name__ == "__main__":
    sys.exit(main())
