"""Aligned counterparts: real images re-made by an autoencoder, whole or in one region, with exact masks."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT, natural_image

torch = pytest.importorskip("torch")

from fakescope.data.synthesis.aligned import aligned, aligned_local  # noqa: E402
from fakescope.data.synthesis.autoencoders import (  # noqa: E402
    UPSAMPLERS,
    OwnAEConfig,
    load_taef2,
    own_autoencoder,
    round_trip,
    train_own_autoencoder,
)

TAEF2 = ROOT.parent / "shared" / "weights" / "taef2"


@pytest.fixture(scope="module")
def taef2():
    if not (TAEF2 / "taef2_decoder.pth").is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{TAEF2} missing on CI")
        pytest.skip("../shared/weights/taef2 not present")
    return load_taef2(TAEF2)


def test_taef2_round_trip_keeps_the_content_and_changes_the_pixels(taef2, shared_data):
    from fakescope.data.manifest import Manifest

    real = next(s for s in Manifest.read(shared_data / "manifest.csv") if s.label == "real")
    img = Image.open(real.file).convert("RGB").crop((0, 0, 200, 136))  # not a multiple of 8
    out = round_trip(taef2, img)
    a, b = np.asarray(img, np.float64) / 255, np.asarray(out, np.float64) / 255
    assert out.size == img.size
    mse = ((a - b) ** 2).mean()
    assert 1e-6 < mse < 0.003, mse  # the content comes back (strict load of the published weights) ...
    assert (np.abs(a - b) > 1 / 255).mean() > 0.2  # ... but most pixels were re-made by the decoder


def test_taef2_refuses_a_file_that_is_not_the_published_one(tmp_path):
    if not (TAEF2 / "taef2_decoder.pth").is_file():
        pytest.skip("../shared/weights/taef2 not present")
    for f in ("taef2_encoder.pth", "taef2_decoder.pth"):
        shutil.copy(TAEF2 / f, tmp_path / f)
    data = bytearray((tmp_path / "taef2_decoder.pth").read_bytes())
    data[-100] ^= 1
    (tmp_path / "taef2_decoder.pth").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="not the published TAEF2 file"):
        load_taef2(tmp_path)
    with pytest.raises(FileNotFoundError, match="taef2_encoder.pth"):
        load_taef2(tmp_path / "nowhere")


@pytest.mark.parametrize("upsampler", UPSAMPLERS)
def test_own_autoencoders_keep_the_size_at_1_8_latent_resolution(upsampler):
    ae = own_autoencoder(OwnAEConfig(upsampler=upsampler, latent=4, width=8)).eval()
    x = torch.rand(2, 3, 64, 48)
    assert ae.encoder(x).shape == (2, 4, 8, 6)
    y = ae(x)
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1


def test_own_autoencoder_learns_to_reconstruct_real_images():
    rng = np.random.default_rng(0)
    reals = [natural_image(rng, 64) for _ in range(8)]
    x = torch.as_tensor(np.stack([np.asarray(natural_image(rng, 64)) for _ in range(4)])).permute(0, 3, 1, 2)
    x = x.float() / 255
    cfg = OwnAEConfig(upsampler="nearest", latent=8, width=16, epochs=6, crop=32, batch=8, lr=3e-3)
    with torch.no_grad():
        before = (own_autoencoder(cfg)(x) - x).abs().mean().item()  # same seed: the untrained network
    torch.manual_seed(cfg.seed)
    ae = train_own_autoencoder(reals, cfg)
    with torch.no_grad():
        after = (ae(x) - x).abs().mean().item()
    assert after < 0.6 * before, (before, after)


class _Darken(torch.nn.Module):
    """A stand-in autoencoder that changes every pixel in a known way."""

    name = "darken"

    def __init__(self):
        super().__init__()
        self.p = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return (x * 0.5 + self.p).clamp(0, 1)


def test_aligned_remakes_every_pixel_and_aligned_local_exactly_the_masked_ones():
    rng = np.random.default_rng(3)
    img = natural_image(rng, 96)
    whole = aligned(img, _Darken())
    assert whole.image.size == img.size and whole.binary_mask.all()
    assert np.allclose(np.asarray(whole.image, float), np.round(np.asarray(img, float) * 0.5), atol=1)
    local = aligned_local(img, _Darken(), rng)
    a, b, m = np.asarray(img), np.asarray(local.image), local.binary_mask.astype(bool)
    assert 0.01 < m.mean() < 0.5
    assert np.array_equal(a[~m], b[~m])  # outside the mask: untouched
    changed = (a != b).any(-1)
    assert changed[m].mean() > 0.9 and not changed[~m].any()


def test_synth_writes_aligned_pairs_and_reuses_them(tmp_path, synthetic_manifest):
    from typer.testing import CliRunner

    from fakescope.cli.main import app
    from fakescope.data.manifest import Manifest

    args = ["synth", str(synthetic_manifest), "--out", str(tmp_path / "s"), "-n", "6", "--kinds",
            "aligned,aligned-local", "--autoencoder", "ae-nearest-l4"]  # fmt: skip
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    m = Manifest.read(tmp_path / "s" / "manifest.csv")
    assert len(m) == 6
    labels = {s.generator: s.label for s in m}
    assert labels.get("fakescope-aligned-ae-nearest-l4") in (None, "fake")
    assert labels.get("fakescope-aligned-local-ae-nearest-l4") in (None, "partial")
    for s in m:
        assert Image.open(s.file).size == Image.open(s.mask_file).size
    first = {s.path: s.sha256 for s in m if s.label == "fake"}
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0 and ("reused" in r.output or not first)
    again = {s.path: s.sha256 for s in Manifest.read(tmp_path / "s" / "manifest.csv") if s.label == "fake"}
    assert all(again.get(p) == h for p, h in first.items())
    r = CliRunner().invoke(app, ["synth", str(synthetic_manifest), "--out", str(tmp_path / "t"), "--kinds", "aligned"])
    assert r.exit_code == 2 and "need an autoencoder" in r.output


def test_counterparts_link_to_their_real_image_and_a_rerun_builds_no_autoencoder(tmp_path, synthetic_manifest):
    from typer.testing import CliRunner

    from fakescope.cli.main import app
    from fakescope.data.manifest import Manifest, file_sha256

    reals = {file_sha256(s.file): s for s in Manifest.read(synthetic_manifest) if s.label == "real"}
    args = ["synth", str(synthetic_manifest), "--out", str(tmp_path / "s"), "-n", "4", "--kinds", "aligned",
            "--autoencoder", "ae-pixelshuffle-l4"]  # fmt: skip  (no shipped file: trained on the spot)
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0 and "epoch" in r.output  # the autoencoder was trained
    made = Manifest.read(tmp_path / "s" / "manifest.csv")
    assert len(made) == 4 and all(s.pair in reals for s in made)
    for s in made:  # named after its real image, same size
        assert s.path.startswith(f"images/{s.pair[:16]}-aligned-")
        assert Image.open(s.file).size == Image.open(reals[s.pair].file).size
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0 and "reused" in r.output and "epoch" not in r.output
    assert [s.pair for s in Manifest.read(tmp_path / "s" / "manifest.csv")] == [s.pair for s in made]


def test_shipped_autoencoders_load_strictly_and_keep_a_real_photo(shared_data):
    """Each full-size autoencoder shipped with fakescope loads by its name and re-makes a real photo of the
    shared data closely (PSNR above 20 dB: a broken or mismatched file gives noise) but not exactly."""
    from fakescope.data.manifest import Manifest
    from fakescope.data.synthesis.autoencoders import SHIPPED, autoencoder_from_spec
    from fakescope.io import load_image

    files = sorted(p.stem for p in SHIPPED.glob("*.pt"))
    assert {"ae-transposed-l8", "ae-nearest-l8", "ae-pixelshuffle-l8", "ae-bilinear-l8"} <= set(files)
    real = next(s for s in Manifest.read(shared_data / "manifest.csv") if s.label == "real" and s.width and min(s.width, s.height) >= 256)
    img = load_image(real.file)
    img = img.crop((0, 0, 256, 256))
    a = np.asarray(img, dtype=np.float64)
    for name in files:
        ae = autoencoder_from_spec(name.removesuffix("-l8") if name.endswith("-l8") else name)
        assert ae.name == name
        b = np.asarray(round_trip(ae, img), dtype=np.float64)
        psnr = 10 * np.log10(255.0**2 / ((a - b) ** 2).mean())
        assert 20 < psnr < 60, (name, psnr)


def test_autoencoder_train_writes_a_file_that_synth_and_the_loader_take(tmp_path, synthetic_manifest):
    from typer.testing import CliRunner

    from fakescope.cli.main import app
    from fakescope.data.synthesis.autoencoders import autoencoder_from_spec

    out = tmp_path / "aes"
    r = CliRunner().invoke(app, ["autoencoder", "train", str(synthetic_manifest), "--spec", "ae-bilinear-l4", "-o",
                                 str(out), "--set", "epochs=1", "--set", "width=8", "--check", "2"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert (out / "ae-bilinear-l4.pt").is_file() and "PSNR" in r.output
    ae = autoencoder_from_spec("ae-bilinear-l4", out)
    assert ae.name == "ae-bilinear-l4" and ae.encoder[0].out_channels == 8  # the settings came with the file
    with pytest.raises(ValueError, match="holds ae-bilinear-l4, not ae-nearest-l4"):
        autoencoder_from_spec("ae-nearest-l4", out / "ae-bilinear-l4.pt")
    r = CliRunner().invoke(app, ["synth", str(synthetic_manifest), "--out", str(tmp_path / "s"), "-n", "2", "--kinds",
                                 "aligned", "--autoencoder", "ae-bilinear-l4", "--autoencoder-weights",
                                 str(out / "ae-bilinear-l4.pt")])  # fmt: skip
    assert r.exit_code == 0 and "epoch" not in r.output, r.output
    r = CliRunner().invoke(app, ["autoencoder", "train", str(synthetic_manifest), "--spec", "ae-bilinear", "-o",
                                 str(out), "--set", "colour=3"])  # fmt: skip
    assert r.exit_code == 2 and "unknown autoencoder setting 'colour'" in r.output
