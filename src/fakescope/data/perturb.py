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


# --- everyday processing, for robustness tests ------------------------------------------------------------------


def _encoded(img: Image.Image, fmt: str, **kw) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    out = Image.open(io.BytesIO(buf.getvalue()))
    out.load()
    return out.convert("RGB")


def webp(img: Image.Image, quality: int) -> Image.Image:
    """Lossy WebP at ``quality`` and back."""
    return _encoded(img, "WEBP", quality=int(quality))


def avif(img: Image.Image, quality: int) -> Image.Image:
    """AVIF at ``quality`` (Pillow's 0-100 scale) and back; needs a Pillow built with AVIF (11.3 on)."""
    from PIL import features

    if not features.check("avif"):
        raise RuntimeError("this Pillow cannot write AVIF (Pillow 11.3 or later, built with libavif, can)")
    return _encoded(img, "AVIF", quality=int(quality))


def centre_crop_fraction(img: Image.Image, fraction: float) -> Image.Image:
    """The centre of the image, ``fraction`` of its width and of its height."""
    w, h = img.size
    cw, ch = max(1, round(w * fraction)), max(1, round(h * fraction))
    left, top = (w - cw) // 2, (h - ch) // 2
    return img.crop((left, top, left + cw, top + ch))


def gaussian_noise(img: Image.Image, sigma: float, rng: np.random.Generator) -> Image.Image:
    """Add zero-mean Gaussian noise of ``sigma`` grey levels to every channel of every pixel (rounded, clipped)."""
    x = np.asarray(img.convert("RGB"), dtype=np.float32)
    x = x + rng.normal(0.0, sigma, size=x.shape).astype(np.float32)
    return Image.fromarray(np.clip(np.rint(x), 0, 255).astype(np.uint8))


def gamma(img: Image.Image, g: float) -> Image.Image:
    """``255 * (x / 255) ** g`` per channel (g < 1 brightens, g > 1 darkens)."""
    lut = [min(255, max(0, round(255 * (i / 255) ** g))) for i in range(256)]
    return img.convert("RGB").point(lut * 3)


def longest_side_at_most(img: Image.Image, side: int) -> Image.Image:
    """Down-scale (Lanczos, as upload pipelines do) so the longest side is at most ``side``; never up-scale."""
    w, h = img.size
    if max(w, h) <= side:
        return img
    s = side / max(w, h)
    return img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.LANCZOS)


def screenshot(img: Image.Image) -> Image.Image:
    """A screenshot of the image shown at 80 %: bicubic down-scale, the display's sharpening (unsharp mask,
    radius 1, 60 %), saved as PNG (lossless: the file keeps exactly those pixels, and no metadata)."""
    shown = rescale(img.convert("RGB"), 0.8).filter(ImageFilter.UnsharpMask(radius=1, percent=60, threshold=2))
    return _encoded(shown, "PNG")


def social(img: Image.Image, side: int, quality: int, times: int = 1) -> Image.Image:
    """A social-media upload ``times`` times over: longest side at most ``side`` (Lanczos), then baseline JPEG
    at ``quality`` (4:2:0, metadata dropped)."""
    for _ in range(times):
        img = jpeg(longest_side_at_most(img, side), quality)
    return img


@dataclass(frozen=True)
class Perturbation:
    """One kind of everyday processing, its parameters parsed from a name such as ``jpeg75`` or ``social1080q85x2``."""

    kind: str
    pattern: str  # regular expression of the names, its groups the parameters
    apply: object  # (img, rng, *params) -> img
    describe: str  # "{0}"-style template of what it does ({times} of the social chain: "once", "twice", "3 times")


def _q(s: str) -> int:
    q = int(s)
    if not 1 <= q <= 100:
        raise ValueError(f"quality must be 1-100, not {q}")
    return q


def _pos(s: str) -> float:
    v = float(s)
    if v <= 0:
        raise ValueError(f"expected a positive number, not {s}")
    return v


