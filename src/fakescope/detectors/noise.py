"""Noise sensitivity: a training-free detector.

How far does a foundation-model embedding move when the image gets a small
Gaussian perturbation? The idea behind reconstruction-guided attention
(DADF): a real photo already carries sensor noise, so a little more changes
little; a generated image is smoother and "cleaner" than a camera's, and its
embedding moves more. The score is ``1 - cos(e(x), e(x + n))`` for the frozen
CLIP ViT-B/16 embedding ``e`` and noise ``n`` of standard deviation
``NOISE_SIGMA`` grey levels, seeded by the image itself. Nothing is learned
but a Platt calibration of this one number, whose slope may not turn
negative: the direction is the hypothesis, not something fitted.
"""

from __future__ import annotations

import numpy as np

from ..features.extract import NOISE_SIGMA
from ..registry import register
from .base import FeatureDetector
from .heads import ScoreHead
from .univfd import CLIP_PREPROCESSING


class NoiseSensitivity(FeatureDetector):
    family = "training-free"
    extractors = ("clip", "clip-noise")
    preprocessing = (
        f"two CLIP views: the image, and the image plus Gaussian noise (sigma {NOISE_SIGMA:g} grey levels, "
        f"seeded by the pixels, rounded to 8 bits), each: {CLIP_PREPROCESSING}; score = 1 - cosine similarity"
    )
    summary = "Noise sensitivity: CLIP embedding shift under a small Gaussian perturbation (training-free)"
    paper = ("training-free perturbation test after the reconstruction-guided attention of DADF "
             "(Lai et al. Detect Any Deepfakes, 2023) and perturbation-sensitivity detectors")  # fmt: skip

    monotone_calibration = True  # the hypothesis fixes the direction: more shift = more likely generated

    def design(self, feats):
        return (1.0 - np.sum(feats["clip"] * feats["clip-noise"], axis=1, keepdims=True)) * 1000.0

    head_type = ScoreHead


@register("noise-sensitivity", "training-free: CLIP embedding shift under small noise")
def noise_sensitivity(head_params: dict | None = None, **train) -> NoiseSensitivity:
    train.setdefault("n_aug", 0)  # nothing to learn: augmented copies would only cost encoder time
    return NoiseSensitivity("noise-sensitivity", head_params or {}, **train)
