"""scan --engine ray: the same rows as the local scan (errors included), resumable with the same output,
on a local Ray (two CPUs)."""

from __future__ import annotations

import os
import shutil

import pytest

from fakescope.scanning import read_rows, scan
from tests.conftest import SAMPLES

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Samples, a file whose name is not UTF-8, and entries that cannot be read."""
    d = tmp_path_factory.mktemp("photos")
    for f in sorted(SAMPLES.glob("*.jpg"))[:5]:
        shutil.copy(f, d / f.name)
    shutil.copy(sorted(SAMPLES.glob("*.jpg"))[5], os.fsdecode(bytes(d) + b"/caf\xe9.jpg"))
    good = sorted(SAMPLES.glob("*.jpg"))[0].read_bytes()
    (d / "cut.jpg").write_bytes(good[: len(good) // 3])
    (d / "empty.png").write_bytes(b"")
    (d / "text.png").write_text("not an image")
    os.symlink(d / "missing.jpg", d / "dangling.jpg")
    return d


def ray_scan(detector, inputs, out, **kw):
    from fakescope.engines import ray_data

    return scan(detector, inputs, out=out, rows_iter=ray_data.ray_rows(detector), finder=ray_data.find_inputs_any,
                **kw)  # fmt: skip


def assert_same_rows(local, remote):
    a = {r["path"]: r for r in local}
    b = {r["path"]: r for r in remote}
    assert a.keys() == b.keys() and len(remote) == len(b)
    for path, x in a.items():
        y = b[path]
        assert (x["p_fake"] is None) == (y["p_fake"] is None)
        if x["p_fake"] is not None:
            # rows carry p_fake to 6 decimals: a last-bit difference between processes (BLAS summation
            # order) can round to the neighbouring value, one unit (1e-6, plus float error) apart
            assert abs(x["p_fake"] - y["p_fake"]) <= 1.5e-6
        assert {k: v for k, v in x.items() if k != "p_fake"} == {k: v for k, v in y.items() if k != "p_fake"}


def test_ray_rows_equal_local_rows(local_ray, dct_detector, folder, tmp_path):
    scan(dct_detector, folder, out=tmp_path / "local.jsonl")
    summary = ray_scan(dct_detector, folder, tmp_path / "ray.jsonl")
    local, remote = list(read_rows(tmp_path / "local.jsonl")), list(read_rows(tmp_path / "ray.jsonl"))
    assert_same_rows(local, remote)
    assert summary.errors == 4 and summary.scanned == 6
    assert any(r["path_bytes"] for r in remote)  # the name that is not UTF-8 kept its bytes


def test_ray_scan_resumes_the_same_output_in_any_format(local_ray, dct_detector, folder, tmp_path):
    some = sorted(str(p) for p in folder.glob("public-*.jpg"))[:3]
    for name in ("r.csv", "r.parquet"):
        out = tmp_path / name
        first = ray_scan(dct_detector, some, out)
        assert first.scanned == 3
        second = ray_scan(dct_detector, folder, out)
        assert second.skipped_done == 3 and second.scanned + second.errors == 7
        rows = list(read_rows(out))
        assert len(rows) == 10 == len({r["path"] for r in rows})
    assert_same_rows(list(read_rows(tmp_path / "r.csv")), list(read_rows(tmp_path / "r.parquet")))


@pytest.mark.slow
def test_default_detector_on_ray_equals_local(local_ray, needs_weights, folder, tmp_path):
    from fakescope.models import load_detector

    det = load_detector()
    scan(det, folder, out=tmp_path / "local.jsonl")
    ray_scan(det, folder, tmp_path / "ray.parquet")
    assert_same_rows(list(read_rows(tmp_path / "local.jsonl")), list(read_rows(tmp_path / "ray.parquet")))


def test_cli_engine_ray(local_ray, dct_detector, folder, tmp_path):
    from typer.testing import CliRunner

    from fakescope.cli.main import app

    dct_detector.save(tmp_path / "det")
    out = tmp_path / "r.jsonl"
    args = ["scan", str(folder), "--detector", str(tmp_path / "det"), "--engine", "ray", "--out", str(out)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "6 scanned" in res.output and "4 unreadable" in res.output
    assert len(list(read_rows(out))) == 10
    res = CliRunner().invoke(app, ["scan", str(folder), "--address", "localhost:1"])
    assert res.exit_code == 2 and "--engine ray" in res.output


def test_uri_inputs_are_listed_and_read(local_ray, dct_detector, folder, tmp_path):
    """A pyarrow filesystem URI (here file://) is listed for images and read on the nodes."""
    from fakescope.engines.ray_data import find_inputs_any

    sub = tmp_path / "uri"
    sub.mkdir()
    for p in sorted(folder.glob("public-*.jpg"))[:2]:
        shutil.copy(p, sub / p.name)
    (sub / "notes.txt").write_text("not listed")
    found = find_inputs_any(f"file://{sub}")
    assert [p.rsplit("/", 1)[-1] for p in found.paths] == sorted(p.name for p in sub.glob("*.jpg"))
    summary = ray_scan(dct_detector, f"file://{sub}", tmp_path / "u.jsonl")
    rows = list(read_rows(tmp_path / "u.jsonl"))
    assert summary.scanned == 2 and all(r["path"].startswith("file://") for r in rows)
    again = ray_scan(dct_detector, f"file://{sub}", tmp_path / "u.jsonl")
    assert again.skipped_done == 2


def test_gpu_stages_give_the_local_rows(dct_detector, folder, tmp_path):
    """The --device cuda pipeline's two stages (probe tasks, then a device actor), run here on the CPU
    without Ray's scheduling: the rows of the local scan."""
    import json

    from fakescope.engines.ray_data import DeviceActor, _table, probe_batch
    from fakescope.scanning import find_inputs, path_fields

    found = find_inputs(folder)
    names = [path_fields(p) for p in found.paths if p not in found.refused]
    batch = _table({"path": [n[0] for n in names], "path_bytes": [n[1] for n in names]})
    rows = [json.loads(r) for r in DeviceActor(dct_detector, "cpu")(probe_batch(batch)).column("row").to_pylist()]
    scan(dct_detector, folder, out=tmp_path / "local.jsonl")
    assert_same_rows(list(read_rows(tmp_path / "local.jsonl")), rows)
