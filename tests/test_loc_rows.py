"""Rows of the localization benchmark carry the revision of every localizer they come from: a changed
localizer's row is made again when asked for, and marked stale on the page until then; a partial run keeps
the description of the data sets its kept rows used."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from PIL import Image

from fakescope import registry
from fakescope.evaluation.loc_benchmark import (ALIGNED_TRAINING, NO_TRAINING, best_row, is_current,
                                                kept_set_descriptions, plan_rows, render_localization,
                                                row_versions)  # fmt: skip
from fakescope.localize import create_localizer


@pytest.fixture
def revision(monkeypatch):
    """Set a registered localizer's revision for the test."""

    def set_revision(name: str, version: int) -> None:
        e = registry.entry(name, kind="localizer")
        monkeypatch.setitem(registry._REGISTRY, name, dataclasses.replace(e, version=version))

    return set_revision


def _row(name, setup="–", training=NO_TRAINING, versions=None, f1=0.3, fp=0.05):
    r = {"localizer": name, "setup": setup, "training": training, "settings": "reduced",
         "real edits": {"per_image": {"f1_manipulated": f1}}, "synthetic": {"per_image": {
             "false_positive_area_authentic": fp}}}  # fmt: skip
    if versions is not None:
        r["versions"] = versions
    return r


def test_jpeg_dq_is_at_its_second_revision_and_the_fusion_follows_its_members():
    assert row_versions("jpeg-dq") == {"jpeg-dq": 2}
    fused = row_versions("fusion-map", "reduced")
    assert {"fusion-map", "sida", "noise-level", "copy-move"} <= set(fused) and fused["copy-move"] == 2
    assert "jpeg-dq" not in fused  # silent on the PNG edits the fusion fits on
    assert row_versions("fusion-map", "full") == fused
    assert is_current({"localizer": "ela"}, {"ela": 1})  # a row that records nothing was made at revision 1
    assert not is_current({"localizer": "jpeg-dq"}, {"jpeg-dq": 2})


def test_a_changed_localizer_is_run_again_and_an_unchanged_one_kept(revision):
    old_dq, ela = _row("jpeg-dq"), _row("ela")  # made before rows recorded revisions
    fusion_old = _row("fusion-map", "C", ALIGNED_TRAINING, versions={"fusion-map": 1, "jpeg-dq": 1})
    specs = [("jpeg-dq", "–", NO_TRAINING), ("ela", "–", NO_TRAINING), ("fusion-map", "C", ALIGNED_TRAINING)]
    kept, todo = plan_rows(specs, [old_dq, ela, fusion_old], "reduced")
    assert kept == [ela] and todo == [specs[0], specs[2]]  # jpeg-dq changed; the fusion fuses it
    # a row made at the current revisions is kept; one of other settings is not
    new_dq = _row("jpeg-dq", versions={"jpeg-dq": 2})
    kept, todo = plan_rows(specs[:1], [new_dq, {**ela, "settings": "full"}], "reduced")
    assert kept == [new_dq] and todo == []
    # the next change to ela makes its row stale too, and only a run that asks for it redoes it
    revision("ela", 2)
    kept, todo = plan_rows(specs[:1], [new_dq, ela], "reduced")
    assert kept == [new_dq, ela] and todo == []
    kept, todo = plan_rows(specs[:2], [new_dq, ela], "reduced")
    assert kept == [new_dq] and todo == [specs[1]]


def test_cached_maps_are_kept_per_revision(tmp_path):
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    loc = create_localizer("ela")
    loc.cache_dir = tmp_path
    first = loc.map(img)
    assert len(list(tmp_path.rglob("*.npy"))) == 1
    loc.map(img)
    assert len(list(tmp_path.rglob("*.npy"))) == 1  # read back
    assert loc.version == registry.entry("ela").version == 1 and loc.card.config["revision"] == 1
    loc.version = 3  # as a family registered at revision 3
    np.testing.assert_allclose(loc.map(img), first, atol=1e-3)  # same code here, but computed again
    assert len(list(tmp_path.rglob("*.npy"))) == 2


