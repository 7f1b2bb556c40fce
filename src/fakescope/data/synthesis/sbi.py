"""Self-blended images (SBI, Shiohara & Yamasaki, CVPR 2022).

From one real face image make two differently augmented copies, a source
and a target; build a mask from the convex hull of the face landmarks,
deform it (dilation or erosion) and soften it (Gaussian blur); blend:
``I = I_s * M + I_t * (1 - M)``. The result carries the statistical
inconsistencies of a face swap (colour, frequency and position mismatch at
the blending boundary) with an exact mask, and needs no generated data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage
from scipy.spatial import ConvexHull


@dataclass(frozen=True)
class SBIConfig:
    """Ranges of the random transforms, as fractions of the face size where it says so."""

    max_shift: float = 0.03  # source translation, fraction of face size
    max_rgb_shift: int = 20  # per-channel additive shift, grey levels
    hsv_jitter: float = 0.1  # hue/saturation/value, relative
    contrast: tuple[float, float] = (0.8, 1.2)
    brightness: tuple[float, float] = (0.8, 1.2)
    downsample_p: float = 0.5  # chance of a down- then up-sampling (frequency mismatch)
    max_morph: float = 0.04  # dilation/erosion radius, fraction of face size
    blur: tuple[float, float] = (0.01, 0.04)  # mask Gaussian sigma, fraction of face size
    blend_ratios: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)  # the paper's mask strengths


@dataclass
class SBIResult:
    image: Image.Image  # the blended image
    mask: np.ndarray  # (H, W) float blend weight M in [0, 1]
    binary_mask: np.ndarray  # (H, W) uint8, 1 where any pixel was taken from the source (M > 0)


def face_hull_mask(size: tuple[int, int], points: np.ndarray) -> np.ndarray:
    """(H, W) uint8 mask, 1 inside the convex hull of (N, 2+) landmark points."""
    hull = ConvexHull(points[:, :2])
    poly = [tuple(map(float, points[i, :2])) for i in hull.vertices]
    canvas = Image.new("L", size, 0)
    ImageDraw.Draw(canvas).polygon(poly, fill=1)
    return np.asarray(canvas, dtype=np.uint8)


_RGB2YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ2RGB = np.linalg.inv(_RGB2YIQ)


def _augment_colour(img: Image.Image, rng: np.random.Generator, cfg: SBIConfig) -> Image.Image:
    """Hue, saturation, value, per-channel shift, contrast and brightness, all in floating point
    (rounded once), so that a zero-strength jitter is exactly the identity."""
    yiq = np.asarray(img, dtype=np.float64) @ _RGB2YIQ.T  # (H, W, 3)
    theta = rng.uniform(-cfg.hsv_jitter, cfg.hsv_jitter) * np.pi  # hue: rotate the chroma plane
    sat = rng.uniform(1 - cfg.hsv_jitter, 1 + cfg.hsv_jitter)
    c, s = np.cos(theta) * sat, np.sin(theta) * sat
    i, q = yiq[..., 1].copy(), yiq[..., 2].copy()
    yiq[..., 1], yiq[..., 2] = c * i - s * q, s * i + c * q
    rgb = yiq @ _YIQ2RGB.T * rng.uniform(1 - cfg.hsv_jitter, 1 + cfg.hsv_jitter)  # value
    rgb += rng.integers(-cfg.max_rgb_shift, cfg.max_rgb_shift + 1, size=3)
    mean = rgb.mean()
    rgb = (rgb - mean) * rng.uniform(*cfg.contrast) + mean
    rgb *= rng.uniform(*cfg.brightness)
    return Image.fromarray(np.clip(np.round(rgb), 0, 255).astype(np.uint8))


def _augment_frequency(img: Image.Image, rng: np.random.Generator, cfg: SBIConfig) -> Image.Image:
    if rng.random() >= cfg.downsample_p:
        return img
    w, h = img.size
    s = rng.uniform(0.4, 0.9)
    small = img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.BILINEAR)
    return small.resize((w, h), Image.Resampling.BILINEAR)


def self_blend(img: Image.Image, landmarks: np.ndarray, rng: np.random.Generator | None = None,
               cfg: SBIConfig = SBIConfig()) -> SBIResult:  # fmt: skip
    """Blend an augmented copy of ``img`` into another inside the landmarks' hull.

    Args:
        img: an RGB image of a real face.
        landmarks: (N, 2) or (N, 3) face landmarks in pixels (e.g. the 468-point mesh).
        rng: randomness (a fixed seed gives a fixed result).
    """
    rng = rng or np.random.default_rng()
    img = img.convert("RGB")
    w, h = img.size
    pts = np.asarray(landmarks, dtype=np.float64)[:, :2]
    face = float(max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1]), 1.0))

    # One copy gets the colour change, the other the frequency change; which is which is random.
    a, b = _augment_colour(img, rng, cfg), _augment_frequency(img, rng, cfg)
    source, target = (a, b) if rng.random() < 0.5 else (b, a)
    dx, dy = rng.uniform(-cfg.max_shift, cfg.max_shift, size=2) * face
    source = source.transform(source.size, Image.Transform.AFFINE, (1, 0, -dx, 0, 1, -dy),
                              resample=Image.Resampling.BILINEAR, fillcolor=None)  # fmt: skip
    # Pixels the shift pulled in from outside the frame: take them from the unshifted image.
    valid = np.asarray(Image.new("L", img.size, 255).transform(img.size, Image.Transform.AFFINE,
                                                               (1, 0, -dx, 0, 1, -dy)), dtype=bool)  # fmt: skip
    src = np.where(valid[..., None], np.asarray(source, dtype=np.float64), np.asarray(img, dtype=np.float64))

    mask = face_hull_mask((w, h), pts).astype(bool)
    radius = int(round(rng.uniform(0, cfg.max_morph) * face))
    if radius:
        morph = ndimage.binary_dilation if rng.random() < 0.5 else ndimage.binary_erosion
        mask = morph(mask, structure=ndimage.generate_binary_structure(2, 1), iterations=radius)
    soft = ndimage.gaussian_filter(mask.astype(np.float64), sigma=rng.uniform(*cfg.blur) * face)
    soft = soft / max(soft.max(), 1e-9) * float(rng.choice(cfg.blend_ratios))
    soft[soft < 1e-3] = 0.0  # the Gaussian's far tail changes no pixel; keep the mask exact
    M = soft[..., None]  # (H, W, 1)
    blended = src * M + np.asarray(target, dtype=np.float64) * (1 - M)
    out = Image.fromarray(np.clip(np.round(blended), 0, 255).astype(np.uint8))
    return SBIResult(image=out, mask=soft.astype(np.float32), binary_mask=(soft > 0).astype(np.uint8))


def self_blend_faces(img: Image.Image, rng: np.random.Generator | None = None, analyzer=None,
                     cfg: SBIConfig = SBIConfig()) -> SBIResult | None:  # fmt: skip
    """Self-blend the most confident face of ``img``; ``None`` when no face is found."""
    from ...features.faces import FaceAnalyzer

    analyzer = analyzer or FaceAnalyzer.shared()
    faces = analyzer.detect(img)
    if not faces:
        return None
    return self_blend(img, analyzer.landmarks(img, faces[0]), rng, cfg)
