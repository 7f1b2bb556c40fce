"""Classical forensic localizers: each finds the trace it is built for on an edit made for it, and
stays quiet on an untouched image that merely looks alike."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from fakescope.registry import create, list_localizers
from tests.conftest import natural_image


def _photo(rng, size=256, noise=2.0) -> np.ndarray:
    """Photo-like: smooth 1/f content plus sensor-like noise, as 8-bit RGB."""
    base = ndimage.gaussian_filter(np.asarray(natural_image(rng, size), float), (1, 1, 0))
    return np.clip(np.round(base + rng.normal(0, noise, base.shape)), 0, 255).astype(np.uint8)


def _gap(m, mask):
    return m[mask].mean() - m[~mask].mean()


def test_classical_localizers_are_registered_and_need_no_training():
    assert {"copy-move", "noise-level"} <= set(list_localizers())
    from fakescope.models import load_localizer

    loc = load_localizer("copy-move")  # by name: nothing to load
    assert loc.training_free and loc.localize(Image.new("RGB", (40, 30)))["map"].shape == (30, 40)


@pytest.mark.parametrize("transform", ["shift", "rot90", "rot180"])
def test_copy_move_finds_source_and_destination(transform):
    rng = np.random.default_rng(1)
    img = _photo(rng)
    region = img[30:78, 40:88]
    edited = img.copy()
    edited[150:198, 160:208] = {"shift": region, "rot90": np.rot90(region), "rot180": np.rot90(region, 2)}[transform]
    src, dst = np.zeros((256, 256), bool), np.zeros((256, 256), bool)
    src[30:78, 40:88], dst[150:198, 160:208] = True, True
    m = create("copy-move").localize(Image.fromarray(edited))["map"]
    assert m[src].mean() > 0.5 and m[dst].mean() > 0.5  # both ends of the copy
    assert m[~(src | dst)].mean() < 0.02


def test_copy_move_ignores_repeated_texture_and_untouched_photos():
    rng = np.random.default_rng(2)
    loc = create("copy-move")
    assert (loc.localize(Image.fromarray(_photo(rng)))["map"] >= 0.5).mean() == 0
    # Bricks: one pattern repeated, each repetition with its own noise. Alike, but nothing was copied.
    tile = np.asarray(natural_image(rng, 32), float)
    bricks = np.clip(np.round(np.tile(tile, (8, 8, 1)) + rng.normal(0, 6, (256, 256, 3))), 0, 255).astype(np.uint8)
    assert (loc.localize(Image.fromarray(bricks))["map"] >= 0.5).mean() < 0.01


@pytest.mark.parametrize("edit", ["noisier", "smoothed"])
def test_noise_level_finds_a_region_with_other_noise(edit):
    rng = np.random.default_rng(3)
    img = _photo(rng).astype(float)
    mask = np.zeros((256, 256), bool)
    mask[80:160, 100:180] = True
    if edit == "noisier":  # pasted from a noisier camera
        img[mask] += rng.normal(0, 8, (int(mask.sum()), 3))
    else:  # inpainted / regenerated: smoother than the sensor noise around it
        img[80:160, 100:180] = ndimage.gaussian_filter(img[80:160, 100:180], (1.5, 1.5, 0))
    m = create("noise-level").localize(Image.fromarray(np.clip(np.round(img), 0, 255).astype(np.uint8)))["map"]
    assert m[mask].mean() > 0.6 and m[~mask].mean() < 0.05


def test_noise_level_is_quiet_on_uniform_noise():
    rng = np.random.default_rng(4)
    m = create("noise-level").localize(Image.fromarray(_photo(rng, noise=3.0)))["map"]
    assert (m >= 0.5).mean() < 0.01


def test_calibration_gives_a_probability_and_survives_save_load(tmp_path):
    from fakescope.data.manifest import Manifest, Sample
    from fakescope.models import load_localizer

    rng = np.random.default_rng(5)
    samples = []
    for i in range(6):
        img = _photo(rng, 128)
        Image.fromarray(img).save(tmp_path / f"r{i}.png")
        edited = img.copy()
        edited[70:110, 70:110] = img[5:45, 5:45]
        Image.fromarray(edited).save(tmp_path / f"p{i}.png")
        samples += [Sample(path=f"r{i}.png", label="real", source="s"), Sample(path=f"p{i}.png", label="partial",
                                                                               source="s")]  # fmt: skip
    m = Manifest(samples, root=tmp_path)
    loc = create("copy-move")
    assert loc.localize(Image.open(tmp_path / "p0.png"))["p_fake"] is None  # uncalibrated: a map, no probability
    loc.fit(m)
    p_edit = loc.localize(Image.open(tmp_path / "p0.png"))["p_fake"]
    p_real = loc.localize(Image.open(tmp_path / "r0.png"))["p_fake"]
    assert 0 <= p_real < p_edit <= 1
    loc.save(tmp_path / "cm")
    again = load_localizer(tmp_path / "cm")
    assert again.localize(Image.open(tmp_path / "p0.png"))["p_fake"] == pytest.approx(p_edit)
    assert json.loads((tmp_path / "cm" / "card.json").read_text())["card"]["kind"] == "localizer"


def _jpeg(a: np.ndarray, quality: int) -> Image.Image:
    import io

    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue()))


def _decoded(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB")).copy()


def test_jpeg_dq_finds_a_region_quantised_once():
    rng = np.random.default_rng(6)
    mask = np.zeros((256, 256), bool)
    mask[96:176, 64:160] = True
    a = _decoded(_jpeg(_photo(rng), 60))  # first save, quality 60
    a[mask] = _photo(rng)[mask]  # pasted from an uncompressed image
    m = create("jpeg-dq").localize(_jpeg(a, 90))["map"]  # saved again, quality 90
    assert m[mask].mean() > 0.6 and m[~mask].mean() < 0.1
    # Saved once: no periodic histogram, no evidence anywhere. Not a JPEG file: nothing to read.
    assert (create("jpeg-dq").localize(_jpeg(_photo(rng), 90))["map"] >= 0.5).mean() < 0.01
    assert create("jpeg-dq").localize(Image.fromarray(a))["map"].max() == 0


def test_jpeg_grid_finds_a_region_pasted_off_the_grid():
    rng = np.random.default_rng(7)
    background = _decoded(_jpeg(_photo(rng), 40))
    donor = _decoded(_jpeg(_photo(rng), 40))
    background[99:179, 69:165] = donor[:80, :96]  # 3 and 5 px off the background's 8 x 8 grid
    mask = np.zeros((256, 256), bool)
    mask[99:179, 69:165] = True
    m = create("jpeg-grid").localize(Image.fromarray(background))["map"]
    assert m[mask].mean() > 0.5 and m[~mask].mean() < 0.15
    clean = create("jpeg-grid").localize(Image.fromarray(_decoded(_jpeg(_photo(rng), 40))))["map"]
    assert (clean >= 0.5).mean() < 0.01


def test_ela_shows_a_region_with_another_compression_history():
    rng = np.random.default_rng(8)
    mask = np.zeros((256, 256), bool)
    mask[96:176, 64:160] = True
    a = _decoded(_jpeg(_photo(rng), 70))
    a[mask] = _photo(rng)[mask]
    m = create("ela", quality=70).localize(Image.fromarray(a))["map"]
    assert _gap(m, mask) > 0.2


def test_the_localize_command_runs_a_classical_map_by_name(tmp_path):
    from typer.testing import CliRunner

    from fakescope.cli.main import app

    rng = np.random.default_rng(9)
    folder = tmp_path / "in"
    folder.mkdir()
    img = _photo(rng, 128)
    edited = img.copy()
    edited[70:110, 70:110] = img[5:45, 5:45]
    Image.fromarray(edited).save(folder / "copied.png")
    r = CliRunner().invoke(app, ["localize", str(folder), "--out", str(tmp_path / "maps"), "-l", "copy-move"])
    assert r.exit_code == 0, r.output
    row = json.loads((tmp_path / "maps" / "localize.jsonl").read_text().splitlines()[0])
    assert row["localizer"] == "copy-move" and row["localizer_p_fake"] is None and row["flagged_share"] > 0.05


def test_jpeg_dq_reads_the_tables_through_the_loader(tmp_path):
    from fakescope.io import open_image

    rng = np.random.default_rng(10)
    mask = np.zeros((256, 256), bool)
    mask[96:176, 64:160] = True
    a = _decoded(_jpeg(_photo(rng), 60))
    a[mask] = _photo(rng)[mask]
    Image.fromarray(a).save(tmp_path / "edited.jpg", quality=90)
    img, _ = open_image(tmp_path / "edited.jpg")  # RGB, as scan and localize hand it over
    m = create("jpeg-dq").localize(img)["map"]
    assert m[mask].mean() > 0.6 and m[~mask].mean() < 0.1


def test_jpeg_dq_flags_little_of_authentic_jpegs_whose_blocks_all_look_alike(shared_data):
    """Re-encoded crops and high-quality files can look 'quantised once' in every block; a map relative to the
    image's own blocks gives them no evidence (it used to flag about 70% of the shared data's real JPEGs)."""
    import csv

    rows = [r for r in csv.DictReader(open(shared_data / "manifest.csv"))
            if r["label"] == "real" and r["path"].lower().endswith((".jpg", ".jpeg"))]  # fmt: skip
    loc = create("jpeg-dq")
    flagged = [(loc.localize(Image.open(shared_data / r["path"]))["map"] >= 0.5).mean() for r in rows[::40][:25]]
    assert len(flagged) >= 20 and np.mean(flagged) < 0.05


def _texture_edit(rng, rows: slice, cols: slice) -> tuple[np.ndarray, np.ndarray]:
    """A photo whose noise is white except in one region, where it is as strong but spatially correlated (another
    camera's demosaicing and denoising): the same noise level, another noise texture."""
    base = ndimage.gaussian_filter(np.asarray(natural_image(rng, 256), float), (1, 1, 0))
    white = rng.normal(0, 3.0, base.shape)
    correlated = ndimage.gaussian_filter(rng.normal(0, 1, base.shape), (0.8, 0.8, 0))
    mask = np.zeros((256, 256), bool)
    mask[rows, cols] = True
    noise = np.where(mask[..., None], correlated * 3.0 / correlated.std(), white)
    return np.clip(np.round(base + noise), 0, 255).astype(np.uint8), mask


def test_splicebuster_finds_a_region_with_the_same_noise_level_but_another_texture():
    img, mask = _texture_edit(np.random.default_rng(5), slice(64, 160), slice(80, 176))
    m = create("splicebuster").localize(Image.fromarray(img))["map"]
    inner = ndimage.binary_erosion(mask, iterations=16)  # windows straddling the border mix both textures
    outer = ~ndimage.binary_dilation(mask, iterations=16)
    assert m[inner].mean() > 0.8 and m[outer].mean() < 0.1


def test_splicebuster_marks_the_smaller_part_of_the_image():
    """The mixture cannot tell which cluster was edited: it marks the smaller (documented on its card)."""
    img, mask = _texture_edit(np.random.default_rng(6), slice(0, 256), slice(0, 176))  # edit: 69% of the image
    m = create("splicebuster").localize(Image.fromarray(img))["map"]
    assert m[ndimage.binary_erosion(~mask, iterations=16)].mean() > 0.8
    assert m[ndimage.binary_erosion(mask, iterations=16)].mean() < 0.1
