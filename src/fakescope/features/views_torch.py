"""The default detector's views computed on torch tensors, equal to Pillow's pixel for pixel.

The CPU path takes its views with Pillow (:mod:`fakescope.features.views`). On
a GPU the decoded image is already a tensor there, so the same views are
computed on the device. "The same" is meant exactly: Pillow resamples in
fixed point (22-bit coefficients, a rounding to 8 bits after each of its
horizontal and vertical passes) and box-reduces large images first
(:data:`~fakescope.features.views.REDUCING_GAP`); this module rebuilds those
integer coefficients and applies them as matrix products in float64, where
every sum of (coefficient x pixel) is an exact integer, then rounds as Pillow
does. ``tests/test_gpu_path.py`` checks the results against Pillow bit for bit.

Images are batches of equal size, uint8 tensors of shape (B, 3, H, W); results are float64
(grey levels, or the features) unless said otherwise.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from .dct import DCT_SIZE
from .views import CLIP_MEAN, CLIP_STD, EXTREME_ASPECT, REDUCING_GAP, cover_size

#: Pillow's fixed-point precision for 8-bit resampling (``Resample.c``: 32 - 8 - 2)
PRECISION_BITS = 22
#: support of Pillow's bicubic filter (a = -0.5)
BICUBIC_SUPPORT = 2.0


def _bicubic(x: np.ndarray) -> np.ndarray:
    a = -0.5
    x = np.abs(x)
    return np.where(x < 1.0, ((a + 2.0) * x - (a + 3.0)) * x * x + 1,
                    np.where(x < 2.0, (((x - 5) * x + 8) * x - 4) * a, 0.0))  # fmt: skip


@lru_cache(maxsize=256)
def _coeffs(in_size: int, out_size: int, in0: float, in1: float) -> np.ndarray:
    """Pillow's integer bicubic coefficients, (out_size, in_size): output pixel i reads source box [in0, in1)."""
    scale = (in1 - in0) / out_size
    filterscale = max(scale, 1.0)
    support = BICUBIC_SUPPORT * filterscale
    out = np.zeros((out_size, in_size), dtype=np.float64)
    for i in range(out_size):
        center = in0 + (i + 0.5) * scale
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), in_size)
        w = _bicubic((np.arange(lo, hi) - center + 0.5) * (1.0 / filterscale))
        total = w.sum()
        if total != 0.0:
            w = w / total
        # normalize_coeffs_8bpc: round half away from zero
        out[i, lo:hi] = np.trunc(w * (1 << PRECISION_BITS) + np.where(w < 0, -0.5, 0.5))
    return out


def _round_8bit(sums: torch.Tensor) -> torch.Tensor:
    """Pillow's ``clip8``: the sum plus half a unit, shifted down by PRECISION_BITS, clipped to 0..255."""
    return torch.floor((sums + (1 << (PRECISION_BITS - 1))) / (1 << PRECISION_BITS)).clamp_(0, 255)


def _support(k: np.ndarray) -> tuple[int, int]:
    """First and one-past-last source index any row of the coefficient matrix ``k`` reads."""
    cols = np.flatnonzero(np.any(k != 0, axis=0))
    return (int(cols[0]), int(cols[-1]) + 1) if len(cols) else (0, 0)


def _passes(x: torch.Tensor, kx: np.ndarray | None, ky: np.ndarray | None) -> torch.Tensor:
    """Pillow's horizontal then vertical 8-bit pass (either may be ``None``: skipped) on (B, C, H, W) pixels.

    Only the source rows and columns the coefficients read are converted to float64, so a 12 MP
    image costs the memory of its view's support, not of the whole picture.
    """
    y0, y1 = _support(ky) if ky is not None else (0, x.shape[-2])
    x0, x1 = _support(kx) if kx is not None else (0, x.shape[-1])
    x = x[..., y0:y1, x0:x1].to(torch.float64)
    if kx is not None:
        x = _round_8bit(x @ torch.from_numpy(kx[:, x0:x1]).to(x.device).T)  # (B, C, H', out_w)
    if ky is not None:
        x = _round_8bit(torch.einsum("oh,bchw->bcow", torch.from_numpy(ky[:, y0:y1]).to(x.device), x))
    return x


def resample(x: torch.Tensor, size: tuple[int, int], box: tuple[float, float, float, float]) -> torch.Tensor:
    """Pillow's ``Image.resize(size, BICUBIC, box=box)`` of (B, C, H, W) 8-bit pixels; float64 out.

    Pillow 13 runs the vertical pass first when the height shrinks much more than the width
    (python-pillow/Pillow#9549); this always runs the horizontal pass first, as earlier versions
    did. The order matters only through the rounding between the passes: in the shapes where
    Pillow 13 chooses otherwise, a few pixels differ by a grey level or a few.
    """
    _, _, h, w = x.shape
    out_w, out_h = size
    box = tuple(float(np.float32(v)) for v in box)  # Pillow hands the box to C as single-precision floats
    need_h = bool(box[0]) or box[2] != out_w or out_w != w
    need_v = bool(box[1]) or box[3] != out_h or out_h != h
    kx = _coeffs(w, out_w, box[0], box[2]) if need_h else None
    ky = _coeffs(h, out_h, box[1], box[3]) if need_v else None
    return _passes(x, kx, ky)


def _multiplier(n: int) -> int:
    """Pillow's ``division_UINT32(n, 8)``: 2**32 / (256 n), computed in single precision and truncated."""
    return int(np.float32(2.0**32) / np.float32(256 * n))


