"""Metrics on constructed scores whose answers are known by hand."""

from __future__ import annotations

import numpy as np
import pytest

from synthscope.train.metrics import (
    auc,
    det_points,
    ece,
    eer,
    rates_at,
    reliability_bins,
    roc_points,
    summarize,
)


def test_perfect_separation_has_zero_eer_and_unit_auc() -> None:
    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([0.05, 0.2, 0.3, 0.7, 0.8, 0.95])
    rate, thr = eer(y, p)
    assert rate == 0.0
    assert thr is not None and 0.3 < thr <= 0.7
    assert auc(y, p) == 1.0


def test_inverted_scores_have_eer_one_and_auc_zero() -> None:
    y = np.array([0, 0, 1, 1])
    p = np.array([0.9, 0.8, 0.2, 0.1])
    assert eer(y, p)[0] == pytest.approx(1.0)
    assert auc(y, p) == 0.0


def test_identical_distributions_give_eer_near_half() -> None:
    rng = np.random.default_rng(7)
    p = rng.uniform(size=20_000)
    y = rng.integers(0, 2, size=p.size)
    rate, _ = eer(y, p)
    assert rate is not None and abs(rate - 0.5) < 0.02
    area = auc(y, p)
    assert area is not None and abs(area - 0.5) < 0.02


def test_eer_interpolates_between_operating_points() -> None:
    # Scores 0.1 h, 0.4 a, 0.6 h, 0.9 a: at threshold 0.9 FPR 0 / FNR 0.5, at 0.6 FPR 0.5 / FNR 0.5.
    y = np.array([0, 1, 0, 1])
    p = np.array([0.1, 0.4, 0.6, 0.9])
    rate, thr = eer(y, p)
    assert rate == pytest.approx(0.5)
    assert thr == pytest.approx(0.6)
    assert auc(y, p) == pytest.approx(0.75)  # 3 of 4 (ai, human) pairs ranked right


def test_ece_hand_computed() -> None:
    # Ten bins. Bin [0.1, 0.2): conf 0.1, AI share 0.5 -> gap 0.4, weight 0.5.
    # Bin [0.9, 1.0]: conf 0.9, AI share 1.0 -> gap 0.1, weight 0.5.  ECE = 0.2 + 0.05.
    y = np.array([0, 1, 1, 1])
    p = np.array([0.1, 0.1, 0.9, 0.9])
    assert ece(y, p, n_bins=10) == pytest.approx(0.25)


def test_ece_zero_when_calibrated_and_includes_top_edge() -> None:
    # p = 1.0 belongs to the last bin, not past it; 0.0 and 1.0 are perfectly calibrated here.
    y = np.array([0, 0, 1, 1, 1])
    p = np.array([0.0, 0.0, 1.0, 1.0, 1.0])
    assert ece(y, p) == pytest.approx(0.0)
    bins = reliability_bins(y, p, n_bins=15)
    assert bins is not None
    assert bins["count"][0] == 2 and bins["count"][-1] == 3
    assert int(bins["count"].sum()) == 5


def test_rates_at_threshold() -> None:
    y = np.array([0, 0, 0, 0, 1, 1])
    p = np.array([0.1, 0.2, 0.6, 0.7, 0.5, 0.4])
    r = rates_at(y, p, threshold=0.5)
    assert r.fpr == pytest.approx(0.5)  # 0.6 and 0.7 humans called AI
    assert r.fnr == pytest.approx(0.5)  # 0.4 AI called human; 0.5 counts as AI (>=)
    assert r.accuracy == pytest.approx(3 / 6)
    assert rates_at(y, p, threshold=0.8) == (pytest.approx(4 / 6), 0.0, 1.0)


def test_single_class_group_reports_counts_and_accuracy() -> None:
    y = np.ones(4, dtype=int)
    p = np.array([0.9, 0.8, 0.3, 0.7])
    assert eer(y, p) == (None, None)
    assert auc(y, p) is None
    assert roc_points(y, p) is None and det_points(y, p) is None
    s = summarize(y, p, threshold=0.5)
    assert s["n"] == 4 and s["n_ai"] == 4 and s["n_human"] == 0
    assert s["eer"] is None and s["auc"] is None and s["eer_threshold"] is None
    assert s["accuracy"] == pytest.approx(0.75)
    assert s["fnr"] == pytest.approx(0.25) and s["fpr"] is None
    # Each score sits alone in its bin (15 bins), AI share 1: gaps 0.1, 0.2, 0.7, 0.3, weight 1/4 each.
    assert s["ece"] == pytest.approx((0.1 + 0.2 + 0.7 + 0.3) / 4)


def test_empty_group() -> None:
    s = summarize([], [])
    assert s["n"] == 0 and s["accuracy"] is None and s["ece"] is None and s["mean_p_ai"] is None


def test_det_is_roc_mirrored() -> None:
    y = np.array([0, 1, 0, 1, 1])
    p = np.array([0.2, 0.3, 0.5, 0.8, 0.9])
    roc = roc_points(y, p)
    det = det_points(y, p)
    assert roc is not None and det is not None
    np.testing.assert_allclose(det[0], roc[0])
    np.testing.assert_allclose(det[1], 1.0 - roc[1])
    assert np.all(np.diff(det[0]) >= 0) and np.all(np.diff(det[1]) <= 0)


def test_bad_input_rejected() -> None:
    with pytest.raises(ValueError):
        eer([0, 1], [0.5])
    with pytest.raises(ValueError):
        summarize([0, 2], [0.1, 0.2])
