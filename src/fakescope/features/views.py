"""The fixed views a detector takes of an image, named in its card.

Each view is part of a detector's documented preprocessing. They are not the
only code that resamples pixels: training augmentation, robustness tests and
matched processing (``data.perturb``), synthetic edits (``data.synthesis``),
face crops for landmarks (``features.faces``) and the networks' own
up-sampling of their maps resample too, each on purpose and never on the
pixels a scan scores unless a detector's card says so.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)


def center_crop(img: Image.Image, size: int) -> Image.Image:
    """Centre crop of ``size`` x ``size`` pixels, upscaling (bicubic) only when a side is shorter."""
    w, h = img.size
    if min(w, h) < size:
        scale = size / min(w, h)
        img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BICUBIC)
        w, h = img.size
    left, top = (w - size) // 2, (h - size) // 2
    return img.crop((left, top, left + size, top + size))


def clip_view(img: Image.Image, size: int = 224) -> np.ndarray:
    """CLIP's own preprocessing: shortest side to ``size`` (bicubic), centre crop, mean/std.

    Returns:
        float32 array of shape (3, size, size).
    """
    w, h = img.size
    scale = size / min(w, h)
    if scale != 1.0:
        img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BICUBIC)
    img = center_crop(img, size)
    arr = np.asarray(img, dtype=np.float32) / 255.0  # (H, W, 3)
    arr = (arr - CLIP_MEAN) / CLIP_STD
    return np.ascontiguousarray(arr.transpose(2, 0, 1))  # (3, H, W)


def gray(img: Image.Image) -> np.ndarray:
    """ITU-R 601 luma as float64 in [0, 255], shape (H, W)."""
    return np.asarray(img.convert("L"), dtype=np.float64)
