"""Localizers: every one trains under setups A, B and C and returns a map the size of the image; the
defining property of each; heatmaps in the scan; the localize command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import natural_image, upsampled_image

torch = pytest.importorskip("torch")

from fakescope.data.manifest import Manifest, Sample  # noqa: E402
from fakescope.localize import create_localizer, list_localizers, load_localizer  # noqa: E402

#: the learned map networks; fusion-map fuses them (and the classical maps) and has its own tests, as has
#: forensic-similarity (trained on unedited images, not under a setup) and clip-tiles (a head on frozen features)
LEARNED = [n for n in list_localizers(training_free=False)
           if n not in ("fusion-map", "forensic-similarity", "clip-tiles")]
from fakescope.localize.attention import soft_max_pool  # noqa: E402
from fakescope.localize.base import dice_loss, explain  # noqa: E402
from fakescope.localize.dadf import DADFLocalizer  # noqa: E402
from fakescope.localize.gradcam import CAMClassifier, grad_cam  # noqa: E402
from fakescope.localize.mau_net import MultiAttentionUNet, fft_magnitude  # noqa: E402
from fakescope.localize.patches import PatchLocalizer  # noqa: E402
from fakescope.localize.sida import SIDAHead  # noqa: E402


def _dataset(root, n=6, seed=0):
    """Real images, fully generated (up-sampled) images, and partial edits: an up-sampled square pasted
    into a real image, with its mask."""
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(n):
        real = natural_image(rng, 96)
        real.save(root / f"r{i}.png")
        upsampled_image(rng, 96).save(root / f"f{i}.png")
        edited = np.asarray(natural_image(rng, 96)).copy()
        y0, x0 = rng.integers(8, 48, size=2)
        edited[y0 : y0 + 40, x0 : x0 + 40] = np.asarray(upsampled_image(rng, 96))[:40, :40]
        mask = np.zeros((96, 96), np.uint8)
        mask[y0 : y0 + 40, x0 : x0 + 40] = 255
        Image.fromarray(edited).save(root / f"p{i}.png")
        Image.fromarray(mask).save(root / f"p{i}.mask.png")
        samples += [Sample(path=f"r{i}.png", label="real", source="s"),
                    Sample(path=f"f{i}.png", label="fake", source="s", generator="g", family="gan"),
                    Sample(path=f"p{i}.png", label="partial", source="s", mask=f"p{i}.mask.png")]  # fmt: skip
    return Manifest(samples, root=root).write(root / "manifest.csv")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("loc")
    return Manifest.read(_dataset(root))


@pytest.mark.parametrize("setup", ["A", "B", "C"])
@pytest.mark.parametrize("name", LEARNED)
def test_every_localizer_trains_under_every_setup(name, setup, data, tmp_path):
    loc = create_localizer(name, setup=setup, epochs=1, width=8, crop=64, batch=4, crops_per_image=1)
    loc.fit(data)
    assert loc.trained_on_["setup"] == setup
    labels = set(loc.trained_on_["labels"])
    assert labels == ({"real", "fake"} if setup == "A" else {"real", "partial"})
    img = Image.open(data[2].file).convert("RGB").crop((0, 0, 90, 70))  # not a multiple of 16
    res = loc.localize(img)
    assert res["map"].shape == (70, 90) and 0 <= res["map"].min() and res["map"].max() <= 1
    assert 0 <= res["p_fake"] <= 1 and res["explanation"].startswith(name)
    if name == "sida":  # class probabilities only for the classes the setup trains on
        assert set(res["classes"]) == ({"real", "fully generated"} if setup == "A" else {"real", "tampered"})
    loc.save(tmp_path / "saved")
    again = load_localizer(tmp_path / "saved")
    assert np.allclose(again.localize(img)["map"], res["map"], atol=1e-5)


def _easy_edit(rng, size=64):
    """A smooth photo-like image with a square of coarse random noise pasted in, and its mask: an edit that
    any localizer worth the name must find."""
    img = np.asarray(natural_image(rng, size)).copy()
    side = size // 16 * 5  # 20 px at 64
    y0, x0 = rng.integers(0, size - side, size=2)
    noise = rng.integers(0, 256, (side // 2, side // 2, 3), dtype=np.uint8).repeat(2, 0).repeat(2, 1)
    img[y0 : y0 + side, x0 : x0 + side] = noise[:side, :side]
    mask = np.zeros((size, size), np.uint8)
    mask[y0 : y0 + side, x0 : x0 + side] = 255
    return Image.fromarray(img), mask


@pytest.fixture(scope="module")
def easy(tmp_path_factory):
    root = tmp_path_factory.mktemp("easy")
    rng = np.random.default_rng(7)
    samples = []
    for i in range(16):
        natural_image(rng, 64).save(root / f"r{i}.png")
        img, mask = _easy_edit(rng)
        img.save(root / f"p{i}.png")
        Image.fromarray(mask).save(root / f"p{i}.mask.png")
        samples += [Sample(path=f"r{i}.png", label="real", source="s"),
                    Sample(path=f"p{i}.png", label="partial", source="s", mask=f"p{i}.mask.png")]  # fmt: skip
    test = [_easy_edit(rng) for _ in range(4)]
    return Manifest.read(Manifest(samples, root=root).write(root / "manifest.csv")), test


@pytest.mark.parametrize("name", LEARNED)
def test_every_trained_localizer_maps_an_easy_edit_higher_inside_than_outside(name, easy):
    # A model that outputs a constant map, or one that flags everything, fails this.
    train, test = easy
    loc = create_localizer(name, setup="C", epochs=8, width=8, crop=64, batch=8, crops_per_image=2).fit(train)
    gaps = []
    for img, mask in test:
        m = loc.localize(img)["map"]
        gaps.append(m[mask > 0].mean() - m[mask == 0].mean())
    assert np.mean(gaps) > 0.1, (name, gaps)


def test_localizer_refuses_unknown_setup_and_damaged_weights(data, tmp_path):
    with pytest.raises(ValueError, match="setup"):
        create_localizer("patches", setup="D")
    loc = create_localizer("patches", epochs=1, width=8, crop=64, batch=4).fit(data)
    loc.save(tmp_path / "p")
    w = tmp_path / "p" / "weights.npz"
    w.write_bytes(w.read_bytes()[:-8] + b"12345678")
    with pytest.raises(ValueError, match="sha256"):
        load_localizer(tmp_path / "p")


def test_grad_cam_is_a_non_negative_map_of_the_input_size():
    net = CAMClassifier(width=8).eval()
    cam = grad_cam(net, torch.rand(2, 3, 64, 48))
    assert cam.shape == (2, 64, 48) and cam.min() >= 0 and cam.max() <= 1
    assert all(p.grad is None for p in net.parameters())  # the map leaves no gradients behind


def test_patch_localizer_scores_are_local():
    # Patch-Forensics' premise: each score sees a small patch. A change in one corner moves the nearby
    # patch scores and leaves the far ones exactly as they were.
    torch.manual_seed(0)
    net = PatchLocalizer(width=8).eval()
    x = torch.rand(1, 3, 64, 64)
    y = x.clone()
    y[:, :, :8, :8] = 1 - y[:, :, :8, :8]
    with torch.no_grad():
        diff = (net(y)["mask"] - net(x)["mask"]).abs()[0, 0]  # (16, 16) at stride 4
    assert diff[:2, :2].max() > 0 and diff[6:, 6:].max() == 0


def test_attention_image_logit_follows_the_mask_maximum():
    m = torch.full((2, 1, 8, 8), -5.0)
    m[1, 0, 3, 3] = 6.0  # one confident spot
    s = soft_max_pool(m)
    assert s[0] < 0 < s[1]
    assert torch.all(s <= m.flatten(1).amax(1) + 1e-6)


def test_mau_net_has_an_fft_branch_and_full_resolution_masks():
    x = torch.rand(1, 3, 64, 64)
    const = fft_magnitude(torch.full((1, 3, 32, 32), 0.5))
    blocks = const.reshape(1, 1, 2, 16, 2, 16)
    assert torch.allclose(blocks[..., 0, :, 0], torch.log1p(torch.tensor(0.5 * 256)).expand(1, 1, 2, 2))
    assert (blocks.sum() - blocks[..., 0, :, 0].sum()).abs() < 1e-3  # only the DC term of each block
    out = MultiAttentionUNet(width=8)(x)
    assert out["mask"].shape[-1] == 32 and out["image"].shape == (1,)


def test_sida_has_three_classes_and_dice():
    out = SIDAHead(width=8)(torch.rand(2, 3, 64, 64))
    assert out["classes"].shape == (2, 3)
    target = torch.zeros(1, 1, 8, 8)
    target[..., :4, :] = 1
    perfect = (target * 2 - 1) * 50  # logits that match the target
    assert dice_loss(perfect, target) < 1e-3 < dice_loss(-perfect, target)


def test_dadf_attention_is_the_feature_change_under_noise():
    net = DADFLocalizer(width=8, noise=0.0).eval()
    with torch.no_grad():
        _, att = net.attention(torch.rand(1, 3, 64, 64))
    assert att.abs().max() == 0  # no noise, no change, no attention
    net.noise = 0.05
    with torch.no_grad():
        _, att = net.attention(torch.rand(1, 3, 64, 64))
    assert att.max() == pytest.approx(1.0) and att.min() >= 0


def test_explanation_reports_the_measured_region():
    m = np.zeros((100, 200), np.float32)
    m[10:30, 150:190] = 0.9
    loc = create_localizer("sida")
    text = explain(m, 0.8, {"real": 0.2, "fully generated": 0.1, "tampered": 0.7}, loc)
    assert "tampered 70%" in text and "4.0% of the image flagged in 1 region" in text
    assert "top-right" in text and "box x 150-189, y 10-29" in text
    assert "no region" in explain(np.zeros((10, 10)), 0.1, None, loc)


def test_scan_with_heatmaps_and_the_localize_command(data, tmp_path):
    from typer.testing import CliRunner

    from fakescope.cli.main import app

    runner = CliRunner()
    model = tmp_path / "loc"
    r = runner.invoke(app, ["train", "attention", "--manifest", str(data[0].root) + "/manifest.csv", "--out",
                            str(model), "--set", "setup=C", "--set", "epochs=1", "--set", "width=8",
                            "--set", "crop=64"])  # fmt: skip
    assert r.exit_code == 0, r.output
    folder = tmp_path / "in"
    folder.mkdir()
    for s in list(data)[:3]:
        Image.open(s.file).save(folder / s.file.name)
    (folder / "broken.png").write_bytes(b"not an image")
    out, maps = tmp_path / "r.jsonl", tmp_path / "maps"
    r = runner.invoke(app, ["scan", str(folder), "--out", str(out), "--detector", _default_or_skip(),
                            "--heatmaps", str(maps), "--localizer", str(model), "--no-progress"])  # fmt: skip
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 4
    good = [row for row in rows if not row["error"]]
    assert len(good) == 3 and any(row["error"] for row in rows)
    for row in good:
        heat = Image.open(row["heatmap"])
        assert heat.mode == "L" and heat.size == Image.open(row["path"]).size
        assert Image.open(row["overlay"]).size == heat.size
        assert 0 <= row["flagged_share"] <= 1 and row["localizer"] == "attention"
        assert row["flagged_share"] == pytest.approx((np.asarray(heat) >= 128).mean(), abs=0.02)

    r = runner.invoke(app, ["localize", str(folder), "--out", str(tmp_path / "L"), "-l", str(model)])
    assert r.exit_code == 0, r.output
    lrows = [json.loads(line) for line in (tmp_path / "L" / "localize.jsonl").read_text().splitlines()]
    assert len(lrows) == 4 and sum(1 for x in lrows if x["error"]) == 1


def _default_or_skip():
    from fakescope.models import shipped

    if "default" not in shipped():
        pytest.skip("no shipped default detector")
    from tests.conftest import weights_present

    if not weights_present():
        pytest.skip("weights not pulled")
    return "default"


def test_localization_benchmark_writes_the_table_and_resumes(shared_data, needs_weights, tmp_path):
    from fakescope.evaluation.benchmark import localization_benchmark

    from fakescope.models import load_localizer

    out, kept = tmp_path / "B.md", tmp_path / "kept"
    logs = []
    localization_benchmark(shared_data / "manifest.csv", out, quick=True, localizers=["patches"], log=logs.append,
                           keep=kept)  # fmt: skip
    res = json.loads(out.with_suffix(".json").read_text())["localization"]
    assert [(r["localizer"], r["setup"]) for r in res["rows"]] == [("patches", "A"), ("patches", "B"), ("patches", "C")]
    for r in res["rows"]:
        assert r["real edits"]["n_manipulated"] == r["real edits"]["n"] > 0  # real partial edits with masks
        assert r["synthetic"]["n_authentic"] > 0 and r["synthetic"]["n_manipulated"] > 0
    assert "Localization of partial manipulations" in out.read_text()
    # every trained row is kept, and the kept model is the one measured: its card holds the row's numbers
    assert sorted(p.name for p in kept.iterdir()) == ["patches-A", "patches-B", "patches-C"]
    loc = load_localizer(kept / "patches-C")
    m, row = loc.card.metrics, res["rows"][2]
    assert m["real_partial_edits"]["per_image"] == row["real edits"]["per_image"]
    assert m["authentic_false_positive_area"] == row["synthetic"]["per_image"]["false_positive_area_authentic"]
    flag = res["baselines"]["real edits"]["flag everything"]["per_image"]["f1_manipulated"]
    assert m["baseline_flag_everything_f1"] == flag and m["bar"]["f1_at_least"] == pytest.approx(flag + 0.10)
    logs.clear()
    localization_benchmark(shared_data / "manifest.csv", out, quick=True, localizers=["patches"], log=logs.append)
    assert not [m for m in logs if m.startswith("localization patches")]  # nothing redone


def test_shipped_default_localizer_maps_the_samples():
    from fakescope.models import load_localizer, shipped_localizers
    from tests.conftest import SAMPLES

    assert "default" in shipped_localizers()
    loc = load_localizer("default")
    card = loc.card
    assert card.kind == "localizer" and card.metrics["real_partial_edits"]["n"] > 0
    img = Image.open(next(SAMPLES.glob("*.jpg"))).convert("RGB")
    res = loc.localize(img)
    assert res["map"].shape == (img.size[1], img.size[0])
    assert res["flagged_share"] == pytest.approx(float((res["map"] >= 0.5).mean()))


def test_shipped_default_localizer_is_the_row_the_table_chooses():
    """The default is chosen by the localization table (the row that meets the bar, else the closest) and its
    card carries that row's numbers, as `fakescope benchmark --localization --keep-localizers` wrote them."""
    from fakescope.evaluation.loc_benchmark import best_row, row_label
    from fakescope.models import TRAINED_LOCALIZERS

    card = json.loads((TRAINED_LOCALIZERS / "default" / "card.json").read_text())["card"]
    loc = json.loads((Path(__file__).parents[1] / "docs" / "BENCHMARKS.json").read_text())["localization"]
    best, met = best_row(loc)
    m = card["metrics"]
    assert m["benchmark"]["row"] == row_label(best) and m["bar"]["met"] == met
    assert m["real_partial_edits"]["per_image"] == best["real edits"]["per_image"]
    assert m["authentic_false_positive_area"] == best["synthetic"]["per_image"]["false_positive_area_authentic"]


