"""Co-occurrence self-consistency (Splicebuster): regions whose local noise *texture* differs from the rest.

The noise-level map compares one number per block; this trace compares a whole distribution. A
third-order high-pass residual of the luma (``x[j-1] - 3 x[j] + 3 x[j+1] - x[j+2]``, along rows and
along columns) is quantised and truncated to five values; the co-occurrences of four neighbouring
values, merged over the symmetries that carry no camera information (reversal, sign), give a
169-bin histogram per window. Camera processing (demosaicing, denoising, sharpening, compression)
shapes that histogram, so windows of a pasted or re-made region form a cluster of their own. The
windows' square-rooted histograms are reduced by a PCA of the image's own windows and fitted with a
two-component Gaussian mixture. The smaller component is the suspect; each 8 px cell is then scored on
its own counts against the two components' pattern distributions (:func:`refine`), which keeps the
map from spilling half a window past a region's edge.

Every image splits in two, an authentic one along its content (sky against foliage), so this map
always marks something: it says *where* an image is least like the rest, not *whether* it was edited.
And it marks the smaller part: when an edit covers more than half the image, the untouched rest is
marked instead. Read it beside other traces; the fusion learns how far to trust it.

Cozzolino, Poggi & Verdoliva, "Splicebuster: a new blind image splicing detector", IEEE WIFS 2015.
Nothing is learned from data; the quantisation step follows the image's own residual scale, so
clean renders and noisy photos alike use all five levels.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image
from scipy import ndimage

from .forensic import ForensicFamily, luma, register_forensic, spread_cells


@dataclass
class SplicebusterSettings:
    block: int = 8  # px per histogram cell (the map's resolution)
    window: int = 8  # cells per window side: each histogram counts a 64 x 64 px window
    components: int = 16  # PCA dimensions kept
    refine_width: float = 1.5  # cells: each cell's evidence is summed over a Gaussian neighbourhood this wide
    smooth: float = 1.0  # Gaussian smoothing of the cell map, in cells


TRUNC = 2  # residuals truncated to -2..2: five levels, 5**4 patterns of four


@lru_cache(maxsize=1)
def _classes() -> tuple[np.ndarray, int]:
    """Each of the 625 four-value patterns mapped to its class under reversal and sign flip (169 classes)."""
    levels = 2 * TRUNC + 1
    codes = np.arange(levels**4)
    digits = np.stack([(codes // levels**k) % levels for k in (3, 2, 1, 0)], 1) - TRUNC

    def code(d):
        return ((d + TRUNC) * levels ** np.array([3, 2, 1, 0])).sum(1)

    canon = np.minimum.reduce([code(digits), code(digits[:, ::-1]), code(-digits), code(-digits[:, ::-1])])
    _, cls = np.unique(canon, return_inverse=True)
    return cls.astype(np.int64), int(cls.max()) + 1


def _quantised(y: np.ndarray, axis: int, q: float) -> np.ndarray:
    """Third-order residual along ``axis``, divided by ``q``, rounded and truncated: values 0..4 (uint8)."""
    x = np.moveaxis(y, axis, -1)
    r = -x[..., :-3] + 3 * x[..., 1:-2] - 3 * x[..., 2:-1] + x[..., 3:]
    return np.moveaxis(np.clip(np.round(r / q), -TRUNC, TRUNC) + TRUNC, -1, axis).astype(np.uint8)


def cell_histograms(y: np.ndarray, block: int) -> np.ndarray:
    """(rows, cols, classes) co-occurrence counts per ``block`` x ``block`` cell, both directions summed
    (patterns as uint8 and int32 indices, not int64: a 12 MP photo needs about half the memory)."""
    cls, n_cls = _classes()
    cls = cls.astype(np.int32)
    h, w = y.shape
    rows, cols = h // block, w // block
    # The quantisation step: the image's own residual scale (median |r|), so every image uses all five levels.
    q = max(float(np.median(np.abs(np.diff(y, n=3, axis=1)))), 0.5)
    out = np.zeros(rows * cols * n_cls)
    levels = 2 * TRUNC + 1
    for axis in (1, 0):
        r = np.moveaxis(_quantised(y, axis, q), axis, -1)  # patterns run along the last axis
        code = ((r[..., :-3].astype(np.int32) * levels + r[..., 1:-2]) * levels + r[..., 2:-1]) * levels + r[..., 3:]
        code = np.moveaxis(code, -1, axis)[: rows * block, : cols * block]  # by the pattern's first pixel
        ch, cw = code.shape
        cell = (np.arange(ch, dtype=np.int32) // block)[:, None] * cols + (np.arange(cw, dtype=np.int32) // block)
        out += np.bincount((cell * n_cls + cls[code]).ravel(), minlength=out.size)
    return out.reshape(rows, cols, n_cls)


def refine(cells: np.ndarray, suspect: np.ndarray, width: float) -> np.ndarray:
    """Per-cell posterior of the suspect cluster from the cells' own counts. A window half inside a region is
    assigned whole to one cluster, which spreads the map half a window past the region; instead, each
    cluster's pattern distribution (the cells weighted by their window's posterior) scores every cell's own
    counts: a log-likelihood ratio, summed over a Gaussian neighbourhood of ``width`` cells, plus the
    clusters' prior log-odds, read as a posterior. ``cells``: (rows, cols, classes); ``suspect``: (rows, cols)."""
    flat, weight = cells.reshape(-1, cells.shape[-1]), suspect.reshape(-1, 1)
    p1 = (flat * weight).sum(0) + 1.0  # +1 per class: no pattern is impossible in either cluster
    p0 = (flat * (1 - weight)).sum(0) + 1.0
    llr = (flat @ (np.log(p1 / p1.sum()) - np.log(p0 / p0.sum()))).reshape(suspect.shape)
    # a Gaussian *sum* (not mean) of the evidence: normalised to a weight of 1 at the centre
    summed = ndimage.gaussian_filter(llr, width, mode="nearest") * (2 * np.pi * width**2) if width > 0 else llr
    share = float(np.clip(suspect.mean(), 1e-3, 1 - 1e-3))
    return 1 / (1 + np.exp(-np.clip(summed + np.log(share / (1 - share)), -50, 50)))


