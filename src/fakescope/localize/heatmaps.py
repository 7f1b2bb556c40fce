"""Heatmap files: the map as an 8-bit PNG (255 = 1.0, same size as the image) and an overlay on the image."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np
from PIL import Image


def _colour(m: np.ndarray) -> np.ndarray:
    """A perceptually ordered ramp (dark blue, magenta, orange, yellow) for values in [0, 1]: (H, W, 3) uint8."""
    stops = np.array([[13, 8, 135], [156, 23, 158], [237, 121, 83], [240, 249, 33]], dtype=np.float32)
    t = np.clip(m, 0, 1) * (len(stops) - 1)
    i = np.minimum(t.astype(int), len(stops) - 2)
    f = (t - i)[..., None]
    return (stops[i] * (1 - f) + stops[i + 1] * f).astype(np.uint8)


def overlay(img: Image.Image, m: np.ndarray, threshold: float = 0.5) -> Image.Image:
    """The image, greyed a little, with the map coloured on top where it is at least ``threshold`` / 2
    and an outline of the flagged (>= threshold) area."""
    from scipy import ndimage

    base = np.asarray(img.convert("RGB"), dtype=np.float32) * 0.75 + 32
    heat = _colour(m).astype(np.float32)
    alpha = np.clip((m - threshold / 2) / (1 - threshold / 2), 0, 1)[..., None] * 0.65
    out = base * (1 - alpha) + heat * alpha
    flagged = m >= threshold
    edge = flagged & ~ndimage.binary_erosion(flagged, iterations=max(1, min(m.shape) // 200))
    out[edge] = (255, 255, 255)
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))


def stem_for(path: str) -> str:
    """A file-system-safe, collision-free name for an input path."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(path).stem)[:60]
    return f"{name}-{hashlib.sha1(os.fsencode(str(path))).hexdigest()[:8]}"


def map_image(m: np.ndarray) -> Image.Image:
    """A map in [0, 1] as an 8-bit grey image of the same size (255 = 1.0, certainly manipulated)."""
    return Image.fromarray(np.clip(np.round(m * 255), 0, 255).astype(np.uint8), mode="L")


def write_heatmap(img: Image.Image, m: np.ndarray, out_dir: str | Path, source_path: str) -> tuple[Path, Path]:
    """Write ``<stem>.map.png`` and ``<stem>.overlay.png``; returns both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if m.shape != (img.size[1], img.size[0]):
        raise ValueError(f"map of shape {m.shape} for an image of {img.size[0]}x{img.size[1]}")
    stem = stem_for(source_path)
    map_path, over_path = out_dir / f"{stem}.map.png", out_dir / f"{stem}.overlay.png"
    map_image(m).save(map_path)
    overlay(img, m).save(over_path)
    return map_path, over_path