def reduce(x: torch.Tensor, factor: tuple[int, int], box: tuple[int, int, int, int]) -> torch.Tensor:
    """Pillow's ``Image.reduce(factor, box)`` of 8-bit pixels: the mean of each factor_x x factor_y block
    of ``box`` (partial blocks at the right and bottom edges averaged over the pixels they hold),
    rounded as Pillow does; float64 out."""
    fx, fy = factor
    x = x[..., box[1] : box[3], box[0] : box[2]]
    b, c, h, w = x.shape
    ow, oh = -(-w // fx), -(-h // fy)
    padded = torch.nn.functional.pad(x, (0, ow * fx - w, 0, oh * fy - h))
    # float32 sums are exact: a block holds at most a few hundred pixels, far under 2**24 / 255
    sums = padded.reshape(b, c, oh, fy, ow, fx).to(torch.float32).sum(dim=(3, 5)).to(torch.float64)
    counts_x = np.full(ow, fx)
    counts_y = np.full(oh, fy)
    counts_x[-1], counts_y[-1] = w - (ow - 1) * fx, h - (oh - 1) * fy
    n = counts_y[:, None] * counts_x[None, :]  # (oh, ow) pixels per block
    mult = np.vectorize(_multiplier)(n).astype(np.float64)
    amend = torch.from_numpy((n // 2).astype(np.float64)).to(x.device)
    # (sum + amend) * multiplier >> 24, in UINT32: exact in float64 (under 2**32)
    return torch.floor((sums + amend) * torch.from_numpy(mult).to(x.device) / (1 << 24))


def resize(x: torch.Tensor, size: tuple[int, int], box: tuple[float, float, float, float] | None = None,
           reducing_gap: float | None = None) -> torch.Tensor:  # fmt: skip
    """Pillow's ``Image.resize(size, BICUBIC, box, reducing_gap)`` of (B, C, H, W) 8-bit pixels; float64 out."""
    _, _, h, w = x.shape
    box = box or (0, 0, w, h)
    if reducing_gap is not None:
        fx = int((box[2] - box[0]) / size[0] / reducing_gap) or 1
        fy = int((box[3] - box[1]) / size[1] / reducing_gap) or 1
        if fx > 1 or fy > 1:
            support = BICUBIC_SUPPORT - 0.5  # Image._get_safe_box
            sx, sy = (box[2] - box[0]) / size[0] * support, (box[3] - box[1]) / size[1] * support
            safe = (max(0, int(box[0] - sx)), max(0, int(box[1] - sy)),
                    min(w, math.ceil(box[2] + sx)), min(h, math.ceil(box[3] + sy)))  # fmt: skip
            x = reduce(x, (fx, fy), safe)
            box = ((box[0] - safe[0]) / fx, (box[1] - safe[1]) / fy, (box[2] - safe[0]) / fx, (box[3] - safe[1]) / fy)
    return resample(x, size, box)


def _crop_center(x: torch.Tensor, size: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    left, top = (w - size) // 2, (h - size) // 2
    return x[..., top : top + size, left : left + size]


def resized_center_crop(x: torch.Tensor, size: int, reducing_gap: float | None = REDUCING_GAP) -> torch.Tensor:
    """:func:`fakescope.features.views.resized_center_crop` of (B, C, H, W) 8-bit pixels; float64 out."""
    h, w = x.shape[-2:]
    if min(w, h) == size:
        return _crop_center(x, size).to(torch.float64)
    cw, ch = cover_size(w, h, size)
    reduced = reducing_gap is not None and min(w, h) >= 2 * reducing_gap * size
    left, top = (cw - size) // 2, (ch - size) // 2
    if not reduced and cw * ch <= EXTREME_ASPECT * size * size:
        # Pillow resizes the whole image and crops; the crop's pixels read the same coefficients as
        # the whole resize's, so only those rows and columns are computed.
        kx = _coeffs(w, cw, 0.0, float(w))[left : left + size] if cw != w else None
        ky = _coeffs(h, ch, 0.0, float(h))[top : top + size] if ch != h else None
        x = x[..., left : left + size] if kx is None else x
        x = x[..., top : top + size, :] if ky is None else x
        return _passes(x, kx, ky)
    sx, sy = w / cw, h / ch
    box = (left * sx, top * sy, (left + size) * sx, (top + size) * sy)
    return resize(x, (size, size), box, reducing_gap)


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """:func:`fakescope.features.views.center_crop`: native pixels, bicubic upscaling only below ``size``."""
    if min(x.shape[-2:]) < size:
        return resized_center_crop(x, size, reducing_gap=None)
    return _crop_center(x, size).to(torch.float64)


def clip_pixels(x: torch.Tensor, size: int = 224) -> torch.Tensor:
    """:func:`fakescope.features.views.clip_view` of a batch: (B, 3, size, size) float32, CLIP mean/std."""
    v = resized_center_crop(x, size).to(torch.float32) / 255.0  # (B, 3, size, size)
    mean = torch.as_tensor(CLIP_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.as_tensor(CLIP_STD, device=x.device).view(1, 3, 1, 1)
    return (v - mean) / std


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


def dct_spectrum(x: torch.Tensor, size: int = DCT_SIZE) -> torch.Tensor:
    """:func:`fakescope.features.dct.dct_spectrum` of a batch: (B, size, size) float32 log-DCT of the luma crop."""
    patch = luma(center_crop(x, size))  # (B, size, size)
    c = torch.from_numpy(_dct_matrix(size)).to(x.device)
    return torch.log(torch.abs(c @ patch @ c.T) + 1e-6).to(torch.float32)
