"""Classical partial edits: exact masks, untouched pixels outside them, and the synth command."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from fakescope.data.synthesis import blob_mask, copy_move, inpaint, splice
from tests.conftest import SAMPLES, natural_image

pytest.importorskip("cv2", reason="the 'synth' extra is not installed")


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    return natural_image(rng, 200), natural_image(rng, 150).resize((240, 180))


@pytest.mark.parametrize("feathered", [False, True])
@pytest.mark.parametrize("kind", ["inpaint", "copy-move", "splice"])
def test_pixels_outside_the_mask_are_untouched(pair, kind, feathered):
    img, donor = pair
    for seed in range(3):
        rng = np.random.default_rng(seed)
        if kind == "inpaint":
            e = inpaint(img, rng, feathered=feathered)
        elif kind == "copy-move":
            e = copy_move(img, rng, feathered=feathered)
        else:
            e = splice(img, donor, rng, feathered=feathered)
        assert e.image.size == img.size and e.binary_mask.shape == (200, 200)
        outside = e.binary_mask == 0
        assert np.array_equal(np.asarray(e.image)[outside], np.asarray(img)[outside])
        assert 0.005 < e.binary_mask.mean() < 0.4
        changed = np.abs(np.asarray(e.image, int) - np.asarray(img, int)).max(axis=2) > 0
        assert changed[e.binary_mask == 1].mean() > 0.5  # the mask marks pixels that did change
        if not feathered:
            assert set(np.unique(e.mask)) <= {0.0, 1.0}


def test_copy_move_pastes_the_image_own_content():
    img = natural_image(np.random.default_rng(5), 200)
    e = copy_move(img, np.random.default_rng(1), feathered=False)
    dx, dy = e.params["shift"]
    arr, out = np.asarray(img), np.asarray(e.image)
    ys, xs = np.nonzero(e.binary_mask)
    assert np.array_equal(out[ys, xs], arr[ys - dy, xs - dx])


def test_blob_masks_are_single_object_like_regions():
    from scipy import ndimage

    for seed in range(10):
        m = blob_mask((300, 200), np.random.default_rng(seed))
        labels, count = ndimage.label(m)
        assert count == 1 and 0.01 < m.mean() < 0.25


def test_synth_command_writes_a_valid_manifest(tmp_path):
    from fakescope.cli.main import app
    from fakescope.data.manifest import Manifest

    out = tmp_path / "syn"
    r = CliRunner().invoke(app, ["synth", str(SAMPLES / "manifest.csv"), "-o", str(out), "-n", "6",
                                 "--kinds", "inpaint,copy-move,splice"])  # fmt: skip
    assert r.exit_code == 0, r.output
    m = Manifest.read(out / "manifest.csv")
    assert len(m) == 6 and m.validate() == []
    assert {s.source for s in m} == {"fakescope-synth"} and {s.label for s in m} == {"partial"}
    for s in m:
        mask = np.asarray(Image.open(s.mask_file))
        assert set(np.unique(mask)) <= {0, 255} and mask.max() == 255
    r = CliRunner().invoke(app, ["synth", str(SAMPLES / "manifest.csv"), "-o", str(out), "--kinds", "blur"])
    assert r.exit_code == 2 and "unknown kind" in r.output


def test_realistic_edits_are_large_varied_and_exact_before_sharing(pair):
    from fakescope.data.synthesis.local import realistic

    img, donor = pair
    areas, contents, regions, jpeg = [], set(), set(), 0
    for seed in range(40):
        e = realistic(img, np.random.default_rng(seed), donor if seed % 4 else None)
        assert e.kind == "realistic" and e.binary_mask.shape == (200, 200)
        outside = e.binary_mask == 0
        # the edit itself leaves every pixel outside its mask as it was; JPEG (params) comes when saved
        assert np.array_equal(np.asarray(e.image)[outside], np.asarray(img)[outside])
        areas.append(e.binary_mask.mean())
        contents.add(e.params["content"])
        regions.add(e.params["region"])
        jpeg += "jpeg" in e.params
        if seed % 4 == 0:  # without a donor the content comes from the image itself
            assert e.params["content"] in ("copy-move", "inpaint") and e.params["region"] == "object"
        if e.params["region"] == "background":
            assert e.binary_mask.mean() > 0.45
    assert contents == {"splice", "copy-move", "inpaint"} and regions == {"object", "background"}
    assert min(areas) > 0.02 and max(areas) > 0.5 and np.median(areas) > 0.1  # far larger than the 2-12% kinds
    assert 15 < jpeg < 40


def test_realistic_splices_come_from_another_camera_and_shared_ones_are_written_as_jpeg(tmp_path, monkeypatch):
    from fakescope.data.manifest import Manifest
    from fakescope.data.synthesis.make import synthesize

    import dataclasses

    samples = Manifest.read(SAMPLES / "manifest.csv")
    # the sample reals as photos of two cameras
    m = Manifest([dataclasses.replace(s, source=f"camera-{i % 2}") for i, s in enumerate(x for x in samples
                                                                                      if x.label == "real")])  # fmt: skip
    assert len(m) >= 2
    from fakescope.data.synthesis import make

    donors = []

    def realistic(img, rng, donor):
        donors.append(donor)
        return original(img, rng, donor)

    original = make.realistic
    monkeypatch.setattr(make, "realistic", realistic)
    out = synthesize(m, tmp_path / "syn", 8, kinds=("realistic",), seed=3)
    assert out.validate() == [] and len(donors) == 8 and all(d is not None for d in donors)
    suffixes = {s.file.suffix for s in out}
    assert suffixes == {".jpg", ".png"}
    for s in out:
        assert s.orig_format == ("JPEG" if s.file.suffix == ".jpg" else "PNG")
        with Image.open(s.file) as im:
            assert im.format == s.orig_format and im.size == Image.open(s.mask_file).size
    from fakescope.data.synthesis.make import _other_camera

    rng = np.random.default_rng(0)
    for base in (s for s in m if s.label == "real"):
        donor = _other_camera(list(m), base, rng)
        assert donor.label == "real" and donor.source != base.source
    # one source only: another image of it; nothing but the image itself: no donor
    one = list(samples)
    assert all(_other_camera(one, s, rng).file != s.file for s in one)
    assert _other_camera(one[:1], one[0], rng) is None
