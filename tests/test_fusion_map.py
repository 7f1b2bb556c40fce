"""The fusion localizer: it learns which trace predicts the mask, says which traces agree, and survives
a save/load round trip unchanged."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image

from fakescope.data.manifest import Manifest
from fakescope.localize.forensic import ForensicFamily, ForensicLocalizer
from fakescope.metrics import image_pixel_metrics
from tests.conftest import edit_manifest, natural_image

pytest.importorskip("torch")
pytest.importorskip("sklearn")
from fakescope.localize.fusion import FusionLocalizer  # noqa: E402


@dataclass
class _NoSettings:
    pass


def _redness(img: Image.Image) -> np.ndarray:
    """The trace that predicts the edits below: red above the other channels."""
    a = np.asarray(img.convert("RGB"), dtype=np.float32)
    return np.clip((a[..., 0] - a[..., 1:].mean(-1)) / 60.0, 0, 1)


def _blotches(img: Image.Image) -> np.ndarray:
    """A trace unrelated to the edits: a random square chosen from the image's bytes."""
    a = np.asarray(img.convert("L"))
    rng = np.random.default_rng(int(a.sum()) % 2**31)
    m = np.zeros(a.shape, np.float32)
    y, x = rng.integers(0, a.shape[0] - 24), rng.integers(0, a.shape[1] - 24)
    m[y : y + 24, x : x + 24] = 1.0
    return m


def _member(name, compute):
    return ForensicLocalizer(ForensicFamily(name, name, "", "", compute, _NoSettings))


def _edited(rng, size=64):
    """A photo-like image with a red-tinted rectangle (the edit) and its mask; the rest is untouched."""
    a = np.asarray(natural_image(rng, size), dtype=np.float32) * 0.6
    a[..., 0] = a[..., 1:].mean(-1)  # greyish: no red of its own
    mask = np.zeros((size, size), np.uint8)
    y, x = rng.integers(4, size - 28, 2)
    h, w = rng.integers(14, 24, 2)
    mask[y : y + h, x : x + w] = 1
    a[..., 0] += 70 * mask
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)), mask


def _grey(rng) -> Image.Image:
    """An authentic image like the edits' backgrounds: greyish, no red of its own."""
    a = np.asarray(natural_image(rng, 64), dtype=np.float32) * 0.6
    a[..., 0] = a[..., 1:].mean(-1)
    return Image.fromarray(a.astype(np.uint8))


def _dataset(root, n_edit=10, n_real=8, seed=0) -> Manifest:
    return edit_manifest(root, _edited, _grey, n_edit, n_real, seed, generator="red-edit")


@pytest.fixture(params=["logistic", "mlp"])
def fitted(tmp_path, request):
    members = {"blotches": _member("blotches", _blotches), "redness": _member("redness", _redness)}
    return FusionLocalizer(cell=2, samples_per_image=400, max_fp_area=0.1, model=request.param, hidden=16,
                           alpha=1.0).fit(_dataset(tmp_path), members=members)  # fmt: skip


def test_fusion_follows_the_trace_that_predicts_the_mask(fitted):
    w = fitted.member_weights()
    assert w["redness"] > 3 * w["blotches"], w
    img, mask = _edited(np.random.default_rng(99))
    out = fitted.localize(img)
    assert out["map"].shape == mask.shape and out["reliability"].shape == mask.shape
    assert image_pixel_metrics(out["map"], mask)["f1"] > 0.7
    assert 0 <= out["reliability"].min() and out["reliability"].max() <= 1
    # an authentic image stays (almost) unflagged
    assert fitted.localize(_grey(np.random.default_rng(5)))["flagged_share"] < 0.05


def test_explanation_names_the_agreeing_traces(fitted):
    img, _ = _edited(np.random.default_rng(7))
    fused = fitted.fuse(img)
    agree, rest = fitted.agreeing(fused)
    assert [n for n, _ in agree] == ["redness"] and rest == ["blotches"]
    text = fitted.localize(img)["explanation"]
    assert "traces that agree on the flagged area" in text
    named = text.split("traces that agree")[1].split("silent or against")[0]
    assert "redness" in named and "blotches" not in named


@pytest.mark.parametrize("model", ["logistic", "mlp"])
def test_save_load_round_trip(tmp_path, model):
    from fakescope.saved import load, read

    data = tmp_path / "data"
    data.mkdir()
    fusion = FusionLocalizer(learned="", unedited="", tiles="", classical="noise-level,ela", cell=4, samples_per_image=200,
                             model=model)  # fmt: skip
    fusion.fit(_dataset(data), members=None)
    assert fusion.trained_on_["members"] == ["noise-level", "ela"]
    fusion.save(tmp_path / "saved")
    assert read(tmp_path / "saved").card.config["members"] == ["noise-level", "ela"]
    again = load(tmp_path / "saved", kind="localizer")
    img, _ = _edited(np.random.default_rng(3))
    a, b = fusion.localize(img), again.localize(img)
    np.testing.assert_allclose(a["map"], b["map"], atol=1e-6)
    assert a["explanation"] == b["explanation"] and a["p_fake"] == pytest.approx(b["p_fake"])
    assert hasattr(again, "hidden_") == (model == "mlp")


def test_classical_maps_are_cached_by_content_and_settings(tmp_path):
    calls = []

    def counted(img):
        calls.append(1)
        return _redness(img)

    member = _member("counted", counted)
    member.cache_dir = tmp_path
    img, _ = _edited(np.random.default_rng(1))
    first, second = member.map(img), member.map(img)
    assert len(calls) == 1 and np.allclose(first, second, atol=1e-3)
    member.map(_edited(np.random.default_rng(2))[0])  # other pixels: computed
    assert len(calls) == 2
