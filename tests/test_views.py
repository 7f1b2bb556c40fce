"""The detectors' views: crop first, bounded intermediates, unchanged pixels for ordinary images."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fakescope.features.dct import DCT_SIZE, dct_spectrum
from fakescope.features.extract import EXTRACTORS, decode_min_side, prepare
from fakescope.features.views import (
    MIN_JUDGED_SIDE,
    REDUCING_GAP,
    center_crop,
    clip_view,
    cover_size,
    resized_center_crop,
    size_notes,
)
from tests.conftest import natural_image


def whole_then_crop(img: Image.Image, size: int) -> Image.Image:
    """The views as first written: resize the whole image (bicubic), then take the centre square."""
    if min(img.size) != size:
        img = img.resize(cover_size(*img.size, size), Image.Resampling.BICUBIC)
    left, top = (img.width - size) // 2, (img.height - size) // 2
    return img.crop((left, top, left + size, top + size))


def random_image(rng, width: int, height: int) -> Image.Image:
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


@pytest.mark.parametrize("size", [(384, 321), (321, 384), (128, 128), (256, 256), (640, 480), (1024, 768), (150, 106)])
def test_ordinary_images_get_the_pixels_of_resize_then_crop(size):
    img = random_image(np.random.default_rng(sum(size)), *size)
    assert np.array_equal(np.asarray(resized_center_crop(img, 224)), np.asarray(whole_then_crop(img, 224)))
    if min(size) < DCT_SIZE:
        assert np.array_equal(np.asarray(center_crop(img, DCT_SIZE)), np.asarray(whole_then_crop(img, DCT_SIZE)))


def _record_resizes(monkeypatch) -> list[tuple[int, int]]:
    sizes: list[tuple[int, int]] = []
    original = Image.Image.resize

    def recording(self, size, *args, **kw):
        out = original(self, size, *args, **kw)
        sizes.append(out.size)
        return out

    monkeypatch.setattr(Image.Image, "resize", recording)
    return sizes


@pytest.mark.parametrize("size", [(3, 2000), (2000, 3), (1, 1), (5, 300)])
def test_thin_and_tiny_images_are_cropped_before_they_are_enlarged(size, monkeypatch):
    # The old CLIP view enlarged a 3 x 2000 image to 224 x 149333 before cropping
    # (a 3 x 100000 one to 7.4 GB); now no resampled image exceeds 4x the output.
    img = random_image(np.random.default_rng(0), *size)
    sizes = _record_resizes(monkeypatch)
    view = clip_view(img)
    crop = center_crop(img, DCT_SIZE)
    assert view.shape == (3, 224, 224) and np.isfinite(view).all()
    assert crop.size == (DCT_SIZE, DCT_SIZE)
    assert sizes and max(w * h for w, h in sizes) <= 4 * 224 * 224


def test_large_images_are_box_reduced_first_and_stay_close_to_a_direct_resize():
    rng = np.random.default_rng(1)
    img = natural_image(rng, 1400).resize((1868, 1400), Image.Resampling.BICUBIC)
    assert min(img.size) >= 2 * REDUCING_GAP * 224
    fast = np.asarray(resized_center_crop(img, 224), dtype=np.int16)
    direct = np.asarray(resized_center_crop(img, 224, reducing_gap=None), dtype=np.int16)
    assert fast.shape == direct.shape == (224, 224, 3)
    # Box pre-reduction then bicubic: a documented, small change (not bit-identical).
    assert np.abs(fast - direct).mean() < 1.0


@pytest.mark.parametrize("size", [(1600, 1200), (384, 321), (100, 70), (3, 900)])
def test_prepared_inputs_give_the_features_of_the_whole_image(size):
    img = natural_image(np.random.default_rng(2), max(size)).resize(size, Image.Resampling.BICUBIC)
    prepared = prepare(img, ("clip", "dct", "crop128"))
    assert all(max(v.size) <= 224 for v in prepared.inputs.values())
    assert np.array_equal(clip_view(prepared.inputs["clip"]), clip_view(img))
    assert np.array_equal(EXTRACTORS["dct"].apply([prepared])[0], dct_spectrum(img))
    assert np.array_equal(EXTRACTORS["crop128"].apply([prepared])[0], EXTRACTORS["crop128"].apply([img])[0])


def test_only_views_that_read_no_native_pixels_allow_a_reduced_decode():
    assert decode_min_side(["clip"]) == int(REDUCING_GAP * 224)
    assert decode_min_side(["clip", "dct"]) is None  # the default: the DCT crop needs native pixels
    assert decode_min_side(["crop128"]) is None
    assert decode_min_side(["clip", "clip-noise"]) is None


def test_size_notes_say_what_the_views_do():
    views = {"clip": 224, "dct": 128}
    assert size_notes(640, 480, views) == []
    notes = size_notes(3, 100000, views)
    assert any("clip view upscaled 74.7x" in n for n in notes)
    assert any("dct view upscaled 42.7x" in n for n in notes)
    assert any("extreme aspect ratio" in n for n in notes)
    assert any("too few pixels" in n for n in notes)
    assert size_notes(200, 150, views) == ["clip view upscaled 1.5x (shorter side 150 px -> 224 px)"]
    assert not any("too few" in n for n in size_notes(MIN_JUDGED_SIDE, MIN_JUDGED_SIDE, views))
