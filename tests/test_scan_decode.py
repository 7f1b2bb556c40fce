"""Scan decoding: reduced JPEG decodes only when the views allow, small inputs only, honest rows for tiny images."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from fakescope.features.extract import Prepared
from fakescope.io import open_image
from fakescope.scanning import DecodePlan, scan_iter
from tests.conftest import natural_image


def _encoded(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return natural_image(np.random.default_rng(3), 1400)


def test_jpeg_is_decoded_at_reduced_scale_only_when_the_view_needs_at_most_half(photo):
    data = _encoded(photo, "JPEG", quality=92)
    img, info = open_image(data, min_side=672)  # 1400 >= 2 * 672: half size is enough
    assert img.size == (700, 700)
    assert (info.width, info.height) == (1400, 1400)  # the file's size, not the decoded one
    assert any("1/2 scale in the DCT domain" in c for c in info.conversions)

    small = _encoded(photo.resize((1300, 1300)), "JPEG", quality=92)
    img, info = open_image(small, min_side=672)  # 1300 < 2 * 672: decoded in full
    assert img.size == (1300, 1300) and not info.conversions

    img, info = open_image(data)  # no min_side: always in full
    assert img.size == (1400, 1400) and not info.conversions


def test_other_formats_are_always_decoded_in_full(photo):
    img, info = open_image(_encoded(photo, "PNG"), min_side=224)
    assert img.size == (1400, 1400) and not info.conversions


class StubDetector:
    """Confidently 'real' on everything; records what it was given."""

    name = "stub"
    extractors = ("clip", "dct")

    def __init__(self):
        self.seen: list = []

    def predict_proba(self, images):
        self.seen += list(images)
        return np.full(len(images), 0.01)

    def verdict_of(self, p):
        return "fake" if p >= 0.7 else "real" if p <= 0.3 else "unsure"


@pytest.fixture
def odd_images(tmp_path, photo):
    rng = np.random.default_rng(0)
    Image.new("RGB", (1, 1), (120, 130, 140)).save(tmp_path / "one.png")
    Image.fromarray(rng.integers(0, 256, (100000, 3, 3), dtype=np.uint8)).save(tmp_path / "thin.png")
    photo.save(tmp_path / "photo.jpg", quality=92)
    return tmp_path


def test_tiny_and_thin_images_get_unsure_and_say_they_were_upscaled(odd_images):
    det = StubDetector()
    paths = [str(odd_images / n) for n in ("one.png", "thin.png", "photo.jpg")]
    rows = {r.path.split("/")[-1]: r for batch in scan_iter(det, paths) for r in batch}
    for name, factor in (("one.png", "224.0x"), ("thin.png", "74.7x")):
        row = rows[name]
        assert row.error is None and row.verdict == "unsure", name
        assert any(f"clip view upscaled {factor}" in n for n in row.notes), row.notes
    assert any("extreme aspect ratio 3x100000" in n for n in rows["thin.png"].notes)
    # An ordinary photo keeps the detector's verdict and has nothing to note.
    assert rows["photo.jpg"].verdict == "real" and rows["photo.jpg"].notes == []


def test_scan_hands_the_detector_only_the_views_not_full_size_pictures(odd_images):
    det = StubDetector()
    list(scan_iter(det, [str(odd_images / "photo.jpg"), str(odd_images / "thin.png")]))
    assert det.seen and all(isinstance(item, Prepared) for item in det.seen)
    assert all(max(v.size) <= 224 for item in det.seen for v in item.inputs.values())


def test_whole_images_when_a_localizer_needs_them():
    assert DecodePlan.for_detector(StubDetector(), whole_image=True) == DecodePlan()
    assert DecodePlan.for_detector(StubDetector()) == DecodePlan(extractors=("clip", "dct"))
    assert DecodePlan.for_detector(object()) == DecodePlan()


def test_the_pipeline_call_gives_tiny_images_the_same_notes_and_verdict_as_scan(odd_images):
    from fakescope.types import Verdict

    row = Verdict.scored(StubDetector(), "one.png", 0.01, size=(1, 1))
    assert row.verdict == "unsure" and any("clip view upscaled 224.0x" in n for n in row.notes)


def test_clip_only_detectors_scan_large_jpegs_decoded_at_reduced_scale(odd_images):
    det = StubDetector()
    det.extractors = ("clip",)
    assert DecodePlan.for_detector(det).min_side == 672
    (row,) = next(scan_iter(det, [str(odd_images / "photo.jpg")]))
    assert any("1/2 scale in the DCT domain" in n for n in row.notes), row.notes
    assert (row.width, row.height) == (1400, 1400)
    # The default reads native pixels for its DCT view: decoded in full, nothing to note.
    (row,) = next(scan_iter(StubDetector(), [str(odd_images / "photo.jpg")]))
    assert row.notes == []
