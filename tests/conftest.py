"""Shared fixtures: synthetic images with known properties, the sample folder, and the data set."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
SHARED = ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated_feature_cache(tmp_path, monkeypatch):
    """Each test gets its own feature cache, so no test reads another's features."""
    monkeypatch.setenv("FAKESCOPE_FEATURE_CACHE", str(tmp_path / "features.sqlite"))


def weights_present() -> bool:
    from fakescope import weights

    return all(row["ok"] for row in weights.status())


@pytest.fixture
def needs_weights():
    """Tests that run pretrained models. On CI (CI=true) missing weights are a failure, not a skip."""
    if not weights_present():
        if os.environ.get("CI"):
            pytest.fail("weights missing on CI: .ci/run must run `fakescope weights pull`")
        pytest.skip("weights not pulled (run `fakescope weights pull`)")


@pytest.fixture
def shared_data():
    if not (SHARED / "manifest.csv").is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{SHARED} missing on CI")
        pytest.skip("../shared/data not present")
    return SHARED


def natural_image(rng: np.random.Generator, size: int = 160) -> Image.Image:
    """A smooth, photo-like random image: 1/f noise per channel."""
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.fftfreq(size)[None, :]
    amp = 1.0 / np.maximum(np.sqrt(fx**2 + fy**2), 1.0 / size)
    chans = []
    for _ in range(3):
        phase = rng.uniform(0, 2 * np.pi, (size, size))
        x = np.real(np.fft.ifft2(amp * np.exp(1j * phase)))
        chans.append((x - x.min()) / (np.ptp(x) + 1e-9))
    return Image.fromarray((np.stack(chans, -1) * 255).astype(np.uint8))


def upsampled_image(rng: np.random.Generator, size: int = 160) -> Image.Image:
    """A 'generated' image: half-size content up-sampled by pixel repetition plus a faint
    period-4 checkerboard, the kind of artefact a transposed convolution leaves."""
    small = np.asarray(natural_image(rng, size // 2), dtype=np.float64)
    big = small.repeat(2, 0).repeat(2, 1)
    yy, xx = np.mgrid[0:size, 0:size]
    big += 6.0 * np.cos(np.pi * xx / 2)[..., None] * np.cos(np.pi * yy / 2)[..., None]
    return Image.fromarray(np.clip(big, 0, 255).astype(np.uint8))


def edit_manifest(root: Path, edited, real, n_edit: int, n_real: int, seed: int = 0, generator: str = "edit"):
    """A manifest of ``n_edit`` partial edits (``edited(rng)`` -> image, 0/1 mask), written with their masks,
    and ``n_real`` authentic images (``real(rng)`` -> image), all under ``root``."""
    from fakescope.data.manifest import Manifest, Sample

    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_edit):
        img, mask = edited(rng)
        img.save(root / f"e{i}.png")
        Image.fromarray(mask.astype(np.uint8) * 255).save(root / f"e{i}-mask.png")
        rows.append(Sample(path=f"e{i}.png", label="partial", mask=f"e{i}-mask.png", generator=generator, source="t"))
    for i in range(n_real):
        real(rng).save(root / f"r{i}.png")
        rows.append(Sample(path=f"r{i}.png", label="real", source="t"))
    return Manifest(rows, root=root)


def write_synthetic_dataset(root: Path, n_per_class: int = 12, sources=("alpha", "beta"), seed: int = 0) -> Path:
    """A tiny paired data set: each source holds real (natural) and fake (up-sampled) PNGs."""
    from fakescope.data.manifest import Manifest, Sample

    rng = np.random.default_rng(seed)
    samples = []
    for src in sources:
        for label in ("real", "fake"):
            for i in range(n_per_class):
                img = natural_image(rng) if label == "real" else upsampled_image(rng)
                rel = f"{src}/{label}/{i}.png"
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                img.save(root / rel)
                samples.append(Sample(path=rel, label=label, source=src,
                                      generator="" if label == "real" else f"gen-{src}",
                                      family="" if label == "real" else "gan"))  # fmt: skip
    return Manifest(samples, root=root).write(root / "manifest.csv")


@pytest.fixture
def synthetic_manifest(tmp_path) -> Path:
    return write_synthetic_dataset(tmp_path / "data")


@pytest.fixture(scope="module")
def dct_detector(tmp_path_factory):
    """A small trained detector that needs no downloaded weights (dct-linear on a synthetic data set)."""
    from fakescope.data.manifest import Manifest
    from fakescope.detectors.base import load
    from fakescope.registry import create

    root = tmp_path_factory.mktemp("det")
    m = Manifest.read(write_synthetic_dataset(root / "data", n_per_class=8))
    create("dct-linear", n_aug=0, calib_folds=2).fit(m).save(root / "dct")
    return load(root / "dct")
