"""The default detector's views of a batch of images on a torch device, with Pillow's arithmetic.

The CPU path takes its views with Pillow (:mod:`fakescope.features.views`). On a GPU the decoded
images are already tensors there, so the same views are computed on the device, for a whole batch
at once:

1. Everything that depends only on an image's size is worked out once per size and cached
   (:func:`plan`): which source rows and columns the view reads, the factor of Pillow's box
   reduction (:data:`~fakescope.features.views.REDUCING_GAP`), and Pillow's integer bicubic
   coefficients (22-bit fixed point) as two matrices, one per axis, in the order Pillow applies them.
2. The images of one size are stacked and go through the plan together (:func:`batch_views`
   groups a batch by size): a reshape-and-sum box reduction rounded as Pillow rounds it, then two
   batched matrix products in float64, where every sum of (coefficient x pixel) is an exact
   integer, each rounded to 8 bits as Pillow rounds after each pass.

So the views are Pillow's pixel for pixel, not approximately: ``tests/test_gpu_path.py`` checks
them bit for bit against Pillow on camera-size images and on the development images, and
``benchmarks/check_device_views.py`` on every development image.

Images are uint8 tensors of shape (3, H, W) (or batches of one size, (B, 3, H, W)); results are
float64 grey levels unless said otherwise.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from .dct import DCT_SIZE
from .views import CLIP_MEAN, CLIP_STD, EXTREME_ASPECT, REDUCING_GAP, cover_size

#: Pillow's fixed-point precision for 8-bit resampling (``Resample.c``: 32 - 8 - 2)
PRECISION_BITS = 22
#: support of Pillow's bicubic filter (a = -0.5)
BICUBIC_SUPPORT = 2.0
#: side of the CLIP view
CLIP_SIZE = 224


# --- Pillow's arithmetic, per size ---------------------------------------------------------------------------


def _bicubic(x: np.ndarray) -> np.ndarray:
    a = -0.5
    x = np.abs(x)
    return np.where(x < 1.0, ((a + 2.0) * x - (a + 3.0)) * x * x + 1,
                    np.where(x < 2.0, (((x - 5) * x + 8) * x - 4) * a, 0.0))  # fmt: skip


@lru_cache(maxsize=64)
def _coeffs(in_size: int, out_size: int, in0: float, in1: float) -> np.ndarray:
    """Pillow's integer bicubic coefficients, (out_size, in_size): output pixel i reads source box [in0, in1).

    Computed for all output pixels at once, with Pillow's operations in Pillow's order (its
    per-pixel weights are summed left to right, as ``precompute_coeffs`` does, so that they are
    normalised by the very same double).
    """
    scale = float(np.float32(in1) - np.float32(in0)) / out_size  # C: (double)(in1 - in0), a float difference
    filterscale = max(scale, 1.0)
    support = BICUBIC_SUPPORT * filterscale
    ksize = int(math.ceil(support)) * 2 + 1
    center = in0 + (np.arange(out_size) + 0.5) * scale
    lo = np.maximum(np.trunc(center - support + 0.5), 0).astype(np.int64)  # C's (int) cast, then clipped
    hi = np.minimum(np.trunc(center + support + 0.5), in_size).astype(np.int64)
    taps = lo[:, None] + np.arange(ksize)[None, :]  # (out, ksize) source indices
    valid = taps < hi[:, None]
    w = np.where(valid, _bicubic((taps - center[:, None] + 0.5) * (1.0 / filterscale)), 0.0)
    total = np.zeros(out_size)
    for j in range(ksize):  # sequential, as C sums them
        total = total + w[:, j]
    w = np.where(total[:, None] != 0.0, w / np.where(total == 0.0, 1.0, total)[:, None], w)
    # normalize_coeffs_8bpc: round half away from zero
    ints = np.trunc(w * (1 << PRECISION_BITS) + np.where(w < 0, -0.5, 0.5))
    out = np.zeros((out_size, in_size), dtype=np.float64)
    rows = np.broadcast_to(np.arange(out_size)[:, None], taps.shape)
    out[rows[valid], taps[valid]] = ints[valid]
    return out


def _multiplier(n: int) -> int:
    """Pillow's ``division_UINT32(n, 8)``: 2**32 / (256 n), computed in single precision and truncated."""
    return int(np.float32(2.0**32) / np.float32(256 * n))


