"""Classical partial manipulations with exact masks: inpainting, copy-move and splicing.

Every function takes a real RGB image and a random generator and returns a
:class:`Edit`: the edited image and its mask (1 = manipulated). Regions are
random object-like blobs; edges are hard or feathered. A feathered edge
changes pixels a little beyond the blob, and the binary mask includes them,
so ``binary_mask == 0`` always means "pixel untouched".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

KINDS = ("inpaint", "copy-move", "splice")


@dataclass
class Edit:
    image: Image.Image
    mask: np.ndarray  # (H, W) float blend weight in [0, 1]
    binary_mask: np.ndarray  # (H, W) uint8, 1 where a pixel changed or may have changed
    kind: str
    params: dict = field(default_factory=dict)


def blob_mask(size: tuple[int, int], rng: np.random.Generator, area: tuple[float, float] = (0.02, 0.12),
              centre: tuple[float, float] | None = None) -> np.ndarray:  # fmt: skip
    """A random object-like region: a star-shaped polygon with smooth random radii, (H, W) bool."""
    w, h = size
    target = rng.uniform(*area) * w * h
    r0 = np.sqrt(target / np.pi)
    n = 24
    harmonics = sum(rng.normal(0, 0.15 / k) * np.cos(k * np.linspace(0, 2 * np.pi, n, endpoint=False)
                                                     + rng.uniform(0, 2 * np.pi)) for k in range(1, 5))  # fmt: skip
    radii = r0 * np.clip(1 + harmonics, 0.4, 1.8)
    cx, cy = centre or (rng.uniform(r0, w - r0), rng.uniform(r0, h - r0))
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    poly = [(float(cx + r * np.cos(a)), float(cy + r * np.sin(a))) for r, a in zip(radii, t)]
    canvas = Image.new("L", size, 0)
    ImageDraw.Draw(canvas).polygon(poly, fill=1)
    return np.asarray(canvas, dtype=bool)


def soft_region(region: np.ndarray, feather: float) -> tuple[np.ndarray, np.ndarray]:
    """Blend weights and the exact changed-pixel mask for a hard region and a feather sigma (px)."""
    if feather <= 0:
        return region.astype(np.float32), region.astype(np.uint8)
    soft = ndimage.gaussian_filter(region.astype(np.float64), feather)
    soft = np.maximum(soft, region)  # the region itself is fully replaced
    soft[soft < 1e-3] = 0.0
    return soft.astype(np.float32), (soft > 0).astype(np.uint8)


def blend(base: np.ndarray, top: np.ndarray, weight: np.ndarray) -> Image.Image:
    out = top * weight[..., None] + base * (1 - weight[..., None])
    return Image.fromarray(np.clip(np.round(out), 0, 255).astype(np.uint8))


def _feather(rng: np.random.Generator, size: tuple[int, int], feathered: bool | None) -> float:
    feathered = rng.random() < 0.5 if feathered is None else feathered
    return float(rng.uniform(0.005, 0.02) * min(size)) if feathered else 0.0


def inpaint(img: Image.Image, rng: np.random.Generator, method: str | None = None,
            feathered: bool | None = None) -> Edit:  # fmt: skip
    """Remove a random region with OpenCV inpainting (Telea or Navier-Stokes)."""
    import cv2

    method = method or ("telea" if rng.random() < 0.5 else "ns")
    flag = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}[method]
    arr = np.asarray(img.convert("RGB"))
    region = blob_mask(img.size, rng)
    filled = cv2.inpaint(arr, region.astype(np.uint8), 5, flag)
    sigma = _feather(rng, img.size, feathered)
    weight, changed = soft_region(region, sigma)
    out = blend(arr.astype(np.float64), filled.astype(np.float64), weight)
    return Edit(out, weight, changed, "inpaint", {"method": method, "feather": sigma})


def copy_move(img: Image.Image, rng: np.random.Generator, feathered: bool | None = None) -> Edit:
    """Copy a random region of the image onto another place of the same image."""
    arr = np.asarray(img.convert("RGB"), dtype=np.float64)
    h, w = arr.shape[:2]
    region = blob_mask(img.size, rng, area=(0.02, 0.08))
    ys, xs = np.nonzero(region)
    # Shift so the copy lands fully inside the frame and away from the original.
    for _ in range(50):
        dx = int(rng.integers(-xs.min(), w - xs.max()))
        dy = int(rng.integers(-ys.min(), h - ys.max()))
        if abs(dx) > np.ptp(xs) / 2 or abs(dy) > np.ptp(ys) / 2:
            break
    moved = np.roll(np.roll(arr, dy, axis=0), dx, axis=1)  # (H, W, 3): content shifted by (dx, dy)
    target = np.roll(np.roll(region, dy, axis=0), dx, axis=1)
    sigma = _feather(rng, img.size, feathered)
    weight, changed = soft_region(target, sigma)
    return Edit(blend(arr, moved, weight), weight, changed, "copy-move", {"shift": [dx, dy], "feather": sigma})


def splice(img: Image.Image, donor: Image.Image, rng: np.random.Generator, feathered: bool | None = None) -> Edit:
    """Paste a random region of ``donor`` (another real or a generated image) into ``img``."""
    arr = np.asarray(img.convert("RGB"), dtype=np.float64)
    h, w = arr.shape[:2]
    donor = donor.convert("RGB")
    if donor.size != img.size:  # the donor is resampled to the target's size; the target never is
        donor = donor.resize(img.size, Image.Resampling.BICUBIC)
    region = blob_mask(img.size, rng)
    sigma = _feather(rng, img.size, feathered)
    weight, changed = soft_region(region, sigma)
    out = blend(arr, np.asarray(donor, dtype=np.float64), weight)
    return Edit(out, weight, changed, "splice", {"feather": sigma, "donor_size": list(donor.size)})
