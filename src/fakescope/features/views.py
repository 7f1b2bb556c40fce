"""The fixed views a detector takes of an image, named in its card.

Each view is part of a detector's documented preprocessing. They are not the
only code that resamples pixels: training augmentation, robustness tests and
matched processing (``data.perturb``), synthetic edits (``data.synthesis``),
face crops for landmarks (``features.faces``) and the networks' own
up-sampling of their maps resample too, each on purpose and never on the
pixels a scan scores unless a detector's card says so.

No view makes an intermediate image much larger than its output. An ordinary
image (aspect ratio up to 4:1, shorter side under ``2 * REDUCING_GAP`` times the
output) is resized whole and then cropped, as the views always did, so its
pixels are unchanged bit for bit (``benchmarks/check_views.py`` checks every
development image); the whole resized image is then at most 4x the output.
Other images are computed *crop first*: only the source box behind the output
square is resampled (Pillow's ``box``), so a 3 x 100000 px image costs what a
3 x 3 px one does and a 12 MP photo is not resized whole to keep a square of it.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)

#: Pillow's ``reducing_gap`` for downscaling views: an image at least ``2 * REDUCING_GAP``
#: times the output is first box-averaged by the integer factor that keeps it at least
#: ``REDUCING_GAP`` times the output, then resampled (bicubic). 3.0 is where Pillow
#: documents the result as indistinguishable from a direct resize; it turns the
#: 13.5x bicubic of a 12 MP photo (a 54-tap kernel over every pixel) into a 4x4 box
#: sum and a small bicubic, and touches no image under 1344 px on its shorter side.
REDUCING_GAP = 3.0

#: Images whose shorter side is under this many pixels get the verdict ``unsure``:
#: every view of them is mostly interpolation (the CLIP view enlarges them more than
#: 3.5x, the 128 px crops more than 2x), and the detectors never saw such images in training.
MIN_JUDGED_SIDE = 64

#: Longer side over this many times the shorter one: the views see only the centre
#: square, and a row says how little of the image that is.
EXTREME_ASPECT = 4.0


def cover_size(width: int, height: int, side: int) -> tuple[int, int]:
    """Size of the image scaled so that its shorter side is ``side`` (the other rounded)."""
    scale = side / min(width, height)
    return max(side, round(width * scale)), max(side, round(height * scale))


def resized_center_crop(img: Image.Image, size: int, reducing_gap: float | None = REDUCING_GAP) -> Image.Image:
    """Shortest side to ``size`` (bicubic), then the centre ``size`` x ``size`` square, computed crop first.

    Ordinary images are resized whole to :func:`cover_size` (at most
    ``EXTREME_ASPECT`` times the output) and cropped. Others take the crop-first
    path: only the source box behind the square is resampled (Pillow's ``box``),
    which gives the same square up to rounding in the last bit of some pixels, with
    memory and time bounded by the output size. Downscaling by at least
    ``2 * reducing_gap`` first box-averages by an integer factor (see
    :data:`REDUCING_GAP`); ``None`` resamples directly.
    """
    w, h = img.size
    if min(w, h) == size:
        return _crop_center(img, size)
    cw, ch = cover_size(w, h, size)
    reduced = reducing_gap is not None and min(w, h) >= 2 * reducing_gap * size
    if not reduced and cw * ch <= EXTREME_ASPECT * size * size:
        # Exactly what the views always computed (the crop-first path can differ by one grey level).
        return _crop_center(img.resize((cw, ch), Image.Resampling.BICUBIC), size)
    left, top = (cw - size) // 2, (ch - size) // 2
    sx, sy = w / cw, h / ch  # source pixels per output pixel, as Pillow computes them for the whole resize
    box = (left * sx, top * sy, (left + size) * sx, (top + size) * sy)
    return img.resize((size, size), Image.Resampling.BICUBIC, box=box, reducing_gap=reducing_gap)


def _crop_center(img: Image.Image, size: int) -> Image.Image:
    w, h = img.size
    left, top = (w - size) // 2, (h - size) // 2
    return img.crop((left, top, left + size, top + size))


def center_crop(img: Image.Image, size: int) -> Image.Image:
    """Centre crop of ``size`` x ``size`` pixels, upscaling (bicubic) only when a side is shorter."""
    if min(img.size) < size:
        return resized_center_crop(img, size, reducing_gap=None)
    return _crop_center(img, size)


def native_region(img: Image.Image, size: int) -> np.ndarray:
    """The centre of ``img`` at native resolution, at most ``size`` x ``size`` px, never resampled.

    Returns:
        uint8 array of shape (size, size, 4): the region's RGB pixels in the top-left corner, and a
        fourth channel that is 255 on them and 0 on the padding of an image smaller than ``size``.
    """
    w, h = img.size
    cw, ch = min(w, size), min(h, size)
    left, top = (w - cw) // 2, (h - ch) // 2
    out = np.zeros((size, size, 4), dtype=np.uint8)
    out[:ch, :cw, :3] = np.asarray(img.convert("RGB").crop((left, top, left + cw, top + ch)), dtype=np.uint8)
    out[:ch, :cw, 3] = 255
    return out


def grid_boxes(height: int, width: int, side: int, crops: int, multiple: int,
               align: int = 1) -> list[tuple[int, int, int, int]]:  # fmt: skip
    """``(top, left, h, w)`` of the crops scored in a ``height`` x ``width`` region.

    Crops are ``side`` px (less along a shorter side of the region), cut down to a multiple of
    ``multiple``, and laid out in a grid from edge to edge of the region, evenly spaced: they overlap
    where the region is not a whole number of crops, and leave gaps only narrower than a quarter of a
    crop. With more grid cells than ``crops``, evenly spaced cells are kept; one crop is the centred one.
    Offsets are rounded down to a multiple of ``align`` (2 keeps the phase of a 2 x 2 pixel grid).
    """
    ch = max(multiple, min(side, height) // multiple * multiple)
    cw = max(multiple, min(side, width) // multiple * multiple)

    def starts(extent: int, size: int) -> list[int]:
        n = max(1, math.ceil((extent - size / 4) / size))
        if n == 1:
            return [max(0, (extent - size) // 2) // align * align]
        return sorted({round(v) // align * align for v in np.linspace(0, extent - size, n)})

    if crops == 1:
        return [(max(0, (height - ch) // 2) // align * align, max(0, (width - cw) // 2) // align * align, ch,
                 cw)]  # fmt: skip
    grid = [(t, x, ch, cw) for t in starts(height, ch) for x in starts(width, cw)]
    if len(grid) > crops:
        grid = [grid[i] for i in np.unique(np.round(np.linspace(0, len(grid) - 1, crops)).astype(int))]
    return grid


def region_size(region: np.ndarray) -> tuple[int, int]:
    """(height, width) of the image inside a ``region384`` array (its fourth channel marks the pixels)."""
    mask = region[..., 3] > 0
    return int(mask[:, 0].sum()), int(mask[0, :].sum())


def clip_view(img: Image.Image, size: int = 224) -> np.ndarray:
    """CLIP's own preprocessing: shortest side to ``size`` (bicubic), centre crop, mean/std.

    Large images are box-reduced first (:data:`REDUCING_GAP`); see :func:`resized_center_crop`.

    Returns:
        float32 array of shape (3, size, size).
    """
    arr = np.asarray(resized_center_crop(img, size), dtype=np.float32) / 255.0  # (H, W, 3)
    arr = (arr - CLIP_MEAN) / CLIP_STD
    return np.ascontiguousarray(arr.transpose(2, 0, 1))  # (3, H, W)


def gray(img: Image.Image) -> np.ndarray:
    """ITU-R 601 luma as float64 in [0, 255], shape (H, W)."""
    return np.asarray(img.convert("L"), dtype=np.float64)


def upscale_factor(width: int, height: int, side: int) -> float:
    """How much a square view of side ``side`` enlarges an image (1.0: not at all).

    The same for every view: CLIP's scales the shorter side to ``side`` and the native
    crops enlarge only images with a side under ``side``, so both enlarge exactly then.
    """
    short = min(width, height)
    return side / short if short < side else 1.0


def size_notes(width: int, height: int, views: dict[str, int]) -> list[str]:
    """What the named views (``{label: output side}``) do to an image of this size, for its row.

    One note per view that enlarges the image, one for an extreme aspect ratio, and one
    when the image is too small to judge (:data:`MIN_JUDGED_SIDE`).
    """
    notes = []
    for label, side in views.items():
        factor = upscale_factor(width, height, side)
        if factor > 1.0:
            notes.append(f"{label} view upscaled {factor:.1f}x (shorter side {min(width, height)} px -> {side} px)")
    short, long = min(width, height), max(width, height)
    if views and long > EXTREME_ASPECT * short:
        notes.append(
            f"extreme aspect ratio {width}x{height}: the views see only the centre {short}x{short} px "
            f"({100 * short / long:.2g} % of the image)"
        )
    if too_small_to_judge(width, height):
        notes.append(f"too few pixels to judge (shorter side {short} px < {MIN_JUDGED_SIDE}): verdict unsure")
    return notes


def too_small_to_judge(width: int, height: int) -> bool:
    """True when the shorter side is under :data:`MIN_JUDGED_SIDE` (the verdict is then ``unsure``)."""
    return min(width, height) < MIN_JUDGED_SIDE
