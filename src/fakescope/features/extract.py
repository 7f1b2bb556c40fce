"""The feature extractors: named image -> array functions (:data:`EXTRACTORS`).

Batch extraction over a manifest, the views (clean, augmented, matched) and the
feature cache live one layer up, in :mod:`fakescope.extraction`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .dct import dct_spectrum
from .views import center_crop


@dataclass(frozen=True)
class Extractor:
    """A named image -> array function; ``batched`` ones take a list of images."""

    name: str
    fn: Callable
    batched: bool = False
    store_dtype: str = "float32"
    version: int = 1  # bump when the function's output changes, so cached features are not reused

    @property
    def cache_key(self) -> str:
        return f"{self.name}@v{self.version}"

    def apply(self, images: list[Image.Image], pool: ThreadPoolExecutor | None = None) -> list[np.ndarray]:
        """Features of each image, one array per image."""
        if self.batched:
            return list(self.fn(images))
        return list(pool.map(self.fn, images)) if pool else [self.fn(im) for im in images]


def _clip_batch(images):
    from .clip import ClipEncoder

    return ClipEncoder.shared().embed(images)


#: side of the pixel crops the end-to-end networks see (centre crop, no resampling)
PIXEL_SIZE = 128


def _pixel_crop(img: Image.Image) -> np.ndarray:
    return np.asarray(center_crop(img.convert("RGB"), PIXEL_SIZE), dtype=np.uint8)


def _clip_noise_batch(images):
    from .clip import ClipEncoder

    return ClipEncoder.shared().embed([add_noise(im) for im in images])


#: standard deviation (grey levels) of the perturbation of the noise-sensitivity detector
NOISE_SIGMA = 4.0


def add_noise(img: Image.Image, sigma: float = NOISE_SIGMA) -> Image.Image:
    """``img`` plus Gaussian noise, seeded by its own pixels (the same image always gets the same noise)."""
    arr = np.asarray(img.convert("RGB"), dtype=np.float32)
    seed = int.from_bytes(hashlib.sha256(arr[::7, ::7].tobytes()).digest()[:8], "little")
    noisy = arr + np.random.default_rng(seed).normal(0, sigma, arr.shape).astype(np.float32)
    return Image.fromarray(np.clip(np.round(noisy), 0, 255).astype(np.uint8))


def _caption_batch(images):
    from .text import SentenceEncoder, describe

    return SentenceEncoder.shared().embed([describe(im) for im in images])


EXTRACTORS: dict[str, Extractor] = {
    # v2: one image per encoder call (v1 batched, and INT8 scales depended on the batch).
    "clip": Extractor("clip", _clip_batch, batched=True, version=2),
    # float16 halves the cache; log-spectrum values lie in about [-14, 10].
    "dct": Extractor("dct", dct_spectrum, store_dtype="float16"),
    # The end-to-end networks' input: a centre crop at native resolution (49 KB per image and view).
    "crop128": Extractor("crop128", _pixel_crop, store_dtype="uint8"),
    # CLIP embedding of the image after a small, seeded Gaussian perturbation (noise sensitivity).
    "clip-noise": Extractor("clip-noise", _clip_noise_batch, batched=True),
    # MiniLM embedding of a description measured from the pixels (DE-FAKE hybrid's prompt fallback).
    "caption": Extractor("caption", _caption_batch, batched=True),
}


def ex_dtype(name: str) -> str:
    return EXTRACTORS[name].store_dtype
