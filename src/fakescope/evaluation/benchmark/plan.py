"""Which runs the benchmark makes: the protocols, and which of them each detector gets on this machine."""

from __future__ import annotations

import importlib.util

from ...data.perturb import Matched
from ...registry import entry


MATCHED = Matched(256, 90)
#: protocol key -> (group by, matched processing)
PROTOCOLS: dict[str, dict] = {
    "loso-matched": dict(by="source", matched=MATCHED),
    "loso": dict(by="source", matched=None),
    "logo": dict(by="generator", matched=None),
    "logo-matched": dict(by="generator", matched=MATCHED),
}
#: detectors trained end to end per fold: only the matched-processing protocols (CPU time), and at
#: reduced size when no GPU is visible
SPEC_CNN = {"dct-cnn": {"calib_folds": 2, "head_params": {"epochs": 4, "width": 8}}}


def available(name: str) -> bool:
    return all(importlib.util.find_spec(pkg) is not None for pkg in entry(name).needs)


def device_name() -> str:
    if importlib.util.find_spec("torch") is None:
        return "cpu"
    import torch

    return f"cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "cpu"


def plan(name: str, protocols: list[str] | None, cuda: bool) -> list[tuple[str, str, dict, str]]:
    """(protocol key, recipe, config, settings) for one detector."""
    reduced = entry(name).reduced
    if reduced:  # end-to-end networks
        keys = ["loso-matched", "logo-matched"]
        cfg, settings = ({}, "full") if cuda else ({"head_params": reduced}, "reduced")
        recipes = {k: ["paired"] for k in keys}
    elif name in SPEC_CNN:
        keys = ["loso-matched", "loso", "logo-matched"]
        cfg, settings = (({}, "full") if cuda else (SPEC_CNN[name], "reduced"))
        recipes = {k: ["paired"] for k in keys}
    else:
        keys = list(PROTOCOLS)
        cfg, settings = {}, "full"
        # An ensemble's members carry their own recipes: one run is the whole ensemble.
        both = ["paired"] if name == "ensemble" else ["paired", "all"]
        recipes = {k: both if k == "loso-matched" else ["paired"] for k in keys}
    return [(k, r, cfg, settings) for k in keys if not protocols or k in protocols for r in recipes[k]]


def folds_cap(key: str, max_folds: int | None) -> int | None:
    if max_folds:
        return max_folds
    return 10 if key.startswith("logo") else None
