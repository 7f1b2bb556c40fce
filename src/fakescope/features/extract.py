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

from .clip import CLIP_SIZE, CLIP_WEIGHTS
from .dct import DCT_SIZE, dct_spectrum
from .dinov2 import DINOV2_SIZE, DINOV2_WEIGHTS
from .sdxl import SDXL_SIZE, SDXL_WEIGHTS, squashed
from .text import MINILM_TOKENIZER, MINILM_WEIGHTS
from .views import REDUCING_GAP, center_crop, native_region, resized_center_crop


@dataclass(frozen=True)
class Extractor:
    """A named image -> array function; ``batched`` ones take a list of images.

    ``shrink`` maps an image to the smallest one the function reads: ``fn(shrink(im))``
    equals ``fn(im)`` exactly (the square view the function would cut out itself), so a
    scan can keep that instead of the whole decoded image. ``view_side`` is the side of
    the square view (for the rows' upscaling notes); ``decode_side`` is set when the view
    may be taken from an image decoded smaller, down to that shorter side (JPEG
    DCT-domain scaling, see ``io.open_image``); ``None`` means native pixels are read.
    ``weights`` names the pretrained files (:data:`fakescope.weights.WEIGHTS`) the function reads.
    """

    name: str
    fn: Callable
    batched: bool = False
    store_dtype: str = "float32"
    version: int = 1  # bump when the function's output changes, so cached features are not reused
    shrink: Callable[[Image.Image], Image.Image] | None = None
    view_side: int | None = None
    decode_side: int | None = None
    weights: tuple[str, ...] = ()

    @property
    def cache_key(self) -> str:
        return f"{self.name}@v{self.version}"

    def apply(self, images: list[Image.Image | Prepared], pool: ThreadPoolExecutor | None = None) -> list[np.ndarray]:
        """Features of each image (or :class:`Prepared` image), one array per image."""
        images = [im.inputs[self.name] if isinstance(im, Prepared) else im for im in images]
        if self.batched:
            return list(self.fn(images))
        return list(pool.map(self.fn, images)) if pool else [self.fn(im) for im in images]


@dataclass
class Prepared:
    """A decoded image reduced to what each of some extractors reads (see :func:`prepare`).

    Extractors accept it in place of the image and give the same features; a scan
    keeps these few kilobytes per image instead of the full decoded picture.
    """

    size: tuple[int, int]  # (width, height) of the decoded image
    inputs: dict[str, Image.Image]


def prepare(img: Image.Image, names: list[str] | tuple[str, ...]) -> Prepared:
    """What the named extractors read of ``img``: each one's ``shrink``, or the image itself."""
    inputs = {}
    for name in names:
        shrink = EXTRACTORS[name].shrink
        inputs[name] = shrink(img) if shrink else img
    return Prepared(img.size, inputs)


def decode_min_side(names: list[str] | tuple[str, ...]) -> int | None:
    """Shorter side the named extractors' views can all be taken from, or ``None`` if any reads native pixels."""
    sides = [EXTRACTORS[name].decode_side for name in names]
    return max(sides) if sides and None not in sides else None


def view_sides(names: list[str] | tuple[str, ...]) -> dict[str, int]:
    """``{extractor: side}`` of the square views the named extractors take (for ``views.size_notes``)."""
    return {name: EXTRACTORS[name].view_side for name in names if name in EXTRACTORS and EXTRACTORS[name].view_side}


def _clip_batch(images):
    from .clip import ClipEncoder

    return ClipEncoder.shared().embed(images)


def _clip_crops_batch(images):
    from .clip import ClipEncoder

    return ClipEncoder.shared().embed_crops(images)


def _dinov2_batch(images):
    from .dinov2 import Dinov2Encoder

    return Dinov2Encoder.shared().embed(images)


def _sdxl_batch(images):
    from .sdxl import SdxlClassifier

    return SdxlClassifier.shared().logits(images)


#: side of the pixel crops the end-to-end networks see (centre crop, no resampling)
PIXEL_SIZE = 128


def _pixel_crop(img: Image.Image) -> np.ndarray:
    return np.asarray(_rgb_crop(img), dtype=np.uint8)


def _rgb_crop(img: Image.Image) -> Image.Image:
    return center_crop(img.convert("RGB"), PIXEL_SIZE)


