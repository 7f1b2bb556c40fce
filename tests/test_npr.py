"""NPR: the residual's defining property, native crops, multi-crop aggregation, learning and save/load."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.conftest import natural_image, upsampled_image, write_synthetic_dataset

torch = pytest.importorskip("torch")

from fakescope.data.manifest import Manifest  # noqa: E402
from fakescope.detectors.npr import (  # noqa: E402
    NprHead,
    aggregate_logits,
    crop_boxes,
    native_crops,
    npr_residual,
)
from fakescope.features.views import native_region  # noqa: E402
from fakescope.registry import create, entry  # noqa: E402
from fakescope.detectors.base import load  # noqa: E402

TINY = {"width": 8, "blocks": 1, "epochs": 3, "side": 32, "crops": 2, "batch": 16, "lr": 3e-3}


def _tensor(img: Image.Image):
    return torch.as_tensor(np.asarray(img, dtype=np.float32)).permute(2, 0, 1)[None] / 255.0


def test_npr_residual_is_zero_exactly_for_nearest_upsampled_images():
    rng = np.random.default_rng(0)
    small = np.asarray(natural_image(rng, 40))
    repeated = Image.fromarray(small.repeat(2, 0).repeat(2, 1))  # nearest up-sampling by 2
    assert float(npr_residual(_tensor(repeated)).abs().max()) == 0.0
    natural = npr_residual(_tensor(natural_image(rng, 80)))
    assert float(natural.abs().mean()) > 1e-3
    # Out of phase (shifted by one pixel), the same up-sampled image is no longer constant on blocks.
    assert float(npr_residual(_tensor(repeated)[:, :, 1:, 1:]).abs().max()) > 0
    # Shape is kept, odd sides included.
    assert npr_residual(torch.zeros(2, 3, 9, 7)).shape == (2, 3, 9, 7)


def test_crops_are_native_pixels_on_the_expected_grid():
    rng = np.random.default_rng(1)
    arr = rng.integers(0, 256, (300, 500, 3), dtype=np.uint8)
    img = Image.fromarray(arr)
    region = native_region(img, 384)  # centre 300 x 384 of the 500 px wide image
    left = (500 - 384) // 2
    boxes = crop_boxes(region, 128, 4)
    assert len(boxes) == 4 and all(t % 2 == 0 and x % 2 == 0 for t, x, _, _ in boxes)  # the 2x2 grid's phase
    assert all(h == w == 128 and t + h <= 300 and x + w <= 384 for t, x, h, w in boxes)
    # a 3 x 3 grid from edge to edge (rows at 0, 86, 172; columns at 0, 128, 256), four cells kept evenly
    assert [(t, x) for t, x, _, _ in boxes] == [(0, 0), (86, 0), (86, 256), (172, 256)]
    crops = native_crops(region, 128, 4)
    assert crops.shape == (4, 128, 128, 3) and crops.dtype == np.uint8
    for crop, (t, x, h, w) in zip(crops, boxes):
        assert np.array_equal(crop, arr[t : t + h, left + x : left + x + w])  # the very pixels, not resampled
    one = crop_boxes(region, 128, 1)
    assert one == [(86, 128, 128, 128)]  # the centred crop, offsets rounded down to even


def test_small_images_are_padded_not_resampled():
    arr = np.random.default_rng(2).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    crops = native_crops(native_region(Image.fromarray(arr), 384), 64, 4)
    assert crops.shape == (1, 64, 64, 3)
    assert np.array_equal(crops[0, :40, :60], arr)  # the image at the origin, padding after it


def test_multi_crop_aggregation_is_the_mean_or_max_of_crop_logits(synthetic_manifest):
    logits = np.array([1.0, 3.0, -2.0, 0.5, 4.0])
    owner = np.array([0, 0, 1, 2, 2])
    assert np.allclose(aggregate_logits(logits, owner, 3, "mean"), [2.0, -2.0, 2.25])
    assert np.allclose(aggregate_logits(logits, owner, 3, "max"), [3.0, -2.0, 4.0])

    # Through the head: an image's decision is the aggregate of its own crops' logits.
    m = Manifest.read(synthetic_manifest)
    regions = np.stack([native_region(Image.open(s.file), 384) for s in list(m)[:6]])
    y = np.array([0, 0, 0, 1, 1, 1])
    det = create("npr", head_params={**TINY, "epochs": 1})
    for how in ("mean", "max"):
        head = NprHead(det.network_family, **{**TINY, "epochs": 1, "aggregate": how}).fit(regions, y)
        per_crop = [head.crop_logits(native_crops(r, 32, 2)) for r in regions]
        want = [c.mean() if how == "mean" else c.max() for c in per_crop]
        assert np.allclose(head.decision(regions), want, atol=1e-5)


def test_a_tiny_network_learns_nearest_upsampling_in_a_few_steps():
    rng = np.random.default_rng(3)
    torch.manual_seed(0)
    imgs = [natural_image(rng, 64) for _ in range(16)] + [upsampled_image(rng, 64) for _ in range(16)]
    regions = np.stack([native_region(im, 384) for im in imgs])
    y = np.array([0] * 16 + [1] * 16)
    det = create("npr")
    head = NprHead(det.network_family, **{**TINY, "epochs": 8, "side": 64, "crops": 1, "pretrained": False})
    head.fit(regions, y)
    test = [natural_image(rng, 64) for _ in range(8)] + [upsampled_image(rng, 64) for _ in range(8)]
    s = head.decision(np.stack([native_region(im, 384) for im in test]))
    assert s[8:].min() > s[:8].max()  # every held-out up-sampled image above every natural one


def test_fit_save_load_round_trip(tmp_path):
    root = tmp_path / "data"
    m = Manifest.read(write_synthetic_dataset(root, n_per_class=8, seed=4))
    det = create("npr", head_params=TINY, n_aug=0)
    assert entry("npr").reduced["crops"] >= 1
    det.fit(m)
    paths = [str(s.file) for s in list(m)[:6]]
    p = np.array([v.p_fake for v in det(paths)])
    det.save(tmp_path / "saved")
    again = load(tmp_path / "saved")
    assert np.allclose(p, [v.p_fake for v in again(paths)], atol=1e-6)
    assert "region384" in again.extractors and "NPR residual" in again.card.preprocessing
