"""Noise-level inconsistency: regions whose camera noise differs from the rest of the image.

A photo carries one sensor noise level (for a given brightness); a region pasted from another photo,
re-made by a generator or smoothed by inpainting carries another. The noise residual is the luma minus
its 3x3 median (edges survive a median, noise does not); each block's noise level is a trimmed mean
of its absolute residual (the largest 20% dropped: edges); the map is how far, in log
ratio, a block's level lies from the image's median level (Mahdian & Saic 2009; Lyu et al. 2014 use
kurtosis-based estimates of the same quantity).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from .forensic import ForensicFamily, luma, normalised, register_forensic, spread_cells


@dataclass
class NoiseLevelSettings:
    block: int = 16  # px per noise estimate: smaller finds smaller regions, with noisier estimates
    low: float = 1.5  # noise ratio (either way) at which the map starts to rise above 0 ...
    high: float = 3.0  # ... and at which it reaches 1
    smooth: float = 1.0  # Gaussian smoothing of the block map, in blocks (0: none)


def block_noise(y: np.ndarray, block: int) -> np.ndarray:
    """Noise level of each ``block`` x ``block`` cell of ``y``: the mean of the smallest 80% of its
    absolute median residuals (proportional to the noise standard deviation)."""
    residual = y - ndimage.median_filter(y, size=3, mode="reflect")
    # A trimmed mean of |residual| per block: continuous (integer pixels make a median-based estimate jump
    # in steps) and robust to the few edge pixels a median leaves; its scale cancels in the ratio below.
    h, w = (y.shape[0] // block) * block, (y.shape[1] // block) * block
    cells = residual[:h, :w].reshape(h // block, block, w // block, block).transpose(0, 2, 1, 3)
    cells = np.sort(np.abs(cells.reshape(h // block, w // block, -1)), axis=-1)
    return cells[..., : int(0.8 * cells.shape[-1])].mean(axis=-1)


def noise_map(img: Image.Image, block: int = 16, low: float = 1.5, high: float = 3.0, smooth: float = 1.0):
    y = luma(img)  # without rounding to integers
    if min(y.shape) < 2 * block:
        return np.zeros(y.shape, np.float32)  # too small for two estimates: no evidence either way
    sigma = block_noise(y, block)
    ref = float(np.median(sigma))
    ratio = np.abs(np.log((sigma + 0.05) / (ref + 0.05)))  # +0.05: a flat block is not infinitely clean
    if smooth > 0:
        ratio = ndimage.gaussian_filter(ratio, smooth)
    return spread_cells(normalised(ratio, np.log(low), np.log(high)), block, y.shape)


register_forensic(ForensicFamily(
    "noise-level", "noise-level inconsistency: blocks whose noise (trimmed mean |median residual|) departs "
    "from the image's median level", "Mahdian & Saic. Using noise inconsistencies for blind image forensics. "
    "Image and Vision Computing 2009",
    "luma (unrounded) at native resolution; residual = luma - 3x3 median; trimmed mean |residual| per block; "
    "no resampling "
    "(the block map is repeated to the image size)", noise_map, NoiseLevelSettings))  # fmt: skip
