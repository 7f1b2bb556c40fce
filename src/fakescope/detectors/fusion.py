"""Fusion: frequency features and foundation-model features in one head.

The review finds frequency features the best hand-made generalisers and
foundation-model features the best learned ones, and their combination best
of all. Here the CLIP embedding and the block-averaged log-DCT spectrum are
concatenated (each standardised) and fed to one logistic-regression head.
"""

from __future__ import annotations

import numpy as np

from ..features.dct import pool_spectrum
from ..registry import register
from .base import FeatureDetector
from .dct import DCT_PREPROCESSING, PAPER as DCT_PAPER
from .heads import LinearHead
from .univfd import CLIP_PREPROCESSING

#: 16x16 cells of the 128x128 spectrum: 256 numbers, coarse enough that the
#: CLIP half of the input is not drowned out, fine enough to keep the grid peaks' bands.
FUSION_CELLS = 16


class Fusion(FeatureDetector):
    family = "fusion"
    extractors = ("clip", "dct")
    preprocessing = (
        f"two views, concatenated: (a) {CLIP_PREPROCESSING}; (b) {DCT_PREPROCESSING}, "
        f"block-averaged to {FUSION_CELLS}x{FUSION_CELLS}; each feature standardised"
    )
    summary = "Fusion: CLIP ViT-B/16 embedding + block-averaged log-DCT spectrum, one logistic-regression head"
    paper = "UnivFD (Ojha 2023) + " + DCT_PAPER

    def design(self, feats):
        return np.concatenate([feats["clip"], pool_spectrum(feats["dct"], cells=FUSION_CELLS)], axis=1)

    head_type = LinearHead


@register("fusion", "CLIP embedding + log-DCT spectrum in one linear head")
def fusion(head_params: dict | None = None, **train) -> Fusion:
    return Fusion("fusion", head_params or {"C": [0.001, 0.01, 0.1]}, **train)
