"""Parquet output: a folder of committed row groups that resumes like the JSONL and CSV outputs."""

from __future__ import annotations

import json
import shutil

import pytest

from fakescope.scanning import FIELDS, UsageError, read_rows, scan
from tests.conftest import SAMPLES

pq = pytest.importorskip("pyarrow.parquet")


@pytest.fixture
def photos(tmp_path):
    d = tmp_path / "photos"
    d.mkdir()
    for f in sorted(SAMPLES.glob("*.jpg")):
        shutil.copy(f, d / f.name)
    (d / "empty.jpg").write_bytes(b"")
    return d


def test_parquet_rows_equal_jsonl_rows(dct_detector, photos, tmp_path):
    scan(dct_detector, photos, out=tmp_path / "r.jsonl")
    scan(dct_detector, photos, out=tmp_path / "r.parquet")
    table = pq.read_table(tmp_path / "r.parquet")  # the folder reads as one table
    assert table.column_names == FIELDS and table.num_rows == 9
    assert str(table.schema.field("notes").type) == "list<element: string>"
    assert list(read_rows(tmp_path / "r.parquet")) == list(read_rows(tmp_path / "r.jsonl"))


def test_each_row_group_is_committed_and_a_rerun_resumes(dct_detector, photos, tmp_path, monkeypatch):
    import fakescope.parquet_rows as parquet_rows

    monkeypatch.setattr(parquet_rows, "ROWS_PER_GROUP", 4)
    out = tmp_path / "r.parquet"
    first = sorted(photos.glob("*.jpg"))[:5]
    s1 = scan(dct_detector, [str(p) for p in first], out=out, batch_size=2)
    parts = sorted(out.glob("part-*.parquet"))
    assert s1.scanned == 4 and s1.errors == 1 and len(parts) == 2  # 4 rows committed, then the last 1 at the end
    assert [pq.ParquetFile(p).metadata.num_row_groups for p in parts] == [1, 1]
    # a killed run leaves at most a temporary file, which is not a part and is cleared on the next run
    (out / ".part-000002.tmp").write_bytes(b"PAR1 cut")
    s2 = scan(dct_detector, photos, out=out)
    assert s2.skipped_done == 5 and s2.scanned + s2.errors == 4
    assert not list(out.glob("*.tmp"))
    rows = list(read_rows(out))
    assert len(rows) == 9 == len({r["path"] for r in rows})
    empty = next(r for r in rows if r["path"].endswith("empty.jpg"))
    assert empty["error"] == "empty file (0 bytes)" and empty["p_fake"] is None
    assert all(isinstance(r["provenance"], dict) for r in rows if not r["error"])


def test_an_interrupted_scan_keeps_what_it_committed(dct_detector, photos, tmp_path, monkeypatch):
    import fakescope.parquet_rows as parquet_rows

    monkeypatch.setattr(parquet_rows, "ROWS_PER_GROUP", 2)
    out = tmp_path / "r.parquet"
    seen = []

    def stop_after_three_batches(rows):
        seen.append(rows)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        scan(dct_detector, photos, out=out, batch_size=2, on_rows=stop_after_three_batches)
    kept = list(read_rows(out))
    assert len(kept) == 6  # every batch handed over before the interruption (the last one flushed on the way out)
    summary = scan(dct_detector, photos, out=out)
    assert summary.skipped_done == 6 and len(list(read_rows(out))) == 9


def test_parquet_needs_a_folder_of_its_own(dct_detector, photos, tmp_path):
    (tmp_path / "taken.parquet").write_text("a file")
    with pytest.raises(UsageError, match="folder of part files"):
        scan(dct_detector, photos, out=tmp_path / "taken.parquet")
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="not a scan's Parquet output"):
        scan(dct_detector, photos, out=other, fmt="parquet")
    with pytest.raises(UsageError, match="give --out"):
        scan(dct_detector, photos, fmt="parquet")


def test_cli_writes_parquet(dct_detector, photos, tmp_path):
    from typer.testing import CliRunner

    from fakescope.cli.main import app

    dct_detector.save(tmp_path / "det")
    out = tmp_path / "scan.parquet"
    res = CliRunner().invoke(app, ["scan", str(photos), "--detector", str(tmp_path / "det"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert pq.read_table(out).num_rows == 9
    prov = pq.read_table(out).column("provenance").to_pylist()
    assert all(p is None or isinstance(json.loads(p), dict) for p in prov)