PERTURBATION_KINDS: tuple[tuple[Perturbation, tuple], ...] = (
    (Perturbation("JPEG", r"jpeg(\d+)", lambda im, rng, q: jpeg(im, q), "JPEG re-encode, quality {0}"), (_q,)),
    (Perturbation("WebP / AVIF", r"webp(\d+)", lambda im, rng, q: webp(im, q), "WebP, quality {0}"), (_q,)),
    (Perturbation("WebP / AVIF", r"avif(\d+)", lambda im, rng, q: avif(im, q), "AVIF, quality {0}"), (_q,)),
    (Perturbation("resize", r"resize([\d.]+)", lambda im, rng, s: rescale(im, s), "bicubic resize by {0}x"), (_pos,)),
    (Perturbation("crop", r"crop([\d.]+)", lambda im, rng, f: centre_crop_fraction(im, min(f, 1.0)),
                  "centre crop, {0} of each side"), (_pos,)),  # fmt: skip
    (Perturbation("blur", r"blur([\d.]+)", lambda im, rng, s: blur(im, s), "Gaussian blur, sigma {0} px"), (_pos,)),
    (Perturbation("noise", r"noise([\d.]+)", lambda im, rng, s: gaussian_noise(im, s, rng),
                  "Gaussian noise, sigma {0} grey levels"), (_pos,)),  # fmt: skip
    (Perturbation("gamma", r"gamma([\d.]+)", lambda im, rng, g: gamma(im, g), "gamma {0}"), (_pos,)),
    (Perturbation("screenshot", r"screenshot", lambda im, rng: screenshot(im),
                  "screenshot: 0.8x bicubic, unsharp mask, PNG"), ()),  # fmt: skip
    (Perturbation("social media", r"social(\d+)q(\d+)(?:x(\d+))?",
                  lambda im, rng, side, q, times: social(im, side, q, times),
                  "longest side at most {0} px (Lanczos), JPEG q{1}, {times}"), (int, _q, lambda s: int(s or 1))),
)  # fmt: skip

#: what ``fakescope robustness`` applies when no list is given: the everyday processing users meet
DEFAULT_SUITE: tuple[str, ...] = (
    "jpeg95", "jpeg85", "jpeg75", "jpeg65", "jpeg50", "webp80", "avif60",
    "resize0.25", "resize0.5", "resize0.75", "resize2", "crop0.5", "crop0.75",
    "blur1", "blur2", "noise5", "noise10", "gamma0.7", "gamma1.4", "screenshot",
    "social1080q85", "social1080q85x2", "social1600q80", "social1600q80x2",
)  # fmt: skip


def _parse(name: str) -> tuple[Perturbation, tuple]:
    for kind, convert in PERTURBATION_KINDS:
        m = re.fullmatch(kind.pattern, name)
        if m:
            try:
                return kind, tuple(c(g) for c, g in zip(convert, m.groups()))
            except ValueError as exc:
                raise ValueError(f"perturbation {name!r}: {exc}") from None
    raise ValueError(f"unknown perturbation {name!r}; expected e.g. "
                     "jpeg75, webp80, avif60, resize0.5, crop0.75, blur1, noise5, gamma0.7, screenshot, social1080q85x2")  # fmt: skip


def perturbation(name: str):
    """The function ``(img, rng) -> img`` that ``name`` (e.g. ``"jpeg75"``, ``"social1080q85x2"``) stands for.

    Raises:
        ValueError: an unknown name or an out-of-range parameter.
    """
    kind, params = _parse(name)
    return lambda img, rng: kind.apply(img, rng, *params)


def describe_perturbation(name: str) -> tuple[str, str]:
    """(kind, what it does) of a perturbation name, for tables."""
    kind, params = _parse(name)
    times = {1: "once", 2: "twice"}.get(params[-1], f"{params[-1]} times") if params else ""
    return kind.kind, kind.describe.format(*params, times=times)
