"""Classical partial manipulations with exact masks: inpainting, copy-move, splicing, and forgeries shaped
like hand-made ones (:func:`realistic`).

Every function takes a real RGB image and a random generator and returns a
:class:`Edit`: the edited image and its mask (1 = manipulated). Regions are
random object-like blobs; edges are hard or feathered. A feathered edge
changes pixels a little beyond the blob, and the binary mask includes them,
so ``binary_mask == 0`` always means "pixel untouched" -- before the JPEG
encoding that :func:`realistic` may ask for (``params["jpeg"]``), which is
applied when the edit is saved and touches every pixel, as it does to a
forgery that is shared.
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


#: share of the image a :func:`realistic` object edit covers (log-uniform) and a background replacement keeps
REALISTIC_OBJECT_AREA = (0.03, 0.5)
REALISTIC_KEPT_AREA = (0.15, 0.5)


def realistic(img: Image.Image, rng: np.random.Generator, donor: Image.Image | None = None) -> Edit:
    """A forgery shaped like the hand-made ones found in the wild, unlike the small clean edits above.

    - **region**: an object of 3% to 50% of the image (log-uniform), or, one time in four when there is
      a donor, a background replacement that keeps only an object of 15% to 50% and changes the rest;
    - **content**: a crop of ``donor`` (a photo of another source -- another camera or collection --
      JPEG-encoded at its own quality first, so the pasted part carries another compression history;
      60% of objects, every background), or the image's own content moved and rescaled (copy-move, two
      times in three) or filled in by OpenCV inpainting (computed at most 512 px on a side, as removal
      tools smudge);
    - **retouching**: the pasted content's brightness and colour matched to within a few percent;
      a hard or feathered edge;
    - **sharing**: two times in three the whole result is to be saved as JPEG at quality 70 to 95
      (``params["jpeg"]``; :func:`fakescope.data.synthesis.make.synthesize` writes it so).
    """
    arr = np.asarray(img.convert("RGB"), dtype=np.float64)
    h, w = arr.shape[:2]
    background = donor is not None and rng.random() < 0.25
    # the blob's radius must fit the frame: at most 0.45 of the short side
    fit = np.pi * (0.45 * min(w, h)) ** 2 / (w * h)
    if background:
        lo, hi = REALISTIC_KEPT_AREA
        a = float(rng.uniform(min(lo, fit), min(hi, fit)))
        region = ~blob_mask(img.size, rng, area=(a, a))
    else:
        lo, hi = np.log(REALISTIC_OBJECT_AREA[0]), np.log(min(REALISTIC_OBJECT_AREA[1], fit))
        a = float(np.exp(rng.uniform(min(lo, hi), hi)))
        region = blob_mask(img.size, rng, area=(a, a))
    if background or (donor is not None and rng.random() < 0.6):
        source = "splice"
    else:
        source = "copy-move" if rng.random() < 2 / 3 else "inpaint"
    params: dict = {"region": "background" if background else "object", "content": source}
    if source == "splice":
        params["donor_jpeg"] = int(rng.integers(60, 96))
        top = _jpeg_round_trip(_donor_content(donor, img.size, rng), params["donor_jpeg"])
    elif source == "copy-move":
        top, params["scale"] = _moved(arr, region, rng)
    else:
        top = _smudged_fill(arr, region)
    top = top * rng.uniform(0.94, 1.06, size=3) + rng.uniform(-6, 6)  # brightness and colour matching
    sigma = _feather(rng, img.size, None)
    weight, changed = soft_region(region, sigma)
    params["feather"] = sigma
    if rng.random() < 2 / 3:
        params["jpeg"] = int(rng.integers(70, 96))
    return Edit(blend(arr, top, weight), weight, changed, "realistic", params)


def _donor_content(donor: Image.Image, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A random crop of ``donor`` (a third of its area or more, the target's aspect ratio) scaled to ``size``."""
    donor = donor.convert("RGB")
    w, h = size
    dw, dh = donor.size
    frac = np.sqrt(rng.uniform(1 / 3, 1.0))
    cw = max(1, min(dw, int(round(frac * min(dw, dh * w / h)))))
    ch = max(1, min(dh, int(round(cw * h / w))))
    x0, y0 = int(rng.integers(0, dw - cw + 1)), int(rng.integers(0, dh - ch + 1))
    crop = donor.crop((x0, y0, x0 + cw, y0 + ch)).resize(size, Image.Resampling.BICUBIC)
    return np.asarray(crop, dtype=np.float64)


def _jpeg_round_trip(arr: np.ndarray, quality: int) -> np.ndarray:
    import io

    buf = io.BytesIO()
    Image.fromarray(np.clip(np.round(arr), 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), dtype=np.float64)


def _moved(arr: np.ndarray, region: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """The image rescaled by 0.8 to 1.25 and shifted so that other content of it lands on ``region``."""
    import cv2

    h, w = arr.shape[:2]
    scale = float(rng.uniform(0.8, 1.25))
    ys, xs = np.nonzero(region)
    cy, cx = ys.mean(), xs.mean()
    # the copied content comes from a point at least half the region's extent away
    for _ in range(50):
        sx, sy = rng.uniform(0, w), rng.uniform(0, h)
        if abs(sx - cx) > np.ptp(xs) / 2 or abs(sy - cy) > np.ptp(ys) / 2:
            break
    m = np.float32([[scale, 0, cx - scale * sx], [0, scale, cy - scale * sy]])
    return cv2.warpAffine(arr, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT), scale


def _smudged_fill(arr: np.ndarray, region: np.ndarray, side: int = 512) -> np.ndarray:
    """OpenCV (Telea) inpainting of ``region``, computed at most ``side`` px on a side and scaled back."""
    import cv2

    h, w = arr.shape[:2]
    f = min(1.0, side / max(h, w))
    small = cv2.resize(arr.astype(np.uint8), (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    mask = cv2.resize(region.astype(np.uint8), small.shape[1::-1], interpolation=cv2.INTER_NEAREST)
    filled = cv2.inpaint(small, mask, 5, cv2.INPAINT_TELEA)
    return cv2.resize(filled, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.float64)
