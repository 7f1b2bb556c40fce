"""Every command through Typer's CliRunner."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from fakescope.cli.main import app
from tests.conftest import SAMPLES, write_synthetic_dataset

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    manifest = write_synthetic_dataset(root / "data", n_per_class=8)
    out = root / "dct"
    r = runner.invoke(app, ["train", "dct-linear", "-m", str(manifest), "-o", str(out), "--set", "n_aug=0",
                            "--set", "calib_folds=2", "--set", "C=0.01,0.1"])  # fmt: skip
    assert r.exit_code == 0, r.output
    return manifest, out


def test_list_shows_every_detector():
    r = invoke("list")
    assert r.exit_code == 0
    for name in ("univfd", "univfd-nn", "dct-linear", "dct-cnn", "fusion"):
        assert name in r.output
    assert "default" in r.output


def test_weights_list():
    r = invoke("weights", "list")
    assert r.exit_code == 0 and "clip-vit-b16-int8.onnx" in r.output


def test_train_writes_a_card_with_the_chosen_setting(trained):
    _, out = trained
    card = json.loads((out / "card.json").read_text())["card"]
    assert card["config"]["head"]["C"] in (0.01, 0.1)
    assert len(card["calibration"]["head_selection"]) == 2
    r = invoke("card", out)
    assert r.exit_code == 0 and '"family": "dct"' in r.output


def test_scan_folder_with_a_corrupt_file(trained, tmp_path):
    _, det = trained
    d = tmp_path / "imgs"
    d.mkdir()
    for f in sorted(SAMPLES.glob("*.jpg"))[:3]:
        shutil.copy(f, d)
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    out = tmp_path / "r.jsonl"
    r = invoke("scan", d, "--detector", det, "--out", out)
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 4
    broken = [x for x in rows if x["path"].endswith("broken.jpg")]
    assert broken[0]["error"] and broken[0]["p_fake"] is None
    assert "3 scanned" in r.output and "1 unreadable" in r.output
    again = invoke("scan", d, "--detector", det, "--out", out)
    assert again.exit_code == 0 and "4 already done" in again.output
    assert len(out.read_text().splitlines()) == 4


def test_scan_table_and_jsonl_to_stdout(trained):
    _, det = trained
    r = invoke("scan", SAMPLES / "public-images-real-city-1.jpg", "--detector", det, "--format", "table")
    assert r.exit_code == 0 and "public-images-real-city-1.jpg" in r.output
    r = invoke("scan", SAMPLES / "public-images-real-city-1.jpg", "--detector", det, "--format", "jsonl")
    row = json.loads(r.output.splitlines()[0])
    assert row["detector"] == "dct-linear"


def test_scan_exit_codes(trained, tmp_path):
    _, det = trained
    bad = tmp_path / "bad.png"
    bad.write_text("text")
    r = invoke("scan", bad, "--detector", det, "--out", tmp_path / "r.jsonl")
    assert r.exit_code == 1  # nothing could be read
    r = invoke("scan", tmp_path / "missing.jpg", "--detector", det)
    assert r.exit_code == 2 and "no such file" in r.output
    r = invoke("scan", SAMPLES, "--detector", "nonexistent")
    assert r.exit_code == 2 and "no trained detector" in r.output
    r = invoke("scan", SAMPLES, "--detector", det, "--unsure", "0.9,0.1")
    assert r.exit_code == 2
    r = invoke("scan", SAMPLES, "--detector", det, "--error", "0.1")  # trained without verdict sets
    assert r.exit_code == 2 and "not calibrated out of source" in r.output
    r = invoke("scan", SAMPLES, "--detector", det, "--error", "1.5")
    assert r.exit_code == 2 and "between 0 and 1" in r.output
    r = invoke("scan", SAMPLES, "--detector", det, "--error", "0.1", "--unsure", "0.2,0.8")
    assert r.exit_code == 2 and "give one" in r.output


def test_scan_error_level_of_the_shipped_default(needs_weights):
    counts = {}
    for level in ("0.02", "0.4"):
        r = invoke("scan", SAMPLES, "--error", level, "--format", "jsonl")
        assert r.exit_code == 0, r.output
        rows = [json.loads(line) for line in r.output.splitlines() if line.startswith("{")]
        assert len(rows) == 8 and all(f"error level {float(level):g}" in row["reliability"] for row in rows)
        counts[level] = sum(row["verdict"] == "unsure" for row in rows)
    assert counts["0.02"] >= counts["0.4"]  # a smaller error level is never surer


def test_evaluate_cross_validated_and_held_out(trained, tmp_path):
    manifest, det = trained
    r = invoke("evaluate", "dct-linear", "-m", manifest, "--report", tmp_path / "cv", "--set", "n_aug=0",
               "--set", "calib_folds=2")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "leave-source-out" in r.output and "shortcut audit AUC" in r.output
    report = json.loads((tmp_path / "cv" / "report.json").read_text())
    assert report["result"]["overall"]["n"] == 32 and report["shortcut_audit"]["overall"]["n"] == 32
    r = invoke("evaluate", det, "-m", manifest, "--matched", "128:90", "--report", tmp_path / "ho")
    assert r.exit_code == 0, r.output
    assert "matched" in (tmp_path / "ho" / "report.md").read_text()


def test_manifest_import_and_validate(tmp_path):
    for rel in ("g/0_real/a.png", "g/1_fake/b.png"):
        (tmp_path / "tree" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(next(SAMPLES.glob("*.jpg")), tmp_path / "tree" / rel)
    out = tmp_path / "m.csv"
    assert invoke("manifest", "import", tmp_path / "tree", "--out", out).exit_code == 0
    assert invoke("manifest", "validate", out).exit_code == 0
    out.write_text(out.read_text() + "missing.png,real" + "," * 13 + "\n")
    r = invoke("manifest", "validate", out)
    assert r.exit_code == 1 and "file not found" in r.output


def test_benchmark_quick_writes_tables(shared_data, needs_weights, tmp_path):
    out = tmp_path / "B.md"
    r = invoke("benchmark", "--manifest", shared_data / "manifest.csv", "--quick", "--detectors", "dct-linear,univfd",
               "--out", out, "--throughput-images", "16")  # fmt: skip
    assert r.exit_code == 0, r.output
    text = out.read_text()
    for part in ("Default detector selection", "shortcut audit", "Leave-one-source-out", "Leave-generators-out",
                 "images/s", "review's table", "Leave-generators-out matrix", "Score-level fusions",
                 "Chosen default"):  # fmt: skip
        assert part in text, part
    assert (tmp_path / "b-per-generator.svg").read_text().startswith("<svg")

    # A network's runs made elsewhere (--part) merge into the page.
    pytest.importorskip("torch")
    part = tmp_path / "part.json"
    r = invoke("benchmark", "--manifest", shared_data / "manifest.csv", "--quick", "--detectors", "meso4",
               "--part", part)  # fmt: skip
    assert r.exit_code == 0, r.output
    runs = json.loads(part.read_text())["runs"]
    assert {r["protocol_key"] for r in runs} == {"loso-matched", "logo-matched"}
    assert all(r["settings"] == "reduced" and r["device"] == "cpu" for r in runs)  # no GPU here
    assert invoke("benchmark", "--out", out, "--merge", part).exit_code == 0
    text = out.read_text()
    assert "meso4 [paired, reduced]" in text and "Runs of meso4 were produced" in text
    assert invoke("benchmark", "--out", out, "--protocols", "nonsense").exit_code == 2


def test_features_export_import_round_trip(tmp_path, monkeypatch):
    from fakescope.data.manifest import Manifest
    from fakescope.extraction import FeatureCache, extract

    m_path = write_synthetic_dataset(tmp_path / "d", n_per_class=2, sources=("a",))
    feats, _ = extract(Manifest.read(m_path), ["crop128"], view="clean")
    assert invoke("features", "export", m_path, "--out", tmp_path / "f.npz", "--view", "clean").exit_code == 0
    other = FeatureCache(tmp_path / "other.sqlite")
    monkeypatch.setenv("FAKESCOPE_FEATURE_CACHE", str(other.path))
    assert invoke("features", "import", tmp_path / "f.npz").exit_code == 0
    again, _ = extract(Manifest.read(m_path), ["crop128"], view="clean", cache=other)
    assert np.array_equal(again["crop128"], feats["crop128"])  # exact pixels back
