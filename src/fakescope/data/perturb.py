"""Image perturbations: training augmentation, robustness tests, matched processing.

All of these change pixels on purpose, so none runs unless a detector card,
an evaluation protocol or the user asks for it.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from ..features.views import center_crop


def jpeg_bytes(img: Image.Image, quality: int) -> bytes:
    """Encode as baseline JPEG at ``quality`` (4:2:0, as most web pipelines do)."""
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=int(quality))
    return buf.getvalue()


def jpeg(img: Image.Image, quality: int) -> Image.Image:
    """Re-encode as JPEG at ``quality`` and decode again."""
    out = Image.open(io.BytesIO(jpeg_bytes(img, quality)))
    out.load()
    return out.convert("RGB")


def rescale(img: Image.Image, scale: float) -> Image.Image:
    w, h = img.size
    return img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BICUBIC)


def blur(img: Image.Image, sigma: float) -> Image.Image:
    return img.filter(ImageFilter.GaussianBlur(radius=sigma)) if sigma > 0 else img


def shortest_side(img: Image.Image, size: int) -> Image.Image:
    w, h = img.size
    s = size / min(w, h)
    return img if s == 1 else img.resize((max(size, round(w * s)), max(size, round(h * s))), Image.Resampling.BICUBIC)


@dataclass(frozen=True)
class Matched:
    """Matched processing: every image, real or fake, gets the same resize and JPEG encode.

    After it, width, height, format and JPEG quality are identical across
    classes, so a score cannot come from them.
    """

    size: int = 256
    quality: int = 90

    @property
    def tag(self) -> str:
        return f"matched{self.size}q{self.quality}"

    def encode(self, img: Image.Image) -> bytes:
        return jpeg_bytes(center_crop(shortest_side(img, self.size), self.size), self.quality)

    def __call__(self, img: Image.Image) -> Image.Image:
        out = Image.open(io.BytesIO(self.encode(img)))
        out.load()
        return out.convert("RGB")

    @classmethod
    def parse_tag(cls, tag: str) -> Matched:
        """Inverse of :attr:`tag`: ``"matched256q90"`` -> Matched(256, 90)."""
        m = re.fullmatch(r"matched(\d+)q(\d+)", tag)
        if not m:
            raise ValueError(f"not a matched-processing tag: {tag!r}")
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def parse(cls, text: str) -> Matched:
        """``"256:90"`` -> size 256, quality 90."""
        size, _, quality = text.partition(":")
        return cls(int(size), int(quality or 90))


@dataclass(frozen=True)
class AugmentDraw:
    """One random draw of the training augmentation, as :func:`augment` applies it to an image of one size.

    A real image and its aligned counterpart (same size) given the same draw get exactly the same crop
    box, rescale factor, blur and JPEG quality, so the pair differs only in how its pixels were made.
    """

    crop: tuple[int, int, int, int] | None = None  # (left, top, right, bottom) of the square kept
    scale: float | None = None  # rescale factor (1.0: drawn, no change)
    blur: float | None = None  # Gaussian sigma in pixels
    jpeg: int | None = None  # JPEG quality of the re-encode


def draw_augment(size: tuple[int, int], rng: np.random.Generator, min_side: int = 128) -> AugmentDraw:
    """The augmentation :func:`augment` would apply to an image of ``size`` = (width, height) with ``rng``."""
    w, h = size
    crop = None
    if rng.random() < 0.5 and min(w, h) > min_side:
        side = int(rng.integers(max(min_side, int(0.6 * min(w, h))), min(w, h) + 1))
        x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
        crop, w, h = (x, y, x + side, y + side), side, side
    scale = None
    if rng.random() < 0.5:
        lo = min(1.0, max(0.5, min_side / min(w, h)))
        scale = float(rng.uniform(lo, 1.0)) if lo < 1.0 else 1.0
    sigma = float(rng.uniform(0.2, 1.5)) if rng.random() < 0.3 else None
    quality = int(rng.integers(60, 96)) if rng.random() < 0.7 else None
    return AugmentDraw(crop, scale, sigma, quality)


def apply_augment(img: Image.Image, draw: AugmentDraw) -> Image.Image:
    """Crop, rescale, blur and JPEG re-encode as ``draw`` says, in that order."""
    if draw.crop is not None:
        img = img.crop(draw.crop)
    if draw.scale is not None:
        img = rescale(img, draw.scale)
    if draw.blur is not None:
        img = blur(img, draw.blur)
    if draw.jpeg is not None:
        img = jpeg(img, draw.jpeg)
    return img


def augment(img: Image.Image, rng: np.random.Generator, min_side: int = 128) -> Image.Image:
    """The training augmentation against format/size shortcuts (after Wang et al. 2020).

    Random crop, random down-scaling, Gaussian blur and JPEG re-encoding, each
    with its own probability, so the detector sees every class in every
    format and size (:func:`draw_augment`, then :func:`apply_augment`).
    """
    return apply_augment(img, draw_augment(img.size, rng, min_side))
