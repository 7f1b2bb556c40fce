"""Prompt analysis: prompt traits, score look-up from the benchmark's held-out predictions, miss rates with
their intervals, clustering, and `fakescope prompts` on a small slice (CI)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from fakescope.analysis import prompts as pa
from fakescope.analysis.stats import wilson
from fakescope.data.manifest import Manifest, Sample


def test_positive_prompt_and_words():
    text = "(masterpiece) (best quality:1.2) girl with (fox ears:0.9) || (hands), text, watermark"
    assert pa.positive_prompt(text) == "(masterpiece) (best quality) girl with (fox ears)"
    assert pa.words(text) == ["masterpiece", "best", "quality", "girl", "with", "fox", "ears"]
    assert pa.words("Noah's ark, two-dimensional") == ["noah's", "ark", "two-dimensional"]


@pytest.mark.parametrize("prompt, nouns", [
    ("A pretty girl putting on makeup", ["girl", "makeup"]),
    ("An octopus riding a skateboard", ["octopus", "skateboard"]),
    ("Photograph of a panda riding a bicycle", ["photograph", "panda", "bicycle"]),
    ("The girl met a scary looking Ogre who is holding a candle", ["girl", "ogre", "candle"]),
    ("an oil painting of a beautiful sunset", ["oil", "painting", "sunset"]),
    ("Calm, psychedelic", []),
])  # fmt: skip
def test_noun_heuristic_on_hand_labelled_prompts(prompt, nouns):
    assert [w for w in pa.words(prompt) if pa.is_noun(w)] == nouns
    assert pa.noun_share(prompt) == pytest.approx(len(nouns) / len(pa.words(prompt)))


def test_buckets_and_topics():
    assert [pa.length_bucket(n) for n in (1, 4, 5, 24, 25, 75, 76)] == [
        "1-4 words", "1-4 words", "5-9 words", "10-24 words", "25-75 words", "25-75 words", "over 75 words"]
    assert pa.noun_bucket(None) == "no words" and pa.noun_bucket(0.25) == "nouns 25-50 %"
    assert pa.noun_bucket(1.0) == "nouns ≥ 75 %"
    assert pa.topics("Two octopuses riding skateboards") == ["animals and creatures", "objects and food"]
    assert pa.topics("style: sai_fantasy_art") == [pa.STYLE_ONLY]
    assert pa.topics("xyzzy plugh") == [pa.NO_TOPIC]


def _benchmarks(tmp_path, runs, rows):
    (tmp_path / "data").mkdir(exist_ok=True)
    m = Manifest([Sample(path=f"{i}.png", label=lab, sha256=f"h{i}") for i, lab in enumerate(rows)],
                 root=tmp_path / "data")  # fmt: skip
    m.write(tmp_path / "data" / "manifest.csv")
    path = tmp_path / "repo" / "docs" / "BENCHMARKS.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"manifest": "../data/manifest.csv", "runs": runs}))
    return path


def test_benchmark_scores_pick_one_run_and_align_by_hash(tmp_path):
    runs = [{"protocol_key": "loso-matched", "detector": "ensemble", "set": {"calibration": "loso"},
             "summary": {"threshold": 0.4, "protocol": "leave-source-out"}, "p": [0.1, 0.9, None]},
            {"protocol_key": "loso-matched", "detector": "ensemble", "set": {"calibration": "cv"},
             "summary": {"threshold": 0.5}, "p": [0.2, 0.8, 0.3]},
            {"protocol_key": "loso", "detector": "univfd", "p": [0.5, 0.5, 0.5]}]  # fmt: skip
    path = _benchmarks(tmp_path, runs, ["real", "fake", "fake"])
    with pytest.raises(pa.ScoresError, match="2 runs"):
        pa.benchmark_scores(path)
    with pytest.raises(pa.ScoresError, match="no run"):
        pa.benchmark_scores(path, detector="dct-linear")
    sc = pa.benchmark_scores(path, settings={"calibration": "loso"})
    assert sc.held_out and sc.threshold == 0.4
    assert sc.lookup(Sample(path="x.png", label="fake", sha256="h1")) == 0.9
    assert sc.lookup(Sample(path="x.png", label="fake", sha256="h2")) is None  # no prediction stored
    assert sc.lookup(Sample(path="x.png", label="fake", sha256="unknown")) is None


def _prompt_set(tmp_path):
    """Long 'cat' prompts always missed, short 'car' prompts never; each prompt drawn 10 times."""
    samples, by_key = [], {}
    long_cat = ["a cat " + "very " * 20 + f"fluffy sleeping animal number {i}" for i in range(4)]
    short_car = [f"red car {i}" for i in range(6)]
    for j, prompt in enumerate(long_cat + short_car):
        for k in range(10):
            sha = f"{j}-{k}"
            samples.append(Sample(path=f"{sha}.png", label="fake", generator=f"g{k % 2}", source="s", prompt=prompt,
                                  sha256=sha))  # fmt: skip
            by_key[sha] = 0.1 if "cat" in prompt else 0.9
    samples.append(Sample(path="real.png", label="real", sha256="r"))
    samples.append(Sample(path="noprompt.png", label="fake", sha256="np"))
    return Manifest(samples, root=tmp_path), pa.Scores(by_key, 0.5, "test scores", held_out=True)


def _embed(prompts):
    # two directions: cat prompts and car prompts, a little spread within each
    out = []
    for i, p in enumerate(prompts):
        v = np.array([1.0, 0.0, 0.0]) if "cat" in p else np.array([0.0, 1.0, 0.0])
        v = v + np.array([0.0, 0.0, 0.01 * (i % 5)])
        out.append(v / np.linalg.norm(v))
    return np.stack(out)


def test_miss_rates_intervals_and_clusters(tmp_path):
    manifest, scores = _prompt_set(tmp_path)
    r = pa.analyse(manifest, scores, embed=_embed)
    assert r.skipped == {"no prompt": 1}
    assert r.strata == ["all"]  # one source: nothing to stratify
    assert r.overall["all"].n == 100 and r.overall["all"].missed == 40 and r.overall["all"].prompts == 10
    length = {g.name: g for g in r.tables["all"]["prompt length"]}
    assert length["25-75 words"].missed == length["25-75 words"].n == 40
    assert length["1-4 words"].missed == 0 and length["1-4 words"].n == 60
    assert length["25-75 words"].wilson == wilson(40, 40)
    assert length["25-75 words"].small  # 40 images but only 4 distinct prompts
    assert not length["1-4 words"].small
    assert length["1-4 words"].expected == pytest.approx(0.4)  # both generators miss 40 %: no mix effect
    clusters = {g.name: g for g in r.tables["all"]["prompt cluster"]}
    assert set(clusters) == {"c1", "c2"}
    assert clusters["c1"].prompts == 6 and clusters["c1"].missed == 0  # the car prompts, the larger cluster
    assert clusters["c2"].missed == clusters["c2"].n == 40
    assert "car" in r.clusters["all"]["c1"].keywords


def test_prompt_bootstrap_is_wider_than_wilson_when_prompts_repeat(tmp_path):
    manifest, scores = _prompt_set(tmp_path)
    g = pa.analyse(manifest, scores, cluster="none").overall["all"]
    lo, hi = g.bootstrap
    assert lo < g.wilson[0] and hi > g.wilson[1]  # 10 prompts x 10 images: far fewer independent trials
    one = pa.group_stats("x", "one prompt", [pa.Item("p", "same", "g", "s", 0.1, True, 1, "", [], 1.0, "")] * 5)
    assert all(math.isnan(v) for v in one.bootstrap) and one.small


def test_strata_and_source_mix(tmp_path):
    manifest, scores = _prompt_set(tmp_path)
    for s in manifest.samples[:20]:
        s.source = "other"
    r = pa.analyse(manifest, scores, cluster="none")
    assert r.strata == ["all", "s"]
    assert r.overall["s"].n == 80 and r.overall["all"].n == 100


def _run_prompts(args):
    from typer.testing import CliRunner

    from fakescope.cli.main import app

    return CliRunner().invoke(app, ["prompts", *map(str, args)])


def test_cli_with_scan_rows(tmp_path):
    pytest.importorskip("matplotlib")
    manifest, _ = _prompt_set(tmp_path)
    path = manifest.write(tmp_path / "manifest.csv")
    rows = [{"path": str(s.file), "p_fake": 0.1 if "cat" in s.prompt else 0.9} for s in manifest if s.prompt]
    (tmp_path / "scan.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    doc = tmp_path / "ANALYSIS.md"
    res = _run_prompts([path, "--out", tmp_path / "out", "--scores", tmp_path / "scan.jsonl", "--cluster", "none",
                        "--doc", doc])  # fmt: skip
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "out" / "prompts.json").read_text())
    assert not data["held_out"] and data["strata"]["all"]["overall"]["missed"] == 40
    text = doc.read_text()
    assert "## Prompt analysis" in text and "--cluster none" in text and "not known to be held out" in text
    assert "| 25-75 words | 40 | 4 | 40 | 100 % |" in text


def test_cli_rejects_unknown_clusterer(tmp_path):
    res = _run_prompts([tmp_path / "m.csv", "--out", tmp_path, "--cluster", "kmeans"])
    assert res.exit_code == 2 and "hdbscan, dbscan or none" in res.output


@pytest.mark.slow
def test_cli_on_a_slice_of_the_data(shared_data, needs_weights, tmp_path):
    """The shipped default's held-out predictions, MiniLM clusters, on 40 prompted fakes of two sources."""
    pytest.importorskip("matplotlib")
    from pathlib import Path

    full = Manifest.read(shared_data / "manifest.csv")
    imagen = [s for s in full if s.label == "fake" and s.prompt and s.source == "dcsan/imagen"][:30]
    fooocus = [s for s in full if s.label == "fake" and s.prompt and s.source == "lllyasviel/Fooocus"][:10]
    path = Manifest(imagen + fooocus, root=shared_data).write(tmp_path / "slice.csv")
    benchmarks = Path(__file__).resolve().parents[1] / "docs" / "BENCHMARKS.json"
    doc = tmp_path / "ANALYSIS.md"
    res = _run_prompts([path, "--out", tmp_path / "out", "--benchmarks", benchmarks, "--doc", doc])
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "out" / "prompts.json").read_text())
    assert data["held_out"] and len(data["images"]) == 40
    assert set(data["strata"]) == {"all", "dcsan/imagen"}
    assert data["strata"]["dcsan/imagen"]["overall"]["n"] == 30
    text = doc.read_text()
    assert "### Only dcsan/imagen" in text and "held-out predictions" in text
