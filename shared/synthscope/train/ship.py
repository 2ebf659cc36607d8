"""The shipped bundle, built from the corpus and the leave-one-source-out benchmark's decisions.

* **Detectors**: those the benchmark put in a profile (`default`, `fast`); each head refitted on
  every clip of the corpus — all splits, every allowed engine and voice — from the benchmark's
  feature cache, so corpus-scale training takes minutes on a CPU. Holding sources out was for
  measuring; what ships learns from all of them.
* **Stacker**: the benchmark's out-of-fold stacker (`loso.json` → `stacker`), fitted on what each
  fold's heads said about the group that fold held out, so its probabilities are calibrated for
  sources the detectors never saw.
* **Profiles and figures**: as the benchmark chose and measured them; the model card is written
  from the same `loso.json`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from synthscope.detect.bundle import save_bundle
from synthscope.detect.ensemble import Ensemble
from synthscope.detect.profiles import Profile
from synthscope.detect.verdict import Thresholds
from synthscope.train.benchmark.cache import FeatureCache
from synthscope.train.benchmark.extract import AUGMENTED, STORED, ExtractionStats, plan, run_extraction
from synthscope.train.benchmark.folds import FoldRunner
from synthscope.train.benchmark.heads import BUDGET, Budget, EncoderHeadTorch, Head
from synthscope.train.benchmark.protocol import read_rows
from synthscope.train.benchmark.registry import select
from synthscope.train.benchmark.results import ENSEMBLE, ENSEMBLE_FAST, FoldResult
from synthscope.train.benchmark.run import hash_clips
from synthscope.train.bundle_card import write_bundle_card
from synthscope.train.fit import read_manifest, summarise

Log = Callable[[str], None]

#: Shipping trains once on everything, so it can afford a larger CNN budget than a benchmark fold.
SHIP_BUDGET = replace(BUDGET, cnn_max_windows=6000, cnn_epochs=3)
PROFILE_REPORT_NAMES = {Profile.default: ENSEMBLE, Profile.fast: ENSEMBLE_FAST}


@dataclass(frozen=True)
class ShipConfig:
    manifest: Path
    bench: Path  # loso.json of a full benchmark run on this manifest
    out: Path
    cache: Path = Path("data/features")
    name: str = "synthscope-default"
    version: str | None = None
    seed: int = 0
    budget: Budget = field(default_factory=lambda: SHIP_BUDGET)
    speed: Path | None = None  # `bench/engine.py --json` output for the card's speed table
    workers: int = 2


def bench_profiles(bench: dict[str, Any]) -> dict[str, list[str]]:
    """Profile -> detectors, as the benchmark chose them (`fast` = `default` when it reported one ensemble)."""
    by_name = bench.get("profiles") or {}
    if ENSEMBLE not in by_name:
        raise ValueError("the benchmark chose no ensemble (too few held-out groups?): run the full benchmark")
    default = sorted(by_name[ENSEMBLE])
    return {Profile.default: default, Profile.fast: sorted(by_name.get(ENSEMBLE_FAST, default))}


def restrict(stacker: Ensemble, detectors: list[str]) -> Ensemble:
    """The stackers whose detectors are all in `detectors` (every subset of them)."""
    keep = set(detectors)
    return Ensemble(sorted(keep), {k: v for k, v in stacker.stackers.items() if set(k.split("+")) <= keep})


def profile_metrics(bench: dict[str, Any]) -> dict[str, Any]:
    """Mean / worst figures per profile and condition: what travels in the bundle manifest."""
    out: dict[str, Any] = {"source": "leave-one-source-out benchmark", "conditions": {}}
    for profile, name in PROFILE_REPORT_NAMES.items():
        name = name if name in bench["summary"][bench["codecs"][0]] else ENSEMBLE
        for cond in bench["codecs"]:
            s = bench["summary"][cond][name]
            out["conditions"].setdefault(cond, {})[profile] = {
                scope: {"mean": s[scope]["mean"], "worst": s[scope]["worst"]} for scope in ("all", "ai", "human")
            }
    return out


def _detector(head: Any) -> Any:
    """The shippable detector behind a fitted benchmark head."""
    if isinstance(head, EncoderHeadTorch):
        from synthscope.detect.speech_encoder import SpeechEncoderDetector

        return SpeechEncoderDetector(head.model, head.params.config(), device="cpu")
    return head.model


def ship(cfg: ShipConfig, log: Log = print) -> Path:
    """Fit the profiles' detectors on the whole corpus and write the bundle; returns its path."""
    bench = json.loads(cfg.bench.read_text())
    if Path(bench["manifest"]).resolve() != cfg.manifest.resolve():
        log(f"note: the benchmark ran on {bench['manifest']}, shipping from {cfg.manifest}")
    profiles = bench_profiles(bench)
    members = sorted({d for m in profiles.values() for d in m})
    if not bench.get("stacker"):
        raise ValueError(f"{cfg.bench} has no out-of-fold stacker")
    stacker = restrict(Ensemble.from_json(bench["stacker"]), members)
    fitted, res = _fit_on_everything(cfg, members, float(bench["window_s"]), log)
    log(f"fitted on {res.fit_windows} windows of {res.fit_clips} clips: {res.fit_seconds}")
    path = save_bundle(
        cfg.out,
        name=cfg.name,
        version=cfg.version or datetime.now(UTC).strftime("%Y.%m.%d-%H%M"),
        detectors=[_detector(fitted[n]) for n in members],
        ensemble=stacker,
        thresholds=Thresholds(),
        window_s=float(bench["window_s"]),
        training_data={
            **summarise(read_manifest(cfg.manifest)),
            "manifest": cfg.manifest.name,
            "seed": cfg.seed,
            "train_windows": res.fit_windows,
            "train_clips": res.fit_clips,
            "splits_used": "all (train, calib, test): holding out was for measuring; this bundle learns from all",
            "stacker": "out-of-fold predictions of the leave-one-source-out benchmark",
        },
        metrics=profile_metrics(bench),
        profiles=profiles,
    )
    speed = json.loads(cfg.speed.read_text()) if cfg.speed else None
    log(f"model card: {write_bundle_card(path, bench, speed)}")
    return path