def splicebuster_map(img: Image.Image, block: int = 8, window: int = 8, components: int = 16, smooth: float = 1.0,
                     refine_width: float = 1.5):
    from sklearn.decomposition import PCA
    from sklearn.mixture import GaussianMixture

    y = luma(img)
    h, w = y.shape
    rows, cols = h // block, w // block
    if rows < window + 2 or cols < window + 2:
        return np.zeros((h, w), np.float32)  # too few windows for two clusters: no evidence
    cells = cell_histograms(y, block)
    # Windows: sums of window x window cells, one per cell position (centred, clipped at the borders).
    counts = ndimage.uniform_filter(cells, size=(window, window, 1), mode="nearest")
    counts = np.maximum(counts, 0)  # the filter's rounding can leave -1e-17 where a class is empty
    feats = np.sqrt(counts / np.maximum(counts.sum(-1, keepdims=True), 1e-9)).reshape(rows * cols, -1)
    k = min(components, feats.shape[1], len(feats) - 2)
    z = PCA(n_components=k, random_state=0).fit_transform(feats)
    gmm = GaussianMixture(2, covariance_type="full", reg_covar=1e-4, n_init=2, random_state=0).fit(z)
    post = gmm.predict_proba(z)
    labels = post.argmax(1)
    if len(set(labels)) < 2:
        return np.zeros((h, w), np.float32)
    minority = int(np.argmin(np.bincount(labels, minlength=2)))
    cell_map = refine(cells, post[:, minority].reshape(rows, cols), refine_width)
    if smooth > 0:
        cell_map = ndimage.gaussian_filter(cell_map, smooth)
    return spread_cells(cell_map.astype(np.float32), block, (h, w))


register_forensic(ForensicFamily(
    "splicebuster", "co-occurrence self-consistency: windows whose high-pass residual co-occurrences form a "
    "cluster of their own (two-component Gaussian mixture)", "Cozzolino, Poggi, Verdoliva. Splicebuster: a new "
    "blind image splicing detector. IEEE WIFS 2015",
    "luma (unrounded) at native resolution; third-order residual along rows and columns, quantised by the image's "
    "median |residual| and truncated to +-2; co-occurrences of 4 in 8 px cells summed over 64 px windows; "
    "square root, PCA (16) of the image's windows, two-component Gaussian mixture; no resampling", splicebuster_map, SplicebusterSettings))  # fmt: skip
