"""Embedding banks stored as int8 rows: what is evaluated after fit() is what is saved and loaded, older
float16 banks still load, and the quantisation barely moves cosine distances."""

from __future__ import annotations

import numpy as np

from fakescope.detectors.heads import NearestNeighbourHead
from fakescope.train.bank import SCALE, EmbeddingBank
from fakescope.train.conformal import DistanceAbstention


def clip_like(n: int, seed: int = 0, dim: int = 512) -> np.ndarray:
    """Unit rows shaped like CLIP ViT-B/16 image embeddings: one dimension near 0.68 in every image (the
    largest entry of each row, as in the shipped bank), the others small around shared means."""
    rng = np.random.default_rng(seed)
    X = rng.normal(0, 0.02, dim) + rng.normal(0, 0.024, (n, dim))
    X[:, 0] = 0.68 / 0.65 + rng.normal(0, 0.06, n)  # about 0.68 after normalisation
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


def test_int8_rows_keep_cosine_distances():
    X, Q = clip_like(3000, seed=0), clip_like(500, seed=1)
    bank = EmbeddingBank.quantise(X)
    assert bank.q.dtype == np.int8 and bank.scale.dtype == np.float32 and bank.scale.shape == (len(X),)
    assert np.abs(bank.q).max() == 127  # symmetric: each row's largest entry uses the whole range
    exact, approx = 1 - Q @ X.T, 1 - Q @ bank.values.T
    err = np.abs(exact - approx)
    # On the shipped default's 10,854 CLIP embeddings (1,000 held out as queries) the same quantisation
    # moves a cosine distance by 0.0009 on average (at most 0.0066), and the nearest neighbour's by at
    # most 0.0044: about 1% of a typical nearest-neighbour distance (0.07-0.10).
    assert err.mean() < 2e-3 and err.max() < 1e-2
    nearest = np.abs(exact.min(axis=1) - approx.min(axis=1))
    assert nearest.max() < 6e-3


def test_nearest_neighbour_head_ships_what_it_was_fitted_as(tmp_path):
    X = clip_like(400, seed=2)
    y = (np.arange(400) % 2).astype(int)
    X[y == 1, 1:] += 0.01  # a small shift of the fakes
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    head = NearestNeighbourHead(k=5).fit(X, y)
    Q = clip_like(100, seed=3)
    fitted = head.decision(Q)
    state = head.state()
    assert state["bank"].dtype == np.int8 and state["bank" + SCALE].dtype == np.float32
    np.savez_compressed(tmp_path / "w.npz", **state)
    with np.load(tmp_path / "w.npz", allow_pickle=False) as z:
        loaded = NearestNeighbourHead(k=5).load_state({k: z[k] for k in z.files})
    np.testing.assert_array_equal(loaded.decision(Q), fitted)
    # the quantised bank scores like the exact one
    exact = NearestNeighbourHead(k=5)
    exact.bank_, exact.bank_labels_ = EmbeddingBank(X), y.astype(np.int8)  # float rows, no scale
    assert np.abs(exact.decision(Q) - fitted).max() < 5e-3


def test_float16_banks_of_earlier_versions_still_load():
    X = clip_like(300, seed=4)
    y = (np.arange(300) % 2).astype(np.int8)
    Q = clip_like(50, seed=5)
    old = NearestNeighbourHead(k=1).load_state({"bank": X.astype(np.float16), "bank_labels": y})
    half = X.astype(np.float16).astype(np.float32)
    d = 1 - Q @ half.T
    expected = d[:, y == 0].min(axis=1) - d[:, y == 1].min(axis=1)
    np.testing.assert_allclose(old.decision(Q), expected, rtol=0, atol=1e-6)
    assert old.state()["bank"].dtype == np.float16 and "bank" + SCALE not in old.state()  # saved as it was


def test_abstention_threshold_is_set_on_the_bank_it_ships():
    X = clip_like(600, seed=6)
    groups = np.repeat(["a", "b", "c"], 200)
    ood = DistanceAbstention(k=5, beta=0.05).fit(X, groups)
    assert ood.bank_.q.dtype == np.int8
    arrays = ood.bank_.arrays("abstention.bank")
    again = DistanceAbstention(k=5, beta=0.05)
    again.bank_, again.threshold_ = EmbeddingBank.from_arrays(arrays, "abstention.bank"), ood.threshold_
    Q = clip_like(80, seed=7)
    np.testing.assert_array_equal(again.distance(Q), ood.distance(Q))


def test_univfd_nn_calibrated_out_of_source_loads_with_identical_scores(tmp_path, needs_weights):
    from fakescope.data.manifest import Manifest
    from fakescope.registry import create
    from fakescope.saved import load
    from tests.conftest import write_synthetic_dataset

    m = Manifest.read(write_synthetic_dataset(tmp_path / "d", n_per_class=6, sources=("a", "b", "c")))
    det = create("univfd-nn", n_aug=0, calibration="loso", error=0.2).fit(m)
    X, _ = det.features_of(m)
    p = det.proba_from_features(X)
    rel = det.reliability(X, p)
    det.save(tmp_path / "saved")
    with np.load(tmp_path / "saved" / "weights.npz") as z:
        assert z["bank"].dtype == np.int8 and z["abstention.bank"].dtype == np.int8
    again = load(tmp_path / "saved")
    np.testing.assert_array_equal(again.proba_from_features(X), p)
    assert again.reliability(X, p) == rel
