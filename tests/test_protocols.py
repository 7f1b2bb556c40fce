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
        return {"detector": det, "recipe": recipe, "protocol_key": protocol,
                "summary": {"protocol": protocol, "overall": {"auc": auc}, "by_source": {}}}  # fmt: skip

    path = tmp_path / "BENCHMARKS.json"
    path.write_text(json.dumps({"generated": "today", "runs": [
        run("univfd", "paired", "loso", 0.7), run("univfd", "all", "loso", 0.6), run("dct-linear", "paired", "loso", 0.5),
        run("univfd", "paired", "logo", 0.65), run("univfd", "paired", "loso-matched-aligned", 0.8)]}))  # fmt: skip
    ev = card_evidence(path, "univfd", "paired")
    assert ev["source"] == f"{path} (today)"
    assert {k: v["overall"]["auc"] for k, v in ev["results"].items()} == {"loso": 0.7, "logo": 0.65}
    # a detector trained with aligned pairs added: its results are the runs that added them, and only those
    ev = card_evidence(path, "univfd", "paired", pairs=True)
    assert {k: v["overall"]["auc"] for k, v in ev["results"].items()} == {"loso-matched-aligned": 0.8}
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


def generations_dataset(root):
    """Three sources of real images and fakes of a modern generator (FLUX.1) and an old one (biggan); source
    'old' holds only old fakes."""
    from tests.conftest import upsampled_image

    rng = np.random.default_rng(4)
    samples = []
    layout = {"a": [("real", ""), ("fake", "FLUX.1"), ("fake", "biggan")],
              "b": [("real", ""), ("fake", "FLUX.1"), ("fake", "biggan")], "old": [("fake", "biggan")]}  # fmt: skip
    for src, kinds in layout.items():
        for label, gen in kinds:
            for i in range(5):
                img = natural_image(rng, 160) if label == "real" else upsampled_image(rng, 160)
                rel = f"{src}-{(gen or label).replace('.', '_')}-{i}.png"
                img.save(root / rel)
                samples.append(Sample(path=rel, label=label, source=src, generator=gen))
    return Manifest(samples, root=root)


def test_the_modern_slice_scores_only_modern_fakes_and_reals_but_trains_on_old_fakes(tmp_path, monkeypatch):
    import fakescope.evaluation.protocols as protocols
    from fakescope.evaluation.protocols import MODERN, MODERN_GENERATORS

    assert {"FLUX.1", "SD3/SD3.5", "DALL-E 3", "InfiniteYou (FLUX.1-dev based)"} <= MODERN_GENERATORS
    assert not {"biggan", "stable-diffusion-1.x(2022)", "midjourney(2022)", "SD1.x"} & MODERN_GENERATORS
    m = generations_dataset(tmp_path)
    trained_on = []
    real_create = protocols.create

    def spy(name, **kw):
        det = real_create(name, **kw)
        fit = det.fit

        def recording_fit(train, **fkw):
            trained_on.append({s.generator for s in train})
            return fit(train, **fkw)

        det.fit = recording_fit
        return det

    monkeypatch.setattr(protocols, "create", spy)
    logged = []
    pred = cross_validate("dct-linear", m, by="source", test=MODERN, log=logged.append, n_aug=0, calib_folds=2,
                          sources="all")  # fmt: skip
    assert {(s.label, s.generator) for s in pred.manifest} == {("real", ""), ("fake", "FLUX.1")}
    assert len(pred.manifest) == 20 and not np.isnan(pred.p).any()
    assert len(trained_on) == 2 and all("biggan" in g for g in trained_on)  # old fakes still train
    assert any("skipped" in line for line in logged)  # the old-only source has nothing to score
    s = summarize(pred)
    assert set(s["by_generator"]) == {"FLUX.1"} and "2023 or later" in s["protocol"]
    audit = summarize(shortcut_cv(m, by="source", test=MODERN))
    assert audit["overall"]["n"] == 20


