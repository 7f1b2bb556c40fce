"""Metrics on inputs whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from fakescope.metrics import binary_metrics, ece, eer, tpr_at_fpr


def test_perfect_separation():
    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    m = binary_metrics(y, p)
    assert m["auc"] == 1.0 and m["ap"] == 1.0 and m["eer"] == 0.0 and m["tpr@1%fpr"] == 1.0
    assert m["accuracy"] == m["precision"] == m["recall"] == m["f1"] == 1.0


def test_counts_at_threshold():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.6, 0.4, 0.6, 0.4])  # one of each class on each side
    m = binary_metrics(y, p, threshold=0.5)
    assert m["precision"] == 0.5 and m["recall"] == 0.5 and m["specificity"] == 0.5 and m["auc"] == 0.5


def test_single_class_subset_has_no_auc():
    m = binary_metrics(np.zeros(5, int), np.linspace(0, 1, 5))
    assert m["auc"] is None and m["ap"] is None and m["recall"] is None
    assert m["specificity"] == pytest.approx(2 / 5)


def test_ece_of_calibrated_and_overconfident_predictions():
    rng = np.random.default_rng(0)
    p = rng.uniform(size=200_000)
    y = (rng.uniform(size=p.size) < p).astype(int)
    assert ece(y, p) < 0.01
    assert ece(y, np.where(p > 0.5, 1.0, 0.0)) > 0.2


def test_eer_and_tpr_at_fpr():
    y = np.array([0] * 100 + [1] * 100)
    p = np.concatenate([np.linspace(0, 0.6, 100), np.linspace(0.4, 1, 100)])
    assert 0.1 < eer(y, p) < 0.25
    assert 0 < tpr_at_fpr(y, p, 0.01) < 1


def test_calibration_summary_reads_a_calibrated_and_an_overconfident_model_apart():
    from fakescope.metrics import calibration_summary, risk_coverage

    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 4000)
    y = (rng.uniform(0, 1, 4000) < p).astype(int)  # calibrated by construction
    good = calibration_summary(y, p)
    sure = calibration_summary(y, np.where(p >= 0.5, 0.99, 0.01))  # same ranking, overconfident
    assert good["ece"] < 0.03 and sure["ece"] > 0.2
    assert good["brier"] < sure["brier"]
    for b in good["reliability"]:  # each bin's share of fakes is near its mean p
        assert abs(b["fake_share"] - b["mean_p"]) < 0.08, b
    assert sum(b["n"] for b in good["reliability"]) == 4000
    # Risk-coverage: the most confident tenth is right far more often than all images are.
    curve = risk_coverage(y, p)
    assert curve[0]["answered"] == 0.1 and curve[-1]["answered"] == 1.0
    assert curve[0]["accuracy"] > 0.9 > curve[-1]["accuracy"]
    assert [c["accuracy"] for c in curve] == sorted([c["accuracy"] for c in curve], reverse=True)
    assert good["band"]["answered"] == pytest.approx(((p <= 0.3) | (p >= 0.7)).mean())
