"""Frequency features after Frank et al. (2020): the log-scaled 2-D DCT spectrum.

GAN and diffusion up-sampling leaves periodic artefacts that show up as peaks
and grids in the DCT-II spectrum of the luma channel; the log scale keeps the
huge DC/low-frequency range from drowning them.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy.fft import dctn

from .views import center_crop, gray

#: Side of the square crop the DCT detectors look at. 128 px keeps every image
#: of the development data (smallest Fooocus previews are 128 px) un-resampled.
DCT_SIZE = 128


def dct2(x: np.ndarray) -> np.ndarray:
    """Orthonormal 2-D DCT-II over the last two axes."""
    return dctn(x, type=2, norm="ortho", axes=(-2, -1))


def log_dct(x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """``log(|DCT(x)| + eps)``: the log-scaled spectrum of Frank et al."""
    return np.log(np.abs(dct2(x)) + eps)


def dct_spectrum(img: Image.Image, size: int = DCT_SIZE) -> np.ndarray:
    """Log DCT spectrum of the centre ``size`` crop of the luma, float32 (size, size)."""
    patch = gray(center_crop(img, size))
    return log_dct(patch).astype(np.float32)


def pool_spectrum(spec: np.ndarray, cells: int = 32) -> np.ndarray:
    """Average a (..., S, S) spectrum over ``cells`` x ``cells`` blocks, flattened (compact fusion input)."""
    s = spec.shape[-1]
    k = s // cells
    pooled = spec[..., : cells * k, : cells * k].reshape(*spec.shape[:-2], cells, k, cells, k).mean(axis=(-3, -1))
    return pooled.reshape(*spec.shape[:-2], cells * cells)


def radial_profile(spec: np.ndarray, bins: int = 64) -> np.ndarray:
    """Mean of a (S, S) DCT spectrum over rings of equal frequency radius (azimuthal average)."""
    s = spec.shape[-1]
    yy, xx = np.mgrid[0:s, 0:s]
    r = np.sqrt(yy**2 + xx**2) / (np.sqrt(2) * (s - 1))
    idx = np.minimum((r * bins).astype(int), bins - 1)
    sums = np.bincount(idx.ravel(), weights=spec.ravel(), minlength=bins)
    counts = np.bincount(idx.ravel(), minlength=bins)
    return sums / np.maximum(counts, 1)
