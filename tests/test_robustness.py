"""Robustness: the perturbation suite, perturbed views of the feature cache, and `fakescope robustness`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from fakescope.cli.main import app
from fakescope.data.manifest import Manifest
from fakescope.data.perturb import DEFAULT_SUITE, describe_perturbation, perturbation
from fakescope.evaluation.protocols import cross_validate, cross_validate_perturbed
from fakescope.evaluation.robustness import card_summary, merge_results, sample_slice, table_key
from fakescope.extraction.batch import apply_view
from tests.conftest import natural_image, write_synthetic_dataset


@pytest.fixture(scope="module")
def photo():
    return natural_image(np.random.default_rng(3), 200)


def test_every_suite_perturbation_gives_an_rgb_image(photo):
    rng = np.random.default_rng(0)
    for name in DEFAULT_SUITE:
        out = perturbation(name)(photo, rng)
        assert out.mode == "RGB", name
        kind, what = describe_perturbation(name)
        assert kind and what
    assert perturbation("resize0.5")(photo, rng).size == (100, 100)
    assert perturbation("resize2")(photo, rng).size == (400, 400)
    assert perturbation("crop0.75")(photo, rng).size == (150, 150)
    assert perturbation("screenshot")(photo, rng).size == (160, 160)


def test_lossy_perturbations_change_pixels_and_lossless_ones_do_not(photo):
    rng = np.random.default_rng(0)
    x = np.asarray(photo, dtype=float)
    for name in ("jpeg50", "webp80", "noise5", "blur1", "gamma0.7"):
        assert np.abs(np.asarray(perturbation(name)(photo, rng), dtype=float) - x).mean() > 0.5, name
    assert np.array_equal(np.asarray(perturbation("gamma1")(photo, rng)), np.asarray(photo))


def test_social_chain_caps_the_longest_side_and_never_upscales():
    big = Image.new("RGB", (2000, 1000), (120, 80, 40))
    small = Image.new("RGB", (640, 480), (120, 80, 40))
    rng = np.random.default_rng(0)
    assert perturbation("social1080q85")(big, rng).size == (1080, 540)
    assert perturbation("social1600q80x2")(big, rng).size == (1600, 800)
    assert perturbation("social1080q85x2")(small, rng).size == (640, 480)


def test_unknown_or_out_of_range_perturbations_are_named():
    with pytest.raises(ValueError, match="unknown perturbation 'sepia'"):
        perturbation("sepia")
    with pytest.raises(ValueError, match="jpeg120.*quality"):
        perturbation("jpeg120")


def test_perturbed_views_are_seeded_by_the_image(photo):
    a = np.asarray(apply_view(photo, "clean+noise5", "key-a"))
    assert np.array_equal(a, np.asarray(apply_view(photo, "clean+noise5", "key-a")))
    assert not np.array_equal(a, np.asarray(apply_view(photo, "clean+noise5", "key-b")))
    matched = apply_view(photo, "matched128q90+resize0.5", "key-a")
    assert matched.size == (64, 64)  # the protocol's view first, then the perturbation


def test_test_sample_caps_each_source_and_label(synthetic_manifest):
    m = Manifest.read(synthetic_manifest)
    keep = sample_slice(m, 3)
    kept = [s for s in m if keep.keep(s)]
    assert len(kept) == 3 * 4  # two sources x two labels
    assert sample_slice(m, None) is None
    assert [s.key for s in kept] == [s.key for s in m if sample_slice(m, 3).keep(s)]  # seeded


def test_perturbed_cross_validation_trains_once_and_degrades_under_blur(tmp_path):
    m = Manifest.read(write_synthetic_dataset(tmp_path / "d", n_per_class=10, sources=("a", "b", "c")))
    preds = cross_validate_perturbed("dct-linear", m, ["blur3", "jpeg95"], by="source", n_aug=0, calib_folds=2)
    plain = cross_validate("dct-linear", m, by="source", n_aug=0, calib_folds=2)
    assert np.allclose(preds[""].p, plain.p)
    assert "perturbed: blur3" in preds["blur3"].protocol
    y = np.array([s.is_fake for s in m])

    def auc(p):
        from sklearn.metrics import roc_auc_score

        return roc_auc_score(y, p)

    # the synthetic fakes differ from the reals by an up-sampling trace that a strong blur removes
    assert auc(preds[""].p) > 0.9
    assert auc(preds["blur3"].p) < auc(preds[""].p) - 0.1


def test_robustness_command_writes_the_section_keeps_other_runs_and_the_card(tmp_path):
    m = write_synthetic_dataset(tmp_path / "d", n_per_class=6, sources=("a", "b", "c"))
    page = tmp_path / "docs" / "B.md"
    page.parent.mkdir()
    page.write_text("# page\n\nkept text\n")
    runner = CliRunner()
    args = ["robustness", "-m", str(m), "--protocol", "loso", "--perturbations", "jpeg75,noise5", "-o", str(page)]
    r = runner.invoke(app, [*args, "--detectors", "dct-linear"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, [*args, "--detectors", "dct-linear", "--protocol", "logo"])  # another protocol: kept
    assert r.exit_code == 0, r.output
    text = page.read_text()
    assert text.startswith("# page\n\nkept text") and text.count("## Robustness to everyday processing") == 1
    assert "| jpeg75 | JPEG re-encode, quality 75 |" in text and "### loso:" in text and "### logo:" in text
    res = json.loads((page.parent / "ROBUSTNESS.json").read_text())
    assert sorted(res["protocols"]) == ["logo", "loso"]
    runs = res["protocols"]["loso"]["runs"]
    assert [r["label"] for r in runs] == ["dct-linear"]
    row = runs[0]["rows"]["jpeg75"]
    assert row["n"] == 36 and 0 <= row["auc"] <= 1 and row["auc_drop_ci"][0] <= row["auc_drop"] + 1e-9
    assert (page.parent / "b-robustness-loso.svg").read_text().startswith("<svg")
    r = runner.invoke(app, [*args, "--detectors", "dct-linear", "--per-source", "2"])  # a smaller sample: own table
    assert r.exit_code == 0, r.output
    res = json.loads((page.parent / "ROBUSTNESS.json").read_text())
    assert sorted(res["protocols"]) == ["logo", "loso", "loso-2-per-source"]
    assert res["protocols"]["loso-2-per-source"]["runs"][0]["rows"]["jpeg75"]["n"] == 12  # 3 sources x 2 labels x 2
    assert "### loso-2-per-source:" in page.read_text() and " --per-source 2`" in page.read_text()
    bad = runner.invoke(app, [*args, "--detectors", "dct-linear", "--perturbations", "sepia"])
    assert bad.exit_code == 2 and "unknown perturbation 'sepia'" in bad.output
    assert card_summary(res) == {}  # no run labelled "default"


def test_merge_replaces_a_rerun_and_starts_afresh_when_the_suite_changes():
    def res(label, names, auc):
        return {"protocol": "loso", "per_group": 30, "seed": 0, "perturbations": [{"name": n} for n in names],
                "runs": [{"label": label, "rows": {"": {"auc": auc}}}]}  # fmt: skip

    merged = merge_results(None, res("a", ["jpeg75"], 0.7))
    merged = merge_results(merged, res("b", ["jpeg75"], 0.8))
    merged = merge_results(merged, res("a", ["jpeg75"], 0.9))
    assert [(r["label"], r["rows"][""]["auc"]) for r in merged["protocols"]["loso"]["runs"]] == [("b", 0.8), ("a", 0.9)]
    merged = merge_results(merged, res("a", ["jpeg50"], 0.6))
    assert [r["label"] for r in merged["protocols"]["loso"]["runs"]] == ["a"]


def test_networks_run_reduced_under_matched_protocols_with_fewer_folds_in_their_own_table(tmp_path):
    pytest.importorskip("torch")
    m = write_synthetic_dataset(tmp_path / "d", n_per_class=6, sources=("a", "b", "c"))
    page = tmp_path / "B.md"
    runner = CliRunner()
    args = ["robustness", "-m", str(m), "--perturbations", "jpeg75", "-o", str(page)]
    bad = runner.invoke(app, [*args, "--detectors", "meso4", "--protocol", "loso"])
    assert bad.exit_code == 2 and "matched-processing protocols only" in bad.output
    unknown = runner.invoke(app, [*args, "--detectors", "no-such-detector", "--protocol", "loso"])
    assert unknown.exit_code == 2 and "unknown detector 'no-such-detector'" in unknown.output
    r = runner.invoke(app, [*args, "--detectors", "meso4", "--protocol", "loso-matched", "--max-folds", "2"])
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "ROBUSTNESS.json").read_text())
    table = res["protocols"]["loso-matched-2folds"]
    run = table["runs"][0]
    assert run["label"] == "meso4 [reduced]" and run["set"]["head_params"]["epochs"] < 8
    assert "2 folds" in run["protocol"] and run["rows"]["jpeg75"]["n"] == 36
    text = page.read_text()
    assert "### loso-matched-2folds:" in text
    assert "`fakescope robustness --protocol loso-matched --detectors meso4 --max-folds 2 --perturbations jpeg75`" in text


def test_each_protocol_fold_count_and_sample_size_has_its_own_table():
    assert table_key("loso-matched", None) == table_key("loso-matched", None, 30) == "loso-matched"
    assert table_key("loso-matched", 3) == "loso-matched-3folds"
    assert table_key("loso-matched", 3, 10) == "loso-matched-3folds-10-per-source"
    assert table_key("loso", None, None) == "loso-all-images"  # --per-source 0: every test image
    small = {"per_group": 10, "generated": "2026-01-01", "runs": [{"label": "default", "protocol": "p", "rows": {
        "": {"auc": 0.7, "auc_drop": 0.0, "ece": 0.1}}}]}  # fmt: skip
    assert card_summary({"protocols": {"loso-10-per-source": small}}) == {}  # the card keeps the default sample


def test_a_run_finishing_while_another_ran_keeps_the_other_runs_rows(tmp_path, monkeypatch):
    from fakescope.evaluation import robustness as rb

    m = write_synthetic_dataset(tmp_path / "d", n_per_class=4, sources=("a", "b", "c"))
    page = tmp_path / "B.md"
    real_run = rb.run_robustness

    def run_while_another_finishes(*args, **kw):
        res = real_run(*args, **kw)
        # a parallel run of another detector wrote its rows in the meantime
        other = {**res, "runs": [{**res["runs"][0], "label": "other"}]}
        (tmp_path / "ROBUSTNESS.json").write_text(json.dumps({"protocols": {res["key"]: other}}))
        return res

    monkeypatch.setattr(rb, "run_robustness", run_while_another_finishes)
    r = CliRunner().invoke(app, ["robustness", "-m", str(m), "--protocol", "loso", "--perturbations", "jpeg75",
                                 "-o", str(page), "--detectors", "dct-linear"])  # fmt: skip
    assert r.exit_code == 0, r.output
    runs = json.loads((tmp_path / "ROBUSTNESS.json").read_text())["protocols"]["loso"]["runs"]
    assert [x["label"] for x in runs] == ["other", "dct-linear"]
    assert "| perturbation | what | other | dct-linear |" in page.read_text()
    assert not list(tmp_path.glob(".ROBUSTNESS.json.*.tmp"))  # written in place atomically, nothing left over
