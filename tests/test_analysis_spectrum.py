"""Spectral analysis: peaks where an up-sampling grid puts them, none on natural images or ridges, radial
averages, distances, and `fakescope spectrum` on a small slice (CI)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from fakescope.analysis import spectrum as sp
from fakescope.data.manifest import Manifest

from .conftest import natural_image, upsampled_image, write_synthetic_dataset


def _peaks(img: Image.Image, view: str = "native256") -> list[sp.Peak]:
    return sp.find_peaks(sp.log_power(sp.luma_view(img, view)))


@pytest.mark.parametrize("view", ["native256", "matched256q90"])
def test_upsampling_grid_gives_peak_at_its_frequency(view):
    # 2x pixel repetition plus a faint period-4 checkerboard (a transposed convolution's trace): a peak at
    # (1/4, 1/4) cycles per pixel, also after the matched JPEG q90 (the image is already 256 px: not resized)
    img = upsampled_image(np.random.default_rng(0), 256)
    peaks = _peaks(img, view)
    grid = next(p for p in peaks if (p.fy, p.fx) == (0.25, 0.25))
    assert grid.label == "(1/4, 1/4)" and grid.periods == (4.0, 4.0)
    assert grid.excess_db >= sp.PeakRule().min_db
    if view == "native256":  # every peak on the period-4 grid (the repetition adds (1/2, 1/2))
        assert all((4 * p.fy).is_integer() and (4 * p.fx).is_integer() for p in peaks)
    else:  # after JPEG q90 the checkerboard is still the strongest peak
        assert peaks[0] is grid


def test_period_three_grid_along_x():
    base = np.asarray(natural_image(np.random.default_rng(3), 256), dtype=float)
    xx = np.arange(256)[None, :, None]
    img = Image.fromarray(np.clip(base + 5 * np.cos(2 * np.pi * xx / 3), 0, 255).astype(np.uint8))
    peaks = _peaks(img)
    assert [p.label for p in peaks] == ["(0, 1/3)"]
    assert not peaks[0].jpeg_grid


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("view", ["native256", "matched256q90"])
def test_natural_images_have_no_peaks(seed, view):
    assert _peaks(natural_image(np.random.default_rng(seed), 256), view) == []


def test_a_ridge_is_not_a_peak():
    # rows of random brightness: energy along the whole vertical frequency axis, a line, not a point
    rng = np.random.default_rng(1)
    base = np.asarray(natural_image(rng, 256), dtype=float)
    img = Image.fromarray(np.clip(base + rng.normal(0, 20, (256, 1, 1)), 0, 255).astype(np.uint8))
    spec = sp.log_power(sp.luma_view(img, "native256"))
    assert sp.find_peaks(spec) == []
    assert sp.axis_excess(spec) > 1.0  # but the spectrum is clearly anisotropic
    assert abs(sp.axis_excess(sp.log_power(base.mean(-1)))) < 0.5  # and the natural image near isotropic


def test_radial_average_of_a_radial_function():
    s = 64
    f = sp.frequencies(s)
    spec = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)  # value = radial frequency
    freqs, values = sp.radial_average(spec)
    assert freqs[0] == 0 and freqs[-1] == 0.5 and len(freqs) == s // 2 + 1
    assert np.allclose(values[1:], freqs[1:], atol=0.5 / s)


def test_frequency_labels():
    assert sp.frequency_label(0.25, 256) == "1/4"
    assert sp.frequency_label(1 / 3, 256) == "1/3"
    assert sp.frequency_label(0.27, 256) == "0.270"
    assert sp.frequency_label(0.0, 256) == "0"


def test_generator_peak_is_its_own_and_distances(tmp_path):
    manifest = Manifest.read(write_synthetic_dataset(tmp_path, n_per_class=6))
    # native128: the 160 px images are cropped, not resampled, so the period-4 grid stays at 1/4
    r = sp.analyse(manifest, "native128")
    assert r.n_images == 24 and not r.unreadable
    assert r.groups["class:real"].n == 12 and r.groups["class:fake"].n == 12
    for gen in ("generator:gen-alpha", "generator:gen-beta"):
        own = [p for p in r.groups[gen].peaks if p.own]
        assert ("(1/4, 1/4)") in [p.label for p in own]
    assert r.groups["class:real"].peaks == []
    d = r.distances
    assert np.allclose(d, d.T) and np.allclose(np.diag(d), 0)
    real_alpha, real_beta = r.distance_keys.index("real source:alpha"), r.distance_keys.index("real source:beta")
    gen_alpha = r.distance_keys.index("generator:gen-alpha")
    assert d[real_alpha, real_beta] < d[real_alpha, gen_alpha]  # reals resemble reals more than fakes
    assert r.nearest("generator:gen-alpha", "generator")[0] == "generator:gen-beta"


def test_unknown_view_is_an_error():
    with pytest.raises(ValueError, match="unknown view"):
        sp.luma_view(Image.new("RGB", (8, 8)), "clean")


def _run_spectrum(args):
    from typer.testing import CliRunner

    from fakescope.cli.main import app

    return CliRunner().invoke(app, ["spectrum", *map(str, args)])


def test_cli_on_synthetic_data_keeps_other_sections(tmp_path):
    pytest.importorskip("matplotlib")
    manifest = write_synthetic_dataset(tmp_path / "data", n_per_class=6)
    doc = tmp_path / "docs" / "ANALYSIS.md"
    doc.parent.mkdir()
    doc.write_text("# Analysis\n\n## Attribution\n\nkept as it is\n")
    out = tmp_path / "docs" / "spectrum"
    r = _run_spectrum([manifest, "--out", out, "--view", "native128", "--doc", doc])
    assert r.exit_code == 0, r.output
    html = (out / "spectrum.html").read_text()
    assert html.count("data:image/png;base64,") >= 5 and "<link" not in html
    data = json.loads((out / "spectrum.json").read_text())
    groups = data["views"][0]["groups"]
    assert any(p["label"] == "(1/4, 1/4)" and not p["in_real"] for p in groups["generator:gen-alpha"]["peaks"])
    text = doc.read_text()
    assert "## Attribution\n\nkept as it is" in text
    assert "## Spectral analysis" in text and "`fakescope spectrum " in text and "--view native128" in text
    assert "(spectrum/native128-classes.png)" in text  # images linked relative to the document
    assert "| gen-alpha | gan | 6 |" in text


@pytest.mark.slow
def test_cli_on_a_slice_of_the_data(shared_data, tmp_path):
    pytest.importorskip("matplotlib")
    doc = tmp_path / "ANALYSIS.md"
    r = _run_spectrum([shared_data / "manifest.csv", "--out", tmp_path / "out", "--sample", 120, "--doc", doc])
    assert r.exit_code == 0, r.output
    data = json.loads((tmp_path / "out" / "spectrum.json").read_text())
    view = data["views"][0]
    assert view["view"] == "matched256q90" and view["size"] == 256
    assert view["n_images"] + len(view["unreadable"]) >= 100
    assert {"class:real", "class:fake"} <= set(view["groups"])
    assert "## Spectral analysis" in doc.read_text()