def _pairs_of(m: Manifest, root) -> Manifest:
    """A stand-in pair set: each real image of ``m`` (as its own file) and a darkened counterpart linked to it."""
    from fakescope.data.manifest import file_sha256

    rows = []
    for i, s in enumerate(x for x in m if x.label == "real"):
        img = Image.open(s.file).convert("RGB")
        real, fake = root / f"crop{i}.png", root / f"twin{i}.png"
        img.save(real)
        Image.fromarray((np.asarray(img) * 0.9).astype(np.uint8)).save(fake)
        sha = file_sha256(real)
        rows += [Sample(path=real.name, label="real", source=s.source, sha256=sha),
                 Sample(path=fake.name, label="fake", source="fakescope-synth", generator="fakescope-aligned-x",
                        pair=sha, sha256=file_sha256(fake))]  # fmt: skip
    return Manifest(rows, root=root)


def test_pairs_join_every_fold_except_those_made_from_the_held_out_source_and_are_never_scored(tmp_path, monkeypatch):
    import fakescope.evaluation.protocols as protocols

    (tmp_path / "d").mkdir()
    (tmp_path / "p").mkdir()
    m = generations_dataset(tmp_path / "d")
    pairs = _pairs_of(m, tmp_path / "p")
    crop_source = {s.sha256: s.source for s in pairs if s.label == "real"}
    folds = []
    real_create = protocols.create

    def spy(name, **kw):
        det = real_create(name, **kw)
        fit = det.fit
        det.fit = lambda train, **fkw: folds.append(list(train)) or fit(train, **fkw)
        return det

    monkeypatch.setattr(protocols, "create", spy)
    pred = cross_validate("dct-linear", m, by="source", extra_train=pairs, n_aug=0, calib_folds=2, sources="all")
    assert len(pred.manifest) == len(m) and not np.isnan(pred.p).any()  # only the data set's images are scored
    assert "aligned counterparts" in pred.protocol
    assert len(folds) == 3
    for train in folds:
        sources = {s.source for s in train if not s.pair and s.source != "fakescope-synth" and s.sha256 not in crop_source}
        used = [s for s in train if s.pair]
        held = {"a", "b", "old"} - sources
        assert len(held) == 1  # one source held out per fold
        # every pair whose real image comes from a training source joins; none from the held-out one
        assert {crop_source[s.pair] for s in used} == {"a", "b"} - held
        assert all(crop_source.get(s.sha256) != next(iter(held)) for s in train if s.sha256 in crop_source)
    audit = shortcut_cv(m, by="source", extra_train=pairs)
    assert "aligned counterparts" in audit.protocol and not np.isnan(audit.p).any()