@pytest.mark.parametrize("name,label", [("fusion-map", "fusion-map"),
                                        ("forensic-similarity", "forensic-similarity (unedited images)")])
def test_shipped_by_name_is_the_measured_row(name, label):
    """`-l fusion-map` and `-l forensic-similarity` load the shipped models: the very models of the table's
    current rows of those names, made with the revisions the code has now."""
    from fakescope.evaluation.loc_benchmark import _current_here, row_label
    from fakescope.models import TRAINED_LOCALIZERS, shipped_localizers
    from fakescope.models import load_localizer as load_shipped

    assert {"default", name} <= set(shipped_localizers())
    card = json.loads((TRAINED_LOCALIZERS / name / "card.json").read_text())["card"]
    loc = json.loads((Path(__file__).parents[1] / "docs" / "BENCHMARKS.json").read_text())["localization"]
    row = next(r for r in loc["rows"] if row_label(r) == label)
    assert _current_here(row, loc["settings"])
    if name == "fusion-map":  # the fusion records every member's revision
        assert card["config"]["revisions"] == row["versions"]
    else:
        assert {name: card["config"]["revision"]} == row["versions"]
    m = card["metrics"]
    assert m["benchmark"]["row"] == label
    assert m["real_partial_edits"]["per_image"] == row["real edits"]["per_image"]
    assert load_shipped(name).name == name


