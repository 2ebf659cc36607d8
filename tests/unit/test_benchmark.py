"""Leave-one-source-out benchmark: fold hygiene, the feature cache, and a tiny end-to-end run."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from synthscope.train.benchmark.cache import Entry, FeatureCache
from synthscope.train.benchmark.heads import Budget, balanced_subset
from synthscope.train.benchmark.protocol import (
    Fold,
    LeakError,
    check_no_leak,
    groups,
    in_distribution_fold,
    loso_folds,
    pair_keys,
    read_rows,
)
from synthscope.train.benchmark.registry import REGISTRY, DetectorSpec
from tests.fixtures.audio import voice_like, write_audio
from tests.fixtures.loso_corpus import SPLITS, _record, _write_manifest, build_corpus


def _rows_for_folds(tmp_path: Path) -> Path:
    """A manifest (no audio needed) with twins whose originals sit in every split."""
    recs = [
        _record(f"{fam}{i}.flac", label, fam, SPLITS[i % 5], f"{fam}{i}", f"{fam}{i}")
        for label, fams in (("human", ("hA", "hB")), ("ai", ("a1", "a2")))
        for fam in fams
        for i in range(6)
    ]
    for i, orig in enumerate(["hA0", "hA3", "hB1", "hB4"]):  # twins in train, calib and test
        for voc in ("v1", "v2"):
            recs.append(_record(f"{voc}-{orig}.flac", "ai", voc, SPLITS[(i + 2) % 5], f"{voc}-{orig}", orig))
    return _write_manifest(tmp_path / "manifest.csv", recs)


def test_every_group_gets_a_leak_free_fold_with_both_classes(tmp_path: Path) -> None:
    rows = read_rows(_rows_for_folds(tmp_path))
    ai, human = groups(rows)
    assert ai == ["a1", "a2", "v1", "v2"] and human == ["hA", "hB"]
    folds = loso_folds(rows)
    assert [f.group for f in folds] == ai + human
    for fold in folds:
        keys = pair_keys(rows, fold.group)
        for i in (*fold.fit, *fold.calib):
            r = rows[i]
            assert r.family != fold.group and r.item not in keys and r.pair_id not in keys, (fold.group, r)
        assert {rows[i].label for i in fold.eval} == {0, 1}
        assert {r.index for r in rows if r.family == fold.group} <= set(fold.eval)  # every split of G
        assert {rows[i].split for i in fold.eval if rows[i].family != fold.group} <= {"test", "train", "calib"}
        assert {rows[i].label for i in fold.fit} == {0, 1}


def test_pairs_follow_their_group(tmp_path: Path) -> None:
    rows = read_rows(_rows_for_folds(tmp_path))
    by_group = {f.group: f for f in loso_folds(rows)}
    name = {r.index: r.item for r in rows}
    # Holding out human group hA removes its twins (v1/v2 of hA items) from fit and calib ...
    ha = by_group["hA"]
    assert not any(name[i].endswith(("-hA0", "-hA3")) for i in (*ha.fit, *ha.calib))
    # ... and judges them, from any split, as content-matched AI.
    assert {"v1-hA0", "v2-hA3", "v1-hA3"} <= {name[i] for i in ha.eval}
    # Holding out vocoder v1 removes the human originals of its twins (and their v2 siblings).
    v1 = by_group["v1"]
    assert not {"hA0", "hA3", "hB1", "hB4", "v2-hA0"} & {name[i] for i in (*v1.fit, *v1.calib)}
    # The opposite class of an AI fold comes from the test split only.
    assert all(rows[i].split == "test" for i in v1.eval if rows[i].label == 0)
    # In-distribution uses the splits as built.
    ind = in_distribution_fold(rows)
    assert {rows[i].split for i in ind.eval} == {"test"} and len(ind.fit) == sum(r.split == "train" for r in rows)


def test_leak_check_rejects_a_held_out_row_or_its_pair(tmp_path: Path) -> None:
    rows = read_rows(_rows_for_folds(tmp_path))
    fold = next(f for f in loso_folds(rows) if f.group == "hA")
    twin = next(r.index for r in rows if r.item == "v1-hA0")
    with pytest.raises(LeakError, match="v1-hA0"):
        check_no_leak(rows, Fold("hA", "human", (*fold.fit, twin), fold.calib, fold.eval))
    own = next(r.index for r in rows if r.item == "hA1")
    with pytest.raises(LeakError, match="calib"):
        check_no_leak(rows, Fold("hA", "human", fold.fit, (*fold.calib, own), fold.eval))
    # The fold runner re-checks before fitting anything ...
    from synthscope.train.benchmark.folds import FoldRunner
    from synthscope.train.benchmark.results import FoldResult

    shas = {r.index: f"sha-{r.item}" for r in rows}
    runner = FoldRunner(
        rows, shas, FeatureCache(tmp_path / "f"), {}, {}, Budget(), codecs=["wav"], seed=0, max_eval_clips=0
    )
    with pytest.raises(LeakError):
        runner.run(Fold("hA", "human", (*fold.fit, twin), fold.calib, fold.eval))
    # ... and drops training clips whose audio is byte-identical to a judged clip (a corpus duplicate).
    copy = next(i for i in fold.fit if rows[i].family == "a1")
    shas[copy] = shas[fold.eval[0]]
    res = FoldResult("hA", "human")
    kept = runner._without_copies(fold, res)
    assert set(kept.fit) == set(fold.fit) - {copy} and kept.calib == fold.calib
    assert res.notes == ["1 fit/calib clip(s) dropped: byte-identical to an eval clip"]


def test_family_is_derived_when_the_manifest_has_none(tmp_path: Path) -> None:
    cols = ["path", "label", "source", "engine", "split"]
    path = _write_manifest(
        tmp_path / "manifest.csv",
        [
            dict(path="a.flac", label="human", source="asterisk", engine="human", split="train"),
            dict(path="b.flac", label="ai", source="espeak-ng", engine="espeak", split="test"),
        ],
        cols,
    )
    rows = read_rows(path)
    assert [r.family for r in rows] == ["asterisk", "espeak"]
    assert [r.pair_id for r in rows] == ["a.flac", "b.flac"]  # no item column: the path stands in


def test_cache_round_trips_and_a_new_version_misses(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path / "features")
    feats = np.arange(24, dtype=np.float16).reshape(2, 3, 4)
    cache.put("spec", "1.0", [Entry("abc", "stored", feats), Entry("def", "mp3_64k", feats[:0])])
    got = cache.get("spec", "1.0", "wav", ["abc", "zzz"])  # wav is the stored audio: same rows
    assert list(got) == ["abc"] and got["abc"].dtype == np.float16 and np.array_equal(got["abc"], feats)
    assert cache.counts("spec", "1.0", "mp3_64k", ["abc", "def"]) == {"def": 0}
    assert cache.counts("spec", "1.1", "stored", ["abc"]) == {}
    assert sorted(p.name for p in (tmp_path / "features").glob("*.sqlite")) == ["spec@1.0.sqlite", "spec@1.1.sqlite"]


def test_balanced_subset_caps_and_balances() -> None:
    y = np.array([1] * 90 + [0] * 10)
    keep = balanced_subset(y, 40, seed=0)
    assert len(keep) == 40 and list(keep) == sorted(keep)
    assert Counter(y[keep].tolist()) == {0: 10, 1: 30}
    assert len(balanced_subset(y, 0, seed=0)) == 100


def test_worker_processes_extract_what_the_main_process_does(tmp_path: Path) -> None:
    from synthscope.train.benchmark.extract import ExtractionStats, plan, run_extraction
    from synthscope.train.benchmark.extractors import FakeprintExtractor

    rng = np.random.default_rng(1)
    needs = {}
    for i in range(3):
        path = write_audio(tmp_path / f"c{i}.flac", voice_like(2.5 + 2 * i, rng))
        needs[f"sha{i}"] = (path, {"stored", "tel_8k"})
    ex = {"fakeprint": FakeprintExtractor()}
    got = []
    for workers, name in ((1, "one"), (2, "two")):
        cache = FeatureCache(tmp_path / name)
        stats = ExtractionStats()
        jobs = plan(cache, ex, needs, stats)
        assert len(jobs) == 3 and stats.entries_needed == 6 and stats.entries_cached == 0
        # One clip per chunk, so two processes really share the work.
        run_extraction(
            cache,
            ex,
            {"fakeprint": FakeprintExtractor},
            jobs,
            window_s=3.0,
            workers=workers,
            stats=stats,
            chunk_clips=1,
        )
        assert stats.entries_written == 6 and not stats.failed
        got.append({c: cache.get(ex["fakeprint"].name, ex["fakeprint"].version, c, needs) for c in ("wav", "tel_8k")})
    assert [len(got[0]["wav"][f"sha{i}"]) for i in range(3)] == [
        1,
        2,
        2,
    ]  # 2.5, 4.5, 6.5 s (short tails dropped)
    for cond in ("wav", "tel_8k"):
        for sha in needs:
            np.testing.assert_allclose(got[0][cond][sha], got[1][cond][sha], atol=1e-5)


# --------------------------------------------------------------------------- end to end

CALLS: Counter[str] = Counter()


class _Counting:
    """A real extractor that counts the windows it is asked for (and can pretend to a new version)."""

    def __init__(self, inner: Any, bump: str = "") -> None:
        self.inner, self.name, self.dtype = inner, inner.name, inner.dtype
        self.version = inner.version + bump

    def extract(self, windows: np.ndarray) -> np.ndarray:
        CALLS[self.name] += len(windows)
        return self.inner.extract(windows)


def _registry(bump: dict[str, str] | None = None) -> dict[str, DetectorSpec]:
    def spec(name: str) -> DetectorSpec:
        real = REGISTRY[name]
        return DetectorSpec(lambda: _Counting(real.extractor(), (bump or {}).get(name, "")), real.head)

    # the three detectors of today: fast, and no 75 MB encoder in this test
    return {name: spec(name) for name in ("fakeprint", "acoustic", "spectro_cnn")}


def test_benchmark_end_to_end_with_cache(tmp_path: Path) -> None:
    from typer import Typer
    from typer.testing import CliRunner

    from synthscope.train.benchmark.report import write_all
    from synthscope.train.benchmark.run import BenchConfig, run_benchmark
    from synthscope.train.benchmark_cli import benchmark_command

    manifest = build_corpus(tmp_path / "corpus")
    cfg = BenchConfig(
        manifest=manifest,
        out=tmp_path / "bench",
        cache=tmp_path / "features",
        codecs=("wav", "mp3_64k"),
        budget=Budget(cnn_max_windows=48, cnn_epochs=1, acoustic_epochs=5, device="cpu", augment=False),
    )
    CALLS.clear()
    result = run_benchmark(cfg, registry=_registry(), progress=False)
    first = dict(CALLS)
    assert set(first) == {"fakeprint", "acoustic", "spectro_cnn"} and min(first.values()) > 0
    assert [f.group for f in result.folds] == ["buzz", "chirp", "vocoder", "music", "voice"]
    for fold in result.folds:
        assert fold.eval_ai > 0 and fold.eval_human > 0 and not fold.notes, fold
        for cond in ("wav", "mp3_64k"):
            assert set(fold.metrics[cond]) == {"fakeprint", "acoustic", "spectro_cnn", "ensemble"}
            auc = fold.metrics[cond]["ensemble"]["auc"]
            assert auc is not None and 0.0 <= auc <= 1.0
    assert result.in_distribution is not None and result.in_distribution.metrics["wav"]["ensemble"]["auc"] is not None
    worst = result.summary["wav"]["ensemble"]["all"]
    assert worst["worst"]["auc"] == min(f.metrics["wav"]["ensemble"]["auc"] for f in result.folds)
    assert worst["worst_auc"]["group"] in {f.group for f in result.folds}

    written = write_all(result, cfg.out)
    assert [p.name for p in written] == ["loso.md", "loso.json", "loso_auc.png"]
    data = json.loads((cfg.out / "loso.json").read_text())
    assert {f["group"] for f in data["folds"]} == {"buzz", "chirp", "vocoder", "music", "voice"}
    md = (cfg.out / "loso.md").read_text()
    assert "## Condition `mp3_64k`" in md and "in-distribution (not used to choose)" in md and "**worst" in md
    assert (cfg.out / "loso_auc.png").read_bytes()[:4] == b"\x89PNG"

    # Second run (one group, same clips needed): everything comes from the cache.
    one = replace(cfg, groups=("buzz",))
    CALLS.clear()
    again = run_benchmark(one, registry=_registry(), progress=False)
    assert sum(CALLS.values()) == 0 and again.extraction["entries_cached"] == again.extraction["entries_needed"]
    assert [f.group for f in again.folds] == ["buzz"]
    # A bumped extractor version misses: only that extractor re-runs.
    CALLS.clear()
    bumped = run_benchmark(one, registry=_registry({"acoustic": "-bumped"}), progress=False)
    assert set(CALLS) == {"acoustic"} and CALLS["acoustic"] > 0
    assert bumped.extraction["entries_cached"] == 2 * bumped.extraction["entries_needed"] // 3

    # The command line, on the same cache, for one group and two detectors.
    app = Typer()
    app.command()(benchmark_command)
    out = tmp_path / "cli"
    res = CliRunner().invoke(
        app,
        [
            "--manifest",
            str(manifest),
            "--out",
            str(out),
            "--cache",
            str(cfg.cache),
            "--codecs",
            "wav",
            "--groups",
            "buzz",
            "--detectors",
            "fakeprint,acoustic",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "Wall time" in res.output
    cli_json = json.loads((out / "loso.json").read_text())
    # one held-out group: no other fold's out-of-fold predictions to fit a stacker on, so no ensemble
    assert [f["group"] for f in cli_json["folds"]] == ["buzz"]
    assert cli_json["detectors"] == ["fakeprint", "acoustic"]
    assert any("no ensemble" in n for n in cli_json["folds"][0]["notes"])


def test_channel_augmented_copies_double_the_fit_windows(tmp_path: Path) -> None:
    from synthscope.train.benchmark.run import BenchConfig, run_benchmark

    manifest = build_corpus(tmp_path / "corpus", per_group=5)
    base = BenchConfig(
        manifest=manifest,
        cache=tmp_path / "features",
        codecs=("wav",),
        detectors=("fakeprint",),
        groups=("buzz", "voice"),
        in_distribution=False,
        budget=Budget(device="cpu", augment=False),
    )
    plain = run_benchmark(base, progress=False)
    aug = run_benchmark(replace(base, budget=Budget(device="cpu", augment=True)), progress=False)
    assert aug.extraction["entries_needed"] > plain.extraction["entries_needed"]
    for p, a in zip(plain.folds, aug.folds, strict=True):
        assert a.fit_windows == 2 * p.fit_windows > 0
        assert a.metrics["wav"]["fakeprint"]["auc"] is not None