@lru_cache(maxsize=1)
def pillow_vertical_first() -> bool:
    """Whether the installed Pillow runs its vertical pass first when the height shrinks much more
    than the width (Pillow 13, python-pillow/Pillow#9549), found by asking it once.

    The rule, measured against Pillow 13.0 on some 1,300 shapes (shrinking, enlarging, mixed) and
    with boxes: the vertical pass goes first exactly when the height shrinks and
    ``in_height - out_height > 2 * (in_width - out_width)``, the sizes being those of the image
    resampled (after any box reduction), not of the box.
    """
    from PIL import Image

    rng = np.random.default_rng(0)
    src = rng.integers(0, 256, (100, 100), dtype=np.uint8)
    ref = np.asarray(Image.fromarray(src).resize((61, 20), Image.Resampling.BICUBIC), dtype=np.float64)
    kx, ky = _coeffs(100, 61, 0.0, 100.0), _coeffs(100, 20, 0.0, 100.0)
    vertical = _round_np(_round_np(ky @ src.astype(np.float64)) @ kx.T)
    return bool(np.array_equal(vertical, ref))


def _round_np(sums: np.ndarray) -> np.ndarray:
    return np.clip(np.floor((sums + (1 << (PRECISION_BITS - 1))) / (1 << PRECISION_BITS)), 0, 255)


def _vertical_first(in_w: int, in_h: int, out_w: int, out_h: int) -> bool:
    return pillow_vertical_first() and out_h < in_h and in_h - out_h > 2 * (in_w - out_w)


@dataclass(frozen=True, eq=False)
class Plan:
    """What a view does to every image of one size: read ``rows`` x ``cols`` of it, box-reduce them by
    ``factor`` (Pillow's ``reduce``: each output pixel the rounded mean of a ``factor`` block, partial
    blocks at the right and bottom averaged over the pixels they hold), then resample with ``kx``
    (size x columns) and ``ky`` (size x rows), Pillow's integer coefficients restricted to what the
    output reads; ``None`` keeps that axis as it is (a crop)."""

    size: int
    rows: tuple[int, int]
    cols: tuple[int, int]
    factor: tuple[int, int] | None
    kx: np.ndarray | None
    ky: np.ndarray | None
    vertical_first: bool


def _support(k: np.ndarray) -> tuple[int, int]:
    """First and one-past-last index any row of the coefficient matrix ``k`` reads."""
    cols = np.flatnonzero(np.any(k != 0, axis=0))
    return (int(cols[0]), int(cols[-1]) + 1) if len(cols) else (0, 1)


def _axis(k: np.ndarray | None, start: int, size: int) -> tuple[np.ndarray | None, tuple[int, int]]:
    """Coefficients cut to their support (a float32 copy: integers under 2**23, exact), and the source
    span they read (``start`` + ``size`` without any)."""
    if k is None:
        return None, (start, start + size)
    s0, s1 = _support(k)
    return np.ascontiguousarray(k[:, s0:s1], dtype=np.float32), (s0, s1)


def _crop_plan(h: int, w: int, size: int) -> Plan:
    left, top = (w - size) // 2, (h - size) // 2
    return Plan(size, (top, top + size), (left, left + size), None, None, None, False)


@lru_cache(maxsize=256)
def plan(h: int, w: int, size: int, reducing_gap: float | None = REDUCING_GAP, upscale_only: bool = False) -> Plan:
    """The plan of :func:`fakescope.features.views.resized_center_crop` (or, with ``upscale_only``,
    :func:`~fakescope.features.views.center_crop`) for an image of ``h`` x ``w`` pixels."""
    if min(w, h) == size or (upscale_only and min(w, h) > size):
        return _crop_plan(h, w, size)
    if upscale_only:
        reducing_gap = None
    cw, ch = cover_size(w, h, size)
    reduced = reducing_gap is not None and min(w, h) >= 2 * reducing_gap * size
    left, top = (cw - size) // 2, (ch - size) // 2
    if not reduced and cw * ch <= EXTREME_ASPECT * size * size:
        # Pillow resizes the whole image and crops; the crop's pixels read the same coefficients as the
        # whole resize's, so only its rows of the matrices are kept.
        kx = _coeffs(w, cw, 0.0, float(w))[left : left + size] if cw != w else None
        ky = _coeffs(h, ch, 0.0, float(h))[top : top + size] if ch != h else None
        kx, (x0, x1) = _axis(kx, left, size)
        ky, (y0, y1) = _axis(ky, top, size)
        both = kx is not None and ky is not None
        return Plan(size, (y0, y1), (x0, x1), None, kx, ky, both and _vertical_first(w, h, cw, ch))
    sx, sy = w / cw, h / ch  # source pixels per output pixel, as Pillow computes them for the whole resize
    box = (left * sx, top * sy, (left + size) * sx, (top + size) * sy)
    return _resize_plan(h, w, size, box, reducing_gap)


