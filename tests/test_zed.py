"""ZED, the reals-only detector: its coding statistics, its coder's defining properties, and that no
generated image ever reaches the coder's training."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.conftest import natural_image, upsampled_image

torch = pytest.importorskip("torch")

from fakescope.data.manifest import Manifest, Sample  # noqa: E402
from fakescope.detectors.zed import (  # noqa: E402
    ZedHead,
    _torch_parts,
    crop_boxes,
    cut_crops,
    entropy_bits,
    region_size,
    statistic_of,
)
from fakescope.features.views import native_region  # noqa: E402
from fakescope.registry import create  # noqa: E402

#: a coder small enough to train in a few seconds on 160 px synthetic images
TINY = {"levels": 2, "width": 16, "depth": 2, "epochs": 6, "patches": 16, "patch": 32, "batch": 16, "side": 64,
        "crops": 2}
#: the detector tests score one 32 px crop per image: the contract, not accuracy
QUICK = {**TINY, "epochs": 1, "side": 32, "crops": 1}


def regions(images) -> np.ndarray:
    return np.stack([native_region(im, 384) for im in images])


def noise_image(rng, size=160) -> Image.Image:
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def coder():
    """A tiny coder trained on smooth, photo-like (1/f) images only."""
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    reals = regions([natural_image(rng) for _ in range(12)])
    return ZedHead(**TINY).fit(reals, np.zeros(len(reals), dtype=int))


# --- the statistics on hand-made numbers ---------------------------------------------------------------


def test_entropy_of_a_hand_made_distribution():
    pmf = np.array([[0.5, 0.25, 0.25, 0.0], [1.0, 0.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25]])
    assert np.allclose(entropy_bits(torch.as_tensor(pmf)).numpy(), [1.5, 0.0, 2.0])


def test_statistics_from_hand_made_costs():
    # per image: NLL(0), H(0), NLL(1), H(1) in bits per sub-pixel
    costs = np.array([[3.0, 2.5, 2.2, 2.0],  # D(0) = 0.5, D(1) = 0.2
                      [2.0, 2.5, 2.2, 2.0]])  # D(0) = -0.5: more predictable than the coder expects  # fmt: skip
    assert np.allclose(statistic_of(costs, "d0"), [0.5, -0.5])
    assert np.allclose(statistic_of(costs, "ratio0"), [1.2, 0.8])
    assert np.allclose(statistic_of(costs, "delta01"), [0.3, -0.7])
    assert np.allclose(statistic_of(costs, "abs-delta01"), [0.3, 0.7])
    with pytest.raises(ValueError, match="statistic must be one of"):
        statistic_of(costs, "nll")


def test_mixture_pmf_is_the_discretised_logistic_mixture():
    _, _, log_prob, mixture_pmf = _torch_parts()
    # two components, weights 0.7 / 0.3, means at grey levels 100 and 180, scales 3 and 12 grey levels
    logit = torch.log(torch.tensor([[0.7, 0.3]]))
    mean = torch.tensor([[100.0, 180.0]]) / 127.5 - 1
    log_scale = torch.log(torch.tensor([[3.0, 12.0]]) / 127.5)
    pmf = mixture_pmf(logit, mean, log_scale)[0].double().numpy()

    def cdf(v, m, s):  # logistic CDF in grey levels, float64
        return 1 / (1 + np.exp(-(v - m) / s))

    v = np.arange(256.0)
    upper = np.where(v == 255, np.inf, v + 0.5)
    lower = np.where(v == 0, -np.inf, v - 0.5)
    expected = sum(w * (cdf(upper, m, s) - cdf(lower, m, s)) for w, m, s in ((0.7, 100, 3), (0.3, 180, 12)))
    assert abs(pmf.sum() - 1) < 1e-5
    assert np.abs(pmf - expected).max() < 1e-6
    # The actual cost (log_prob, used for NLL) agrees with the table the expected cost is computed from.
    values = torch.tensor([0, 97, 100, 150, 181, 255], dtype=torch.float32)
    shape = (len(values), 1, 2, 1, 1)  # (B, colour, K, H, W)
    lp = log_prob((values / 127.5 - 1).view(-1, 1, 1, 1), logit.view(1, 1, 2, 1, 1).expand(shape),
                  mean.view(1, 1, 2, 1, 1).expand(shape), log_scale.view(1, 1, 2, 1, 1).expand(shape))  # fmt: skip
    assert np.allclose(lp.view(-1).exp().numpy(), expected[values.long().numpy()], rtol=1e-3, atol=1e-9)


def test_values_drawn_from_the_coder_cost_what_it_expects(coder):
    """The defining property of the gap: where the pixels follow the coder's own distribution,
    actual and expected coding cost agree (D close to 0); the true pixels of a foreign image do not."""
    _, pyramid, log_prob, mixture_pmf = _torch_parts()
    net = coder.network()
    predictor = net.predictors[0]
    x = torch.as_tensor(np.array(upsampled_image(np.random.default_rng(5)))).permute(2, 0, 1)[None]
    pyr = pyramid(x, 1)
    coarse, fine = pyr[1], pyr[0].clone()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for c in range(3):  # red, then green given red, then blue given both, as the coder codes them
            logit, mean, log_scale = (t[:, c] for t in predictor(coarse, fine))  # (1, K, H, W)
            flat = [t.permute(0, 2, 3, 1).reshape(-1, t.shape[1]) for t in (logit, mean, log_scale)]
            pmf = mixture_pmf(*flat)
            fine[0, c] = torch.multinomial(pmf, 1, generator=gen).view(fine.shape[-2:])

        def gap(fine_values):
            params = predictor(coarse, fine_values)
            nll = -log_prob(fine_values.float() / 127.5 - 1, *params).mean() / np.log(2)
            k = params[0].shape[2]
            flat = [t.permute(0, 1, 3, 4, 2).reshape(-1, k) for t in params]
            return float(nll - entropy_bits(mixture_pmf(*flat)).mean())

        assert abs(gap(fine)) < 0.03
        assert abs(gap(pyr[0])) > 0.2  # pixel-repeated content: far more predictable than the coder expects


# --- the trained coder's properties ---------------------------------------------------------------------


def test_a_real_like_image_costs_fewer_bits_than_noise(coder):
    rng = np.random.default_rng(1)
    costs = coder.costs(regions([natural_image(rng), natural_image(rng), noise_image(rng), noise_image(rng)]))
    nll0 = costs[:, 0]
    assert nll0[:2].max() < nll0[2:].min() - 2.0, nll0  # bits per sub-pixel at full resolution
    assert nll0[2:].min() > 7.5  # uniform noise cannot be coded in much under 8 bits


def test_a_foreign_texture_surprises_a_coder_of_smooth_images(coder):
    rng = np.random.default_rng(2)
    held_out = coder.decision(regions([natural_image(rng) for _ in range(4)]))
    foreign = coder.decision(regions([upsampled_image(rng) for _ in range(4)]))
    assert foreign.min() > 3 * held_out.max(), (held_out, foreign)


def test_decisions_are_deterministic(coder):
    X = regions([natural_image(np.random.default_rng(3))])
    assert np.array_equal(coder.decision(X), coder.decision(X))


# --- crops at native resolution -----------------------------------------------------------------------


def test_crops_tile_the_region_without_resampling():
    assert crop_boxes(384, 384, 256, 4, 8) == [(0, 0, 256, 256), (0, 128, 256, 256), (128, 0, 256, 256),
                                                (128, 128, 256, 256)]  # fmt: skip
    assert crop_boxes(384, 384, 256, 1, 8) == [(64, 64, 256, 256)]  # one crop: the centred one
    assert crop_boxes(100, 300, 256, 4, 8) == [(2, 22, 96, 256)]  # a strip under a quarter crop is left out
    assert crop_boxes(100, 400, 256, 4, 8) == [(2, 0, 96, 256), (2, 144, 96, 256)]  # short side: one row
    assert len(crop_boxes(1000, 1000, 128, 4, 8)) == 4
    img = natural_image(np.random.default_rng(4), 400).crop((0, 0, 400, 100))  # 400 x 100
    region = native_region(img, 384)
    assert region.shape == (384, 384, 4) and region_size(region) == (100, 384)
    pixels = np.asarray(img)[:, 8:392]  # the centre 384 px of the width
    for (t, x, h, w), crop in zip(crop_boxes(100, 384, 256, 4, 8), cut_crops(region, 256, 4, 8)):
        assert np.array_equal(crop, pixels[t : t + h, x : x + w])  # the image's own pixels


# --- the detector: reals only, save and load ------------------------------------------------------------


def _parity_manifest(root, n=8):
    """Real images whose every value is even and generated ones whose every value is odd."""
    rng = np.random.default_rng(6)
    samples = []
    for src in ("alpha", "beta"):
        for label in ("real", "fake"):
            for i in range(n):
                arr = np.asarray(natural_image(rng) if label == "real" else upsampled_image(rng))
                arr = (arr & 0xFE) if label == "real" else (arr | 1)
                rel = f"{src}/{label}/{i}.png"
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(arr).save(root / rel)
                samples.append(Sample(path=rel, label=label, source=src, generator="" if label == "real" else "g",
                                      family="" if label == "real" else "gan"))  # fmt: skip
    return Manifest(samples, root=root)


def test_the_coder_trains_on_real_images_only(tmp_path, monkeypatch):
    import fakescope.train.loop as loop

    seen = []
    real_fit = loop.fit

    def watching_fit(net, batches, loss, **kw):
        def recorded(epoch):
            for batch in batches(epoch):
                seen.append(batch.cpu().numpy())
                yield batch

        return real_fit(net, recorded, loss, **kw)

    monkeypatch.setattr(loop, "fit", watching_fit)
    m = _parity_manifest(tmp_path / "data")
    det = create("zed", head_params=QUICK, calib_folds=2).fit(m)
    assert seen, "the coder's training loop saw no batch"
    pixels = np.concatenate([b.ravel() for b in seen])
    assert np.all(pixels % 2 == 0)  # every pixel it trained on came from a real image
    coder_data = det.card.config["coder_trained_on"]
    assert coder_data["generated_images"] == 0
    assert coder_data["real_images"] == 8  # the reals of the half not held out for calibration
    assert det.trained_on_["labels"] == {"real": 16, "fake": 16}  # the calibration saw both classes


def test_save_and_load_give_identical_scores(tmp_path):
    from fakescope.detectors.base import load

    m = _parity_manifest(tmp_path / "data", n=6)
    det = create("zed", head_params=QUICK, calib_folds=2).fit(m)
    det.save(tmp_path / "saved")
    again = load(tmp_path / "saved")
    X, ok = det.features_of(m)
    assert ok.all()
    assert np.array_equal(det.decision(X), again.decision(X))
    assert np.array_equal(det.proba_from_features(X), again.proba_from_features(X))
    card = again.card
    assert card.config["coder"]["width"] == TINY["width"]
    assert card.config["coder_trained_on"] == det.card.config["coder_trained_on"]  # the card survives a load
    assert card.config["coder_trained_on"]["generated_images"] == 0
    assert card.config["trained_on_device"] == det.card.config["trained_on_device"] is not None
    assert "generated images, by design" in card.not_trained_on
    assert "native resolution" in card.preprocessing and "never of a generated one" in card.preprocessing


def test_zed_is_listed_and_the_benchmark_has_a_cpu_and_a_gpu_size():
    from fakescope.evaluation.benchmark.plan import plan
    from fakescope.registry import entry, list_detectors

    assert "zed" in list_detectors()
    runs_cpu, runs_gpu = plan("zed", None, cuda=False), plan("zed", None, cuda=True)
    assert {r[0] for r in runs_cpu} == {"loso-matched", "logo-matched"}
    assert all(s == "reduced" and cfg == {"head_params": entry("zed").reduced} for _, _, cfg, s in runs_cpu)
    assert all(s == "full" and cfg == {} for _, _, cfg, s in runs_gpu)
    create("zed", head_params=entry("zed").reduced)  # the reduced settings are valid coder settings


def test_unknown_or_inconsistent_settings_are_errors():
    with pytest.raises(TypeError, match="unknown zed coder option"):
        create("zed", head_params={"widht": 8})
    with pytest.raises(ValueError, match="statistic must be one of"):
        create("zed", head_params={"statistic": "nll"})
    with pytest.raises(ValueError, match="multiples of 2\\*\\*levels"):
        create("zed", head_params={"patch": 60})
