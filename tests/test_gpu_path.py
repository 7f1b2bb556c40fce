"""The GPU path (fakescope.engines.gpu), tested on the CPU: Pillow-exact views on tensors, EXIF
orientation, header probing, rows equal to the CPU path's, and the PyTorch CLIP encoder built from
the shipped INT8 ONNX file (its weights exactly the file's; its embeddings' agreement measured)."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from PIL import Image

from tests.conftest import SAMPLES

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

from fakescope.features import views, views_torch  # noqa: E402
from fakescope.features.dct import dct_spectrum  # noqa: E402


def photo(w: int, h: int, seed: int = 0) -> Image.Image:
    """A sample photo resized to w x h, plus noise (camera-like detail at every scale)."""
    rng = np.random.default_rng(seed)
    base = Image.open(sorted(SAMPLES.glob("*.jpg"))[seed % 8]).convert("RGB").resize((w, h), Image.Resampling.BICUBIC)
    arr = np.asarray(base).astype(np.int16) + rng.integers(-20, 21, (h, w, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def tensor(img: Image.Image):
    return torch.from_numpy(np.array(img)).permute(2, 0, 1)[None]  # (1, 3, H, W) uint8


# Whole-resize sizes (shorter side under 1344 px, up to 4:1), crop-first ones (thin, tall, tiny: some
# where Pillow runs its vertical pass first) and box-reduced ones (shorter side from 1344 px).
WHOLE = [(1536, 1024), (500, 300), (384, 384), (224, 224), (100, 80), (130, 129), (60, 70)]
CROP_FIRST = [(2000, 300), (300, 2000), (3, 900), (900, 3), (5000, 1400)]
REDUCED = [(4032, 3024), (3024, 4032), (2048, 2048), (1400, 1350), (1344, 1344), (1400, 6000)]


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("size", WHOLE + CROP_FIRST + REDUCED)
def test_device_views_equal_pillow(size, device):
    """The device views are Pillow's pixel for pixel: the CLIP square (and so CLIP's input, bit for bit)
    and the DCT crop; the log-DCT to float precision (a matrix product instead of scipy's FFT).
    On a machine with CUDA, on the GPU too (float64 products of integers are exact there as well)."""
    img = photo(*size)
    x = tensor(img).to(device)
    clip = views_torch.resized_center_crop(x, 224)[0].permute(1, 2, 0).cpu().numpy()
    assert np.array_equal(clip, np.asarray(views.resized_center_crop(img, 224)).astype(np.float64))
    assert np.array_equal(views_torch.clip_pixels(x)[0].cpu().numpy(), views.clip_view(img))
    crop = views_torch.center_crop(x, 128)[0].permute(1, 2, 0).cpu().numpy()
    assert np.array_equal(crop, np.asarray(views.center_crop(img, 128)).astype(np.float64))
    np.testing.assert_allclose(views_torch.dct_spectrum(x)[0].cpu().numpy(),
                               dct_spectrum(views.center_crop(img, 128)), atol=1e-4)  # fmt: skip


def test_batch_views_of_mixed_sizes_equal_pillow():
    """One call for a batch of several sizes (two images of one size among them, one upright by EXIF,
    i.e. a transposed view of its pixels): each image's views are Pillow's."""
    imgs = [photo(700, 500, 1), photo(4032, 3024, 2), photo(700, 500, 3), photo(90, 200, 4), photo(1400, 1350, 5)]
    tensors = [tensor(im)[0] for im in imgs]
    tensors[4] = tensors[4].transpose(1, 2)  # (3, 1400, 1350), not contiguous
    imgs[4] = imgs[4].transpose(Image.Transpose.TRANSPOSE)
    out = views_torch.batch_views(tensors, max_bytes=1)  # one image per group: the grouping's edge case
    assert out["clip"].shape == (5, 3, 224, 224) and out["dct"].shape == (5, 128, 128)
    together = views_torch.batch_views(tensors)
    for i, img in enumerate(imgs):
        assert np.array_equal(out["clip"][i].numpy(), views.clip_view(img))
        assert np.array_equal(together["clip"][i].numpy(), out["clip"][i].numpy())
        np.testing.assert_allclose(out["dct"][i].numpy(), dct_spectrum(views.center_crop(img, 128)), atol=1e-4)
    only = views_torch.batch_views(tensors[:2], dct=False)
    assert set(only) == {"clip"} and torch.equal(only["clip"], out["clip"][:2])


def test_pillows_pass_order_is_followed():
    """Pillow 13 runs the vertical pass first when the height shrinks much more than the width; the rule
    the device views follow (views_torch.pillow_vertical_first) gives Pillow's pixels on a grid of
    shrinking, enlarging and mixed shapes, with and without a box."""
    from fakescope.features.views_torch import _resize_plan, apply

    rng = np.random.default_rng(0)
    for w, h in [(40, 40), (30, 90), (90, 30)]:
        img = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        for out_w, out_h in [(10, 35), (35, 10), (25, 5), (60, 12), (12, 60), (50, 50), (39, 7), (7, 39)]:
            for box in [(0.0, 0.0, float(w), float(h)), (1.5, 2.25, w - 3.0, h - 0.5)]:
                ref = np.asarray(img.resize((out_w, out_h), Image.Resampling.BICUBIC, box=box)).astype(np.float64)
                if out_w != out_h:  # plans are square; a non-square resize is two plans' axes
                    kx = views_torch._coeffs(w, out_w, box[0], box[2])
                    ky = views_torch._coeffs(h, out_h, box[1], box[3])
                    first_v = views_torch._vertical_first(w, h, out_w, out_h)
                    x = torch.from_numpy(np.asarray(img, dtype=np.float64)).permute(2, 0, 1)
                    r = views_torch._round_8bit
                    kxt, kyt = torch.from_numpy(kx.T.copy()), torch.from_numpy(ky)
                    got = r(r(kyt @ x) @ kxt) if first_v else r(kyt @ r(x @ kxt))
                else:
                    got = apply(_resize_plan(h, w, out_w, box, None), tensor(img))[0]
                assert np.array_equal(got.permute(1, 2, 0).numpy(), ref), (w, h, out_w, out_h, box)


@pytest.mark.slow
@pytest.mark.parametrize("device", DEVICES)
def test_device_views_equal_pillow_on_the_development_images(shared_data, device):
    """Every 20th development image, as decoded by the scan, and the same image enlarged so that its
    shorter side is 1400 px (the box-reduced route of camera-size photos): the device views are Pillow's.
    benchmarks/check_device_views.py runs all of them."""
    from fakescope.data.manifest import Manifest
    from fakescope.io import open_image

    entries = Manifest.read(shared_data / "manifest.csv").samples[::20]
    assert len(entries) > 100
    tensors, imgs = [], []
    for e in entries:
        img, _ = open_image(e.file)
        big = img.resize((round(img.width * 1400 / min(img.size)), round(img.height * 1400 / min(img.size))),
                         Image.Resampling.BICUBIC)  # fmt: skip
        for im in (img, big):
            imgs.append(im)
            tensors.append(torch.from_numpy(np.array(im)).permute(2, 0, 1).to(device))
    out = {k: v.cpu() for k, v in views_torch.batch_views(tensors).items()}
    for i, img in enumerate(imgs):
        assert np.array_equal(out["clip"][i].numpy(), views.clip_view(img)), entries[i // 2].path
        np.testing.assert_allclose(out["dct"][i].numpy(), dct_spectrum(views.center_crop(img, 128)), atol=1e-4)


def test_luma_is_pillows():
    img = photo(64, 48)
    ref = np.asarray(img.convert("L")).astype(np.float64)
    assert np.array_equal(views_torch.luma(tensor(img).to(torch.float64))[0].numpy(), ref)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_as_pillow(orientation):
    from torchvision.io import ImageReadMode, decode_jpeg

    from fakescope.engines.gpu import orient
    from fakescope.io import open_image

    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    photo(96, 64).save(buf, "JPEG", quality=95, exif=exif.tobytes())
    raw = torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8)
    upright = orient(decode_jpeg(raw, mode=ImageReadMode.RGB), orientation).permute(1, 2, 0).numpy()
    ref, info = open_image(buf.getvalue())
    assert upright.shape == np.asarray(ref).shape
    # libjpeg in Pillow and in torchvision may differ by a grey level; the geometry must be the same
    assert np.abs(upright.astype(int) - np.asarray(ref).astype(int)).mean() < 1.0
    assert ("EXIF orientation applied" in info.conversions) == (orientation != 1)


def test_probe_says_what_open_image_says(tmp_path):
    from fakescope.engines.probe import probe
    from fakescope.io import open_image

    exif = Image.Exif()
    exif[0x0112] = 6
    photo(300, 200).save(tmp_path / "rot.jpg", quality=90, exif=exif.tobytes())
    shutil.copy(sorted(SAMPLES.glob("*.jpg"))[0], tmp_path / "plain.jpg")
    photo(120, 90).save(tmp_path / "render.png")
    good = (tmp_path / "plain.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(good[: len(good) // 2])
    (tmp_path / "empty.jpg").write_bytes(b"")
    for name in ("rot.jpg", "plain.jpg"):
        pr = probe(str(tmp_path / name))
        _, info = open_image(tmp_path / name)
        assert pr.error is None and pr.info == info and pr.device_jpeg
    png = probe(str(tmp_path / "render.png"))  # Pillow decodes it, and describes it then
    assert png.error is None and png.info is None and not png.device_jpeg and png.provenance["format"] == "PNG"
    cut = probe(str(tmp_path / "cut.jpg"))
    assert cut.error is None and not cut.device_jpeg  # no end marker: Pillow decodes it, and says it is cut
    assert not probe(str(tmp_path / "empty.jpg")).device_jpeg  # Pillow's decoder then says it is empty
    assert probe(str(tmp_path / "missing.jpg")).error == "file not found"


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("mixed")
    for f in sorted(SAMPLES.glob("*.jpg"))[:3]:
        shutil.copy(f, d / f.name)
    exif = Image.Exif()
    exif[0x0112] = 6
    photo(1600, 1200, 1).save(d / "portrait.jpg", quality=92, exif=exif.tobytes())
    photo(700, 500, 2).save(d / "render.png")
    photo(640, 480, 3).convert("L").save(d / "grey.jpg")
    good = (d / "portrait.jpg").read_bytes()
    (d / "cut.jpg").write_bytes(good[: len(good) // 3])
    (d / "empty.jpg").write_bytes(b"")
    (d / "text.png").write_text("not an image")
    return d


def _rows(batches):
    from fakescope.scanning import output_row

    return [output_row(v) for b in batches for v in b]


def test_device_rows_equal_cpu_rows_for_a_dct_detector(dct_detector, mixed_folder):
    """Without CLIP, the device path computes exactly the CPU path's features: the same rows."""
    from fakescope.engines.gpu import device_scan_iter
    from fakescope.scanning import expand_inputs, scan_iter

    paths = expand_inputs(mixed_folder)
    cpu = _rows(scan_iter(dct_detector, paths))
    dev = _rows(device_scan_iter(dct_detector, paths, batch_size=4, device="cpu"))
    assert [r["path"] for r in dev] == [r["path"] for r in cpu]
    for a, b in zip(cpu, dev):
        assert a.keys() == b.keys()
        assert (a["p_fake"] is None) == (b["p_fake"] is None)
        if a["p_fake"] is not None:
            assert abs(a["p_fake"] - b["p_fake"]) <= 1e-6
        assert {k: v for k, v in a.items() if k != "p_fake"} == {k: v for k, v in b.items() if k != "p_fake"}
    assert sum(r["error"] is not None for r in dev) == 3


def test_jpeg_route_decodes_with_torchvision_close_to_pillow(dct_detector, mixed_folder):
    """The route JPEGs take on a GPU (torchvision's decoder, EXIF orientation applied on the tensor),
    run here with torchvision's CPU decoder: the same rows, up to the decoders' rounding."""
    from fakescope.engines.gpu import DeviceScorer, device_scan_iter
    from fakescope.scanning import expand_inputs, scan_iter

    paths = expand_inputs(mixed_folder)
    scorer = DeviceScorer(dct_detector, "cpu")
    scorer.decode_jpegs_here = True
    dev = _rows(device_scan_iter(dct_detector, paths, batch_size=16, scorer=scorer))
    cpu = _rows(scan_iter(dct_detector, paths))
    assert scorer.decoded_on_device == 4 and scorer.decoded_by_pillow == 2  # 3 samples + portrait; png, grey
    for a, b in zip(cpu, dev):
        assert {k: v for k, v in a.items() if k != "p_fake"} == {k: v for k, v in b.items() if k != "p_fake"}
        if a["p_fake"] is not None:
            assert abs(a["p_fake"] - b["p_fake"]) < 0.05


def test_device_path_refuses_what_it_cannot_run(dct_detector):
    from fakescope.engines.gpu import DeviceScorer, DeviceUnavailable, UnsupportedDetector
    from fakescope.registry import create

    with pytest.raises(UnsupportedDetector, match="crop128"):
        DeviceScorer(create("meso4"), "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceUnavailable):
            DeviceScorer(dct_detector, "cuda")


def test_scan_cli_device_cuda_without_cuda_is_one_error_line(dct_detector, mixed_folder, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    from typer.testing import CliRunner

    from fakescope.cli.main import app

    dct_detector.save(tmp_path / "det")
    res = CliRunner().invoke(app, ["scan", str(mixed_folder), "--detector", str(tmp_path / "det"),
                                   "--device", "cuda", "--out", str(tmp_path / "r.jsonl")])  # fmt: skip
    assert res.exit_code == 2 and "no CUDA device" in res.output


def test_random_encoder_runs_batched():
    from fakescope.features.clip_torch import random_encoder

    with torch.no_grad():
        emb = random_encoder()(torch.randn(3, 3, 224, 224))
    assert emb.shape == (3, 512)
    np.testing.assert_allclose(emb.norm(dim=1).numpy(), 1.0, rtol=1e-5)


# --- with the shipped weights ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def onnx_pair():
    from fakescope import weights
    from fakescope.features.clip import CLIP_WEIGHTS

    try:
        path = weights.path_of(CLIP_WEIGHTS)
    except weights.MissingWeightsError:
        pytest.skip("CLIP weights not pulled")
    from fakescope.features.clip_torch import onnx_encoder

    return path, onnx_encoder(path)


def _dynamic_uint8(x):
    """ONNX DynamicQuantizeLinear then dequantised: what the INT8 graph feeds each matrix product."""
    lo, hi = torch.clamp(x.min(), max=0), torch.clamp(x.max(), min=0)
    scale = (hi - lo) / 255
    zero = torch.clamp(torch.round(-lo / scale), 0, 255)
    return (torch.clamp(torch.round(x / scale) + zero, 0, 255) - zero) * scale


@pytest.mark.slow
def test_dequantised_weights_are_the_files(onnx_pair):
    """Fed the same quantised activations, a dequantised projection gives the ONNX graph's output:
    the weights are the file's, to the last bit that matters."""
    import onnxruntime as ort

    from fakescope.features.onnx_reader import read_graph
    from fakescope.features.shared import with_graph_outputs, with_unsigned_weights

    path, model = onnx_pair
    _, nodes = read_graph(path)
    names = ["/vision_model/encoder/layers.0/layer_norm1/Add_1_output_0",
             "/vision_model/encoder/layers.0/self_attn/q_proj/Add_output_0",
             "/vision_model/encoder/layers.0/mlp/fc1/Add_output_0",
             "/vision_model/encoder/layers.0/layer_norm2/Add_1_output_0"]  # fmt: skip
    session = ort.InferenceSession(with_unsigned_weights(with_graph_outputs(path.read_bytes(), names)))
    pixels = views.clip_view(Image.open(sorted(SAMPLES.glob("*.jpg"))[0]).convert("RGB"))[None]
    ln1, q, fc1, ln2 = (torch.from_numpy(t).double() for t in session.run(names, {"pixel_values": pixels}))
    layer = model.layers[0]
    for inp, lin, ref in ((ln1, layer.q_proj, q), (ln2, layer.fc1, fc1)):
        out = torch.nn.functional.linear(_dynamic_uint8(inp), lin.weight.double(), lin.bias.double())
        assert (out - ref).abs().max() < 1e-5 * ref.abs().max()


@pytest.mark.slow
def test_embeddings_agree_with_the_onnx_encoder(onnx_pair):
    """Cosine between the float encoder's and the INT8 graph's embeddings of the sample images.

    They differ only through the INT8 graph's per-call activation quantisation; docs/BENCHMARKS.md
    reports the agreement on the development images.
    """
    from fakescope.features.clip import ClipEncoder

    _, model = onnx_pair
    images = [Image.open(p).convert("RGB") for p in sorted(SAMPLES.glob("*.jpg"))]
    with torch.no_grad():
        ours = model(torch.from_numpy(np.stack([views.clip_view(im) for im in images]))).numpy()
    cos = np.sum(ours * ClipEncoder.shared().embed(images), axis=1)
    print(f"cosine agreement on {len(cos)} samples: mean {cos.mean():.4f}, min {cos.min():.4f}")
    assert cos.min() > 0.95 and cos.mean() > 0.97
    # half precision costs almost nothing more (bfloat16 here: CPUs lack float16 matrix kernels)
    with torch.no_grad():
        low = model.to(torch.bfloat16)(torch.from_numpy(np.stack([views.clip_view(im) for im in images])).bfloat16())
    model.float()
    assert np.sum(low.float().numpy() * ours, axis=1).min() > 0.999


@pytest.mark.slow
def test_default_detector_on_the_device_path_agrees_with_the_cpu_path(needs_weights, mixed_folder):
    from fakescope.engines.gpu import device_scan_iter
    from fakescope.models import load_detector
    from fakescope.scanning import expand_inputs, scan_iter

    det = load_detector()
    paths = expand_inputs(mixed_folder)
    cpu = _rows(scan_iter(det, paths))
    dev = _rows(device_scan_iter(det, paths, batch_size=4, device="cpu"))
    diffs = []
    for a, b in zip(cpu, dev):
        assert a["path"] == b["path"] and a["error"] == b["error"]
        assert (a["width"], a["height"], a["format"], a["notes"], a["provenance"]) == \
            (b["width"], b["height"], b["format"], b["notes"], b["provenance"])  # fmt: skip
        if a["p_fake"] is not None:
            # the float encoder, not the INT8 graph (cosine about 0.98); the shipped default's calibration
            # (slope 1.6 on the members' log-odds) turns that into p_fake differences of up to about 0.1
            # (docs/BENCHMARKS.md, agreement of the GPU path's encoder)
            diffs.append(abs(a["p_fake"] - b["p_fake"]))
    assert diffs and max(diffs) < 0.2 and float(np.mean(diffs)) < 0.08