def test_localize_rerun_resumes_without_duplicate_rows(data, tmp_path):
    from typer.testing import CliRunner

    from fakescope.cli.main import app

    runner = CliRunner()
    model = tmp_path / "loc"
    loc = create_localizer("attention", setup="C", epochs=1, width=8, crop=64, batch=4, crops_per_image=1)
    loc.fit(data).save(model)
    folder = tmp_path / "in"
    folder.mkdir()
    for s in list(data)[:2]:
        Image.open(s.file).save(folder / s.file.name)
    (folder / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "L"
    args = ["localize", str(folder), "--out", str(out), "-l", str(model)]
    assert runner.invoke(app, args).exit_code == 0
    rows_file = out / "localize.jsonl"
    first = rows_file.read_text()
    r = runner.invoke(app, args)
    assert r.exit_code == 0 and "0 localized, 0 unreadable, 3 already done" in r.output
    assert rows_file.read_text() == first  # nothing appended twice
    # An interrupted run leaves a half line; a new image arrives: only it is added, on a line of its own.
    with open(rows_file, "a") as fh:
        fh.write('{"path": "cut sh')
    Image.open(list(data)[2].file).save(folder / "new.png")
    r = runner.invoke(app, args)
    assert r.exit_code == 0 and "1 localized, 0 unreadable, 3 already done" in r.output
    paths = []
    for line in rows_file.read_text().splitlines():
        try:
            paths.append(json.loads(line)["path"])
        except json.JSONDecodeError:
            assert line.startswith('{"path": "cut sh')
    assert len(paths) == len(set(paths)) == 4 and str(folder / "new.png") in paths
