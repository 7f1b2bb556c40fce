"""The registry is strict: duplicates fail, unknown names suggest, patterns filter."""

from __future__ import annotations

import pytest

from fakescope.registry import create, list_detectors, register


def test_builtin_detectors_are_listed():
    assert {"univfd", "univfd-nn", "dct-linear", "dct-cnn", "fusion"} <= set(list_detectors())
    assert list_detectors("univfd*") == ["univfd", "univfd-crops", "univfd-nn"]


def test_duplicate_name_is_an_error():
    with pytest.raises(ValueError, match="already registered"):
        register("univfd", "again")(lambda **kw: None)


def test_unknown_name_suggests_close_matches():
    with pytest.raises(KeyError, match="Did you mean 'univfd'"):
        create("univfd2")


def test_unknown_config_key_is_an_error():
    with pytest.raises(TypeError, match="unknown training option"):
        create("univfd", n_augmentations=3)


def test_predicting_before_fitting_raises():
    from fakescope.types import NotFittedError

    det = create("dct-linear")
    with pytest.raises(NotFittedError, match="not fitted"):
        det.predict_proba([object()])


def test_the_registry_knows_which_module_registers_each_name():
    import importlib
    import importlib.util

    from fakescope import registry

    for module, (needs, names) in registry._FAMILIES.items():
        if any(importlib.util.find_spec(p) is None for p in needs):
            continue
        importlib.import_module(module)
        registered = {n for n, e in registry._REGISTRY.items() if e.module == module}
        assert registered == set(names), module


def test_loading_the_default_detector_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, fakescope; d = fakescope.load_detector(); "
            "print('torch' in sys.modules, d.name)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "ensemble"]
