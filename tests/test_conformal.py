"""Verdict sets that keep their promised coverage on sources they were not fitted on, and abstention far
from the training data."""

from __future__ import annotations

import numpy as np
import pytest

from fakescope.train.conformal import ConformalVerdicts, DistanceAbstention, coverage


def _sources(rng, n_sources=12, n=80):
    """Held-out probabilities of many sources; each source shifts the scores its own way (as unseen
    generators and cameras do), so pooled images are not exchangeable with a new source's."""
    p, y, g = [], [], []
    for s in range(n_sources):
        shift = rng.normal(0, 0.8)
        for label in (0, 1):
            logit = rng.normal((1.5 if label else -1.5) + shift, 1.0, n)
            p.append(1 / (1 + np.exp(-logit)))
            y.append(np.full(n, label))
            g += [f"src{s}"] * n
    return np.concatenate(p), np.concatenate(y), np.array(g)


def test_each_class_is_covered_on_sources_left_out_of_the_calibration():
    rng = np.random.default_rng(0)
    p, y, g = _sources(rng)
    cov = {"real": [], "fake": []}
    for left_out in np.unique(g):
        fit = g != left_out
        cv = ConformalVerdicts(alpha=0.1).fit(p[fit], y[fit], g[fit])
        res = coverage(cv.sets(p[~fit]), y[~fit])
        cov["real"].append(res["coverage_real"])
        cov["fake"].append(res["coverage_fake"])
    # Label-conditional: each class on its own, averaged over the unseen sources, at least 1 - alpha.
    assert np.mean(cov["real"]) >= 0.9 and np.mean(cov["fake"]) >= 0.9, cov


def test_verdict_sets_grow_as_the_error_level_shrinks_and_answer_confidently_where_they_can():
    rng = np.random.default_rng(1)
    p, y, g = _sources(rng)
    loose, strict = ConformalVerdicts(alpha=0.4).fit(p, y, g), ConformalVerdicts(alpha=0.2).fit(p, y, g)
    grid = np.linspace(0, 1, 101)
    for a, b in zip(loose.sets(grid), strict.sets(grid)):
        assert set(a) <= set(b)  # a smaller error level never takes a class out
    sets = strict.sets(grid)
    assert sets[0] == ("real",) and sets[-1] == ("fake",)
    assert ("real", "fake") in sets  # in between: unsure
    assert [ConformalVerdicts.verdict(s) for s in (("real",), ("fake",), ("real", "fake"), ())] == [
        "real", "fake", "unsure", "unsure"]  # fmt: skip
    again = ConformalVerdicts.from_dict(strict.to_dict())
    assert again.sets(grid) == sets


def test_conformal_refuses_a_bad_level_or_a_missing_class():
    with pytest.raises(ValueError, match="alpha"):
        ConformalVerdicts(alpha=1.5).fit(np.array([0.2]), np.array([0]), ["a"])
    with pytest.raises(ValueError, match="no held-out fake images"):
        ConformalVerdicts().fit(np.array([0.2, 0.3]), np.array([0, 0]), ["a", "b"])


def test_distance_abstention_flags_what_no_training_source_resembles():
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(6, 32))
    X = np.concatenate([c + 0.3 * rng.normal(size=(40, 32)) for c in centres])
    groups = np.repeat([f"s{i}" for i in range(6)], 40)
    # Sources share a common direction, so each held-out source still lies near the others.
    X[:, 0] += 6
    ood = DistanceAbstention(k=5, beta=0.05).fit(X, groups)
    near = centres[0] + 0.3 * rng.normal(size=(20, 32))
    near[:, 0] += 6
    far = rng.normal(size=(20, 32))
    far[:, 0] -= 6
    assert not ood.far(near)[0].any()
    assert ood.far(far)[0].all()
    with pytest.raises(ValueError, match="two sources"):
        DistanceAbstention().fit(X, ["one"] * len(X))


def test_a_detector_calibrated_out_of_source_carries_verdict_sets_and_abstention(tmp_path):
    from fakescope.data.manifest import Manifest
    from fakescope.registry import create
    from fakescope.saved import load
    from tests.conftest import write_synthetic_dataset

    m = Manifest.read(write_synthetic_dataset(tmp_path / "d", n_per_class=8, sources=("a", "b", "c", "d")))
    det = create("dct-linear", n_aug=0, calibration="loso", error=0.2).fit(m)
    assert det.calibrator_.a_ > 0  # out of source, the score's direction is kept
    assert len(det.calibration_["head_selection"]) == 3 and "4 loso folds" in det.calibration_["fitted_on"]
    X, _ = det.features_of(m)
    p = det.proba_from_features(X)
    rel = det.reliability(X, p)
    assert all(r["verdict_set"] in (("real",), ("fake",), ("real", "fake"), ()) for r in rel)
    assert not any(r["far"] for r in rel[:4])  # training images are not far from the training data
    det.save(tmp_path / "saved")
    again = load(tmp_path / "saved")
    assert again.reliability(X, p) == rel
    # Without out-of-source calibration there is nothing to promise: no sets, no abstention.
    plain = create("dct-linear", n_aug=0, calib_folds=2).fit(m)
    assert plain.reliability(X, p)[0] == {"verdict_set": None, "far": None, "distance": None}