def test_a_partial_run_keeps_the_sets_of_the_rows_it_keeps():
    done_sets = {"train": {"n": 1}, "synthetic": {"n": 2}, "real edits": {"n": 3}, "train+aligned": {"n": 4},
                 "aligned-local": {"n": 5}}  # fmt: skip
    built = {"train": object(), "synthetic": object(), "real edits": object()}  # no aligned-local edits made
    fusion = {**_row("fusion-map", "C", ALIGNED_TRAINING), "aligned-local": {}}
    assert kept_set_descriptions(done_sets, built, [fusion, _row("ela")]) == {"train+aligned": {"n": 4},
                                                                              "aligned-local": {"n": 5}}
    assert kept_set_descriptions(done_sets, built, [_row("ela")]) == {}  # nothing kept uses them
    assert kept_set_descriptions(done_sets, {**built, "aligned-local": object()}, [fusion]) == {
        "train+aligned": {"n": 4}}  # built now: described from this run


def test_stale_rows_are_marked_on_the_page_and_do_not_compete():
    report = {"per_image": {"f1_manipulated": 0.0, "iou_manipulated": 0.0, "auc": 0.5,
                            "false_positive_area_authentic": 0.0}, "pooled": {"f1": 0.0}, "image_level": {}}
    flag = {"per_image": {**report["per_image"], "f1_manipulated": 0.2}, "pooled": {"f1": 0.2}, "image_level": {}}

    def row(name, f1, versions=None):
        r = _row(name, versions=versions)
        r["real edits"] = {**report, "per_image": {**report["per_image"], "f1_manipulated": f1}}
        r["synthetic"] = report
        return r

    n = {"n": 1, "labels": {}}
    loc = {"rows": [row("jpeg-dq", 0.9), row("ela", 0.35)], "settings": "reduced", "config": {},
           "setups": {"C": "masks"}, "sets": {"train": n, "synthetic": n, "real edits": n},
           "baselines": {"real edits": {"flag everything": flag, "flag nothing": report},
                         "synthetic": {"flag everything": flag, "flag nothing": report}}}  # fmt: skip
    best, ok = best_row(loc)
    assert best["localizer"] == "ela" and ok  # the stale jpeg-dq row's F1 counts for nothing
    text = "\n".join(render_localization(loc))
    assert "| jpeg-dq (classical) † |" in text and "| ela (classical) |" in text
    assert "--localizers jpeg-dq`" in text
    loc["rows"][0]["versions"] = {"jpeg-dq": 2}
    assert best_row(loc)[0]["localizer"] == "jpeg-dq" and "†" not in "\n".join(render_localization(loc))
    json.dumps(loc)  # rows stay plain JSON


def test_the_benchmark_reruns_a_changed_localizer_and_keeps_the_other_rows_and_sets(shared_data, tmp_path,
                                                                                     monkeypatch):  # fmt: skip
    from fakescope.evaluation import loc_benchmark
    from fakescope.evaluation.benchmark import localization_benchmark

    out = tmp_path / "B.md"
    earlier = {"localizer": "fusion-map", "setup": "C", "training": ALIGNED_TRAINING, "settings": "reduced",
               "versions": row_versions("fusion-map", "reduced"), "aligned-local": {}}  # fmt: skip
    aligned_sets = {"train+aligned": {"n": 7, "labels": {}}, "aligned-local": {"n": 3, "labels": {}}}
    out.with_suffix(".json").write_text(json.dumps({
        "generated": "-", "manifest": str(shared_data / "manifest.csv"), "n_images": 0, "quick": True, "seconds": 0,
        "runs": [], "audits": {}, "skipped_detectors": [],
        "localization": {"rows": [earlier], "settings": "reduced", "sets": aligned_sets}}))  # fmt: skip
    monkeypatch.setattr(loc_benchmark, "render_localization", lambda loc: [])  # the stand-in row has no scores
    logs = []
    localization_benchmark(shared_data / "manifest.csv", out, quick=True, localizers=["ela"], log=logs.append)
    res = json.loads(out.with_suffix(".json").read_text())["localization"]
    assert [r["localizer"] for r in res["rows"]] == ["fusion-map", "ela"]
    assert res["rows"][1]["versions"] == {"ela": 1}
    for key, described in aligned_sets.items():  # the fusion row's sets, unless this run read them itself
        assert res["sets"][key] == described or res["sets"][key]["n"] > 0
    logs.clear()
    localization_benchmark(shared_data / "manifest.csv", out, quick=True, localizers=["ela"], log=logs.append)
    assert not [m for m in logs if m.startswith("localization ela")]  # unchanged: kept
    # ela's next revision (the rows only: its cached maps are left alone)
    bumped = lambda name, size="reduced": {"ela": 2} if name == "ela" else row_versions(name, size)  # noqa: E731
    monkeypatch.setattr(loc_benchmark, "row_versions", bumped)
    localization_benchmark(shared_data / "manifest.csv", out, quick=True, localizers=["ela"], log=logs.append)
    assert [m for m in logs if m.startswith("localization ela")]  # run again
    res = json.loads(out.with_suffix(".json").read_text())["localization"]
    assert [(r["localizer"], r.get("versions")) for r in res["rows"]] == [
        ("fusion-map", earlier["versions"]), ("ela", {"ela": 2})]


