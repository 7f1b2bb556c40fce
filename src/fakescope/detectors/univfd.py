"""UnivFD (Ojha et al., CVPR 2023): frozen CLIP features, linear probe or nearest neighbour.

A foundation model trained on web images has never been asked to tell real
from fake, so its feature space is not over-fitted to one generator's
artefacts; a linear probe (or nearest neighbour) in that space generalises to
unseen generators far better than a CNN trained end to end.
"""

from __future__ import annotations


from ..registry import register
from .base import FeatureDetector
from .heads import LinearHead, NearestNeighbourHead

CLIP_PREPROCESSING = (
    "decode to 8-bit RGB; resize shortest side to 224 px (bicubic); centre crop 224x224; "
    "CLIP mean/std normalisation; CLIP ViT-B/16 image embedding (512-d), L2-normalised"
)


class UnivFD(FeatureDetector):
    family = "univfd"
    extractors = ("clip",)
    preprocessing = CLIP_PREPROCESSING
    paper = "Ojha, Li, Lee. Towards Universal Fake Image Detectors that Generalize Across Generative Models. CVPR 2023"

    def __init__(self, name: str, head: str = "linear", head_params: dict | None = None, **train):
        self.head_kind = head
        super().__init__(name, head_params, **train)

    def design(self, feats):
        return feats["clip"]

    @property
    def head_type(self):
        return NearestNeighbourHead if self.head_kind == "nn" else LinearHead

    @property
    def summary(self) -> str:
        if self.head_kind == "nn":
            return "UnivFD: frozen CLIP ViT-B/16 embedding, nearest-neighbour distance to real vs. fake banks"
        return "UnivFD: frozen CLIP ViT-B/16 embedding, L2-regularised logistic-regression probe"


@register("univfd", "frozen CLIP ViT-B/16 + linear probe (Ojha 2023)")
def univfd(head_params: dict | None = None, **train) -> UnivFD:
    return UnivFD("univfd", "linear", head_params or {"C": [0.001, 0.01, 0.1]}, **train)


@register("univfd-nn", "frozen CLIP ViT-B/16 + nearest neighbour (Ojha 2023)")
def univfd_nn(head_params: dict | None = None, **train) -> UnivFD:
    return UnivFD("univfd-nn", "nn", head_params or {"k": [1, 5, 20]}, **train)


__all__ = ["UnivFD", "univfd", "univfd_nn"]
