"""Protocols: group-held-out cross-validation, the shortcut audit and matched processing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from fakescope.data.manifest import Manifest, Sample
from fakescope.data.perturb import Matched
from fakescope.evaluation.protocols import cross_validate, shortcut_cv, summarize
from fakescope.evaluation.report import write_report
from tests.conftest import natural_image


def confounded_dataset(root, n=12):
    """Real and fake images with identical content statistics, but every fake is a small PNG
    and every real a large JPEG: only the file properties tell them apart."""
    rng = np.random.default_rng(0)
    samples = []
    for src in ("alpha", "beta", "gamma"):
        for label in ("real", "fake"):
            for i in range(n):
                img = natural_image(rng, 192)
                if label == "fake":
                    rel = f"{src}/{label}{i}.png"
                    img.crop((0, 0, 160, 160)).save(root / rel.replace("/", "_"))
                else:
                    rel = f"{src}/{label}{i}.jpg"
                    img.save(root / rel.replace("/", "_"), quality=85)
                samples.append(Sample(path=rel.replace("/", "_"), label=label, source=src,
                                      generator="" if label == "real" else f"g-{src}"))  # fmt: skip
    return Manifest(samples, root=root)


def test_shortcut_audit_finds_a_format_confound_and_matched_processing_removes_it(tmp_path):
    m = confounded_dataset(tmp_path)
    plain = summarize(shortcut_cv(m, by="source"))
    assert plain["overall"]["auc"] > 0.95  # the trivial model exploits format and size
    matched = summarize(shortcut_cv(m, by="source", matched=Matched(128, 90)))
    assert matched["overall"]["auc"] < 0.75  # only the (content-driven) JPEG size is left


def test_matched_processing_equalises_file_properties(tmp_path):
    from fakescope.io import open_image

    a = natural_image(np.random.default_rng(1), 300)
    b = natural_image(np.random.default_rng(2), 180).resize((180, 120))
    outs = []
    for img in (a, b):
        data = Matched(128, 90).encode(img)
        img2, info = open_image(data)
        outs.append((img2.size, info.format, info.jpeg_quality))
    assert outs[0] == outs[1] == ((128, 128), "JPEG", 90)


def test_cross_validation_holds_out_whole_sources(synthetic_manifest, tmp_path):
    from tests.conftest import write_synthetic_dataset

    m = Manifest.read(write_synthetic_dataset(tmp_path / "d", n_per_class=6, sources=("a", "b", "c")))
    seen = []
    pred = cross_validate("dct-linear", m, by="source", log=seen.append, n_aug=0, calib_folds=2)
    assert pred.folds == 3 and len(seen) == 3
    assert not np.isnan(pred.p).any()
    s = summarize(pred)
    assert s["overall"]["n"] == len(m)
    assert set(s["by_source"]) == {"a", "b", "c"}
    assert s["overall"]["auc"] > 0.9  # the up-sampling trace transfers to unseen sources
    paths = write_report(s, tmp_path / "report", summarize(shortcut_cv(m)))
    text = paths[1].read_text()
    assert "shortcut audit" in text and "| a |" in text


def test_summarize_reports_partial_edits_apart(synthetic_manifest):
    m = Manifest.read(synthetic_manifest)
    m.samples[0].label = "partial"
    from fakescope.evaluation.protocols import Predictions

    p = np.linspace(0, 1, len(m))
    s = summarize(Predictions(m, p, "x", "test"))
    assert s["partial_edits"]["n"] == 1
    assert s["overall"]["n"] == len(m) - 1


def test_unreadable_images_are_counted_not_scored(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "ok.png")
    (tmp_path / "bad.png").write_text("nope")
    m = Manifest([Sample(path="ok.png", label="real", source="s"), Sample(path="bad.png", label="fake", source="s")],
                 root=tmp_path)  # fmt: skip
    from fakescope.extraction import extract

    errors = []
    feats, ok = extract(m, ["dct"], on_error=lambda p, r: errors.append((p, r)))
    assert ok.tolist() == [True, False]
    assert errors and "bad.png" in errors[0][0]


def test_card_evidence_takes_this_detector_and_recipe_only(tmp_path):
    from fakescope.evaluation.benchmark import card_evidence

    def run(det, recipe, protocol, auc):
        return {"detector": det, "recipe": recipe,
                "summary": {"protocol": protocol, "overall": {"auc": auc}, "by_source": {}}}  # fmt: skip

    path = tmp_path / "BENCHMARKS.json"
    path.write_text(json.dumps({"generated": "today", "runs": [
        run("univfd", "paired", "loso", 0.7), run("univfd", "all", "loso", 0.6), run("dct-linear", "paired", "loso", 0.5),
        run("univfd", "paired", "logo", 0.65)]}))  # fmt: skip
    ev = card_evidence(path, "univfd", "paired")
    assert ev["source"] == f"{path} (today)"
    assert {k: v["overall"]["auc"] for k, v in ev["results"].items()} == {"loso": 0.7, "logo": 0.65}
    with pytest.raises(ValueError, match="no results for fusion with the 'paired' recipe"):
        card_evidence(path, "fusion", "paired")


def test_out_of_source_calibrated_folds_report_verdict_sets_and_the_page_shows_them(tmp_path):
    from fakescope.evaluation.benchmark.render import _trust_table, reliability_svg
    from tests.conftest import write_synthetic_dataset

    m = Manifest.read(write_synthetic_dataset(tmp_path / "d", n_per_class=6, sources=("a", "b", "c", "d")))
    pred = cross_validate("dct-linear", m, by="source", n_aug=0, calibration="loso", error=0.2, conformal="balanced")
    sets = pred.extra["verdict_sets"]
    assert all(s is not None and set(s) <= {"real", "fake"} for s in sets)
    s = summarize(pred)
    vs = s["verdict_sets"]
    assert vs["n"] == len(m) and 0 <= vs["conformal"]["answered"] <= 1
    # Abstention can only take answers away.
    assert vs["with_abstention"]["answered"] <= vs["conformal"]["answered"]
    cal = s["calibration"]
    assert cal["ece"] == pytest.approx(s["overall"]["ece"]) and 0 <= cal["brier"] <= 1
    assert sum(b["n"] for b in cal["reliability"]) == len(m)
    run = {"detector": "dct-linear", "recipe": "paired", "protocol_key": "loso-matched", "summary": s,
           "set": {"calibration": "loso"}}  # fmt: skip
    plain = {"detector": "dct-linear", "recipe": "paired", "protocol_key": "loso-matched",
             "summary": summarize(cross_validate("dct-linear", m, by="source", n_aug=0, calib_folds=2))}  # fmt: skip
    table = "\n".join(_trust_table([run, plain], "plot.svg"))
    assert "| loso-matched | dct-linear [paired, calibration=loso] |" in table
    assert "| loso-matched | dct-linear [paired] |" in table and "| - | - | - |" in table  # no sets to report
    svg = reliability_svg([run, plain])
    assert svg.count("<polyline") == 4 and "calibration=loso" in svg  # two panels, two runs
