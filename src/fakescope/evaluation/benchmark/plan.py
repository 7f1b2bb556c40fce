"""Which runs the benchmark makes: the protocols, and which of them each detector gets on this machine."""

from __future__ import annotations

import importlib.util

from ...data.perturb import Matched
from ...registry import entry
from ..protocols import MODERN


MATCHED = Matched(256, 90)
#: protocol key -> how it runs: group-held-out folds (group by, matched processing, the test slice scored),
#: or ``aligned=True``: trained on real images and their aligned counterparts only (``evaluation.aligned_only``);
#: ``pairs=True``: group-held-out folds whose training data also holds aligned pairs
PROTOCOLS: dict[str, dict] = {
    "loso-matched": dict(by="source", matched=MATCHED),
    "loso": dict(by="source", matched=None),
    "logo": dict(by="generator", matched=None),
    "logo-matched": dict(by="generator", matched=MATCHED),
    "loso-matched-modern": dict(by="source", matched=MATCHED, test=MODERN),
    "aligned-only": dict(aligned=True, matched=None),
    "aligned-only-matched": dict(aligned=True, matched=MATCHED),
    # LOSO-matched with aligned pairs of every real image large enough added to each fold's training (the
    # pairs made from the held-out source's real images left out): aligned pairs plus collected fakes
    "loso-matched-aligned": dict(by="source", matched=MATCHED, pairs=True),
    # the same with files as they are: the shipped default's own recipe (clean and augmented views, pairs)
    "loso-aligned": dict(by="source", matched=None, pairs=True),
}
#: what runs when no protocol is named; the others (the modern slice, aligned-only, LOSO-matched with aligned
#: pairs) are asked for by name with ``--protocols`` (the aligned ones make their counterparts first, and need
#: the TAEF2 weights)
DEFAULT_PROTOCOLS = ("loso-matched", "loso", "logo", "logo-matched")
#: detectors trained end to end per fold: only the matched-processing protocols (CPU time), and at
#: reduced size when no GPU is visible
SPEC_CNN = {"dct-cnn": {"calib_folds": 2, "head_params": {"epochs": 4, "width": 8}}}


def available(name: str) -> bool:
    return all(importlib.util.find_spec(pkg) is not None for pkg in entry(name).needs)


def machine(device: str | None = None) -> str:
    """What a run was measured on, for the page: architecture and the CPU cores this process may use (a CI
    runner or a container may grant fewer than the host has), then the device when one is named."""
    import os
    import platform

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return f"{platform.machine()}, {cores} CPU cores" + (f", {device}" if device else "")


def device_name() -> str:
    if importlib.util.find_spec("torch") is None:
        return "cpu"
    import torch

    return f"cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "cpu"


def asked(protocols: list[str] | None) -> list[str]:
    """The protocol keys a run covers, in the page's order."""
    return [k for k in PROTOCOLS if (k in protocols if protocols else k in DEFAULT_PROTOCOLS)]


def recipes(key: str, name: str = "") -> tuple[str, ...]:
    """Training recipes a protocol runs with: LOSO-matched compares the paired recipe with all sources
    (an ensemble's members carry their own recipes: one run is the whole ensemble)."""
    return ("paired", "all") if key == "loso-matched" and name != "ensemble" else ("paired",)


def plan(name: str, protocols: list[str] | None, cuda: bool) -> list[tuple[str, str, dict, str]]:
    """(protocol key, recipe, config, settings) for one detector."""
    reduced = entry(name).reduced
    keys = asked(protocols)
    if reduced:  # end-to-end networks
        keys = [k for k in keys if PROTOCOLS[k]["matched"] is not None]
        cfg, settings = ({}, "full") if cuda else ({"head_params": reduced}, "reduced")
        return [(k, "paired", cfg, settings) for k in keys]
    if name in SPEC_CNN:
        keys = [k for k in keys if PROTOCOLS[k]["matched"] is not None or k == "loso"]
        cfg, settings = (({}, "full") if cuda else (SPEC_CNN[name], "reduced"))
        return [(k, "paired", cfg, settings) for k in keys]
    return [(k, r, {}, "full") for k in keys for r in recipes(k, name)]


def folds_cap(key: str, max_folds: int | None) -> int | None:
    if max_folds:
        return max_folds
    return 10 if key.startswith("logo") else None
