"""One contract over the whole registry: build, fit on a tiny manifest, predict in [0, 1],
round-trip save/load; plus each family's defining property."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
from PIL import Image

from fakescope.data.manifest import Manifest
from fakescope.detectors.base import load
from fakescope.registry import create, entry, list_detectors
from fakescope.types import NotFittedError
from tests.conftest import natural_image, upsampled_image, write_synthetic_dataset

FAST = {"n_aug": 1, "calib_folds": 2}
NARROW = {"width": 8}
HEAD = {
    "dct-cnn": {"epochs": 3, "width": 8},
    # end-to-end networks at the smallest size that still trains: the contract, not accuracy
    "meso4": {"epochs": 2},
    "mesoinception4": {"epochs": 2},
    "defake": {"epochs": 1, **NARROW},
    "gramnet": {"epochs": 1, **NARROW},
    "resynthesis": {"epochs": 1, "restorer_epochs": 1, "width": 8, "classifier_width": 8},
    "cnnf": {"epochs": 1},
    "cnnf-effnet": {"epochs": 1},
    "patch-forensics": {"epochs": 1},
    "fsbi": {"epochs": 1},
    "zed": {"levels": 2, "width": 8, "depth": 2, "epochs": 1, "patches": 4, "patch": 32, "batch": 16, "side": 32,
            "crops": 1},
    "npr": {"epochs": 1, "width": 8, "blocks": 1, "side": 32, "crops": 2},
}
PRETRAINED_INPUTS = {"clip", "clip-noise", "clip-crops", "caption", "dinov2", "sdxl-logits"}


def _build(name):
    missing = [pkg for pkg in entry(name).needs if importlib.util.find_spec(pkg) is None]
    if missing:
        pytest.skip(f"{name} needs {missing}")
    return create(name, **({"head_params": HEAD[name]} if name in HEAD else {}), **FAST)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("contract")
    train = Manifest.read(write_synthetic_dataset(root / "train", n_per_class=10, seed=1))
    test = Manifest.read(write_synthetic_dataset(root / "test", n_per_class=6, sources=("gamma",), seed=2))
    return train, test


@pytest.mark.parametrize("name", list_detectors())
def test_registry_contract(name, data, tmp_path, request):
    det = _build(name)
    if PRETRAINED_INPUTS & set(det.extractors) or det.head_params.get("pretrained"):
        request.getfixturevalue("needs_weights")
    train, test = data
    det = _build(name)
    with pytest.raises(NotFittedError):
        det.predict_proba([Image.new("RGB", (64, 64))])
    before = set(vars(det))
    assert det.fit(train) is det
    learned = set(vars(det)) - before
    assert learned and all(k.endswith("_") for k in learned), learned  # __init__ stores, fit learns into x_
    paths = [str(s.file) for s in test]
    verdicts = det(paths)
    p = np.array([v.p_fake for v in verdicts])
    assert p.shape == (len(test),) and np.all((p >= 0) & (p <= 1))
    assert {v.verdict for v in verdicts} <= {"real", "fake", "unsure"}
    assert all(v.detector == name and v.error is None for v in verdicts)

    det.save(tmp_path / "saved")
    card = json.loads((tmp_path / "saved" / "card.json").read_text())["card"]
    assert card["preprocessing"] and card["training_data"]["images"] == len(train)
    assert card["weights_sha256"]
    again = load(tmp_path / "saved")
    p2 = np.array([v.p_fake for v in again(paths)])
    assert np.allclose(p, p2, atol=1e-6)

    if det.family in ("dct", "fusion"):
        # Defining property: frequency features see the up-sampling trace on unseen sources.
        y = np.array([s.is_fake for s in test])
        assert ((p >= 0.5) == y).mean() >= 0.8, p


def test_saved_detector_refuses_a_damaged_head(data, tmp_path):
    det = _build("dct-linear").fit(data[0])
    det.save(tmp_path / "d")
    head = tmp_path / "d" / "weights.npz"
    head.write_bytes(head.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ValueError, match="sha256 does not match"):
        load(tmp_path / "d")


def test_paired_recipe_drops_single_class_sources(tmp_path):
    m = Manifest.read(write_synthetic_dataset(tmp_path / "a", n_per_class=4, sources=("alpha", "beta")))
    extra = Manifest.read(write_synthetic_dataset(tmp_path / "b", n_per_class=4, sources=("only-real",)))
    m = Manifest([*m.samples, *[s for s in extra if s.label == "real"]])
    det = create("dct-linear", n_aug=0, calib_folds=2).fit(m)
    assert set(det.trained_on_["sources"]) == {"alpha", "beta"}
    assert "only-real" in det.not_trained_on_
    det_all = create("dct-linear", n_aug=0, calib_folds=2, sources="all").fit(m)
    assert "only-real" in det_all.trained_on_["sources"]


def test_paired_sources_is_computed_once_per_fit(tmp_path, monkeypatch):
    import fakescope.train.recipe as recipe

    calls = []
    real = recipe.paired_sources
    monkeypatch.setattr(recipe, "paired_sources", lambda m: calls.append(1) or real(m))
    m = Manifest.read(write_synthetic_dataset(tmp_path, n_per_class=4, sources=("alpha", "beta")))
    create("dct-linear", n_aug=0, calib_folds=2).fit(m)
    assert len(calls) == 1  # not once per sample


def test_saved_models_refuse_unknown_format_versions_and_the_wrong_kind(data, tmp_path):
    from fakescope.saved import load as load_saved

    det = _build("dct-linear").fit(data[0])
    det.save(tmp_path / "d")
    with pytest.raises(ValueError, match="a saved detector, not a localizer"):
        load_saved(tmp_path / "d", kind="localizer")
    meta = json.loads((tmp_path / "d" / "card.json").read_text())
    (tmp_path / "d" / "card.json").write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(ValueError, match="format version 99"):
        load(tmp_path / "d")


def test_nearest_neighbour_head_defining_property():
    from fakescope.detectors.heads import NearestNeighbourHead

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 16))
    y = np.array([0] * 20 + [1] * 20)
    head = NearestNeighbourHead(k=1).fit(X, y)
    s = head.decision(X)  # each point is its own nearest neighbour (distance 0)
    assert np.all(s[y == 1] > 0) and np.all(s[y == 0] < 0)


def test_clip_embedding_properties(needs_weights):
    from fakescope.features.clip import ClipEncoder

    rng = np.random.default_rng(0)
    a, b = natural_image(rng, 224), upsampled_image(rng, 224)
    noisy = np.clip(np.asarray(a, dtype=np.int16) + rng.integers(-2, 3, (224, 224, 3)), 0, 255).astype(np.uint8)
    from PIL import Image

    e = ClipEncoder.shared().embed([a, Image.fromarray(noisy), b])
    assert e.shape == (3, 512)
    assert np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    assert e[0] @ e[1] > 0.97  # a +-2 grey-level perturbation barely moves the embedding
    assert e[0] @ e[2] < e[0] @ e[1]
    assert np.allclose(ClipEncoder.shared().embed([a])[0], e[0], atol=1e-5)  # deterministic
