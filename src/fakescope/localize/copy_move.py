"""Dense-field copy-move detection: a region copied elsewhere in the same image, source and destination.

After Cozzolino, Poggi & Verdoliva (TIFS 2015, "Efficient dense-field copy-move forgery detection"):

1. every pixel gets rotation-invariant features of the disk around it: the mean of each ring of radius
   0..R, and the magnitude of the ring's first two angular Fourier harmonics (a rotation of the patch
   only changes their phase), computed for all pixels at once by FFT convolution;
2. each sampled pixel (on a grid of ``stride``, textured pixels only: flat areas match everything) is
   matched to its nearest neighbour in feature space at least ``min_offset`` px away (a k-d tree over
   the features' leading principal components stands in for PatchMatch; the distances that decide are
   taken in all the features);
3. a match is kept only if it is close (RMS feature difference under ``max_distance`` grey levels)
   and enough neighbours (``min_support``) matched to points at their own distance from it: a copied
   region moves as a rigid whole (shifted or rotated), chance look-alikes do not;
4. the kept pixels and their matches (source and destination) are marked, closed and cleaned of
   regions smaller than ``min_area``.

Images larger than ``max_side`` are analysed on a copy shrunk to that size (Lanczos; the card says so)
and the map is enlarged back, which keeps the cost bounded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage, signal
from scipy.spatial import cKDTree

from .forensic import ForensicFamily, register_forensic


@dataclass
class CopyMoveSettings:
    radius: int = 6  # px of the disk described by each pixel's features
    stride: int = 2  # px between sampled pixels
    min_offset: int = 16  # px: a match closer than this is the same structure, not a copy
    max_distance: float = 1.0  # RMS feature difference (grey levels) of a copy; repeated textures differ more
    min_texture: float = 3.0  # local std (grey levels) below which a pixel is too flat to match
    min_support: int = 6  # neighbours (of 24 within 2 strides) whose matches keep their distance (1.5 px)
    min_area: float = 0.002  # share of the image below which a marked region is dropped
    max_side: int = 384  # px: larger images are analysed on a shrunk copy (the k-d tree search grows fast)
    search_dims: int = 4  # principal components of the features the nearest-neighbour search runs in (>= 1)


def ring_features(y: np.ndarray, radius: int) -> np.ndarray:
    """(H, W, F) rotation-invariant features: ring means for r = 0..radius and the magnitudes of the first
    two angular harmonics of each ring r >= 1."""
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    rr, theta = np.hypot(yy, xx), np.arctan2(yy, xx)
    feats = []
    for r in range(radius + 1):
        ring = (np.abs(rr - r) < 0.5).astype(np.float64)
        ring /= ring.sum()
        feats.append(signal.fftconvolve(y, ring, mode="same"))
        if r >= 1:
            for n in (1, 2):
                kernel = ring * np.exp(1j * n * theta)
                feats.append(np.abs(signal.fftconvolve(y, kernel, mode="same")))
    return np.stack(feats, -1)


def copy_move_map(img: Image.Image, radius: int = 6, stride: int = 2, min_offset: int = 16,
                  max_distance: float = 1.0, min_texture: float = 3.0, min_support: int = 6,
                  min_area: float = 0.002, max_side: int = 384, search_dims: int = 4) -> np.ndarray:  # fmt: skip
    w0, h0 = img.size
    work = img.convert("L")
    if max(w0, h0) > max_side:
        scale = max_side / max(w0, h0)
        work = work.resize((max(1, round(w0 * scale)), max(1, round(h0 * scale))), Image.Resampling.LANCZOS)
    y = np.asarray(work, dtype=np.float64)
    h, w = y.shape
    marked = np.zeros((h, w), bool)
    if min(h, w) < 4 * radius:
        return np.zeros((h0, w0), np.float32)
    feats = ring_features(y, radius)
    local_sd = np.sqrt(np.maximum(ndimage.uniform_filter(y**2, 2 * radius + 1)
                                  - ndimage.uniform_filter(y, 2 * radius + 1) ** 2, 0))  # fmt: skip
    # Candidates: every textured pixel (a rotated copy lands off any sampling grid); queries: the grid.
    ay, ax = np.mgrid[radius : h - radius, radius : w - radius]
    textured = local_sd[ay, ax] >= min_texture
    ty, tx = ay[textured], ax[textured]
    gy, gx = np.mgrid[radius : h - radius : stride, radius : w - radius : stride]
    keep = local_sd[gy, gx] >= min_texture
    py, px = gy[keep], gx[keep]
    if len(py) < 2:
        return np.zeros((h0, w0), np.float32)
    F = feats[py, px]  # (N, F)
    T = feats[ty, tx]
    # The search runs in the leading principal components of the candidates' features (a k-d tree slows to a
    # crawl in 19 dimensions); the distances that decide are then taken in all of them.
    mean = T.mean(0)
    _, _, vt = np.linalg.svd(T[:: max(1, len(T) // 4000)] - mean, full_matrices=False)
    basis = vt[: max(1, search_dims)].T
    tree = cKDTree((T - mean) @ basis)
    k = min(24, len(ty))
    _, idx = tree.query((F - mean) @ basis, k=k)
    idx = np.asarray(idx).reshape(len(F), k)
    dist = np.empty(idx.shape)
    for c in range(k):  # one neighbour rank at a time: an (N, k, F) difference would take hundreds of MB
        dist[:, c] = np.sqrt(((T[idx[:, c]] - F) ** 2).sum(-1))
    order = np.argsort(dist, axis=1)
    dist, idx = np.take_along_axis(dist, order, 1), np.take_along_axis(idx, order, 1)
    far = np.hypot(ty[idx] - py[:, None], tx[idx] - px[:, None]) >= min_offset
    first = np.where(far.any(1), far.argmax(1), -1)
    rows = np.flatnonzero(first >= 0)
    j = idx[rows, first[rows]]
    rms = dist[rows, first[rows]] / np.sqrt(F.shape[1])
    good = rms <= max_distance
    rows, j = rows[good], j[good]
    if len(rows) == 0:
        return np.zeros((h0, w0), np.float32)
    my, mx = ty[j], tx[j]  # where each kept match lies
    # Where each sampled pixel's match lies, on the sampling grid. A copied region moves as a rigid whole
    # (shifted, maybe rotated): neighbours' matches keep the neighbours' distances. Chance look-alikes do not.
    gh, gw = gy.shape
    qy = np.full((gh, gw), np.nan)
    qx = np.full((gh, gw), np.nan)
    cy, cx = (py[rows] - radius) // stride, (px[rows] - radius) // stride
    qy[cy, cx], qx[cy, cx] = my, mx
    support = np.zeros(len(rows), int)
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            ny, nx = cy + dy, cx + dx
            inside = (ny >= 0) & (ny < gh) & (nx >= 0) & (nx < gw) & ((dy, dx) != (0, 0))
            ny, nx = np.clip(ny, 0, gh - 1), np.clip(nx, 0, gw - 1)
            moved = np.hypot(qy[ny, nx] - qy[cy, cx], qx[ny, nx] - qx[cy, cx])
            support += inside & (np.abs(moved - stride * np.hypot(dy, dx)) <= 1.5)
    ok = support >= min_support
    src_y, src_x = py[rows][ok], px[rows][ok]
    dst_y, dst_x = my[ok], mx[ok]
    marked[src_y, src_x] = True
    marked[dst_y, dst_x] = True
    # Each mark stands for its sampling cell and the disk it describes; fill and clean.
    marked = ndimage.binary_dilation(marked, iterations=max(stride, radius // 2))
    marked = ndimage.binary_closing(marked, iterations=2)
    labels, n = ndimage.label(marked)
    if n:
        sizes = ndimage.sum(marked, labels, range(1, n + 1))
        marked = np.isin(labels, 1 + np.flatnonzero(sizes >= min_area * h * w))
    out = marked.astype(np.float32)
    if (h, w) != (h0, w0):
        out = np.asarray(Image.fromarray((out * 255).astype(np.uint8)).resize((w0, h0), Image.Resampling.BILINEAR),
                         dtype=np.float32) / 255  # fmt: skip
    return out


register_forensic(ForensicFamily(
    "copy-move", "dense-field copy-move detection: rotation-invariant ring features, nearest neighbours, "
    "rigid-motion consistency; marks source and destination",
    "Cozzolino, Poggi, Verdoliva. Efficient Dense-Field Copy-Move Forgery Detection. IEEE TIFS 2015",
    "8-bit luma; images larger than max_side px (384) analysed on a Lanczos-shrunk copy and the map enlarged "
    "back (bilinear); otherwise native resolution", copy_move_map, CopyMoveSettings, version=2))  # fmt: skip