#: side of the native-resolution region the reals-only coder (ZED) reads; it cuts its crops from it
REGION_SIZE = 384


def _region(img: Image.Image) -> np.ndarray:
    return native_region(img, REGION_SIZE)


def _region_square(img: Image.Image) -> Image.Image:
    w, h = img.size
    cw, ch = min(w, REGION_SIZE), min(h, REGION_SIZE)
    left, top = (w - cw) // 2, (h - ch) // 2
    return img.crop((left, top, left + cw, top + ch))


def _clip_square(img: Image.Image) -> Image.Image:
    return resized_center_crop(img, CLIP_SIZE)


def _dinov2_square(img: Image.Image) -> Image.Image:
    return resized_center_crop(img, DINOV2_SIZE)


def _dct_square(img: Image.Image) -> Image.Image:
    return center_crop(img, DCT_SIZE)


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
    # v2: one image per encoder call (v1 batched, and INT8 scales depended on the batch). v3 (and the
    # other INT8 graphs' version bump): exact INT8 products on CPUs without VNNI (with_unsigned_weights);
    # features such a CPU cached before were wrong, the same CPU's cache must not serve them again.
    # Its view only needs the image at REDUCING_GAP x 224 px, so a JPEG may be decoded at reduced scale.
    "clip": Extractor("clip", _clip_batch, batched=True, version=3, shrink=_clip_square, view_side=CLIP_SIZE,
                      decode_side=int(REDUCING_GAP * CLIP_SIZE), weights=(CLIP_WEIGHTS,)),  # fmt: skip
    # CLIP on up to five 224 px crops at native resolution (centre and corners), embeddings averaged:
    # nothing is resampled unless a side is under 224 px. The corners span the image, so it reads it all.
    "clip-crops": Extractor("clip-crops", _clip_crops_batch, batched=True, version=2, view_side=CLIP_SIZE,
                            weights=(CLIP_WEIGHTS,)),  # fmt: skip
    # DINOv2 ViT-S/14: CLS + mean patch token (768-d) of the same square as the CLIP view.
    "dinov2": Extractor("dinov2", _dinov2_batch, batched=True, shrink=_dinov2_square, view_side=DINOV2_SIZE,
                        decode_side=int(REDUCING_GAP * DINOV2_SIZE), weights=(DINOV2_WEIGHTS,)),  # fmt: skip
    # The peer classifier's [artificial, human] logits, on the whole image squashed to 224x224 (its own
    # preprocessing, from full-resolution pixels: a JPEG decoded smaller would give other pixels).
    "sdxl-logits": Extractor("sdxl-logits", _sdxl_batch, batched=True, version=2, shrink=squashed,
                             view_side=SDXL_SIZE, weights=(SDXL_WEIGHTS,)),  # fmt: skip
    # float16 halves the cache; log-spectrum values lie in about [-14, 10].
    "dct": Extractor("dct", dct_spectrum, store_dtype="float16", shrink=_dct_square, view_side=DCT_SIZE),
    # The end-to-end networks' input: a centre crop at native resolution (49 KB per image and view).
    "crop128": Extractor("crop128", _pixel_crop, store_dtype="uint8", shrink=_rgb_crop, view_side=PIXEL_SIZE),
    # The centre of the image at native resolution (at most 384 x 384 px) with a validity channel:
    # the reals-only coder cuts its crops from it and never sees a resampled pixel (590 KB per image).
    "region384": Extractor("region384", _region, store_dtype="uint8", shrink=_region_square),
    # CLIP embedding of the image after a small, seeded Gaussian perturbation (noise sensitivity);
    # the noise is seeded by the whole image's pixels, so it reads the whole image.
    "clip-noise": Extractor("clip-noise", _clip_noise_batch, batched=True, version=2, view_side=CLIP_SIZE,
                            weights=(CLIP_WEIGHTS,)),  # fmt: skip
    # MiniLM embedding of a description measured from the pixels (DE-FAKE hybrid's prompt fallback).
    "caption": Extractor("caption", _caption_batch, batched=True,
                         weights=(MINILM_WEIGHTS, MINILM_TOKENIZER)),  # fmt: skip
}


def ex_dtype(name: str) -> str:
    return EXTRACTORS[name].store_dtype
