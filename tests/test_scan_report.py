"""Scan rows carry provenance; `scan --report` writes one self-contained, escaped, sortable HTML page."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from typer.testing import CliRunner

from fakescope.cli.main import app
from fakescope.scan_report import histogram, unsure_band, write_scan_report
from fakescope.scanning import read_rows, scan
from tests.conftest import SAMPLES, write_synthetic_dataset

ODD_NAME = "<b>&x'\"gen.png"  # every character HTML gives a meaning to
runner = CliRunner()


def scan_cli(detector_dir, *args):
    r = runner.invoke(app, ["scan", "--detector", str(detector_dir), *map(str, args)])
    assert r.exit_code == 0, r.output
    return r


@pytest.fixture(scope="module")
def detector_dir(tmp_path_factory):
    """A small trained detector that needs no downloaded weights (its folder, for the CLI too)."""
    from fakescope.data.manifest import Manifest
    from fakescope.registry import create

    root = tmp_path_factory.mktemp("det")
    m = Manifest.read(write_synthetic_dataset(root / "data", n_per_class=8))
    create("dct-linear", n_aug=0, calib_folds=2).fit(m).save(root / "dct")
    return root / "dct"


@pytest.fixture(scope="module")
def detector(detector_dir):
    from fakescope.detectors.base import load

    return load(detector_dir)


@pytest.fixture
def photos(tmp_path):
    """Two folders: sample JPEGs, a generator's PNG with an odd name, a corrupt file."""
    d = tmp_path / "photos"
    (d / "nested").mkdir(parents=True)
    for i, f in enumerate(sorted(SAMPLES.glob("*.jpg"))[:4]):
        shutil.copy(f, (d / "nested" if i % 2 else d) / f.name)
    info = PngInfo()
    info.add_text("parameters", "a castle on a hill\nSteps: 20, Sampler: Euler a, Seed: 1, Model: dreamshaper_8")
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=np.uint8)).save(
        d / "nested" / ODD_NAME, pnginfo=info)  # fmt: skip
    good = sorted(SAMPLES.glob("*.jpg"))[0].read_bytes()
    (d / "truncated.jpg").write_bytes(good[: len(good) // 3])
    return d


class Page(HTMLParser):
    """What a test needs of the report: texts, attributes of the image table, external references."""

    def __init__(self, html: str):
        super().__init__()
        self.text, self.rows, self.images, self.external, self.sort_keys = [], [], [], [], []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and "data-index" in a:
            self.rows.append(a)
        if tag == "img":
            self.images.append(a)
        if tag == "button" and "data-key" in a:
            self.sort_keys.append(a["data-key"])
        for key in ("src", "href"):
            if a.get(key) and not a[key].startswith(("data:", "#")):
                self.external.append(a[key])
        if tag in ("link", "iframe", "object", "embed") or (tag == "script" and "src" in a):
            self.external.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def test_rows_carry_provenance_as_an_object_in_jsonl_and_json_in_csv(detector, photos, tmp_path):
    scan(detector, [str(photos)], out=tmp_path / "r.jsonl")
    scan(detector, [str(photos)], out=tmp_path / "r.csv")
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in read_rows(tmp_path / "r.jsonl")}
    gen = rows[ODD_NAME]["provenance"]
    assert gen["claim"] == "generated" and gen["generator_text"]["prompt"] == "a castle on a hill"
    assert rows["truncated.jpg"]["provenance"] is None and rows["truncated.jpg"]["error"]
    assert all(isinstance(r["provenance"], dict) for n, r in rows.items() if n != "truncated.jpg")
    assert rows[ODD_NAME]["p_fake"] is not None  # provenance sits beside the score, which the detector alone sets
    with open(tmp_path / "r.csv", newline="", encoding="utf-8") as fh:
        records = list(csv.DictReader(fh))
    cell = next(r["provenance"] for r in records if r["path"].endswith(ODD_NAME))
    assert json.loads(cell) == gen and ", " not in cell[:40]  # compact JSON
    # CSV rows read back typed, the same as the JSONL ones
    by_csv = {r["path"].rsplit("/", 1)[-1]: r for r in read_rows(tmp_path / "r.csv")}
    for name, r in rows.items():
        for key in ("p_fake", "verdict", "verdict_set", "provenance", "width", "error"):
            assert by_csv[name][key] == r[key], (name, key)


def test_report_counts_escapes_and_embeds_everything(detector_dir, photos, tmp_path):
    out, report = tmp_path / "r.jsonl", tmp_path / "out" / "report.html"
    r = scan_cli(detector_dir, photos, "--out", out, "--report", report)
    assert "1 unreadable" in r.output and f"report: {report}" in r.output
    html = report.read_text(encoding="utf-8")
    page = Page(html)
    rows = list(read_rows(out))
    assert len(page.rows) == len(rows) == 6
    # summary counts agree with the rows
    for v in ("real", "fake", "unsure"):
        n = sum(r["verdict"] == v for r in rows)
        assert re.search(rf'data-count="{v}">{n}<', html)
    assert 'data-count="error">1<' in html
    # the odd name is shown as text, never as markup
    assert ODD_NAME not in html and "&lt;b&gt;&amp;x" in html
    assert any(ODD_NAME in t for t in page.text)
    assert [r for r in page.rows if r["data-path"].endswith(ODD_NAME)]
    # the corrupt file is an error row with its reason; the others are scored, with a thumbnail each
    bad = next(r for r in page.rows if r["data-path"].endswith("truncated.jpg"))
    assert bad["data-verdict"] == "error" and "truncated" in bad["data-error"].lower()
    thumbs = [i for i in page.images if i["src"].startswith("data:image/jpeg;base64,")]
    assert len(thumbs) == 5 and page.external == []  # self-contained: nothing fetched
    # provenance summary in the table
    gen = next(r for r in page.rows if r["data-path"].endswith(ODD_NAME))
    assert "AUTOMATIC1111" in gen["data-provenance"] and "a castle on a hill" in gen["data-provenance"]
    assert "1 image claims" in html
    # per-folder counts: photos holds 2 JPEGs and the corrupt file, photos/nested 2 JPEGs and the PNG
    folders = re.findall(r'<tr><th scope="row">([^<]*)</th><td>(\d+)</td>', html)
    assert sorted((f.rsplit("/", 1)[-1], int(n)) for f, n in folders) == [("nested", 3), ("photos", 3)]


def test_histogram_bars_add_up_and_mark_the_unsure_band(detector):
    rows = [{"p_fake": p, "verdict": detector.verdict_of(p), "error": None} for p in (0.02, 0.31, 0.5, 0.5, 0.97)]
    rows.append({"p_fake": None, "verdict": None, "error": "unreadable"})
    lo, hi, how = unsure_band(detector)
    h = histogram(rows, (lo, hi, how))
    assert sum(b["n"] for b in h["bars"]) == 5 == h["scored"]
    assert h["bars"][10]["n"] == 2 and h["bars"][19]["n"] == 1  # p = 0.5 falls in [0.5, 0.55)
    assert h["band"]["x"] == pytest.approx(h["left"] + lo * h["plot_w"], abs=0.1)
    assert h["band"]["w"] == pytest.approx((hi - lo) * h["plot_w"], abs=0.1)
    # each bar's segments stack from the axis up, heights in proportion to their counts
    for b in h["bars"]:
        if b["segments"]:
            assert b["segments"][0]["y"] + b["segments"][0]["h"] == pytest.approx(h["base"], abs=0.2)


def test_the_band_of_verdict_sets_is_where_neither_class_is_alone():
    from fakescope.train.conformal import ConformalVerdicts

    class WithSets:
        conformal_ = ConformalVerdicts(alpha=0.1)

    WithSets.conformal_.thresholds_ = {"real": 0.35, "fake": 0.2}  # real conforms below 0.35, fake above 0.8
    lo, hi, how = unsure_band(WithSets())
    assert lo == pytest.approx(0.35, abs=1e-3) and hi == pytest.approx(0.8, abs=1e-3) and "0.1" in how


def test_overlays_appear_when_the_scan_localized(tmp_path):
    img = tmp_path / "a.png"
    Image.new("RGB", (64, 48), (10, 200, 30)).save(img)
    Image.new("RGB", (64, 48), (250, 0, 0)).save(tmp_path / "a.overlay.png")
    row = {"path": str(img), "p_fake": 0.9, "verdict": "fake", "verdict_set": ["fake"], "error": None,
           "provenance": None, "overlay": str(tmp_path / "a.overlay.png"), "flagged_share": 0.25,
           "explanation": "noise <differs> here"}  # fmt: skip
    write_scan_report([row], tmp_path / "loc.html", localized=True)
    write_scan_report([row], tmp_path / "plain.html", localized=False)
    loc, plain = (Page((tmp_path / f).read_text()) for f in ("loc.html", "plain.html"))
    assert [i["alt"] for i in loc.images] == [f"thumbnail of {img}", f"manipulation map over {img}"]
    assert len(plain.images) == 1 and "flagged" not in plain.sort_keys and "flagged" in loc.sort_keys
    html = (tmp_path / "loc.html").read_text()
    assert "25.0%" in html and 'title="noise &lt;differs&gt; here"' in html


def test_report_covers_rows_a_previous_run_left_and_only_this_scans_inputs(detector_dir, photos, tmp_path):
    out = tmp_path / "r.jsonl"
    scan_cli(detector_dir, photos / "nested", "--out", out)  # a first, partial run
    assert "3 already done" in scan_cli(detector_dir, photos, "--out", out, "--report", tmp_path / "all.html").output
    assert len(Page((tmp_path / "all.html").read_text()).rows) == 6
    # a report of the subfolder alone, from the same results file, shows only its rows
    scan_cli(detector_dir, photos / "nested", "--out", out, "--report", tmp_path / "nested.html")
    shown = Page((tmp_path / "nested.html").read_text()).rows
    assert len(shown) == 3 and all("/nested/" in r["data-path"] for r in shown)


def test_every_sortable_column_has_its_value_on_every_row(detector_dir, photos, tmp_path):
    scan_cli(detector_dir, photos, "--out", tmp_path / "r.csv", "--report", tmp_path / "r.html")  # read back from CSV
    page = Page((tmp_path / "r.html").read_text())
    assert {"index", "path", "verdict", "p_fake", "provenance", "error"} <= set(page.sort_keys)
    for row in page.rows:
        assert all(f"data-{k}" in row for k in page.sort_keys)
    assert sorted(int(r["data-index"]) for r in page.rows) == list(range(6))


def test_sorting_in_a_browser(detector_dir, photos, tmp_path):
    """Click the p_fake heading (a button: keyboard users reach it too) in headless Chromium."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("no Chromium to run the page's script")
    scan_cli(detector_dir, photos, "--out", tmp_path / "r.jsonl", "--report", tmp_path / "r.html")
    html = (tmp_path / "r.html").read_text()
    click = "<script>document.querySelector('button[data-key=p_fake]').click();</script></body>"
    (tmp_path / "clicked.html").write_text(html.replace("</body>", click))
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                          (tmp_path / "clicked.html").as_uri()], capture_output=True, text=True,
                         timeout=120).stdout  # fmt: skip
    page = Page(dom)
    shown = [float(r["data-p_fake"]) if r["data-p_fake"] else None for r in page.rows]
    scored = [p for p in shown if p is not None]
    assert len(shown) == 6 and scored == sorted(scored) and shown[-1] is None  # errors last
    assert 'aria-sort="ascending"><button type="button" data-key="p_fake"' in dom


def test_report_without_out_keeps_the_rows_on_stdout(detector_dir, photos, tmp_path):
    r = scan_cli(detector_dir, photos, "--format", "jsonl", "--report", tmp_path / "b.html")
    lines = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert len(lines) == 6 == len(Page((tmp_path / "b.html").read_text()).rows)
    r = scan_cli(detector_dir, photos, "--format", "table", "--report", tmp_path / "t.html")
    assert len(Page((tmp_path / "t.html").read_text()).rows) == 6 and "ERROR" in r.stdout


def test_a_report_path_that_cannot_be_written_is_refused_before_scanning(detector_dir, photos, tmp_path):
    for report, message in ((tmp_path, "is a folder"), (tmp_path / "r.jsonl", "is also the results file")):
        r = runner.invoke(app, ["scan", str(photos), "--detector", str(detector_dir), "--out", str(tmp_path / "r.jsonl"),
                                "--report", str(report)])  # fmt: skip
        assert r.exit_code == 2 and message in r.output
        assert not (tmp_path / "r.jsonl").exists()  # refused before any row was written


def test_report_shows_the_overlays_of_a_scan_with_heatmaps(detector_dir, photos, tmp_path):
    scan_cli(detector_dir, photos, "--out", tmp_path / "r.jsonl", "--heatmaps", tmp_path / "maps",
             "--localizer", "noise-level", "--report", tmp_path / "r.html")  # fmt: skip
    page = Page((tmp_path / "r.html").read_text())
    overlays = [i for i in page.images if i["alt"].startswith("manipulation map over")]
    assert len(overlays) == 5 and all(i["src"].startswith("data:image/jpeg;base64,") for i in overlays)
    assert all(r["data-flagged"] for r in page.rows if r["data-verdict"] != "error")
