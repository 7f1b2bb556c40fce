"""Manifests, importers, validation and group splits."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from fakescope.data.manifest import Manifest, ManifestError, Sample, import_folder_tree
from fakescope.data.splits import group_kfold, group_split, leave_one_group_out, stratified_folds


def test_csv_and_jsonl_round_trip(synthetic_manifest, tmp_path):
    m = Manifest.read(synthetic_manifest)
    assert len(m) == 48 and m.counts("label") == {"real": 24, "fake": 24}
    out = m.write(tmp_path / "copy.jsonl")
    m2 = Manifest.read(out)
    assert [s.file.resolve() for s in m2] == [s.file.resolve() for s in m]
    assert [s.label for s in m2] == [s.label for s in m]
    assert m2.validate() == []


def test_shared_manifest_reads_and_validates(shared_data):
    m = Manifest.read(shared_data / "manifest.csv")
    assert len(m) == 2441
    assert set(m.counts("label")) == {"real", "fake", "partial"}
    assert m.validate(check_masks=False) == []


def test_unknown_label_is_an_error(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("path,label\na.jpg,real\nb.jpg,synthetic\n")
    with pytest.raises(ManifestError, match=r"m.csv:3: unknown label 'synthetic'"):
        Manifest.read(p)


def test_unknown_column_and_bad_json(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("path,label,colour\na.jpg,real,red\n")
    with pytest.raises(ManifestError, match="unknown column"):
        Manifest.read(p)
    q = tmp_path / "m.jsonl"
    q.write_text(json.dumps({"path": "a.jpg", "label": "real"}) + "\n{oops\n")
    with pytest.raises(ManifestError, match=r"m.jsonl:2: invalid JSON"):
        Manifest.read(q)


def test_validation_finds_missing_files_and_bad_masks(tmp_path):
    Image.new("RGB", (20, 10)).save(tmp_path / "a.png")
    Image.new("L", (10, 10)).save(tmp_path / "a_mask.png")
    m = Manifest([Sample(path="a.png", label="partial", mask="a_mask.png"), Sample(path="gone.png", label="real")],
                 root=tmp_path)  # fmt: skip
    problems = m.validate()
    assert any("mask is 10x10, image 20x10" in p for p in problems)
    assert any("gone.png" in p and "file not found" in p for p in problems)


def test_folder_tree_import(tmp_path):
    for rel in ("progan/0_real/a.png", "progan/1_fake/b.png", "stylegan/1_fake/c.png", "other/d.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8)).save(tmp_path / rel)
    m = import_folder_tree(tmp_path, source="cnndet")
    rows = {s.path: (s.label, s.generator) for s in m}
    assert rows == {
        "progan/0_real/a.png": ("real", ""),
        "progan/1_fake/b.png": ("fake", "progan"),
        "stylegan/1_fake/c.png": ("fake", "stylegan"),
    }
    with pytest.raises(ManifestError, match="no images"):
        import_folder_tree(tmp_path / "other")


def test_group_splits_never_share_a_group(synthetic_manifest):
    m = Manifest.read(synthetic_manifest)
    train, test = group_split(m, "source", ["alpha"])
    assert {s.source for s in test} == {"alpha"} and "alpha" not in {s.source for s in train}
    groups = [g for g, _, _ in leave_one_group_out(m, "source")]
    assert groups == ["alpha", "beta"]
    with pytest.raises(ValueError, match="no source named"):
        group_split(m, "source", ["gamma"])


def test_group_kfold_and_stratified_folds_partition_the_data():
    groups = [f"g{i % 7}" for i in range(70)]
    folds = group_kfold(groups, 3)
    assert sorted(np.concatenate(folds)) == list(range(70))
    for f in folds:
        held = {groups[i] for i in f}
        rest = {groups[i] for i in set(range(70)) - set(f)}
        assert not held & rest
    strata = ["a"] * 10 + ["b"] * 5
    sf = stratified_folds(strata, 5)
    assert sorted(np.concatenate(sf)) == list(range(15))
    assert all(sum(strata[i] == "a" for i in f) == 2 for f in sf)


def test_folds_are_deterministic_balanced_and_never_empty():
    groups = [f"g{i % 6}" for i in range(60)] + ["big"] * 30
    a, b = group_kfold(groups, 3, seed=1), group_kfold(groups, 3, seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert sorted(len(f) for f in a) == [30, 30, 30]  # the big group alone, the six small ones two by two
    assert len(group_kfold(["only"] * 4, 5)) == 1
    strata = ["a", "b", "c"]  # every stratum smaller than k, fewer items than k
    sf = stratified_folds(strata, 5, seed=3)
    assert len(sf) == 3 and all(len(f) == 1 for f in sf)
    assert sorted(np.concatenate(sf)) == [0, 1, 2]
    many = [f"s{i % 4}" for i in range(40)]
    assert not all(np.array_equal(x, y) for x, y in zip(stratified_folds(many, 5, 0), stratified_folds(many, 5, 1)))
