"""JPEG traces: where an image's compression history differs from place to place.

- ``jpeg-dq`` (JPEG files only): aligned double quantisation. A photo saved as JPEG, edited and saved
  again carries the first quantisation in its DCT coefficients: their histograms, divided by the last
  quantisation table (read from the file, never guessed by re-encoding), show a periodic pattern of
  full and empty bins. A region pasted in or re-made before the last save was quantised only once, so
  its coefficients fall in the empty bins too. Per frequency, the ratio of the histogram's local mean
  to the count of a coefficient's bin estimates the chance that it was quantised once (Lin, He, Tang &
  Tang, Pattern Recognition 2009); a block's map value is that chance averaged over the frequencies
  whose histogram is periodic. No periodic frequency: no evidence, an empty map.
- ``jpeg-grid`` (any image): the 8 x 8 blocking grid. Each window's strongest block-boundary phase is
  compared with the whole image's: a region pasted from another JPEG at a shift that is not a multiple
  of 8 carries its own grid (non-aligned double compression, Bianchi & Piva 2012).
- ``ela`` (any image): error level analysis, the weak classic. The image is re-encoded at ``quality``
  and the difference smoothed; a region whose compression history differs changes more. It depends on
  the chosen quality and on content (edges always change more), so read it as a hint only.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import fft, ndimage

from .forensic import ForensicFamily, luma, normalised, register_forensic, spread_cells

#: the first AC frequencies in JPEG's zig-zag order (row, column)
ZIGZAG_AC = [(0, 1), (1, 0), (2, 0), (1, 1), (0, 2), (0, 3), (1, 2), (2, 1), (3, 0), (4, 0), (3, 1), (2, 2),
             (1, 3), (0, 4), (0, 5)]  # fmt: skip


# ----------------------------------------------------------------------------- aligned double quantisation


@dataclass
class DoubleQuantisationSettings:
    frequencies: int = 10  # AC frequencies read, in zig-zag order
    # Departure of a histogram from its local mean, in units of counting noise (a chi-square per bin, about 1
    # for a smooth histogram), from which a frequency counts as periodic.
    min_periodicity: float = 4.0
    smooth: float = 1.0  # Gaussian smoothing of the block map, in blocks


def _period(hist: np.ndarray, centre: int) -> tuple[int, float]:
    """The period (2..8 bins) of a histogram's oscillation, and its strength: the mean chi-square per bin of
    each side of the histogram (zero excluded: the cusp of the peak is no oscillation) against a local
    quadratic fit over two periods. About 1 when the histogram is smooth and only counting noise remains;
    a period-p pattern of full and empty bins cannot be fitted."""
    from scipy.signal import savgol_filter

    sides = [hist[centre + 1 :], hist[:centre][::-1]]  # bins 1, 2, 3, ... away from zero
    best, best_dev = 1, 0.0
    for p in range(2, 9):
        num, n = 0.0, 0
        for side in sides:
            if len(side) < 2 * p + 1:
                continue
            fit = savgol_filter(side, 2 * p + 1, 2, mode="interp")
            ok = (np.arange(len(side)) >= 1) & (fit >= 5)
            num += float(np.sum((side[ok] - fit[ok]) ** 2 / fit[ok]))
            n += int(ok.sum())
        if n < 2 * p:
            continue
        dev = num / n
        if dev > 1.2 * best_dev:  # a longer period must be clearly better
            best, best_dev = p, dev
    return best, best_dev


def dq_map(img: Image.Image, frequencies: int = 10, min_periodicity: float = 4.0, smooth: float = 1.0):
    from ..io import JPEG_TABLES

    tables = getattr(img, "quantization", None) or img.info.get(JPEG_TABLES) or {}  # an opened file, or the loader's
    table = tables.get(0)
    y = luma(img)
    h, w = y.shape
    bh, bw = h // 8, w // 8
    if table is None or bh < 4 or bw < 4:
        return np.zeros((h, w), np.float32)  # not a JPEG file (or too small): no evidence
    q = np.asarray(table, dtype=np.float64).reshape(8, 8)  # Pillow gives natural (row-major) order
    blocks = (y[: bh * 8, : bw * 8] - 128).reshape(bh, 8, bw, 8).transpose(0, 2, 1, 3)
    coeffs = np.round(fft.dctn(blocks, axes=(2, 3), norm="ortho") / q)  # (bh, bw, 8, 8) quantised values
    votes = np.zeros((bh, bw))
    counts = np.zeros((bh, bw))
    for u, v in ZIGZAG_AC[:frequencies]:
        k = coeffs[:, :, u, v].astype(int)
        lim = int(min(np.abs(k).max(), 60))
        if lim < 4:
            continue
        hist = np.bincount(np.clip(k, -lim, lim).ravel() + lim, minlength=2 * lim + 1).astype(np.float64)
        p, dev = _period(hist, lim)
        if p == 1 or dev < min_periodicity:
            continue
        local = ndimage.uniform_filter1d(hist, p, mode="nearest")
        once = np.clip(local / np.maximum(hist, 1), 0, 1)  # ~ P(quantised once | bin)
        informative = (k != 0) & (np.abs(k) < lim)
        votes += np.where(informative, once[np.clip(k, -lim, lim) + lim], 0)
        counts += informative
    if not counts.any():
        return np.zeros((h, w), np.float32)
    cells = np.where(counts > 0, votes / np.maximum(counts, 1), 0)
    if smooth > 0:
        cells = ndimage.gaussian_filter(cells, smooth)
    # Relative to the image's own blocks: an edit is a minority of blocks quantised once among blocks quantised
    # twice. An image whose blocks all look alike (re-encoded crops, high-quality files whose colour conversion
    # blurs the histograms) is evidence of nothing, however high its level.
    level = float(np.median(cells))
    spread = max(1.4826 * float(np.median(np.abs(cells - level))), 0.1)
    return spread_cells(normalised((cells - level) / spread, 2.0, 4.0), 8, (h, w))


# ----------------------------------------------------------------------------- non-aligned grid


@dataclass
class GridSettings:
    window: int = 64  # px of each local grid estimate
    stride: int = 16
    min_strength: float = 0.4  # grey levels of block-boundary excess for a window's grid to count


def _boundary_excess(y: np.ndarray, axis: int) -> np.ndarray:
    """How much larger each step between neighbours is than the steps beside it: peaks on block edges."""
    d = np.abs(np.diff(y, axis=axis))
    side = (np.roll(d, 1, axis=axis) + np.roll(d, -1, axis=axis)) / 2
    return d - side


def _phase(excess: np.ndarray, axis: int) -> tuple[int, float]:
    """Dominant boundary phase (0..7) along ``axis`` and how far it stands out of the other seven."""
    prof = excess.mean(axis=1 - axis)
    n = len(prof) // 8 * 8
    if n < 16:
        return 0, 0.0
    per = prof[:n].reshape(-1, 8).mean(0)
    best = int(np.argmax(per))
    return best, float(per[best] - np.delete(per, best).mean())


def grid_map(img: Image.Image, window: int = 64, stride: int = 16, min_strength: float = 0.4):
    y = luma(img)
    h, w = y.shape
    out = np.zeros((h, w), np.float32)
    if min(h, w) < window:
        return out
    ex, ey = _boundary_excess(y, 1), _boundary_excess(y, 0)
    gx, sx = _phase(ex, 1)
    gy, sy = _phase(ey, 0)
    if min(sx, sy) < min_strength:
        return out  # no blocking grid in the image as a whole: nothing to compare with
    votes = np.zeros((h, w), np.float32)
    cover = np.zeros((h, w), np.float32)
    for top in range(0, h - window + 1, stride):
        for left in range(0, w - window + 1, stride):
            wx, wsx = _phase(ex[top : top + window, left : left + window - 1], 1)
            wy, wsy = _phase(ey[top : top + window - 1, left : left + window], 0)
            # Phases shift by the window's own offset: compare in image coordinates.
            other = wsx >= min_strength and wsy >= min_strength and (
                (wx + left) % 8 != gx % 8 or (wy + top) % 8 != gy % 8)  # fmt: skip
            votes[top : top + window, left : left + window] += float(other)
            cover[top : top + window, left : left + window] += 1
    return np.where(cover > 0, votes / np.maximum(cover, 1), 0).astype(np.float32)


# ----------------------------------------------------------------------------- error level analysis


@dataclass
class ELASettings:
    quality: int = 90  # JPEG quality of the re-encoding
    smooth: float = 2.0  # Gaussian smoothing (px) of the error


def ela_map(img: Image.Image, quality: int = 90, smooth: float = 2.0):
    rgb = img.convert("RGB")
    buf = io.BytesIO()
    rgb.save(buf, "JPEG", quality=quality)
    again = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), dtype=np.float64)
    err = np.abs(np.asarray(rgb, dtype=np.float64) - again).mean(-1)
    if smooth > 0:
        err = ndimage.gaussian_filter(err, smooth)
    lo, hi = float(np.median(err)), float(np.quantile(err, 0.995))
    return normalised(err, lo + 0.5 * (hi - lo), hi) if hi - lo > 0.5 else np.zeros(err.shape, np.float32)


_PAPERS = {
    "dq": "Lin, He, Tang, Tang. Fast, automatic and fine-grained tampered JPEG image detection via DCT coefficient "
    "analysis. Pattern Recognition 2009",
    "grid": "Bianchi, Piva. Image forgery localization via block-grained analysis of JPEG artifacts. IEEE TIFS 2012",
    "ela": "Krawetz. A picture's worth: digital image analysis and forensics. Black Hat 2007",
}
register_forensic(ForensicFamily(
    "jpeg-dq", "aligned double quantisation: DCT coefficient histograms over the file's own quantisation table; "
    "regions quantised only once (JPEG files only)", _PAPERS["dq"],
    "luma of the decoded JPEG at native resolution, 8x8 blocks on the file's grid (an EXIF rotation moves the "
    "grid: the loader's rotation must be off); orthonormal DCT divided by the file's luma table", dq_map,
    DoubleQuantisationSettings, version=2))  # 2: the map relative to the image's own blocks  # fmt: skip
register_forensic(ForensicFamily(
    "jpeg-grid", "non-aligned JPEG grid: windows whose 8x8 blocking phase differs from the image's",
    _PAPERS["grid"], "luma at native resolution; block-boundary excess along rows and columns; 64 px windows, "
    "16 px apart", grid_map, GridSettings))  # fmt: skip
register_forensic(ForensicFamily(
    "ela", "error level analysis (weak): the change under one more JPEG encoding at a fixed quality",
    _PAPERS["ela"], "RGB at native resolution re-encoded as JPEG (quality 90) in memory; mean absolute change, "
    "Gaussian-smoothed; relative to the image's own median and 99.5th percentile", ela_map, ELASettings))  # fmt: skip
