"""Adversarial evaluation: the attacks keep their budgets and do what they claim, on small toy models."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from fakescope.evaluation import adversarial as adv  # noqa: E402
from fakescope.evaluation.attacks import (  # noqa: E402
    best_within_ssim,
    fgsm,
    noise_jpeg,
    norms,
    pgd,
    psnr,
    reencode,
    ssim,
    to_tensor,
    to_uint8,
)

from .conftest import natural_image, write_synthetic_dataset  # noqa: E402


def _images(n=3, size=32, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([np.asarray(natural_image(rng, size), dtype=np.uint8) for _ in range(n)])


class Toy(torch.nn.Module):
    """A small differentiable 'detector': a fixed random convolution, mean-pooled, then linear."""

    def __init__(self, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.lin = torch.nn.Linear(8, 1)

    def forward(self, x):
        return self.lin(torch.tanh(self.conv(x)).mean(dim=(2, 3))).squeeze(1) * 20


@pytest.mark.parametrize("norm,eps", [("linf", 2 / 255), ("linf", 8 / 255), ("l2", 0.5), ("l2", 2.0)])
def test_pgd_keeps_its_budget_before_and_after_rounding(norm, eps):
    x0 = _images()
    model = Toy()
    adv_x, iterates, scores = pgd(model, to_tensor(x0), norm, eps, steps=5, keep_iterates=True)
    assert len(iterates) == 5 and len(scores) == 5
    d = adv_x - to_tensor(x0)
    assert adv_x.min() >= 0 and adv_x.max() <= 1
    if norm == "linf":
        assert d.abs().max() <= eps + 1e-6
    else:
        assert d.flatten(1).norm(dim=1).max() <= eps + 1e-5
    q = to_uint8(x0, adv_x, norm, eps)
    assert q.dtype == np.uint8 and q.shape == x0.shape
    linf, l2 = norms(x0, q)
    assert (linf <= eps + 1e-9).all() if norm == "linf" else (l2 <= eps + 1e-9).all()
    assert (linf > 0).all()  # something changed


def test_fgsm_keeps_each_budget_and_pixels_in_range():
    x0 = _images()
    outs = fgsm(Toy(), to_tensor(x0), [2 / 255, 8 / 255])
    for eps, out in zip([2 / 255, 8 / 255], outs):
        assert out.min() >= 0 and out.max() <= 1
        assert (out - to_tensor(x0)).abs().max() <= eps + 1e-6
        linf, _ = norms(x0, to_uint8(x0, out, "linf", eps))
        assert linf.max() <= eps + 1e-9 and linf.max() >= eps - 1 / 255


def test_attacks_lower_the_score_of_a_toy_detector():
    x0 = _images(4)
    model = Toy()
    with torch.no_grad():
        before = model(to_tensor(x0))
    with torch.no_grad():
        after_fgsm = model(to_tensor(to_uint8(x0, fgsm(model, to_tensor(x0), 8 / 255)[0], "linf", 8 / 255)))
        final, _, _ = pgd(model, to_tensor(x0), "linf", 8 / 255, steps=5)
        after_pgd = model(to_tensor(to_uint8(x0, final, "linf", 8 / 255)))
        final2, _, _ = pgd(model, to_tensor(x0), "l2", 1.0, steps=5)
        after_l2 = model(to_tensor(to_uint8(x0, final2, "l2", 1.0)))
    assert (after_fgsm < before).all()
    assert (after_pgd < before).all()
    assert (after_pgd <= after_fgsm + 1e-4).all()  # more steps, at least as far
    assert (after_l2 < before).all()


def test_ssim_and_psnr_behave():
    x0 = _images(2, 48)
    assert np.allclose(ssim(x0, x0), 1.0)
    assert np.isinf(psnr(x0, x0)).all()
    rng = np.random.default_rng(1)
    small = np.clip(x0 + rng.normal(0, 2, x0.shape), 0, 255).astype(np.uint8)
    big = np.clip(x0 + rng.normal(0, 30, x0.shape), 0, 255).astype(np.uint8)
    assert (ssim(x0, big) < ssim(x0, small)).all() and (ssim(x0, small) < 1).all()
    assert (psnr(x0, big) < psnr(x0, small)).all()


def test_the_ssim_budget_is_respected_and_picks_the_lowest_score():
    x0 = _images(3, 48)
    model = Toy()
    final, iterates, scores = pgd(model, to_tensor(x0), "linf", 16 / 255, steps=4, keep_iterates=True)
    its = [to_uint8(x0, it, "linf", 16 / 255) for it in iterates]
    with torch.no_grad():
        last = model(to_tensor(its[-1])).numpy()
    all_scores = [s.numpy() for s in scores] + [last]
    for min_ssim in (0.99, 0.9, 0.5):
        chosen, pick = best_within_ssim(x0, its, all_scores, min_ssim)
        assert (ssim(x0, chosen) >= min_ssim - 1e-12).all()
        sims = np.stack([ssim(x0, c) for c in [x0, *its]])  # (candidates, images)
        for i, k in enumerate(pick):
            ok = [j for j in range(len(sims)) if j == 0 or sims[j, i] >= min_ssim]
            assert all(all_scores[k][i] <= all_scores[j][i] for j in ok)
    # a budget nothing but the original meets returns the original
    chosen, pick = best_within_ssim(x0, its, all_scores, 1.01)
    assert (pick == 0).all() and (chosen == x0).all()


def test_gradient_free_attacks_keep_the_image_size():
    x0 = _images(2, 40)
    out = noise_jpeg(x0, 4 / 255, 75, seed=0)
    assert out.shape == x0.shape and out.dtype == np.uint8 and (out != x0).any()
    assert (noise_jpeg(x0, 4 / 255, 75, seed=0) == out).all()  # seeded

    class Halve(torch.nn.Module):  # an 'autoencoder' that needs sides in multiples of 8
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(1))

        def forward(self, x):
            assert x.shape[-1] % 8 == 0 and x.shape[-2] % 8 == 0
            return torch.nn.functional.interpolate(torch.nn.functional.avg_pool2d(x, 2), scale_factor=2) * self.w

    odd = _images(2, 37)
    rt = reencode(odd, Halve())
    assert rt.shape == odd.shape and rt.dtype == np.uint8


def test_clip_input_matches_the_shipped_view():
    from fakescope.features.views import clip_view

    img = natural_image(np.random.default_rng(3), 256)
    ours = adv.clip_input(to_tensor(np.asarray(img)[None]))[0].numpy()
    theirs = clip_view(img, 224)
    # Pillow rounds to 8 bits between and after its passes; ours does not: within about a grey level
    assert ours.shape == theirs.shape == (3, 224, 224)
    assert np.abs(ours - theirs).max() < 2.5 / 255 / 0.26


def test_source_split_and_spread_sample_are_seeded(tmp_path):
    from fakescope.data.manifest import Manifest

    m = Manifest.read(write_synthetic_dataset(tmp_path / "d", n_per_class=3, sources=("a", "b", "c", "d", "e", "f")))
    train, test, held = adv.source_split(m, 1 / 3, seed=0)
    assert len(held) == 2 and {s.source for s in test} == set(held)
    assert not {s.source for s in train} & set(held) and len(train) + len(test) == len(m)
    assert adv.source_split(m, 1 / 3, seed=0)[2] == held
    fakes = [s for s in test if s.label == "fake"]
    pick = adv.spread_sample(fakes, 4, seed=0)
    assert len(pick) == 4 and len(set(pick)) == 4
    assert sorted(fakes[i].source for i in pick) == sorted(held * 2)  # the sources taken in turn


def test_as_written_reads_clean_features_under_any_view(tmp_path):
    from fakescope.extraction.cache import FeatureCache

    base = FeatureCache(tmp_path / "f.sqlite")
    base.put_many("x", {"k1|clean": np.ones(2, np.float32), "k2|matched256q90": np.zeros(2, np.float32)})
    c = adv.AsWritten(base, {"k1"})
    got = c.get_many("x", ["k1|matched256q90", "k2|matched256q90"])
    assert (got["k1|matched256q90"] == 1).all() and (got["k2|matched256q90"] == 0).all()
    with pytest.raises(RuntimeError):
        c.put_many("x", {"k1|matched256q90": np.ones(2, np.float32)})


def test_write_section_replaces_only_its_own(tmp_path):
    page = tmp_path / "B.md"
    page.write_text("# B\n\nrendered\n\n" + adv.MARKER + " (x) -->\n\n## Other\n\nkept\n")
    adv.write_section(page, adv.SECTION + "\n\nfirst\n")
    adv.write_section(page, adv.SECTION + "\n\nsecond\n")
    text = page.read_text()
    assert text.count(adv.SECTION) == 1 and "second" in text and "first" not in text
    assert text.index(adv.MARKER) < text.index(adv.SECTION) and "## Other\n\nkept" in text


def test_cli_runs_on_a_tiny_manifest(tmp_path):
    from typer.testing import CliRunner

    from fakescope.cli.main import app

    manifest = write_synthetic_dataset(tmp_path / "data", n_per_class=6, sources=("a", "b", "c"))
    out, page, plot = tmp_path / "adv.json", tmp_path / "B.md", tmp_path / "adv.png"
    args = ["adversarial", "--manifest", str(manifest), "--out", str(out), "--page", str(page), "--plot", str(plot),
            "--work", str(tmp_path / "work"), "--size", "reduced", "--n", "3", "--steps", "2", "--linf", "4,8",
            "--l2", "1", "--free", "noise2-jpeg90", "--adv-train", "4", "--adv-steps", "1",
            "--victims", "dct-linear", "--surrogates", "dct-linear", "--defend", "dct-linear"]  # fmt: skip
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    res = json.loads(out.read_text())
    assert res["size"] == "reduced" and res["sample"]["n"] == 3
    assert res["command"].startswith("fakescope adversarial --manifest ") and "--defend dct-linear" in res["command"]
    assert res["victims"] == ["dct-linear", "dct-linear+adv"]
    assert res["defence"]["attacked_training_fakes"] == 4
    sets = {row["set"] for row in res["rows"]}
    assert {"dct-linear/none", "dct-linear/fgsm-linf-8", "dct-linear/pgd-linf-4", "dct-linear/pgd-l2-1",
            "dct-linear/ssim-0.95", "free/noise2-jpeg90", "dct-linear+adv/pgd-linf-8"} <= sets
    white = next(r for r in res["rows"] if r["set"] == "dct-linear/pgd-linf-8")
    assert white["surrogate_recall"] < 1  # the white-box attack moves its own surrogate
    for row in res["rows"]:
        assert row["n"] == 3
        if row["attack"] in ("fgsm", "pgd") and row["norm"] == "linf":
            assert row["linf_max"] <= float(row["budget"].split("/")[0]) / 255 + 1e-9
        if row["attack"] == "pgd" and row["norm"] == "l2":
            assert row["l2_mean"] <= 1.0 + 1e-9
        if row["attack"] == "ssim":
            assert row["ssim_mean"] >= 0.95
        for v in res["victims"]:
            assert row["recall"][v] is None or 0 <= row["recall"][v] <= 1
    assert adv.SECTION in page.read_text() and plot.is_file()
    # the attacked images are 256 px PNG files
    some = next((tmp_path / "work").glob("run-*/surrogate-dct-linear/dct-linear__pgd-linf-8/*.png"))
    assert Image.open(some).size == (256, 256)
    # a rerun reuses the attacked images, and --render-only rewrites from the JSON
    r2 = CliRunner().invoke(app, args)
    assert r2.exit_code == 0 and "reusing" in r2.output
    assert json.loads(out.read_text())["reused_victims"] == ["dct-linear", "dct-linear+adv"]
    assert CliRunner().invoke(app, ["adversarial", "--out", str(out), "--page", str(page), "--plot", "-",
                                    "--render-only"]).exit_code == 0  # fmt: skip
    # more victims: the attacked images are reused (one run folder), the new victim scores them, and a victim
    # outside the wide table gets a row in the transfer summary
    more = [a if a != "dct-linear" or args[i - 1] != "--victims" else "dct-linear,meso4" for i, a in enumerate(args)]
    r3 = CliRunner().invoke(app, more)
    assert r3.exit_code == 0, r3.output
    assert len(list((tmp_path / "work").glob("run-*"))) == 1
    res3 = json.loads(out.read_text())
    assert res3["victims"] == ["dct-linear", "meso4", "dct-linear+adv"]
    assert [r["recall"]["dct-linear"] for r in res3["rows"]] == [r["recall"]["dct-linear"] for r in res["rows"]]
    text = page.read_text()
    assert "**Transfer to every victim.**" in text and "| `meso4` |" in text
    assert "| Surrogate | Attack | SSIM | PSNR (dB) | Surrogate (PyTorch) | `dct-linear` | `dct-linear+adv` |" in text


def test_all_victims_are_the_default_and_every_detector():
    names = adv.all_victims()
    assert names[: len(adv.VICTIMS)] == adv.VICTIMS and "ensemble" not in names and len(set(names)) == len(names)
    assert {"univfd", "dct-linear", "fusion"} <= set(names)


def test_the_dct_surrogate_reproduces_the_detector(dct_detector):
    """The differentiable copy of dct-linear gives the detector's own probabilities (up to Pillow's rounding of
    the luma), so attacking it is attacking dct-linear."""
    x = _images(3, 256)
    model, _ = adv.surrogate_of(dct_detector, torch.device("cpu"))
    with torch.no_grad():
        ours = 1 / (1 + np.exp(-model(to_tensor(x)).numpy()))
    theirs = dct_detector.predict_proba([Image.fromarray(im) for im in x])
    assert np.abs(ours - theirs).max() < 0.05


def test_the_network_surrogate_reproduces_the_network():
    """meso4's surrogate is its own network on the centre crop, with its calibration."""
    from fakescope.registry import create
    from fakescope.train.calibration import PlattCalibrator

    det = create("meso4")
    head = det.make_head({})
    net = head.build(pretrained=False).eval()
    head.params_ = {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}
    det.head_ = head
    det.calibrator_ = PlattCalibrator.from_dict({"a": 0.7, "b": -0.2})
    x = _images(3, 256)
    model, what = adv.surrogate_of(det, torch.device("cpu"))
    with torch.no_grad():
        ours = 1 / (1 + np.exp(-model(to_tensor(x)).numpy()))
    theirs = det.predict_proba([Image.fromarray(im) for im in x])
    assert np.allclose(ours, theirs, atol=1e-4) and "centre 128 px crop" in what


def test_the_clip_surrogate_sees_what_the_shipped_encoder_sees(needs_weights):
    """The PyTorch CLIP behind the univfd surrogates, on the differentiable view, embeds an image as the
    shipped ONNX encoder does on Pillow's view (up to the INT8 quantisation and Pillow's rounding)."""
    from fakescope.features.clip import ClipEncoder

    x = _images(1, 256, seed=5)
    enc = adv._Lazy.clip(torch.device("cpu"))
    with torch.no_grad():
        ours = enc(adv.clip_input(to_tensor(x)))[0].numpy()
    theirs = ClipEncoder.shared().embed([Image.fromarray(x[0])])[0]
    assert float(ours @ theirs) > 0.95
