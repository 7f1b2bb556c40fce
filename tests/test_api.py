"""The public API (``import fakescope``): every lazy name resolves to what it says, in any import order."""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import fakescope
from tests.conftest import ROOT, SAMPLES, write_synthetic_dataset

TINY = {"n_aug": 0, "calib_folds": 2}  # the smallest training that still calibrates on held-out folds


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_synthetic_dataset(tmp_path_factory.mktemp("api") / "data", n_per_class=8)


def test_evaluate_is_a_function_even_after_load_detector(data):
    # A fresh interpreter, so no earlier test decides the import order: load_detector() imports the
    # training code, which used to import the evaluation package and bind its module to `fakescope.evaluate`.
    code = (
        "import json, sys, fakescope\n"
        "fakescope.load_detector()\n"
        "r = fakescope.evaluate('dct-linear', sys.argv[1], n_aug=0, calib_folds=2)\n"
        "print(json.dumps([r.protocol, r.overall['n']]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(data)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    protocol, n = json.loads(proc.stdout.strip().splitlines()[-1])
    assert protocol.startswith("leave-source-out") and n == 32


def test_evaluate_cross_validates_a_family_and_scores_a_trained_model_as_is(data, tmp_path):
    cv = fakescope.evaluate("dct-linear", data, by="source", **TINY)
    assert isinstance(cv, fakescope.EvaluationReport)
    assert cv.protocol == "leave-source-out, 2 folds" and cv.overall["n"] == 32
    assert cv.shortcut_audit["overall"]["n"] == 32 and cv.shortcut_audit["protocol"] == cv.protocol
    assert 0 <= cv.overall["auc"] <= 1

    det = fakescope.create_detector("dct-linear", **TINY).fit(fakescope.Manifest.read(data))
    held = fakescope.evaluate(det, data, matched="128:90")
    assert held.protocol == "held-out test set, matched 128px JPEG q90" and held.detector == "dct-linear"
    det.save(tmp_path / "saved")
    again = fakescope.evaluate(str(tmp_path / "saved"), fakescope.Manifest.read(data), matched="128:90")
    assert again.overall == held.overall  # a saved folder scores exactly as the fitted detector

    paths = held.write(tmp_path / "report")
    assert [p.name for p in paths] == ["report.json", "report.md"]
    assert json.loads(paths[0].read_text()) == json.loads(json.dumps(held.to_dict(), default=str))
    assert "shortcut audit" in held.markdown() and "shortcut audit AUC" in held.headline()


def test_evaluate_rejects_what_it_cannot_do(data):
    with pytest.raises(ValueError, match="by must be one of"):
        fakescope.evaluate("dct-linear", data, by="colour")
    with pytest.raises(ValueError, match="SIZE:QUALITY"):
        fakescope.evaluate("dct-linear", data, matched="big")
    with pytest.raises(ValueError, match="n_aug apply to cross-validated training"):
        fakescope.evaluate("default", data, n_aug=3)
    with pytest.raises(KeyError, match="no trained detector"):
        fakescope.evaluate("no-such-model", data)


def test_localizers_through_the_public_api():
    names = fakescope.list_localizers()
    assert {"gradcam", "patches", "sida"} <= set(names) and names == sorted(names)
    pytest.importorskip("torch")
    from PIL import Image

    loc = fakescope.load_localizer()  # the shipped default
    assert loc.name in names
    img = Image.open(next(SAMPLES.glob("*.jpg"))).convert("RGB")
    assert loc.localize(img)["map"].shape == (img.size[1], img.size[0])
    with pytest.raises(KeyError, match="without shipped weights"):
        fakescope.load_localizer("sida")


SUBMODULES = {m.name for m in pkgutil.iter_modules(fakescope.__path__)}


@pytest.mark.parametrize("name", sorted(fakescope._LAZY))
def test_no_public_name_is_also_a_submodule(name):
    # Importing fakescope.<name> would bind the module to the package attribute and shadow the lazy name.
    assert name not in SUBMODULES
    assert callable(getattr(fakescope, name))
