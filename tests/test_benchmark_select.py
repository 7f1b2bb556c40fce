"""Ablations of the aligned pairs (``--autoencoders``) are shown on the benchmark page but never choose the
default, never enter its fusions, and do not replace their protocol's own shortcut audit."""

from __future__ import annotations

import json

import numpy as np
import pytest


def _setup(aes):
    return {"autoencoders": [f"fakescope-aligned-{a}" for a in aes], "setup": {"autoencoders": list(aes)}}


def _run(detector, aes, auc, p):
    return {"detector": detector, "recipe": "paired", "protocol_key": "loso-matched-aligned",
            "summary": {"overall": {"auc": auc}, "protocol": "leave-source-out", "setup": _setup(aes),
                        "modern": {"auc": auc}},
            "p": p}  # fmt: skip


def _manifest():
    from fakescope.data.manifest import Manifest, Sample

    return Manifest([Sample(path=f"{i}.png", label=("real", "fake")[i % 2], source="s") for i in range(8)])


def test_an_ablation_of_the_pairs_is_never_chosen(monkeypatch):
    from fakescope.evaluation.benchmark import choose
    from fakescope.evaluation.benchmark.render import _label

    monkeypatch.setattr(choose, "training_free_scores", lambda results, manifest, known=None: {})
    m = _manifest()
    y = np.array([s.is_fake for s in m], dtype=float)
    ablation = _run("univfd", ("taef2",), 0.99, list(0.1 + 0.8 * y))
    flat = [0.5] * len(m)  # the fusion of the own runs ranks nothing
    runs = [ablation, _run("univfd", ("taef2", "ae-nearest"), 0.7, flat),
            _run("univfd-nn", ("taef2", "ae-nearest"), 0.6, flat)]
    results = {"runs": runs}
    choose.select(results, m)
    assert not choose.own_pairs(ablation) and choose.own_pairs(runs[1])
    assert results["chosen"]["auc"] == 0.7  # the ablation's 0.99 competes with nothing
    assert len(results["fusions"]) == 1  # univfd (own pairs) + univfd-nn, no fusion with the ablation
    assert _label(ablation) == "univfd [paired, pairs of taef2] + aligned pairs"
    assert _label(runs[1]) == "univfd [paired] + aligned pairs"


def test_merging_an_ablation_keeps_the_protocols_own_audit(tmp_path, monkeypatch):
    from fakescope.evaluation.benchmark import run

    monkeypatch.setattr(run, "select", lambda results, manifest: None)
    monkeypatch.setattr(run, "write_page",
                        lambda results, out: out.with_suffix(".json").write_text(json.dumps(results)))
    m = _manifest().write(tmp_path / "manifest.csv")
    own_audit = {"overall": {"auc": 0.5}, "setup": _setup(("taef2", "ae-nearest"))}
    page = {"manifest": str(m), "n_images": 8, "quick": False, "runs": [],
            "audits": {"loso-matched-aligned": own_audit}}
    (tmp_path / "B.json").write_text(json.dumps(page))
    part = {"generated": "now", "machine": "here", "seconds": 1, "n_images": 8, "quick": False,
            "runs": [_run("univfd", ("taef2",), 0.69, [0.5] * 8)],
            "audits": {"loso-matched-aligned": {"overall": {"auc": 0.6}, "setup": _setup(("taef2",))}}}
    (tmp_path / "part.json").write_text(json.dumps(part))
    merged = run.merge_parts(tmp_path / "B.md", [tmp_path / "part.json"], log=lambda m: None)
    assert merged["audits"]["loso-matched-aligned"] == own_audit
    assert len(merged["runs"]) == 1


def test_a_run_on_fewer_folds_is_labelled_and_does_not_compete(monkeypatch):
    from fakescope.evaluation.benchmark import choose
    from fakescope.evaluation.benchmark.render import _label

    monkeypatch.setattr(choose, "training_free_scores", lambda results, manifest, known=None: {})
    m = _manifest()
    few = {"detector": "zed", "recipe": "paired", "protocol_key": "loso-matched", "settings": "reduced",
           "max_folds": 5, "summary": {"overall": {"auc": 0.9}, "protocol": "leave-source-out, 5 folds"},
           "p": [0.5] * len(m)}  # fmt: skip
    full = {"detector": "univfd", "recipe": "paired", "protocol_key": "loso-matched",
            "summary": {"overall": {"auc": 0.6}, "protocol": "leave-source-out, 15 folds"}, "p": [0.5] * len(m)}
    results = {"runs": [few, full]}
    choose.select(results, m)
    assert results["chosen"]["members"] == [["univfd", "paired"]] and not results["fusions"]
    assert _label(few) == "zed [paired, reduced, 5 folds]"


def test_training_free_scores_leave_out_a_fixed_direction_score_that_is_learned(monkeypatch):
    pytest.importorskip("torch")
    from fakescope.detectors.zed import Zed
    from fakescope.evaluation.benchmark import choose

    def no_extraction(self, *a, **k):
        raise AssertionError("a learned score has no raw value to extract")

    monkeypatch.setattr(Zed, "features_of", no_extraction)
    assert Zed.monotone_calibration and Zed.score_needs_fit
    results = {"runs": [{"detector": "zed", "recipe": "paired", "protocol_key": "aligned-only-matched"}]}
    assert choose.training_free_scores(results, _manifest()) == {}
