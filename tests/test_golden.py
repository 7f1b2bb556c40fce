"""Golden outputs: the shipped default detector's probabilities on the sample images.

They change only when the default is retrained on purpose; then refresh them with
``UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py`` and say why in the commit.
"""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import SAMPLES

GOLDEN = SAMPLES.parent / "tests" / "golden" / "default.json"


def test_default_detector_matches_golden_outputs(needs_weights):
    from fakescope.models import load_detector
    from fakescope.weights import sha256_of

    det = load_detector("default")
    files = sorted(SAMPLES.glob("*.jpg"))
    got = {f.name: v.p_fake for f, v in zip(files, det([str(f) for f in files]))}
    head_sha = sha256_of(SAMPLES.parent / "src" / "fakescope" / "trained" / "default" / "weights.npz")
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps({"head_sha256": head_sha, "p_fake": got}, indent=2) + "\n")
        pytest.skip("golden outputs rewritten")
    golden = json.loads(GOLDEN.read_text())
    assert golden["head_sha256"] == head_sha, "the default was retrained: refresh the golden outputs on purpose"
    assert set(got) == set(golden["p_fake"])
    for name, p in golden["p_fake"].items():
        # INT8 kernels differ slightly between CPU generations; a real change moves far more.
        assert got[name] == pytest.approx(p, abs=0.01), name
