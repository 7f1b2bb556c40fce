"""Scanning folders: one row per image, errors reported and skipped, resumable output."""

from __future__ import annotations

import json
import shutil

import pytest

from fakescope.scanning import UsageError, expand_inputs, scan
from tests.conftest import SAMPLES


@pytest.fixture
def folder_with_bad_files(tmp_path):
    d = tmp_path / "photos"
    (d / "nested").mkdir(parents=True)
    for i, f in enumerate(sorted(SAMPLES.glob("*.jpg"))[:4]):
        shutil.copy(f, (d / "nested" if i % 2 else d) / f.name)
    good = sorted(SAMPLES.glob("*.jpg"))[0].read_bytes()
    (d / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (d / "empty.png").write_bytes(b"")
    (d / "readme.png").write_text("not an image")
    (d / "notes.txt").write_text("ignored: not an image suffix")
    return d


def read_rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_folder_scan_writes_a_row_per_image_and_errors_for_bad_ones(dct_detector, folder_with_bad_files, tmp_path):
    out = tmp_path / "r.jsonl"
    summary = scan(dct_detector, [str(folder_with_bad_files)], out=out)
    rows = read_rows(out)
    assert len(rows) == 7 and summary.scanned == 4 and summary.errors == 3
    by_name = {r["path"].rsplit("/", 1)[-1]: r for r in rows}
    for bad in ("truncated.jpg", "empty.png", "readme.png"):
        r = by_name[bad]
        assert r["error"] and r["p_fake"] is None and r["verdict"] is None
    for r in rows:
        if not r["error"]:
            assert 0 <= r["p_fake"] <= 1 and r["verdict"] in ("real", "fake", "unsure")
            assert r["detector"] == "dct-linear" and r["width"] == 384


def test_rerun_resumes_without_redoing(dct_detector, folder_with_bad_files, tmp_path):
    out = tmp_path / "r.jsonl"
    scan(dct_detector, [str(folder_with_bad_files)], out=out)
    # Simulate an interrupted run: drop the last two rows and cut the one before in half.
    lines = out.read_text().splitlines()
    out.write_text("\n".join(lines[:-3]) + "\n" + lines[-3][:20])
    again = scan(dct_detector, [str(folder_with_bad_files)], out=out)
    assert again.skipped_done == 4 and again.scanned + again.errors == 3
    rows = [json.loads(x) for x in out.read_text().splitlines() if x.startswith("{") and x.endswith("}")]
    assert sorted(r["path"] for r in rows) == sorted(set(r["path"] for r in rows))
    assert len(rows) == 7


def test_csv_output(dct_detector, tmp_path):
    out = tmp_path / "r.csv"
    scan(dct_detector, [str(SAMPLES / "*.jpg")], out=out)
    text = out.read_text().splitlines()
    assert text[0].startswith("path,p_fake,verdict,verdict_set,reliability,detector,error") and len(text) == 9


def test_inputs_expand_globs_manifests_and_reject_missing(tmp_path):
    assert len(expand_inputs([str(SAMPLES / "manifest.csv")])) == 8
    assert len(expand_inputs([str(SAMPLES / "public-images-real-*.jpg")])) == 4
    with pytest.raises(UsageError, match="no such file"):
        expand_inputs([str(tmp_path / "missing")])


def test_memory_does_not_grow_with_the_number_of_images(dct_detector, tmp_path):
    """Rows stream to disk batch by batch: nothing accumulates per image."""
    import os
    import tracemalloc

    samples = sorted(SAMPLES.glob("*.jpg"))

    def distinct(n_copies: int, folder: str) -> list[str]:
        # Hard links under new names: a scan skips a path it has already seen, so repeating the list would not do.
        (tmp_path / folder).mkdir()
        out = []
        for c in range(n_copies):
            for f in samples:
                link = tmp_path / folder / f"{c}-{f.name}"
                os.link(f, link)
                out.append(str(link))
        return out

    small_files, large_files = distinct(4, "small"), distinct(24, "large")
    tracemalloc.start()
    scan(dct_detector, small_files, out=tmp_path / "a.jsonl")
    small = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    scan(dct_detector, large_files, out=tmp_path / "b.jsonl")
    large = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rows = read_rows(tmp_path / "b.jsonl")
    assert len(read_rows(tmp_path / "a.jsonl")) == 4 * len(samples)
    assert len(rows) == len({r["path"] for r in rows}) == 24 * len(samples)  # every image scanned, once
    assert not any(r["error"] for r in rows)
    assert large < small * 1.5  # 6x the images, about the same peak


def test_default_detector_scans_the_samples(needs_weights, tmp_path):
    from fakescope.models import load_detector

    det = load_detector()
    out = tmp_path / "r.jsonl"
    summary = scan(det, [str(SAMPLES)], out=out)
    assert summary.scanned == 8 and summary.errors == 0
    assert all(0 <= r["p_fake"] <= 1 for r in read_rows(out))
