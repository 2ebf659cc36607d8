"""corpus → leave-one-source-out benchmark → ship → analyze, with the speech encoder in it.

No accuracy is asserted (the corpus is a few synthetic clips); what is asserted is the contract:
the benchmark chooses the profiles and fits the out-of-fold stacker, `ship` refits the chosen
detectors on every clip from the cache, pins the encoder, writes the card from the benchmark's
figures, and the bundle it writes loads and analyses under both profiles.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from synthscope.config import Settings
from synthscope.detect.bundle import load_bundle
from synthscope.train.benchmark.heads import Budget
from synthscope.train.benchmark.registry import select
from synthscope.train.benchmark.report import write_all
from synthscope.train.benchmark.run import BenchConfig, run_benchmark
from synthscope.train.ship import ShipConfig, ship
from tests.fixtures.audio import voice_like, write_audio
from tests.fixtures.loso_corpus import build_corpus

pytestmark = pytest.mark.slow

BUDGET = Budget(cnn_max_windows=48, cnn_epochs=1, acoustic_epochs=5, device="cpu")


def test_benchmark_then_ship_then_analyze(tmp_path: Path) -> None:
    manifest = build_corpus(tmp_path / "corpus", per_group=5)
    cfg = BenchConfig(
        manifest=manifest,
        out=tmp_path / "bench",
        cache=tmp_path / "features",
        codecs=("wav",),
        detectors=("fakeprint", "acoustic", "speech_encoder"),
        budget=BUDGET,
    )
    result = run_benchmark(cfg, registry=select(list(cfg.detectors)), progress=False)
    write_all(result, cfg.out)
    bench = json.loads((cfg.out / "loso.json").read_text())
    assert bench["stacker"] is not None and bench["subsets"]["wav"]
    assert "ensemble" in bench["profiles"]
    for fold in result.folds:  # every fold's ensemble comes from the other folds' out-of-fold windows
        assert fold.metrics["wav"]["ensemble"]["auc"] is not None, fold

    out = tmp_path / "bundle"
    ship(ShipConfig(manifest, cfg.out / "loso.json", out, cache=cfg.cache, budget=BUDGET), log=lambda _: None)
    bundle = load_bundle(out, device="cpu")
    profiles = bundle.profiles
    assert set(profiles) == {"default", "fast"}
    assert "speech_encoder" not in profiles["fast"]
    assert profiles["default"] == sorted(bench["profiles"]["ensemble"])
    rows = sum(1 for _ in manifest.open()) - 1
    assert bundle.manifest["training_data"]["train_clips"] == rows  # every clip, every split
    card = (out / "MODEL_CARD.md").read_text()
    assert "## Targets" in card and "worst held-out neural family" in card and "in-distribution" in card

    from synthscope.engine import Engine

    engine = Engine.load(Settings(device="cpu"), out)
    clip = write_audio(tmp_path / "a.wav", voice_like(6.0, np.random.default_rng(1)))
    for profile in ("default", "fast"):
        r = engine.analyze(clip, profile=profile)
        assert r.model.profile == profile and r.ai_probability is not None
        assert {d.name for d in r.detectors} == set(profiles[profile])


def test_ship_refuses_a_benchmark_without_an_ensemble(tmp_path: Path) -> None:
    bench = tmp_path / "loso.json"
    bench.write_text(json.dumps({"manifest": "m.csv", "profiles": {}, "window_s": 3.0, "stacker": None}))
    with pytest.raises(ValueError, match="no ensemble"):
        ship(ShipConfig(tmp_path / "m.csv", bench, tmp_path / "out"), log=lambda _: None)