def test_a_run_cut_short_keeps_the_baselines_and_the_stale_rows_it_has_not_redone(shared_data, tmp_path, revision):
    from fakescope.data.manifest import Manifest
    from fakescope.evaluation.loc_benchmark import run_localization

    revision("jpeg-grid", 2)
    old = _row("jpeg-grid", f1=0.123)  # made at revision 1: stale, and asked for again below
    seen = []
    run_localization(Manifest.read(shared_data / "manifest.csv"), tmp_path, localizers=["ela", "jpeg-grid"],
                     quick=True, log=lambda m: None, done=[old], on_row=seen.append)  # fmt: skip
    first, last = seen
    # after the first new row: the stale row is still there, and so are the baselines the page's bar needs
    assert [r["localizer"] for r in first["rows"]] == ["ela", "jpeg-grid"] and first["rows"][1] is old
    assert first["baselines"]["real edits"]["flag everything"]["per_image"]["f1_manipulated"] > 0
    assert set(first["baselines_by_kind"]) == {"synthetic", "real edits"}
    # after the second, its new row has replaced it
    assert [r["localizer"] for r in last["rows"]] == ["ela", "jpeg-grid"]
    assert last["rows"][1]["versions"] == {"jpeg-grid": 2} and last["rows"][1] is not old


def test_realistic_rows_are_asked_for_by_name_need_their_sets_and_get_a_column_of_their_own():
    from fakescope.evaluation.loc_benchmark import REALISTIC_TRAINING, row_label, row_specs, sets_needed

    specs = row_specs(["sida+realistic", "dadf+aligned", "ela"], "ABC")
    assert specs == [("dadf", "C", ALIGNED_TRAINING), ("sida", "C", REALISTIC_TRAINING), ("ela", "–", NO_TRAINING)]
    assert row_specs(["fusion-map"], "ABC") == [("fusion-map", "C", ALIGNED_TRAINING)]
    assert row_specs(["fusion-map+realistic"], "ABC") == [("fusion-map", "C", REALISTIC_TRAINING)]
    assert row_label({"localizer": "fusion-map", "training": REALISTIC_TRAINING}) == "fusion-map +realistic"
    row = {**_row("sida", "C", REALISTIC_TRAINING, f1=0.41, fp=0.2), "realistic": {"per_image": {"f1_manipulated": 0.6}}}
    assert row_label(row) == "sida +realistic"
    assert {"train+aligned", "train+realistic", "realistic"} <= sets_needed([row])  # it trains on both
    kind = {"f1": 0.3}
    for r in (row,):
        r["real edits"].update(by_kind={"inpainting": kind}, iou_manipulated=0.2, auc=0.5)
        r["real edits"].update(pooled={"f1": 0.3}, image_level={})
        r["real edits"]["per_image"].update(iou_manipulated=0.2, auc=0.5)
        r["synthetic"]["per_image"].update(f1_manipulated=0.2, iou_manipulated=0.1, auc=0.6)
        r["synthetic"].update(by_kind={"splice": kind}, pooled={"f1": 0.2}, image_level={"auc": 0.5})
    n = {"n": 10, "labels": {"real": 5, "partial": 5}}
    loc = {"rows": [row], "settings": "reduced", "config": {"epochs": 3}, "setups": {"C": "pixel masks"},
           "sets": {"train": n, "train+aligned": {**n, "n": 12}, "train+realistic": {**n, "n": 20},
                    "synthetic": {**n, "kinds": {"splice": 3}}, "real edits": {**n, "kinds": {"inpainting": 4}},
                    "realistic": {"n": 6}}}  # fmt: skip
    page = "\n".join(render_localization(loc))
    assert "Rows *+realistic* (setup C) train on those and on 8 realistic edits too" in page
    assert "6 more, from the test half, are a test set of their own" in page
    assert "| sida +realistic | C | 0.410 | 0.200 |" in page  # the main table
    # per kind: real inpainting, synth splice, aligned-local (not scored), realistic
    assert "| realistic (6) |" in page and "| sida +realistic | C | 0.300 | 0.300 | – | 0.600 |" in page