def test_aligned_only_trains_on_no_collected_fake_and_makes_no_counterpart_from_a_test_image(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    import fakescope.data.synthesis.autoencoders as autoencoders
    import fakescope.evaluation.aligned_only as aligned_only_mod
    from fakescope.evaluation.aligned_only import AlignedSetup, aligned_only, aligned_only_audit

    m = generations_dataset(tmp_path)
    setup = AlignedSetup(n_reals=4, side=128, autoencoders=("ae-nearest-l4",))
    builds = []
    real_build = autoencoders.autoencoder_from_spec
    monkeypatch.setattr(autoencoders, "autoencoder_from_spec", lambda *a, **k: builds.append(a) or real_build(*a, **k))
    trained = []
    real_create = aligned_only_mod.create

    def spy(name, **kw):
        det = real_create(name, **kw)
        fit = det.fit
        det.fit = lambda train, **fkw: trained.append(train) or fit(train, **fkw)
        return det

    monkeypatch.setattr(aligned_only_mod, "create", spy)
    pred = aligned_only("dct-linear", m, tmp_path / "work", setup, n_aug=1, calib_folds=2)
    (train,) = trained
    fakes = [s for s in train if s.is_fake]
    assert len(fakes) == 4 and all(s.generator == "fakescope-aligned-ae-nearest-l4" for s in fakes)
    assert {s.sha256 for s in fakes}.isdisjoint({s.sha256 for s in m})  # no collected image among them
    crops = {s.sha256: s for s in train if s.label == "real"}
    assert len(crops) == 4 and {s.pair for s in fakes} == set(crops)  # each counterpart linked to a crop
    assert all(s.crop.startswith("128x128+") for s in crops.values())
    # the test set: every collected fake, and the real images no counterpart was made from
    test_keys = {s.key for s in pred.manifest}
    assert {s.key for s in m if s.is_fake} <= test_keys
    assert sum(s.label == "real" for s in pred.manifest) == 10 - 4
    origins = {s.key for s in m if s.label == "real"} - test_keys
    assert len(origins) == 4
    for origin in origins:
        orig = next(s for s in m if s.key == origin)
        arr = np.asarray(Image.open(orig.file).convert("RGB"))[16:144, 16:144]
        assert any(np.array_equal(arr, np.asarray(Image.open(c.file).convert("RGB"))) for c in crops.values())
    s = summarize(pred)
    assert s["setup"]["pairs"] == 4 and s["setup"]["autoencoders"] == ["fakescope-aligned-ae-nearest-l4"]
    assert 5 < s["setup"]["psnr_db"]["fakescope-aligned-ae-nearest-l4"] < 60
    assert set(s["by_generator"]) == {"FLUX.1", "biggan"} and not np.isnan(pred.p).any()
    assert len(builds) == 1
    aligned_only_audit(m, tmp_path / "work", setup)  # a rerun reuses the counterparts: no autoencoder built
    assert len(builds) == 1


def test_benchmark_runs_the_modern_slice_and_aligned_only_into_their_own_tables(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from typer.testing import CliRunner

    import fakescope.evaluation.aligned_only as aligned_only
    import fakescope.evaluation.benchmark.run as run
    from fakescope.cli.main import app
    from fakescope.evaluation.aligned_only import AlignedSetup

    monkeypatch.setenv("FAKESCOPE_HOME", str(tmp_path / "home"))
    small = AlignedSetup(n_reals=4, side=128, autoencoders=("ae-nearest-l4",))
    monkeypatch.setattr(run, "aligned_setup", lambda quick, *a, **k: small)
    # the small setup stands for the protocols' own autoencoders here (not an ablation of them)
    monkeypatch.setattr(aligned_only, "PAIRS_AUTOENCODERS", small.autoencoders)
    monkeypatch.setattr(aligned_only, "DEFAULT_AUTOENCODERS", small.autoencoders)
    (tmp_path / "d").mkdir()
    manifest = generations_dataset(tmp_path / "d").write(tmp_path / "d" / "m.csv")
    out = tmp_path / "B.md"
    r = CliRunner().invoke(app, ["benchmark", "--manifest", str(manifest), "--detectors", "dct-linear", "--protocols",
                                 "loso-matched-modern,aligned-only,loso-matched-aligned", "--out", str(out),
                                 "--throughput-images", "0", "--set", "n_aug=0", "--set", "calib_folds=2"])  # fmt: skip
    assert r.exit_code == 0, r.output
    results = json.loads(out.with_suffix(".json").read_text())
    assert {x["protocol_key"] for x in results["runs"]} == {"loso-matched-modern", "aligned-only", "loso-matched-aligned"}
    assert set(results["audits"]) == {"loso-matched-modern", "aligned-only", "loso-matched-aligned"}
    paired = next(x for x in results["runs"] if x["protocol_key"] == "loso-matched-aligned")
    assert paired["summary"]["setup"]["pairs"] == 4 and paired["summary"]["modern"]["n"] == 20
    assert "## Aligned pairs and collected fakes" in out.read_text()
    text = out.read_text()
    assert "## Modern generators" in text and "| dct-linear [paired, n_aug=0, calib_folds=2] |" in text
    assert "## Aligned-only training (files as they are)" in text and "ae-nearest-l4" in text
    assert "4 counterparts made" in text and "shortcut audit (trained on the same pairs)" in text

    # A part run for named protocols carries their shortcut audits, and merging keeps them.
    results["audits"].pop("loso-matched-aligned")
    out.with_suffix(".json").write_text(json.dumps(results))
    part = tmp_path / "part.json"
    r = CliRunner().invoke(app, ["benchmark", "--manifest", str(manifest), "--detectors", "dct-linear", "--protocols",
                                 "loso-matched-aligned", "--part", str(part), "--set", "n_aug=0", "--set",
                                 "calib_folds=2"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert set(json.loads(part.read_text())["audits"]) == {"loso-matched-aligned"}
    assert CliRunner().invoke(app, ["benchmark", "--out", str(out), "--merge", str(part)]).exit_code == 0
    assert "loso-matched-aligned" in json.loads(out.with_suffix(".json").read_text())["audits"]
