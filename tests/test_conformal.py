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


def _left_out_coverage(method: str, seed: int = 0) -> dict:
    p, y, g = _sources(np.random.default_rng(seed))
    cov = {"real": [], "fake": [], "answered": []}
    for left_out in np.unique(g):
        fit = g != left_out
        cv = ConformalVerdicts(alpha=0.1, method=method).fit(p[fit], y[fit], g[fit])
        res = coverage(cv.sets(p[~fit]), y[~fit])
        for k in cov:
            cov[k].append(res[k if k == "answered" else f"coverage_{k}"])
    return {k: float(np.mean(v)) for k, v in cov.items()}


def test_each_class_is_covered_on_sources_left_out_of_the_calibration():
    # Label-conditional: each class on its own, averaged over the unseen sources. Per-source quantiles
    # promise at least 1 - alpha for a typical source (conservatively); the balanced pool promises it for
    # an image of a random source, which these shifted sources, 11 at a time, bring within a point or two.
    strict, balanced = _left_out_coverage("per-source"), _left_out_coverage("balanced")
    assert strict["real"] >= 0.9 and strict["fake"] >= 0.9, strict
    assert balanced["real"] >= 0.88 and balanced["fake"] >= 0.88, balanced
    # The price of the stricter promise: far fewer confident answers.
    assert balanced["answered"] > strict["answered"] + 0.1, (balanced, strict)


@pytest.mark.parametrize("method", ["balanced", "per-source"])
def test_verdict_sets_grow_as_the_error_level_shrinks_and_answer_confidently_where_they_can(method):
    rng = np.random.default_rng(1)
    p, y, g = _sources(rng)
    loose = ConformalVerdicts(alpha=0.4, method=method).fit(p, y, g)
    strict = ConformalVerdicts(alpha=0.05 if method == "balanced" else 0.2, method=method).fit(p, y, g)
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


def test_out_of_source_calibration_assumes_even_odds_whatever_the_held_out_base_rate():
    from fakescope.train.calibration import PlattCalibrator, balanced_weights

    rng = np.random.default_rng(3)
    # A score that says little, held out on many real images of one source and few fakes of two others.
    y = np.r_[np.zeros(900), np.ones(100)].astype(int)
    g = np.r_[["reals"] * 900, ["gen-a"] * 50, ["gen-b"] * 50]
    s = rng.normal(0, 1, 1000) + 0.2 * y
    w = balanced_weights(y, g)
    assert w[y == 0].sum() == pytest.approx(w[y == 1].sum())  # each class weighs the same
    assert w[g == "gen-a"].sum() == pytest.approx(w[g == "gen-b"].sum())  # and each source within it
    plain = PlattCalibrator().fit(s, y, monotone=True)
    even = PlattCalibrator().fit(s, y, monotone=True, weights=w)
    assert plain(np.array([0.0]))[0] < 0.2  # the base rate of the held-out images decides
    assert 0.35 < even(np.array([0.0]))[0] < 0.65  # even odds: a weak score stays near 0.5


def test_scan_rows_carry_the_verdict_set_and_a_reliability_note(tmp_path):
    import json

    from PIL import Image

    from fakescope.data.manifest import Manifest
    from fakescope.registry import create
    from fakescope.scanning import scan
    from tests.conftest import write_synthetic_dataset

    m = Manifest.read(write_synthetic_dataset(tmp_path / "d", n_per_class=8, sources=("a", "b", "c", "d")))
    det = create("dct-linear", n_aug=0, calibration="loso", error=0.2).fit(m)
    odd = tmp_path / "odd.png"  # nothing like the training images: a flat grey card
    Image.new("RGB", (160, 160), (128, 128, 128)).save(odd)
    v_odd, v_real = det([str(odd), str(m[0].file)])
    assert v_odd.verdict == "unsure" and v_odd.reliability.startswith("unsure: far from every training image")
    assert v_real.verdict_set is not None and v_real.reliability
    expected = v_real.verdict_set[0] if len(v_real.verdict_set) == 1 else "unsure"
    assert v_real.verdict == expected
    out = tmp_path / "r.jsonl"
    scan(det, [str(odd), str(m[0].file)], out=out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["verdict_set"] for r in rows] == [v_odd.verdict_set, v_real.verdict_set]
    assert [r["reliability"] for r in rows] == [v_odd.reliability, v_real.reliability]
    # A detector calibrated on its training sources only says so.
    plain = create("dct-linear", n_aug=0, calib_folds=2).fit(m)
    v = plain([str(m[0].file)])[0]
    assert v.verdict_set is None and "no out-of-source guarantee" in v.reliability


def test_the_error_level_is_chosen_for_confident_verdicts_that_are_right_often_enough():
    from fakescope.train.conformal import choose_level

    p, y, g = _sources(np.random.default_rng(4))
    cv, record = choose_level(p, y, g, target=0.9)
    res = coverage(cv.sets(p), y)
    assert record["reached"] and res["confident_accuracy"] >= 0.9
    # No candidate that also reaches 90% answers more images.
    better = [c for c in record["candidates"] if (c["confident_accuracy"] or 0) >= 0.9 and c["answered"] > res["answered"]]
    assert not better
    assert record["chosen"]["alpha"] == cv.alpha and record["chosen"]["method"] == cv.method
    # A score that knows nothing cannot reach the target: the record says so.
    noise = np.random.default_rng(5).uniform(0, 1, len(p))
    _, missed = choose_level(noise, y, g, target=0.9)
    assert not missed["reached"]


def test_leave_generators_out_calibration_holds_out_each_generator(tmp_path):
    from fakescope.data.manifest import Manifest
    from fakescope.registry import create
    from tests.conftest import write_synthetic_dataset

    m = Manifest.read(write_synthetic_dataset(tmp_path / "d", n_per_class=8, sources=("a", "b")))
    for i, s in enumerate(m):  # two generators within each source
        if s.label == "fake":
            s.generator = f"gen{i % 2}"
    det = create("dct-linear", n_aug=0, calibration="logo").fit(m)
    # folds: gen0, gen1, and the real images of each source
    assert "4 logo folds" in det.calibration_["fitted_on"]
    assert det.calibrator_.a_ > 0 and hasattr(det, "conformal_") and hasattr(det, "abstention_")


def test_a_user_sets_another_error_level_after_training(tmp_path):
    from fakescope.data.manifest import Manifest
    from fakescope.registry import create
    from fakescope.saved import load
    from tests.conftest import write_synthetic_dataset

    m = Manifest.read(write_synthetic_dataset(tmp_path / "d", n_per_class=8, sources=("a", "b", "c", "d")))
    det = create("dct-linear", n_aug=0, calibration="loso").fit(m)
    det.save(tmp_path / "saved")
    again = load(tmp_path / "saved")
    grid = np.linspace(0, 1, 201)
    again.set_error(0.4, "balanced")
    loose = again.conformal_.sets(grid)
    again.set_error(0.02, "balanced")
    strict = again.conformal_.sets(grid)
    assert all(set(a) <= set(b) for a, b in zip(loose, strict))
    assert sum(len(s) != 1 for s in strict) > sum(len(s) != 1 for s in loose)  # stricter: more unsure
    # The same held-out scores: refitting at the saved level gives the saved thresholds back.
    level, method = det.conformal_.alpha, det.conformal_.method
    again.set_error(level, method)
    assert again.conformal_.thresholds_ == pytest.approx(det.conformal_.thresholds_)
    plain = create("dct-linear", n_aug=0, calib_folds=2).fit(m)
    with pytest.raises(ValueError, match="not calibrated out of source"):
        plain.set_error(0.1)
