"""`run_benchmark`: folds -> feature extraction (cached) -> one refit per fold -> reports.

The protocol is in `protocol.py`; the cache in `cache.py`; what a fold does in `folds.py`.
Extraction runs once over every clip any fold needs (clips as stored for fit/calib, every
codec condition for eval clips); after that each fold only reads features and fits heads.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from synthscope.audio.decode import file_sha256
from synthscope.detect.ensemble import Ensemble
from synthscope.detect.profiles import Profile
from synthscope.train.augment import EVAL_CODECS
from synthscope.train.benchmark.cache import FeatureCache
from synthscope.train.benchmark.extract import AUGMENTED, STORED, ExtractionStats, condition_audio, plan, run_extraction
from synthscope.train.benchmark.extractors import Extractor
from synthscope.train.benchmark.folds import DETECTOR_THRESHOLD, FoldRunner
from synthscope.train.benchmark.heads import BUDGET, Budget
from synthscope.train.benchmark.protocol import Fold, Row, in_distribution_fold, loso_folds, read_rows
from synthscope.train.benchmark.registry import DetectorSpec, select
from synthscope.train.benchmark.results import ENSEMBLE, ENSEMBLE_FAST, BenchResult, FoldResult, summarise
from synthscope.train.benchmark.stacking import (
    WindowPreds,
    apply_profiles,
    choose_profiles,
    clip_means,
    fit_oof,
    nested_scores,
    subset_summary,
)
from synthscope.train.evaluation.scoring import check_codecs
from synthscope.train.metrics import summarize


@dataclass(frozen=True)
class BenchConfig:
    manifest: Path
    out: Path = Path("out/bench")
    cache: Path = Path("data/features")
    codecs: tuple[str, ...] = EVAL_CODECS
    groups: tuple[str, ...] = ()  # empty: every group present
    detectors: tuple[str, ...] = ()  # empty: every registered detector
    workers: int = 1
    seed: int = 0
    window_s: float = 3.0
    max_eval_clips: int = 600  # per class per fold; 0 = all (the CNN's scoring time grows with it)
    in_distribution: bool = True
    extract_only: bool = False  # fill the cache and stop (a long extraction can run ahead of head experiments)
    budget: Budget = field(default_factory=lambda: BUDGET)


class _Ticker:
    """A Rich bar task, or nothing when progress is off: callers tick it the same way."""

    def __init__(self, bar: Progress | None = None, task: TaskID | None = None) -> None:
        self.bar, self.task = bar, task

    def advance(self, n: int = 1) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.advance(self.task, n)

    def describe(self, text: str) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.update(self.task, description=text)


@contextmanager
def _bar(console: Console, show: bool, label: str, total: int) -> Iterator[_Ticker]:
    if not show:
        yield _Ticker()
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        yield _Ticker(bar, bar.add_task(label, total=total))


def _needs(folds: list[Fold], codecs: tuple[str, ...], augment: bool = False) -> dict[int, set[str]]:
    """Row index -> conditions any fold reads it under."""
    needs: dict[int, set[str]] = defaultdict(set)
    for f in folds:
        for i in (*f.fit, *f.calib):
            needs[i].update([STORED, *([AUGMENTED] if augment else [])])
        for i in f.eval:
            needs[i].update(codecs)
    return needs


def hash_clips(
    rows: list[Row], needs: dict[int, set[str]], stats: ExtractionStats
) -> tuple[dict[int, str], dict[str, tuple[Path, set[str]]]]:
    """Row -> clip sha256, and sha -> (a path, every condition any row with that audio needs).

    Rows with byte-identical audio share one cache entry; an unreadable file is recorded, not fatal.
    """
    shas: dict[int, str] = {}
    for i in sorted(needs):
        try:
            shas[i] = file_sha256(rows[i].path)
        except OSError as exc:
            stats.failed.append((str(rows[i].path), f"{type(exc).__name__}: {exc}"))
    by_sha: dict[str, tuple[Path, set[str]]] = {}
    for i, sha in shas.items():
        by_sha.setdefault(sha, (rows[i].path, set()))[1].update(needs[i])
    return shas, by_sha


def run_benchmark(
    cfg: BenchConfig,
    *,
    registry: dict[str, DetectorSpec] | None = None,
    console: Console | None = None,
    progress: bool = True,
) -> BenchResult:
    """Run the whole leave-one-source-out benchmark and return (not write) its result.

    Steps: check the conditions, plan the folds, hash the clips, extract features (cached), refit
    and score every fold, then stack the ensembles and assemble the result.
    """
    console = console or Console(stderr=True)
    started = time.perf_counter()
    codecs = _conditions(cfg.codecs)
    specs = select(list(cfg.detectors), registry)
    rows = read_rows(cfg.manifest)
    folds, indist = _plan_folds(cfg, rows)
    needs = _needs([*folds, *([indist] if indist else [])], codecs, cfg.budget.augment)

    stats = ExtractionStats()
    hash_started = time.perf_counter()
    shas, by_sha = hash_clips(rows, needs, stats)
    timing = {"hash_s": time.perf_counter() - hash_started}

    cache = FeatureCache(cfg.cache, cfg.window_s)
    extractors = {name: spec.extractor() for name, spec in specs.items()}
    heads = {name: spec.head(cfg.budget) for name, spec in specs.items()}
    try:
        scope = f"{len(rows)} clips, {len(folds)} held-out groups, conditions {', '.join(codecs)}"
        _extract(cfg, specs, cache, extractors, by_sha, stats, console, progress, scope)
        if cfg.extract_only:
            folds, indist = [], None
        runner = FoldRunner(
            rows,
            shas,
            cache,
            extractors,
            heads,
            cfg.budget,
            codecs=codecs,
            seed=cfg.seed,
            max_eval_clips=cfg.max_eval_clips,
        )
        folds_started = time.perf_counter()
        with _bar(console, progress, "folds", len(folds) + int(indist is not None)) as ticker:
            results, indist_result = _run_folds(runner, folds, indist, ticker)
        timing["folds_s"] = time.perf_counter() - folds_started
    finally:
        cache.close()
    ensembles = _stack(runner, results, indist_result, list(specs), codecs, {f.group: set(f.eval) for f in folds})
    return _result(cfg, codecs, list(specs), results, indist_result, ensembles, stats, extractors, started, timing)


def _conditions(requested: tuple[str, ...]) -> tuple[str, ...]:
    """The codec conditions, deduplicated; an unknown one fails now, not after an hour of extraction."""
    if not any(c.strip() for c in requested):
        raise ValueError("name at least one codec condition")
    return check_codecs(requested, apply=condition_audio)


def _plan_folds(cfg: BenchConfig, rows: list[Row]) -> tuple[list[Fold], Fold | None]:
    """The leave-one-group-out folds, and the in-distribution fold when asked for."""
    folds = loso_folds(rows, cfg.groups or None)
    if not folds:
        raise ValueError(f"{cfg.manifest} has no groups to hold out")
    return folds, in_distribution_fold(rows) if cfg.in_distribution else None


def _extract(
    cfg: BenchConfig,
    specs: dict[str, DetectorSpec],
    cache: FeatureCache,
    extractors: dict[str, Extractor],
    by_sha: dict[str, tuple[Path, set[str]]],
    stats: ExtractionStats,
    console: Console,
    progress: bool,
    scope: str,
) -> None:
    """Extract (into the cache) every (clip, condition, extractor) it does not hold yet."""
    jobs = plan(cache, extractors, by_sha, stats)
    console.print(
        f"{scope}; features cached for {stats.entries_cached}/{stats.entries_needed} (clip, condition, extractor), "
        f"{len(jobs)} clips to extract with {cfg.workers} worker(s)"
    )
    with _bar(console, progress and bool(jobs), "extract features", len(jobs)) as ticker:
        run_extraction(
            cache,
            extractors,
            {n: s.extractor for n, s in specs.items()},
            jobs,
            window_s=cfg.window_s,
            workers=cfg.workers,
            stats=stats,
            tick=ticker.advance,
        )


def _run_folds(
    runner: FoldRunner, folds: list[Fold], indist: Fold | None, ticker: _Ticker
) -> tuple[list[FoldResult], FoldResult | None]:
    """Refit and score every held-out fold, then the in-distribution one, ticking the bar."""
    results = []
    for fold in folds:
        ticker.describe(f"fold {fold.group}")
        results.append(runner.run(fold))
        ticker.advance()
    ticker.describe("in-distribution")
    indist_result = runner.run(indist) if indist else None
    ticker.advance()
    return results, indist_result


@dataclass(frozen=True)
class _Ensembles:
    """The stacked ensembles: their threshold, chosen profiles, subset table and shipped stacker."""

    threshold: float
    profiles: dict[str, list[str]]
    subsets: dict[str, dict[str, dict[str, float]]]
    stacker: Ensemble | None


def _stack(
    runner: FoldRunner,
    results: list[FoldResult],
    indist_result: FoldResult | None,
    detectors: list[str],
    codecs: tuple[str, ...],
    eval_rows: dict[str, set[int]],
) -> _Ensembles:
    """Score every detector subset out of fold, choose the profiles, write their metrics into the
    fold results, and fit the stacker that ships (on all folds' out-of-fold predictions)."""
    threshold = runner.ensemble_threshold
    table = nested_scores(runner.oof, results, detectors, threshold, eval_rows)
    subset_table = {c: subset_summary(table, c) for c in codecs}
    chosen = choose_profiles(subset_table, detectors)
    report_names: dict[str, str] = {Profile.default: ENSEMBLE, Profile.fast: ENSEMBLE_FAST}
    if chosen.get(Profile.fast) == chosen.get(Profile.default):  # nothing needs the encoder: one ensemble
        report_names.pop(Profile.fast)
    profiles = {report_names[p]: members for p, members in chosen.items() if p in report_names}
    apply_profiles(results, table, {p: m for p, m in chosen.items() if p in report_names}, report_names)
    stacker = fit_oof(runner.oof, detectors)
    if indist_result is not None and stacker is not None and indist_result.group in runner.oof:
        _score_in_distribution(indist_result, runner.oof[indist_result.group], stacker, profiles, threshold)
    return _Ensembles(threshold, profiles, subset_table, stacker)


def _result(
    cfg: BenchConfig,
    codecs: tuple[str, ...],
    detectors: list[str],
    results: list[FoldResult],
    indist_result: FoldResult | None,
    ens: _Ensembles,
    stats: ExtractionStats,
    extractors: dict[str, Extractor],
    started: float,
    timing: dict[str, float],
) -> BenchResult:
    """Everything `loso.json` holds, from the run's parts."""
    names = [*detectors, *ens.profiles]
    return BenchResult(
        manifest=str(cfg.manifest),
        codecs=list(codecs),
        detectors=names,
        thresholds={**dict.fromkeys(detectors, DETECTOR_THRESHOLD), **dict.fromkeys(ens.profiles, ens.threshold)},
        seed=cfg.seed,
        window_s=cfg.window_s,
        budget={**asdict(cfg.budget), "max_eval_clips_per_class": cfg.max_eval_clips},
        folds=results,
        in_distribution=indist_result,
        summary=summarise(results, list(codecs), names),
        profiles=ens.profiles,
        subsets=ens.subsets,
        stacker=ens.stacker.to_json() if ens.stacker is not None else None,
        timing={
            "total_s": round(time.perf_counter() - started, 2),
            "hash_s": round(timing["hash_s"], 2),
            "extraction_s": round(stats.seconds, 2),
            "folds_s": round(timing["folds_s"], 2),
        },
        extraction={
            **asdict(stats),
            "cache": str(cfg.cache),
            "workers": cfg.workers,
            "versions": {n: f"{e.name}@{e.version}" for n, e in extractors.items()},
        },
    )


def _score_in_distribution(
    res: FoldResult,
    preds: dict[str, WindowPreds],
    stacker: Ensemble,
    profiles: dict[str, list[str]],
    threshold: float,
) -> None:
    """The in-distribution row's ensembles use the shipped (all-fold out-of-fold) stacker."""
    for cond, block in preds.items():
        for name, members in profiles.items():
            y, p = clip_means(block, stacker.combine({d: block.scores[d] for d in members}))
            res.metrics.setdefault(cond, {})[name] = summarize(y, p, threshold)