def _fit_on_everything(
    cfg: ShipConfig, members: list[str], window_s: float, log: Log
) -> tuple[dict[str, Head], FoldResult]:
    """Hash every clip, extract what the benchmark's cache lacks, and fit each member's head on it all."""
    rows = read_rows(cfg.manifest)
    log(f"hashing {len(rows)} clips")
    conditions = {STORED, *([AUGMENTED] if cfg.budget.augment else [])}
    stats = ExtractionStats()
    shas, needs = hash_clips(rows, {r.index: conditions for r in rows}, stats)
    for unreadable, why in stats.failed:
        log(f"skipped, unreadable: {unreadable} ({why})")
    specs = select(members)
    cache = FeatureCache(cfg.cache, window_s)
    try:
        extractors = {n: s.extractor() for n, s in specs.items()}
        runner = FoldRunner(
            rows,
            shas,
            cache,
            extractors,
            {n: s.head(cfg.budget) for n, s in specs.items()},
            cfg.budget,
            codecs=[],
            seed=cfg.seed,
            max_eval_clips=0,
        )
        jobs = plan(cache, extractors, needs, stats)
        if jobs:  # e.g. augmented copies of test-split clips, which no benchmark fold trains on
            log(f"extracting {len(jobs)} clips the benchmark did not cache ({cfg.workers} worker(s))")
            factories = {n: s.extractor for n, s in specs.items()}
            run_extraction(cache, extractors, factories, jobs, window_s=window_s, workers=cfg.workers, stats=stats)
        res = FoldResult("all", "in-distribution")
        log(f"fitting {', '.join(members)} on every clip")
        fitted = runner.fit_heads(sorted(shas), res)
    finally:
        cache.close()
    return fitted, res
