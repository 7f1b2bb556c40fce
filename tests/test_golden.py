"""Golden outputs: the shipped default detector's probabilities on the sample images.

They change only when the default is retrained on purpose; then refresh them with
``UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py`` and say why in the commit.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import pytest

from tests.conftest import SAMPLES

GOLDEN = SAMPLES.parent / "tests" / "golden" / "default.json"


def cpu_kernels() -> str:
    """Which float kernels onnxruntime picks on this CPU: its AVX-512 ones, its AVX2 ones, or another
    architecture's. The golden outputs hold on the kind of CPU that recorded them to a few thousandths;
    on another kind, float sums in a different order flip some of the INT8 graph's rounding decisions
    (they compound over CLIP's twelve layers), and the outputs move further (see the tolerances)."""
    flags: set[str] = set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        flags = {f for line in cpuinfo.read_text().splitlines() if line.startswith("flags") for f in line.split()}
    machine = platform.machine().lower()
    return f"{machine}-avx512" if "avx512f" in flags else f"{machine}-avx2" if "avx2" in flags else machine


def tolerance(golden: dict, same_kind: float, other_kind: float) -> float:
    """``same_kind`` where this CPU is the kind that recorded ``golden``, else ``other_kind``: outputs
    recorded on a CPU with VNNI differed by up to 0.026 (detector) and 0.077 (attributor probability)
    on an AVX2-only one, once its INT8 products were exact (``with_unsigned_weights``)."""
    return same_kind if golden.get("cpu") == cpu_kernels() else other_kind


def test_default_detector_matches_golden_outputs(needs_weights):
    from fakescope.models import load_detector
    from fakescope.weights import sha256_of

    det = load_detector("default")
    files = sorted(SAMPLES.glob("*.jpg"))
    got = {f.name: v.p_fake for f, v in zip(files, det([str(f) for f in files]))}
    head_sha = sha256_of(SAMPLES.parent / "src" / "fakescope" / "trained" / "default" / "weights.npz")
    if os.environ.get("UPDATE_GOLDEN"):
        new = {"head_sha256": head_sha, "cpu": cpu_kernels(), "p_fake": got}
        diff = golden_diff(json.loads(GOLDEN.read_text()) if GOLDEN.is_file() else {}, new)
        print(diff)  # shown with -s; the skip reason below carries it into pytest's summary too
        GOLDEN.write_text(json.dumps(new, indent=2) + "\n")
        pytest.skip(f"golden outputs rewritten:\n{diff}")
    golden = json.loads(GOLDEN.read_text())
    assert golden["head_sha256"] == head_sha, "the default was retrained: refresh the golden outputs on purpose"
    assert set(got) == set(golden["p_fake"])
    tol = tolerance(golden, 0.01, 0.05)  # a real change (views, heads, calibration) moves far more
    for name, p in golden["p_fake"].items():
        assert got[name] == pytest.approx(p, abs=tol), name


def golden_diff(old: dict, new: dict) -> str:
    """What a rewrite changes, per sample: old -> new probability and the difference."""
    lines = []
    if old.get("head_sha256") != new["head_sha256"]:
        lines.append(f"head.npz sha256: {old.get('head_sha256', '(none)')} -> {new['head_sha256']}")
    before, after = old.get("p_fake", {}), new["p_fake"]
    for name in sorted(set(before) | set(after)):
        a, b = before.get(name), after.get(name)
        if a is None or b is None:
            lines.append(f"{name}: {'(none)' if a is None else f'{a:.4f}'} -> {'(none)' if b is None else f'{b:.4f}'}")
        else:
            lines.append(f"{name}: {a:.4f} -> {b:.4f} ({b - a:+.4f})")
    return "\n".join(lines)


def test_golden_rewrite_shows_every_change():
    old = {"head_sha256": "aaa", "p_fake": {"a.jpg": 0.25, "b.jpg": 0.5, "gone.jpg": 0.1}}
    new = {"head_sha256": "bbb", "p_fake": {"a.jpg": 0.25, "b.jpg": 0.625, "new.jpg": 0.9}}
    assert golden_diff(old, new).splitlines() == [
        "head.npz sha256: aaa -> bbb",
        "a.jpg: 0.2500 -> 0.2500 (+0.0000)",
        "b.jpg: 0.5000 -> 0.6250 (+0.1250)",
        "gone.jpg: 0.1000 -> (none)",
        "new.jpg: (none) -> 0.9000",
    ]


ATTRIBUTOR_GOLDEN = SAMPLES.parent / "tests" / "golden" / "attributor.json"


def test_default_attributor_matches_golden_outputs(needs_weights):
    """The shipped attributor's answers on the sample images (refreshed like the detector's, on purpose)."""
    from fakescope.models import load_attributor
    from fakescope.weights import sha256_of

    att = load_attributor("default")
    files = sorted(SAMPLES.glob("*.jpg"))
    got = {f.name: {k: r[k] for k in ("family", "generator", "attribution_p")}
           for f, r in zip(files, att([str(f) for f in files]))}  # fmt: skip
    sha = sha256_of(SAMPLES.parent / "src" / "fakescope" / "trained_attributors" / "default" / "weights.npz")
    if os.environ.get("UPDATE_GOLDEN"):
        new = {"weights_sha256": sha, "cpu": cpu_kernels(), "answers": got}
        ATTRIBUTOR_GOLDEN.write_text(json.dumps(new, indent=2) + "\n")
        pytest.skip("golden attributions rewritten")
    golden = json.loads(ATTRIBUTOR_GOLDEN.read_text())
    assert golden["weights_sha256"] == sha, "the attributor was retrained: refresh the golden outputs on purpose"
    assert set(got) == set(golden["answers"])
    tol = tolerance(golden, 0.02, 0.1)
    for name, want in golden["answers"].items():
        assert (got[name]["family"], got[name]["generator"]) == (want["family"], want["generator"]), name
        assert got[name]["attribution_p"] == pytest.approx(want["attribution_p"], abs=tol), name
