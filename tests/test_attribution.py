"""Attribution: the hierarchy, the open-set threshold (fitted without the test generators), the evaluation
protocols, saving, scan rows and the `fakescope attribute` command on a small slice."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from fakescope.attributors.hierarchical import UNKNOWN, choose_threshold, class_name
from fakescope.evaluation.attribution import AttributionData, closed_set, open_set
from fakescope.registry import create, list_attributors
from fakescope.types import NotFittedError

#: (family, generator) of the synthetic clusters; "diffusion/new" is never trained on
KNOWN = [("real", "real"), ("gan", "a"), ("gan", "b"), ("diffusion", "c"), ("diffusion", "d"), ("diffusion", "e"),
         ("autoregressive", "f")]  # fmt: skip


def clusters(targets, n=40, dim=16, seed=0):
    """Gaussian clusters: each family has a centre, each generator an offset from it, each image noise."""
    rng = np.random.default_rng(seed)
    fam_centre = {f: rng.normal(0, 3.0, dim) for f in sorted({f for f, _ in targets})}
    rows, X = [], []
    for t in targets:
        centre = fam_centre[t[0]] + rng.normal(0, 1.5, dim)
        X.append(centre + rng.normal(0, 0.6, (n, dim)))
        rows += [t] * n
    return rows, np.concatenate(X).astype(np.float32)


def arrays(targets, X):
    n = len(targets)
    return [(X, np.ones(n, bool))], ["src-" + t[1] for t in targets], [f"u{i}" for i in range(n)]


def test_registered_as_an_attributor_and_strict():
    assert "hierarchical" in list_attributors()
    with pytest.raises(TypeError, match="unknown attribution option"):
        create("hierarchical", n_augmentations=2)
    with pytest.raises(NotFittedError):
        create("hierarchical").answer(np.zeros((1, 4), np.float32))


def test_family_first_then_a_generator_of_that_family():
    targets, X = clusters(KNOWN + [("diffusion", "new")])
    train = [i for i, t in enumerate(targets) if t[1] != "new"]
    blocks, src, units = arrays([targets[i] for i in train], X[train])
    att = create("hierarchical", inner_folds=2).fit_arrays([targets[i] for i in train], blocks, src, units)
    got = att.attribute_features(X)
    h = att.hierarchy_
    for a in got:  # the generator answered always belongs to the family answered
        assert a.generator == UNKNOWN or (a.family, a.generator) in h.classes
        assert 0 <= a.attribution_p <= a.p_family + 1e-9 <= 1 + 1e-9 or a.generator == UNKNOWN
    known = [a for t, a in zip(targets, got) if t[1] != "new"]
    assert np.mean([(a.family, a.generator) == t for t, a in zip(targets, known) if a.generator != UNKNOWN]) > 0.95


def test_a_held_out_generator_is_called_unknown_more_often_than_known_ones():
    rates = []
    for seed in range(3):
        targets, X = clusters(KNOWN + [("diffusion", "new"), ("gan", "other")], seed=seed)
        rng = np.random.default_rng(seed)
        unseen = np.array([t[1] in ("new", "other") for t in targets])
        test_known = ~unseen & (rng.random(len(targets)) < 0.25)
        train = np.flatnonzero(~unseen & ~test_known)
        blocks, src, units = arrays([targets[i] for i in train], X[train])
        att = create("hierarchical", inner_folds=3).fit_arrays([targets[i] for i in train], blocks, src, units)
        a = att.answer(X)
        assert att.open_set_["threshold"] is not None
        rates.append((a["unknown"][test_known].mean(), a["unknown"][unseen].mean()))
    known_rate, unseen_rate = np.mean(rates, axis=0)
    assert unseen_rate > known_rate + 0.2, rates


def test_the_threshold_is_fitted_on_training_generators_only():
    """Open-set evaluation: whatever the held-out generators' images look like, each fold's threshold (and
    the generators its inner folds held out) stay the same: they never reach the threshold."""
    targets, X = clusters(KNOWN + [("diffusion", "new"), ("gan", "other"), ("diffusion", "g")], n=24)
    config = {"inner_folds": 2, "min_images": 10}

    def run(X):
        blocks, src, units = arrays(targets, X)
        data = AttributionData(manifest=None, targets=targets, sources=src, units=units, train_blocks=blocks,
                               test_views={"clean": blocks[0]})  # fmt: skip
        return open_set(config, data, folds=3)

    base = run(X)
    assert base["unknown_images"] == sum(t[0] != "real" for t in targets)  # every generated image held out once
    for fold in base["folds"]:
        assert not set(fold["held_out"]) & set(fold["threshold_fitted_holding_out"])
        assert not set(fold["held_out"]) & set(fold["training_generators"])
    # Replace every fold's test generators' features by noise, one fold at a time: that fold's threshold holds.
    names = np.array([class_name(t) for t in targets])
    for f, fold in enumerate(base["folds"]):
        X2 = X.copy()
        test = np.isin(names, fold["held_out"])
        X2[test] = np.random.default_rng(1).normal(0, 50, X2[test].shape)
        again = run(X2)
        assert again["folds"][f]["threshold"] == fold["threshold"]
        assert again["views"]["clean"]["unknown_scores"] != base["views"]["clean"]["unknown_scores"]


def test_closed_set_protocol_reports_every_family_and_generator():
    targets, X = clusters(KNOWN, n=20)
    blocks, src, units = arrays(targets, X)
    data = AttributionData(None, targets, src, units, blocks, {"clean": blocks[0]})
    out = closed_set({"min_images": 10}, data, folds=4)
    v = out["views"]["clean"]
    assert set(v["per_family"]) == {"real", "gan", "diffusion", "autoregressive"}
    assert set(v["per_generator"]) == {class_name(t) for t in KNOWN}
    assert v["family_top1"] > 0.9 and v["generator_top1"] > 0.8
    assert sum(map(sum, v["confusion_generator"])) == len(targets)


def test_choose_threshold():
    known, unknown = np.array([0.9, 0.8, 0.95, 0.7]), np.array([0.3, 0.5, 0.75])
    t = choose_threshold(known, unknown)
    assert (known >= t).mean() - (unknown >= t).mean() == pytest.approx(0.75)
    assert choose_threshold(known, unknown, known_rate=1.0) == pytest.approx(0.7)


def test_save_and_load_round_trip(tmp_path):
    from fakescope.models import load_attributor

    targets, X = clusters(KNOWN + [("diffusion", "new")])
    blocks, src, units = arrays(targets, X)
    att = create("hierarchical", inner_folds=2).fit_arrays(targets, blocks, src, units)
    att.save(tmp_path / "att")
    back = load_attributor(tmp_path / "att")
    a, b = att.answer(X), back.answer(X)
    assert np.allclose(a["score"], b["score"]) and (a["unknown"] == b["unknown"]).all()
    assert back.classes_ == att.classes_ and back.threshold_ == att.threshold_
    card = json.loads((tmp_path / "att" / "card.json").read_text())
    assert card["kind"] == "attributor" and card["card"]["calibration"]["open_set"]["threshold"] is not None


# --- the command on a small slice (what CI runs): evaluate, report into ANALYSIS.md, train, scan, predict -------


def _generated(kind: str, rng: np.random.Generator) -> Image.Image:
    """Synthetic 'generators' that leave different traces: pixel repetition (x2, x4), blur, noise, few colours."""
    from PIL import ImageFilter

    from tests.conftest import natural_image, upsampled_image

    if kind == "up2":
        return upsampled_image(rng)
    if kind == "up4":
        return natural_image(rng, 40).resize((160, 160), Image.NEAREST)
    if kind == "blur":
        return natural_image(rng).filter(ImageFilter.GaussianBlur(2))
    if kind == "noisy":
        a = np.asarray(natural_image(rng), np.float32) + rng.normal(0, 10, (160, 160, 3))
        return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    return natural_image(rng).quantize(8).convert("RGB").filter(ImageFilter.BoxBlur(1))


SLICE = {("gan", "up2"): 8, ("gan", "up4"): 8, ("diffusion", "blur"): 8, ("diffusion", "noisy"): 8,
         ("autoregressive", "blocks"): 8, ("diffusion", "rare"): 3}  # fmt: skip
PROMPTS = ["a cat on a sofa", "a red car in the rain", "portrait of an old sailor", "a bowl of fruit, oil painting"]


@pytest.fixture(scope="module")
def attribute_slice(tmp_path_factory):
    """A small manifest (real photos-like images and six synthetic generators in three families), evaluated and
    trained on through the CLI, with its own feature cache."""
    from typer.testing import CliRunner

    from fakescope.cli.main import app
    from fakescope.data.manifest import Manifest, Sample
    from tests.conftest import natural_image, weights_present

    if not weights_present():
        import os

        if os.environ.get("CI"):
            pytest.fail("weights missing on CI: .ci/run must run `fakescope weights pull`")
        pytest.skip("weights not pulled (run `fakescope weights pull`)")
    root = tmp_path_factory.mktemp("attribute")
    rng = np.random.default_rng(0)
    samples = []
    for i in range(10):
        natural_image(rng).save(root / f"real{i}.png")
        samples.append(Sample(path=f"real{i}.png", label="real", source="camera"))
    for (family, gen), n in SLICE.items():
        for i in range(n):
            _generated("blur" if gen == "rare" else gen, rng).save(root / f"{gen}{i}.png")
            prompt = PROMPTS[i % len(PROMPTS)] if gen in ("up2", "blur", "noisy") else ""
            samples.append(Sample(path=f"{gen}{i}.png", label="fake", generator=gen, family=family,
                                  source=f"repo-{gen}", prompt=prompt))  # fmt: skip
    manifest = Manifest(samples, root=root).write(root / "manifest.csv")
    doc = root / "ANALYSIS.md"
    doc.write_text("# Analysis\n\n## Spectral analysis\n\nspectra stay\n")
    runner = CliRunner()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FAKESCOPE_FEATURE_CACHE", str(root / "features.sqlite"))
        settings = ["--set", "min_images=6", "--set", "n_aug=1", "--set", "inner_folds=2"]
        ev = runner.invoke(app, ["attribute", "evaluate", str(manifest), "--out", str(root / "eval"), "--folds", "2",
                                 "--analysis", str(doc), *settings])  # fmt: skip
        tr = runner.invoke(app, ["attribute", "train", str(manifest), "--out", str(root / "att"), *settings,
                                 "--evidence", str(root / "eval" / "results.json")])  # fmt: skip
        scans = {name: runner.invoke(app, ["scan", str(root / "up20.png"), str(root / "real0.png"), "-f", "jsonl",
                                           "-d", "default", *extra])
                 for name, extra in (("with", ["--attributor", str(root / "att")]), ("without", []))}  # fmt: skip
        (root / "broken.png").write_bytes(b"not an image")
        pred = runner.invoke(app, ["attribute", "predict", str(root / "up41.png"), str(root / "broken.png"),
                                   "-a", str(root / "att")])  # fmt: skip
    return {"root": root, "doc": doc, "evaluate": ev, "train": tr, "scans": scans, "predict": pred}


def test_attribute_evaluate_writes_results_plots_and_its_section(attribute_slice):
    r, root = attribute_slice["evaluate"], attribute_slice["root"]
    assert r.exit_code == 0, r.output
    result = json.loads((root / "eval" / "results.json").read_text())
    closed, opened = result["closed_set"], result["open_set"]
    assert closed["families"] == ["autoregressive", "diffusion", "gan", "real"]
    assert "diffusion/rare" not in closed["classes"]  # too few images to be a class
    # the traces differ: far above the 1-in-4 chance of guessing the family
    assert closed["views"]["clean"]["family_top1"] > 0.6
    for fold in opened["folds"]:  # no fold's threshold saw its test generators
        assert not set(fold["held_out"]) & set(fold["threshold_fitted_holding_out"])
    assert 0 <= opened["views"]["clean"]["auroc"] <= 1
    assert set(result["defake"]["models"]) == {"image-only", "prompt-only", "hybrid"}
    text = attribute_slice["doc"].read_text()
    assert "## Spectral analysis\n\nspectra stay" in text  # the other sections are left as they were
    section = text.split("## Attribution", 1)[1]
    assert "`fakescope attribute evaluate " in section and "--folds 2" in section
    assert "### Open set" in section and "### DE-FAKE" in section
    page = (root / "eval" / "attribution.html").read_text()
    assert "Open set" in page and "DE-FAKE" in page
    pytest.importorskip("matplotlib")
    for name in ("confusion_family", "confusion_generator", "open_set_scores"):
        png = root / "eval" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({'eval/' + name}.png)" in section  # linked relative to ANALYSIS.md


def test_attribute_train_then_scan_rows_gain_the_attribution(attribute_slice):
    assert attribute_slice["train"].exit_code == 0, attribute_slice["train"].output
    card = json.loads((attribute_slice["root"] / "att" / "card.json").read_text())["card"]
    assert card["metrics"]["open_set"]["clean"]["auroc"] is not None
    rows = {name: [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
            for name, r in attribute_slice["scans"].items()}  # fmt: skip
    assert all(r.exit_code == 0 for r in attribute_slice["scans"].values())
    for row in rows["with"]:
        assert row["family"] in {"real", "gan", "diffusion", "autoregressive"}
        assert row["generator"] and 0 <= row["attribution_p"] <= 1
    for row in rows["without"]:  # the fields are there, empty
        assert row["family"] is None and row["generator"] is None and row["attribution_p"] is None


def test_attribute_predict_rows(attribute_slice):
    r = attribute_slice["predict"]
    assert r.exit_code == 0, r.output
    ok, broken = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert ok["error"] is None and len(ok["top"]) == 3 and ok["family"] is not None
    assert broken["error"] and broken["family"] is None