def test_a_quick_run_keeps_every_aligned_and_realistic_training_edit():
    from fakescope.data.manifest import Manifest, Sample
    from fakescope.evaluation.loc_benchmark import quick_subsets

    def samples(n, **kw):
        return [Sample(path=f"{kw.get('generator', kw['label'])}-{i}.png", source="s", **kw) for i in range(n)]

    base = samples(100, label="real") + samples(100, label="fake", generator="g")
    aligned = samples(5, label="partial", generator="fakescope-aligned-local-taef2")
    realistic = samples(7, label="partial", generator="fakescope-realistic")
    sets = {"train": Manifest(base), "train+aligned": Manifest([*base, *aligned]),
            "train+realistic": Manifest([*base, *aligned, *realistic]), "real edits": Manifest(samples(30, label="partial"))}  # fmt: skip
    quick_subsets(sets)
    assert len(sets["train"]) == 120 and len(sets["real edits"]) == 12
    assert [s.generator for s in sets["train+aligned"]][120:] == [a.generator for a in aligned]
    assert list(sets["train+realistic"])[:120] == list(sets["train"])
    assert len(sets["train+realistic"]) == 120 + 5 + 7


def test_the_unedited_trained_row_is_asked_for_by_name_and_labelled_so():
    from fakescope.evaluation.loc_benchmark import UNEDITED, kept_name, row_label, row_specs, sets_needed

    assert row_specs(["forensic-similarity"], "ABC") == [("forensic-similarity", "–", UNEDITED)]
    # it is not trained under the three setups, and the fusion's revision follows it as a member
    assert all(spec[0] != "forensic-similarity" or spec[2] == UNEDITED for spec in row_specs(None, "ABC"))
    assert "forensic-similarity" in row_versions("fusion-map", "reduced")
    row = _row("forensic-similarity", "–", UNEDITED, f1=0.3, fp=0.2)
    assert row_label(row) == "forensic-similarity (unedited images)"
    assert kept_name(row) == "forensic-similarity"
    assert sets_needed([row]) == {"train", "synthetic", "real edits"}


def test_forensic_similarity_rows_are_stale_when_its_training_settings_change():
    """Rows that train forensic-similarity (alone or as the fusion's member) record its steps and width; a
    row made with other settings is run again when asked for, one made before rows recorded them counts as
    made with the earlier ones, and rows that train no such model do not depend on them."""
    from fakescope.evaluation.loc_benchmark import EARLIER_UNEDITED, UNEDITED, UNEDITED_SETTINGS, _current_here

    now = UNEDITED_SETTINGS["reduced"]
    fsim = ("forensic-similarity", "–", UNEDITED)
    fused = ("fusion-map", "C", ALIGNED_TRAINING)
    old = [_row(*fsim, versions=row_versions("forensic-similarity")),
           _row(*fused, versions=row_versions("fusion-map", "reduced"))]  # fmt: skip
    new = [{**r, "unedited": dict(now)} for r in old]
    ela = _row("ela", versions={"ela": 1})
    assert EARLIER_UNEDITED["reduced"] != now  # the rows made before are stale
    assert not any(is_current(r, row_versions(r["localizer"], "reduced"), now) for r in old)
    assert all(is_current(r, row_versions(r["localizer"], "reduced"), now) for r in [*new, ela])
    other = {**now, "steps": now["steps"] + 1}
    assert not any(is_current(r, row_versions(r["localizer"], "reduced"), other) for r in new)
    assert is_current(ela, {"ela": 1}, other)
    kept, todo = plan_rows([fsim, fused, ("ela", "–", NO_TRAINING)], [*new, ela], "reduced", other)
    assert kept == [ela] and todo == [fsim, fused]
    kept, todo = plan_rows([fsim, fused], [*new, ela], "reduced")  # the settings of the size by default
    assert kept == [*new, ela] and todo == []
    # the page judges rows by the settings its run recorded (a quick run trains with its own)
    quick = {**new[0], "unedited": other}
    assert _current_here(quick, "reduced", other) and not _current_here(quick, "reduced")
