"""`--set key=value` is typed by the config field it sets and routed to where that field lives."""

from __future__ import annotations

import importlib.util

import pytest

from fakescope.cli.common import model_settings
from fakescope.registry import create


def test_detector_settings_are_typed_and_routed():
    kw = model_settings(create("univfd").settings(), ["C=0.01,0.1", "n_aug=3", "unsure_band=0.2,0.8",
                                                      "sources=all", "balance_sources=false"])  # fmt: skip
    assert kw == {"head_params": {"C": [0.01, 0.1]}, "n_aug": 3, "unsure_band": (0.2, 0.8), "sources": "all",
                  "balance_sources": False}  # fmt: skip
    det = create("univfd", **kw)
    assert det.train_config.n_aug == 3 and det.head_candidates() == [{"C": 0.01}, {"C": 0.1}]
    # a value that looks like a number stays a string where the field is a string
    assert model_settings(create("ensemble").settings(), ["members=univfd:all+fusion:paired"]) == {
        "members": "univfd:all+fusion:paired"}  # fmt: skip


def test_unknown_keys_and_wrong_types_are_errors_that_name_the_field():
    settings = create("univfd").settings()
    with pytest.raises(ValueError, match="unknown setting 'epochs'; known: .*n_aug"):
        model_settings(settings, ["epochs=3"])  # a network setting, not UnivFD's
    with pytest.raises(ValueError, match="n_aug takes a int value, got 'three'"):
        model_settings(settings, ["n_aug=three"])
    with pytest.raises(ValueError, match="unsure_band takes 2 comma-separated values"):
        model_settings(settings, ["unsure_band=0.5"])
    with pytest.raises(ValueError, match="key=value"):
        model_settings(settings, ["n_aug"])


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="networks need torch")
def test_network_and_localizer_settings_come_from_their_configs():
    kw = model_settings(create("resynthesis").settings(), ["epochs=2", "width=8", "restorer_epochs=1",
                                                           "pretrained=false", "lr=0.01"])  # fmt: skip
    assert kw == {"head_params": {"epochs": 2, "width": 8, "restorer_epochs": 1, "pretrained": False, "lr": 0.01}}
    with pytest.raises(ValueError, match="unknown setting 'restorer_epochs'"):
        model_settings(create("meso4").settings(), ["restorer_epochs=1"])  # only Resynthesis has restorers
    assert model_settings(create("sida").settings(), ["setup=B", "epochs=2", "mask_weight=0.5"]) == {
        "setup": "B", "epochs": 2, "mask_weight": 0.5}  # fmt: skip
