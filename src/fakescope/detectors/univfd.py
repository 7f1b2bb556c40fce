"""UnivFD (Ojha et al., CVPR 2023): frozen CLIP features, linear probe or nearest neighbour.

A foundation model trained on web images has never been asked to tell real
from fake, so its feature space is not over-fitted to one generator's
artefacts; a linear probe (or nearest neighbour) in that space generalises to
unseen generators far better than a CNN trained end to end.
"""

from __future__ import annotations


from ..features.views import REDUCING_GAP
from ..registry import register
from .base import FeatureDetector
from .heads import LinearHead, NearestNeighbourHead

#: shorter side from which the CLIP view reduces an image by an integer factor before resampling
LARGE_SIDE = int(2 * REDUCING_GAP * 224)

CLIP_PREPROCESSING = (
    "decode to 8-bit RGB; resize shortest side to 224 px (bicubic); centre crop 224x224; "
    "CLIP mean/std normalisation; CLIP ViT-B/16 image embedding (512-d), L2-normalised. "
    f"Images with a shorter side of at least {LARGE_SIDE} px are first reduced by the integer factor that keeps "
    f"them at least {LARGE_SIDE // 2} px (box average; for a JPEG scanned by a detector that reads only this view, "
    "by 1/2, 1/4 or 1/8 in the decoder's DCT domain); images with a side ratio over 4:1 are resampled "
    "crop first (only the source box behind the centre square)"
)

CROPS_PREPROCESSING = (
    "decode to 8-bit RGB; no resize: up to five 224x224 crops at native resolution (the centre square and the "
    "four corner squares, repeats dropped: a 224x224 image gives one crop, a 224 px high one three); an image "
    "with a side under 224 px gives one crop, its centre square enlarged (bicubic) so that its shorter side is "
    "224 px; each crop: CLIP mean/std normalisation, CLIP ViT-B/16 image embedding (512-d), L2-normalised; "
    "the crops' embeddings averaged and L2-normalised again (512-d)"
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
        return feats[self.extractors[0]]

    @property
    def head_type(self):
        return NearestNeighbourHead if self.head_kind == "nn" else LinearHead

    @property
    def summary(self) -> str:
        if self.head_kind == "nn":
            return "UnivFD: frozen CLIP ViT-B/16 embedding, nearest-neighbour distance to real vs. fake banks"
        return "UnivFD: frozen CLIP ViT-B/16 embedding, L2-regularised logistic-regression probe"


class UnivFDCrops(UnivFD):
    """UnivFD on native-resolution crops: the traces a generator leaves in single pixels are not
    resampled away, and the corners let an edit or a generated region away from the centre count."""

    extractors = ("clip-crops",)
    preprocessing = CROPS_PREPROCESSING
    summary = "UnivFD on native-resolution crops: mean CLIP ViT-B/16 embedding of 224 px crops, linear probe"


@register("univfd", "frozen CLIP ViT-B/16 + linear probe (Ojha 2023)")
def univfd(head_params: dict | None = None, **train) -> UnivFD:
    return UnivFD("univfd", "linear", head_params or {"C": [0.001, 0.01, 0.1]}, **train)


@register("univfd-nn", "frozen CLIP ViT-B/16 + nearest neighbour (Ojha 2023)")
def univfd_nn(head_params: dict | None = None, **train) -> UnivFD:
    return UnivFD("univfd-nn", "nn", head_params or {"k": [1, 5, 20]}, **train)


@register("univfd-crops", "frozen CLIP ViT-B/16 on native-resolution 224 px crops + linear probe")
def univfd_crops(head_params: dict | None = None, **train) -> UnivFDCrops:
    return UnivFDCrops("univfd-crops", "linear", head_params or {"C": [0.001, 0.01, 0.1]}, **train)


__all__ = ["UnivFD", "UnivFDCrops", "univfd", "univfd_crops", "univfd_nn"]