def _resize_plan(h: int, w: int, size: int, box: tuple[float, float, float, float],
                 reducing_gap: float | None) -> Plan:  # fmt: skip
    """Pillow's ``Image.resize((size, size), BICUBIC, box, reducing_gap)`` of an h x w image."""
    factor = None
    region = (0, 0, w, h)  # what the resampling reads: the image, or the box-reduced part of it
    if reducing_gap is not None:
        fx = int((box[2] - box[0]) / size / reducing_gap) or 1
        fy = int((box[3] - box[1]) / size / reducing_gap) or 1
        if fx > 1 or fy > 1:
            support = BICUBIC_SUPPORT - 0.5  # Image._get_safe_box
            sx, sy = (box[2] - box[0]) / size * support, (box[3] - box[1]) / size * support
            region = (max(0, int(box[0] - sx)), max(0, int(box[1] - sy)),
                      min(w, math.ceil(box[2] + sx)), min(h, math.ceil(box[3] + sy)))  # fmt: skip
            factor = (fx, fy)
            box = ((box[0] - region[0]) / fx, (box[1] - region[1]) / fy,
                   (box[2] - region[0]) / fx, (box[3] - region[1]) / fy)  # fmt: skip
    fx, fy = factor or (1, 1)
    in_w, in_h = -(-(region[2] - region[0]) // fx), -(-(region[3] - region[1]) // fy)  # the image resampled
    box = tuple(float(np.float32(v)) for v in box)  # Pillow hands the box to C as single-precision floats
    need_h = bool(box[0]) or box[2] != size or size != in_w
    need_v = bool(box[1]) or box[3] != size or size != in_h
    kx, (c0, c1) = _axis(_coeffs(in_w, size, box[0], box[2]) if need_h else None, 0, size)
    ky, (r0, r1) = _axis(_coeffs(in_h, size, box[1], box[3]) if need_v else None, 0, size)
    # The reduced columns c0..c1 are the source blocks from region[0] + c0 * fx on: reducing only
    # those gives the same blocks, the last one partial exactly where the whole region's is.
    cols = (region[0] + c0 * fx, min(region[0] + c1 * fx, region[2]))
    rows = (region[1] + r0 * fy, min(region[1] + r1 * fy, region[3]))
    return Plan(size, rows, cols, factor, kx, ky, need_h and need_v and _vertical_first(in_w, in_h, size, size))


# --- applying plans on the device ----------------------------------------------------------------------------

_ON_DEVICE: OrderedDict = OrderedDict()
_ON_DEVICE_MAX = 64


def _device_coeffs(p: Plan, device: torch.device) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The plan's matrices on ``device`` (kx transposed), float64; the last few dozen plans' are kept there
    (plans are cached per size, so a plan is its own key)."""
    key = (p, str(device))
    if key in _ON_DEVICE:
        _ON_DEVICE.move_to_end(key)
        return _ON_DEVICE[key]
    kx = None if p.kx is None else torch.from_numpy(np.ascontiguousarray(p.kx.T)).to(device, torch.float64)
    ky = None if p.ky is None else torch.from_numpy(p.ky).to(device, torch.float64)
    _ON_DEVICE[key] = (kx, ky)
    if len(_ON_DEVICE) > _ON_DEVICE_MAX:
        _ON_DEVICE.popitem(last=False)
    return kx, ky


def _round_8bit(sums: torch.Tensor) -> torch.Tensor:
    """Pillow's ``clip8`` in place: the sum plus half a unit, shifted down by PRECISION_BITS, clipped to 0..255."""
    return sums.add_(1 << (PRECISION_BITS - 1)).div_(1 << PRECISION_BITS).floor_().clamp_(0, 255)


def _reduce(x: torch.Tensor, factor: tuple[int, int], h: int, w: int) -> torch.Tensor:
    """Pillow's ``Image.reduce(factor)`` of (B, C, h, w) uint8 pixels, as float64.

    ``x`` may be padded with zeros already (to whole blocks). Block sums are integers (the uint8
    pixels summed in int64), and ``(sum + n/2) * multiplier >> 24`` is Pillow's own rounding of the
    mean of n pixels, with its single-precision multiplier.
    """
    fx, fy = factor
    b, c = x.shape[:2]
    ow, oh = -(-w // fx), -(-h // fy)
    if x.shape[-2:] != (oh * fy, ow * fx):
        x = torch.nn.functional.pad(x[..., :h, :w], (0, ow * fx - w, 0, oh * fy - h))
    # the blocks' sums: along each row first (runs of fx contiguous pixels), then over fy rows
    sums = x.reshape(b, c, oh * fy, ow, fx).sum(-1, dtype=torch.int32).view(b, c, oh, fy, ow).sum(3, dtype=torch.int64)

    def mean(s: torch.Tensor, n: int) -> torch.Tensor:
        return ((s + n // 2) * _multiplier(n)) >> 24

    lx, ly = w - (ow - 1) * fx, h - (oh - 1) * fy  # the last block's width and height
    out = mean(sums, fx * fy)
    if lx != fx:
        out[..., :, -1] = mean(sums[..., :, -1], fy * lx)
    if ly != fy:
        out[..., -1, :] = mean(sums[..., -1, :], ly * fx)
    if lx != fx and ly != fy:
        out[..., -1, -1] = mean(sums[..., -1, -1], ly * lx)
    return out.to(torch.float64)


def apply(p: Plan, x: torch.Tensor, cropped: bool = False) -> torch.Tensor:
    """The plan's view of (B, C, H, W) uint8 pixels of its size, (B, C, size, size) float64 grey levels.

    ``cropped``: ``x`` holds only the plan's rows and columns already (what :func:`batch_views` stacks),
    possibly followed by zeros up to whole blocks of the reduction.
    """
    if not cropped:
        x = x[..., p.rows[0] : p.rows[1], p.cols[0] : p.cols[1]]
    h, w = p.rows[1] - p.rows[0], p.cols[1] - p.cols[0]
    x = _reduce(x, p.factor, h, w) if p.factor else x.to(torch.float64)
    kx, ky = _device_coeffs(p, x.device)

    def vertical(t: torch.Tensor) -> torch.Tensor:  # one matrix product over every column of the batch
        return _round_8bit(torch.einsum("oh,bchw->bcow", ky, t))

    if p.vertical_first:
        return _round_8bit(vertical(x) @ kx)
    if kx is not None:
        x = _round_8bit(x @ kx)  # (B, C, rows, size): one product, the batch's rows stacked
    return vertical(x) if ky is not None else x


# --- the views ----------------------------------------------------------------------------------------------


def resized_center_crop(x: torch.Tensor, size: int, reducing_gap: float | None = REDUCING_GAP) -> torch.Tensor:
    """:func:`fakescope.features.views.resized_center_crop` of (B, C, H, W) 8-bit pixels; float64 out."""
    return apply(plan(x.shape[-2], x.shape[-1], size, reducing_gap), x)


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """:func:`fakescope.features.views.center_crop`: native pixels, bicubic upscaling only below ``size``."""
    return apply(plan(x.shape[-2], x.shape[-1], size, upscale_only=True), x)


_CONSTANTS: dict = {}


def _constant(name: str, make, device: torch.device) -> torch.Tensor:
    """A small constant tensor, copied to each device once (a copy from host memory would wait for
    the device to finish the work queued before it)."""
    key = (name, str(device))
    if key not in _CONSTANTS:
        _CONSTANTS[key] = torch.as_tensor(make()).to(device)
    return _CONSTANTS[key]


def normalise_clip(v: torch.Tensor) -> torch.Tensor:
    """(B, 3, S, S) grey levels -> CLIP's input (float32, mean/std), as :func:`~fakescope.features.views.clip_view`."""
    v = v.to(torch.float32) / 255.0
    mean = _constant("clip mean", lambda: CLIP_MEAN.reshape(1, 3, 1, 1), v.device)
    std = _constant("clip std", lambda: CLIP_STD.reshape(1, 3, 1, 1), v.device)
    return (v - mean) / std


def clip_pixels(x: torch.Tensor, size: int = CLIP_SIZE) -> torch.Tensor:
    """:func:`fakescope.features.views.clip_view` of a batch: (B, 3, size, size) float32, CLIP mean/std."""
    return normalise_clip(resized_center_crop(x, size))


def luma(x: torch.Tensor) -> torch.Tensor:
    """Pillow's RGB -> L conversion (ITU-R 601, 16-bit fixed point), (B, 3, H, W) -> (B, H, W) float64."""
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    return torch.floor((r * 19595 + g * 38470 + b * 7471 + 0x8000) / 65536)


@lru_cache(maxsize=8)
def _dct_matrix(n: int) -> np.ndarray:
    """Orthonormal DCT-II matrix: ``C @ x`` is scipy's ``dct(x, type=2, norm="ortho")``."""
    k, i = np.arange(n)[:, None], np.arange(n)[None, :]
    c = np.sqrt(2.0 / n) * np.cos(np.pi * (2 * i + 1) * k / (2 * n))
    c[0] /= np.sqrt(2.0)
    return c


def log_dct(patch: torch.Tensor) -> torch.Tensor:
    """(B, 3, S, S) grey levels -> (B, S, S) float32 log-|DCT| of their luma, as
    :func:`fakescope.features.dct.dct_spectrum`."""
    n = patch.shape[-1]
    c = _constant(f"dct {n}", lambda: _dct_matrix(n), patch.device)
    return torch.log(torch.abs(c @ luma(patch) @ c.T) + 1e-6).to(torch.float32)


def dct_spectrum(x: torch.Tensor, size: int = DCT_SIZE) -> torch.Tensor:
    """:func:`fakescope.features.dct.dct_spectrum` of a batch: (B, size, size) float32 log-DCT of the luma crop."""
    return log_dct(center_crop(x, size))


def _working_bytes(p: Plan) -> int:
    """Device memory one image costs in :func:`apply`: its uint8 region and the float64 copies of what
    the resampling reads."""
    h, w = p.rows[1] - p.rows[0], p.cols[1] - p.cols[0]
    fx, fy = p.factor or (1, 1)
    return 3 * (h * w + 3 * 8 * -(-h // fy) * -(-w // fx))


def _stack_regions(p: Plan, images: list[torch.Tensor]) -> torch.Tensor:
    """The plan's rows and columns of each image, as one (B, 3, h, w) uint8 tensor; for a box reduction
    with a partial last block, written into zeros of whole blocks (the one copy of the pixels made)."""
    (y0, y1), (x0, x1) = p.rows, p.cols
    if p.factor is None or ((y1 - y0) % p.factor[1] == 0 and (x1 - x0) % p.factor[0] == 0):
        return torch.stack([im[:, y0:y1, x0:x1] for im in images])
    fx, fy = p.factor
    out = torch.zeros((len(images), images[0].shape[0], -(-(y1 - y0) // fy) * fy, -(-(x1 - x0) // fx) * fx),
                      dtype=images[0].dtype, device=images[0].device)  # fmt: skip
    for k, im in enumerate(images):
        out[k, :, : y1 - y0, : x1 - x0] = im[:, y0:y1, x0:x1]
    return out


def batch_views(images: Sequence[torch.Tensor], clip: bool = True, dct: bool = True, clip_size: int = CLIP_SIZE,
                dct_size: int = DCT_SIZE, max_bytes: int = 2**30) -> dict[str, torch.Tensor]:  # fmt: skip
    """The CLIP view and the DCT view of (3, H, W) uint8 images of any sizes, on their device.

    Returns ``{"clip": (N, 3, clip_size, clip_size) float32 (CLIP mean/std), "dct": (N, dct_size,
    dct_size) float32}`` (the views asked for). Images of one size share a :class:`Plan` and are
    computed together, ``max_bytes`` of working memory at a time: only the rows and columns a view
    reads are stacked, then reduced and resampled as one batch.
    """
    n = len(images)
    device = images[0].device if n else torch.device("cpu")
    out: dict[str, torch.Tensor] = {}
    views = []
    if clip:
        out["clip"] = torch.empty((n, 3, clip_size, clip_size), dtype=torch.float32, device=device)
        views.append(("clip", lambda h, w: plan(h, w, clip_size), normalise_clip))
    if dct:
        out["dct"] = torch.empty((n, dct_size, dct_size), dtype=torch.float32, device=device)
        views.append(("dct", lambda h, w: plan(h, w, dct_size, upscale_only=True), log_dct))
    by_size: dict[tuple[int, int], list[int]] = {}
    for i, x in enumerate(images):
        by_size.setdefault((x.shape[-2], x.shape[-1]), []).append(i)
    for (h, w), idx in by_size.items():
        for name, plan_of, finish in views:
            p = plan_of(h, w)
            step = max(1, max_bytes // _working_bytes(p))
            for start in range(0, len(idx), step):
                part = idx[start : start + step]
                out[name][part] = finish(apply(p, _stack_regions(p, [images[i] for i in part]), cropped=True))
    return out
