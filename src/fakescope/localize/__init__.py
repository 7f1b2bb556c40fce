"""Localizers of partial manipulations: registered like detectors, trained under setups A, B or C."""

from __future__ import annotations

import difflib

from .base import SETUPS, Localizer, LocalizerConfig, load_localizer

_LOCALIZERS: dict[str, dict] = {
    "gradcam": dict(arch="gradcam", summary="Grad-CAM on the last stage of a CNN classifier (weak supervision; "
                    "masks are never used, even under setup C)",
                    paper="Selvaraju et al. Grad-CAM. ICCV 2017; as a localization baseline in DOLOS (Tantaru 2024)"),
    "patches": dict(arch="patches", summary="Patch-Forensics local scores as the map: weak (mean of patch logits) "
                    "under A/B, per-patch mask supervision under C",
                    paper="Chai et al. ECCV 2020; DOLOS (Tantaru et al. 2024)"),
    "attention": dict(arch="attention", summary="learned attention mask whose smooth maximum is the image logit "
                      "(BCE), plus lambda x mask BCE under C",
                      paper="Dang et al. On the Detection of Digital Face Manipulation. CVPR 2020; DOLOS"),
    "mau-net": dict(arch="mau-net", loc_loss="l1", summary="multi-attention U-Net: RGB and block-FFT encoders, "
                    "spatial-channel attention on skips, bilinear-pooling fusion; L_class + L1 localization loss",
                    paper="Waseem et al. 2023 (multi-attention U-Net for deepfake localization)"),
    "sida": dict(arch="sida", loc_loss="bce+dice", summary="SIDA-style head: real / fully generated / tampered "
                 "+ mask; L = CE + lambda (BCE + Dice); explanation from the measured evidence",
                 paper="Huang et al. SIDA: Social Media Image Deepfake Detection, Localization and Explanation. 2024"),
    "dadf": dict(arch="dadf", summary="reconstruction-guided attention: L1 difference of features of the image "
                 "and a noise-perturbed copy re-weights the features of the mask head",
                 paper="Lai et al. Detect Any Deepfakes (DADF). 2023"),
}


def list_localizers() -> list[str]:
    """Names of the registered localizer families, sorted (``fakescope train NAME`` trains one)."""
    return sorted(_LOCALIZERS)


def create_localizer(name: str, **config) -> Localizer:
    if name not in _LOCALIZERS:
        close = difflib.get_close_matches(name, list(_LOCALIZERS), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise KeyError(f"unknown localizer {name!r}.{hint} `fakescope list` shows them all.")
    return Localizer(name, **_LOCALIZERS[name], **config)


def summary_of(name: str) -> str:
    return _LOCALIZERS[name]["summary"]


__all__ = ["SETUPS", "Localizer", "LocalizerConfig", "create_localizer", "list_localizers", "load_localizer"]
