"""Defining properties of the review's detectors (each checks what makes the method that method)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.conftest import natural_image

torch = pytest.importorskip("torch")

from fakescope.detectors.backbones import EfficientNetLite0, mobilenet_v2, resnet18  # noqa: E402
from fakescope.detectors.cnnf import blur_jpeg  # noqa: E402
from fakescope.detectors.fsbi import FSBINet, haar_dwt, self_blend_batch  # noqa: E402
from fakescope.detectors.gramnet import GramNet, gram_matrix  # noqa: E402
from fakescope.detectors.meso import Meso4, MesoInception4  # noqa: E402
from fakescope.detectors.patch_forensics import PatchForensics  # noqa: E402
from fakescope.detectors.resynthesis import Resynthesis, degrade  # noqa: E402
from fakescope.registry import create  # noqa: E402


def _head(name, **params):
    """The network head of a registered network detector, with ``params`` as its settings."""
    return create(name).make_head(params)


def _crops(n, seed=0, size=128):
    rng = np.random.default_rng(seed)
    return np.stack([np.asarray(natural_image(rng, size)) for _ in range(n)])


def test_mesonet_sizes_match_the_paper():
    # Afchar et al. 2018: Meso-4 has 27,977 trainable parameters, MesoInception-4 28,615 (256 px input).
    def count(m):
        return sum(p.numel() for p in m.parameters() if p.requires_grad)

    assert count(Meso4(256)) == 27_977
    assert count(MesoInception4(256)) == 28_615


def test_defake_image_branch_is_resnet18():
    assert sum(p.numel() for p in resnet18().parameters()) == 11_177_025  # ResNet-18 with one output


def test_gram_matrix_ignores_where_textures_are():
    torch.manual_seed(0)
    f = torch.randn(2, 5, 8, 8)
    perm = torch.randperm(64)
    shuffled = f.reshape(2, 5, 64)[:, :, perm].reshape(2, 5, 8, 8)
    assert torch.allclose(gram_matrix(f), gram_matrix(shuffled), atol=1e-5)
    g = gram_matrix(f)
    assert torch.allclose(g, g.transpose(1, 2), atol=1e-6) and g.shape == (2, 5, 5)


def test_gramnet_reads_gram_statistics_at_several_depths():
    torch.manual_seed(0)
    net = GramNet(width=8).eval()
    x = torch.rand(2, 3, 64, 64)
    # The input-level feature is a texture statistic: shuffling where the pixels are does not change it.
    perm = torch.randperm(64 * 64)
    shuffled = x.reshape(2, 3, -1)[:, :, perm].reshape(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(net.grams[0](x), net.grams[0](shuffled), atol=1e-4)
    # ... and the logit depends on the Gram statistics of every depth: each block receives a gradient.
    net(x).sum().backward()
    for i, block in enumerate(net.grams):
        assert block.reduce.weight.grad.abs().sum() > 0, f"Gram block {i} does not reach the logit"


def test_patch_forensics_image_score_is_the_mean_of_local_patch_scores():
    net = PatchForensics(pretrained=False).eval()
    x = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        patches = net.patch_logits(x)
        assert torch.allclose(net(x), patches.mean(dim=(1, 2)), atol=1e-6)
        # Truncation keeps the receptive field small: a change in one corner leaves far patches untouched.
        y = x.clone()
        y[:, :, :16, :16] += 3.0
        diff = (net.patch_logits(y) - patches).abs()[0]
    assert diff[:3, :3].max() > 0
    assert diff[8:, 8:].max() == 0


def test_haar_dwt_is_orthonormal_and_separates_the_mean():
    x = torch.randn(2, 3, 16, 16)
    d = haar_dwt(x)
    assert d.shape == (2, 12, 8, 8)
    assert torch.allclose((d**2).sum(), (x**2).sum(), rtol=1e-5)  # energy preserved
    const = haar_dwt(torch.full((1, 3, 8, 8), 0.5))
    bands = const.reshape(1, 3, 4, 4, 4)
    assert torch.allclose(bands[:, :, 0], torch.ones(1, 3, 4, 4))  # LL = 2 * mean for a constant
    assert bands[:, :, 1:].abs().max() == 0  # no detail in a constant image


def test_resynthesis_restorers_learn_from_real_images_only():
    X, y = _crops(8, seed=1, size=32), np.array([0, 0, 0, 0, 1, 1, 1, 1])
    params = dict(epochs=1, restorer_epochs=1, batch=4, width=4, classifier_width=4)
    a = _head("resynthesis", **params).fit(X, y)
    X2 = X.copy()
    X2[y == 1] = 255 - X2[y == 1]  # change only the fakes
    b = _head("resynthesis", **params).fit(X2, y)
    for k in a.params_:
        if k.startswith("restorers."):
            assert np.array_equal(a.params_[k], b.params_[k]), k
    assert any(not np.array_equal(a.params_[k], b.params_[k]) for k in a.params_ if k.startswith("classifier."))


def test_resynthesis_degradations():
    x = torch.rand(1, 3, 16, 16)
    col = degrade(x, "colour")
    assert torch.allclose(col[:, 0], col[:, 1]) and torch.allclose(col[:, 1], col[:, 2])
    sr = degrade(x, "sr")
    assert sr.shape == x.shape and not torch.allclose(sr, x)


def test_resynthesis_restorers_are_trained_to_undo_exactly_the_degradation_they_see(monkeypatch):
    # Stage 1's objective: an ideal restorer (one that returns the clean crop) has zero loss. That holds only
    # if the input and the target of each batch carry the same degradation (the same noise draw).
    import fakescope.train.loop as loop

    captured = {}
    monkeypatch.setattr(loop, "fit", lambda net, batches, loss, **kw: captured.update(batches=batches, loss=loss))
    head = _head("resynthesis", restorer_epochs=1, batch=4, width=4, classifier_width=4)
    net = head.build(pretrained=False)
    net.prepare(_crops(8, seed=5, size=32), head)
    x = next(iter(captured["batches"](0)))

    class Ideal(torch.nn.Module):
        def forward(self, degraded):
            return x - degraded  # the exact correction back to the clean crop

    for task in Resynthesis.TASKS:
        net.restorers[task] = Ideal()
    assert float(captured["loss"](net.restorers, x)) < 1e-6
    for task in Resynthesis.TASKS:  # and each degradation really changes the crop
        assert (degrade(x, task, torch.Generator().manual_seed(0)) - x).abs().mean() > 1e-3


def test_cnnf_augmentation_blurs_and_compresses_about_half_the_time():
    X = _crops(200, seed=2, size=32)
    out, y = blur_jpeg(X, np.zeros(200, int), np.random.default_rng(0))
    changed = np.array([not np.array_equal(a, b) for a, b in zip(X, out)])
    assert 0.65 < changed.mean() < 0.85  # 1 - 0.5 * 0.5 of the images touched
    assert (y == 0).all()


def test_fsbi_self_blends_only_real_images_and_labels_them_fake():
    X = _crops(12, seed=3, size=64)
    y = np.array([0] * 8 + [1] * 4)
    out, labels = self_blend_batch(X, y, np.random.default_rng(1))
    assert np.array_equal(out[y == 1], X[y == 1]) and (labels[y == 1] == 1).all()
    blended = (labels == 1) & (y == 0)
    assert 0 < blended.sum() < 8
    for i in np.flatnonzero(blended):
        assert not np.array_equal(out[i], X[i])
    for i in np.flatnonzero(labels == 0):
        assert np.array_equal(out[i], X[i])


def test_fsbi_network_reads_wavelet_subbands():
    torch.manual_seed(0)
    net = FSBINet(pretrained=False).eval()
    x = torch.rand(2, 3, 64, 64)
    seen = []
    net.net._conv_stem.register_forward_hook(lambda m, inp, out: seen.append(inp[0]))
    with torch.no_grad():
        logits = net(x)
    assert logits.shape == (2,)
    assert torch.allclose(seen[0], haar_dwt(x))  # the backbone's input is the DWT, not the pixels


@pytest.mark.usefixtures("needs_weights")
def test_imagenet_backbones_load_their_pretrained_weights():
    eff = EfficientNetLite0(pretrained=True)  # strict load: every parameter name and shape matches
    mob = mobilenet_v2(pretrained=True)
    assert eff(torch.randn(1, 3, 64, 64)).shape == (1,) and mob(torch.randn(1, 3, 64, 64)).shape == (1,)


@pytest.mark.usefixtures("needs_weights")
def test_noise_sensitivity_is_training_free_and_deterministic():
    from fakescope.features.extract import NOISE_SIGMA, add_noise
    from fakescope.registry import create

    img = natural_image(np.random.default_rng(4), 96)
    a, b = np.asarray(add_noise(img), float), np.asarray(add_noise(img), float)
    assert np.array_equal(a, b)  # seeded by the image itself
    assert abs((a - np.asarray(img, float)).std() - NOISE_SIGMA) < 1.0
    det = create("noise-sensitivity")
    feats = det.featurize([img, img])
    assert feats.shape == (2, 1) and feats[0, 0] == feats[1, 0] and feats[0, 0] > 0
    same = det.design({"clip": np.eye(3)[:1], "clip-noise": np.eye(3)[:1]})
    assert same[0, 0] == 0  # an embedding that does not move scores zero
    head = det.make_head({}).fit(None, None)  # nothing is learned: the score is the shift itself
    assert np.array_equal(head.decision(np.array([[0.5], [2.0]])), [0.5, 2.0])


@pytest.mark.usefixtures("needs_weights")
def test_minilm_tokenizer_and_sentence_similarity():
    from fakescope.features.text import SentenceEncoder, describe

    enc = SentenceEncoder.shared()
    assert enc.tok.encode("Hello world!") == [101, 7592, 2088, 999, 102]  # BERT uncased vocabulary ids
    e = enc.embed(["A cat sitting on a mat", "A kitten resting on a rug", "Quarterly report of a bank"])
    assert np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    assert e[0] @ e[1] > 0.5 > e[0] @ e[2]
    grey = Image.new("RGB", (200, 100), (20, 20, 20))
    assert describe(grey) == "a landscape black and white picture, dark, low contrast, with smooth surfaces"


@pytest.mark.usefixtures("needs_weights")
def test_defake_hybrid_uses_manifest_prompts_only_when_asked(tmp_path):
    from fakescope.data.manifest import Manifest
    from fakescope.registry import create
    from tests.conftest import write_synthetic_dataset

    m = Manifest.read(write_synthetic_dataset(tmp_path, n_per_class=3, sources=("a",)))
    m.samples[0].prompt = "an astronaut riding a horse on the moon"
    fallback, _ = create("defake-hybrid").features_of(m)
    manifest, _ = create("defake-hybrid", prompts="manifest").features_of(m)
    assert fallback.shape[1] == 512 + 384
    assert not np.allclose(fallback[0], manifest[0]) and np.allclose(fallback[1:], manifest[1:])
    with pytest.raises(ValueError, match="prompts"):
        create("defake-hybrid", prompts="caption")


def test_training_free_calibration_cannot_flip_the_score():
    from fakescope.train.calibration import PlattCalibrator

    scores = np.linspace(0, 1, 50)
    y = (scores < 0.5).astype(int)  # the data contradict "higher = generated"
    free = PlattCalibrator().fit(scores, y)
    fixed = PlattCalibrator().fit(scores, y, monotone=True)
    assert free.a_ < 0 and fixed.a_ > 0 and fixed.to_dict()["slope_clamped"]
    p = fixed(scores)
    assert np.all(np.diff(p) > 0) and np.allclose(p, 0.5, atol=0.01)  # ranking kept, no confidence claimed


def test_patch_forensics_detector_exposes_its_patch_map(tmp_path):
    from fakescope.data.manifest import Manifest
    from fakescope.registry import create
    from tests.conftest import write_synthetic_dataset

    m = Manifest.read(write_synthetic_dataset(tmp_path, n_per_class=4, sources=("a",)))
    det = create("patch-forensics", head_params={"epochs": 1, "pretrained": False}, n_aug=0, calib_folds=2).fit(m)
    images = [Image.open(s.file).convert("RGB") for s in list(m)[:2]]
    maps = det.patch_map(images)
    assert len(maps) == 2 and maps[0].shape == (16, 16)  # one score per 8 px patch of the 128 px crop
    assert all(0 <= mp.min() and mp.max() <= 1 for mp in maps)
    assert not hasattr(create("meso4"), "patch_map")  # only Patch-Forensics has a patch map
