"""The out-of-fold stacker: fold weighting, nested exclusion, and how profiles are chosen."""

from __future__ import annotations

import numpy as np

from synthscope.train.benchmark.results import FoldResult
from synthscope.train.benchmark.stacking import (
    WindowPreds,
    _weights,
    _without,
    choose,
    choose_profiles,
    fit_oof,
    nested_scores,
)


def _block(rows: list[int], labels: list[int], rng: np.random.Generator, sep: float = 2.0) -> WindowPreds:
    y = np.array(labels)
    a = 1 / (1 + np.exp(-(sep * (y - 0.5) + rng.standard_normal(len(y)))))
    b = 1 / (1 + np.exp(-(0.2 * (y - 0.5) + rng.standard_normal(len(y)))))
    return WindowPreds(np.array(rows), y, {"a": a.astype(np.float32), "b": b.astype(np.float32)})


def test_every_fold_and_class_weighs_the_same() -> None:
    rng = np.random.default_rng(0)
    big = _block(list(range(100)), [0] * 90 + [1] * 10, rng)
    small = _block(list(range(100, 110)), [0] * 5 + [1] * 5, rng)
    w = _weights([big, small])
    parts = {
        ("big", 0): w[:90].sum(),
        ("big", 1): w[90:100].sum(),
        ("small", 0): w[100:105].sum(),
        ("small", 1): w[105:].sum(),
    }
    assert np.allclose(list(parts.values()), parts[("big", 0)])


def test_nested_stacker_never_sees_the_judged_clips() -> None:
    rng = np.random.default_rng(1)
    # clip 7 (a human test clip) is judged in both folds; fold B's stacker must not train on it when judging A
    oof = {
        "A": {"wav": _block([1, 2, 7, 7], [1, 1, 0, 0], rng)},
        "B": {"wav": _block([3, 4, 7, 7], [1, 1, 0, 0], rng)},
    }
    kept = _without(oof["B"]["wav"], {1, 2, 7})
    assert 7 not in kept.rows.tolist() and kept.rows.tolist() == [3, 4]
    # after the exclusion fold B has no humans left: no stacker for A, and the fold says so
    folds = [FoldResult("A", "ai"), FoldResult("B", "ai")]
    table = nested_scores(oof, folds, ["a", "b"], 0.5, {"A": {1, 2, 7}, "B": {3, 4, 7}})
    assert table == {} and all("no ensemble" in f.notes[0] for f in folds)


def test_nested_scores_and_shipped_stacker() -> None:
    rng = np.random.default_rng(2)
    oof = {
        g: {"wav": _block(list(range(k * 100, k * 100 + 60)), [0] * 30 + [1] * 30, rng)}
        for k, g in enumerate(["A", "B", "C"])
    }
    folds = [FoldResult(g, "ai") for g in oof]
    table = nested_scores(oof, folds, ["a", "b"], 0.5, {g: set(oof[g]["wav"].rows.tolist()) for g in oof})
    assert set(table) == {"A", "B", "C"} and set(table["A"]["wav"]) == {"a", "b", "a+b"}
    assert table["A"]["wav"]["a"]["auc"] > 0.75 > table["A"]["wav"]["b"]["auc"]
    stacker = fit_oof(oof, ["a", "b"])
    assert stacker is not None
    w = stacker.stackers["a+b"]["coef"]
    assert abs(w["a"]) > abs(w["b"])  # the informative detector carries the stack


def test_profiles_prefer_fewer_detectors_on_a_near_tie() -> None:
    summaries = {
        "wav": {
            "a": {"mean": 0.80, "worst": 0.60},
            "a+b": {"mean": 0.801, "worst": 0.601},  # within 0.002: b does not earn its place
            "a+speech_encoder": {"mean": 0.85, "worst": 0.65},
            "a+b+speech_encoder": {"mean": 0.86, "worst": 0.66},
            "b": {"mean": 0.6, "worst": 0.5},
            "speech_encoder": {"mean": 0.82, "worst": 0.6},
            "b+speech_encoder": {"mean": 0.82, "worst": 0.6},
        }
    }
    assert choose(summaries, ["a", "a+b"]) == "a"
    profiles = choose_profiles(summaries, ["a", "b", "speech_encoder"])
    assert profiles == {"default": ["a", "b", "speech_encoder"], "fast": ["a"]}
