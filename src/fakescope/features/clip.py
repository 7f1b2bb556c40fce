"""Frozen CLIP ViT-B/16 image embeddings (the UnivFD feature space).

The encoder is the INT8 ONNX export pulled by ``fakescope weights pull``; it
runs with onnxruntime on any CPU. Embeddings are L2-normalised, 512-d.

Two views: :meth:`ClipEncoder.embed` takes CLIP's own (the shorter side resized
to 224 px, centre crop); :meth:`ClipEncoder.embed_crops` takes up to five
224 px crops at native resolution (:func:`crop_boxes`) and averages their embeddings.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from .shared import OnnxModel
from .views import center_crop, clip_view

CLIP_WEIGHTS = "clip-vit-b16-int8.onnx"
CLIP_SIZE = 224
CLIP_DIM = 512


class ClipEncoder(OnnxModel):
    """Lazily-loaded ONNX session; one per process is enough (it is thread-safe).

    Every image is encoded in a call of its own (see :class:`~fakescope.features.shared.OnnxModel`):
    the INT8 graph's activation scales would otherwise depend on the batch.
    """

    weights_file = CLIP_WEIGHTS

    def embed_one(self, pixels: np.ndarray) -> np.ndarray:
        """(3, 224, 224) normalised pixels -> (512,) unit-norm embedding."""
        (emb,) = self.run_one(pixels, ["image_embeds"])
        return emb / max(float(np.linalg.norm(emb)), 1e-12)

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Embeddings of RGB images, (N, 512), each computed on its own."""
        if not len(images):
            return np.zeros((0, CLIP_DIM), np.float32)
        return np.stack(self.map(lambda im: self.embed_one(clip_view(im, CLIP_SIZE)), images))

    def embed_crops(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Mean of the unit embeddings of each image's :func:`native_crops`, re-normalised: (N, 512)."""
        if not len(images):
            return np.zeros((0, CLIP_DIM), np.float32)
        crops = [native_crops(im) for im in images]
        # Every crop of every image in one pass over the session's threads. A crop is 224x224, so
        # clip_view only normalises it (no resampling).
        flat = self.map(lambda c: self.embed_one(clip_view(c, CLIP_SIZE)), [c for cs in crops for c in cs])
        out, start = [], 0
        for cs in crops:
            mean = np.mean(flat[start : start + len(cs)], axis=0)
            out.append(mean / max(float(np.linalg.norm(mean)), 1e-12))
            start += len(cs)
        return np.stack(out).astype(np.float32)


def crop_boxes(width: int, height: int, size: int = CLIP_SIZE) -> list[tuple[int, int, int, int]]:
    """The ``size`` px squares of the crops view, as (left, top, right, bottom): the centre, then the
    top-left, top-right, bottom-left and bottom-right corners, without repeats (a square image of side
    ``size`` has one box, an image ``size`` px high three). Needs ``min(width, height) >= size``."""
    left, top = (width - size) // 2, (height - size) // 2
    corners = [(left, top), (0, 0), (width - size, 0), (0, height - size), (width - size, height - size)]
    return list(dict.fromkeys((x, y, x + size, y + size) for x, y in corners))


def native_crops(img: Image.Image, size: int = CLIP_SIZE) -> list[Image.Image]:
    """Up to five ``size`` px crops at native resolution (:func:`crop_boxes`), nothing resampled.

    An image with a side under ``size`` px gives one crop: its centre square, enlarged (bicubic) so that
    its shorter side is ``size`` px, as the native 128 px crops do (:func:`~fakescope.features.views.center_crop`).
    """
    img = img.convert("RGB")
    if min(img.size) < size:
        return [center_crop(img, size)]
    return [img.crop(box) for box in crop_boxes(*img.size, size)]
