"""The shortcut audit: how far a trivial model gets from file properties alone.

If a model that sees only width, height, format, file size and JPEG quality
scores almost as well as a detector, the detector's score says little about
whether it recognises generated pixels. The audit runs under exactly the same
split as the detector it is shown beside.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from sklearn.ensemble import HistGradientBoostingClassifier

from ..data.manifest import Manifest
from ..extraction.cache import FeatureCache
from ..data.perturb import Matched
from ..io import ImageLoadError, estimate_jpeg_quality, load_image

META_FEATURES = ["width", "height", "log2_pixels", "aspect", "log2_bytes", "bits_per_pixel",
                 "is_jpeg", "is_png", "is_webp", "is_other", "jpeg_quality"]  # fmt: skip
_FORMATS = ("JPEG", "PNG", "WEBP")


def _row(width: int, height: int, nbytes: int, fmt: str, quality: int | None) -> np.ndarray:
    px = max(width * height, 1)
    return np.array(
        [width, height, np.log2(px), width / max(height, 1), np.log2(max(nbytes, 1)), 8 * nbytes / px,
         *(fmt == f for f in _FORMATS), fmt not in _FORMATS, -1 if quality is None else quality],
        dtype=np.float32,
    )  # fmt: skip


def metadata(manifest: Manifest, view: str = "clean", cache: FeatureCache | None = None) -> np.ndarray:
    """(N, len(META_FEATURES)) file properties of each image *as the detector receives it*.

    For the clean view these come from the file; for a matched-processing
    view from the re-encoded bytes, so the audit sees what processing left.
    """
    cache = cache or FeatureCache()
    keys = [f"{s.key}|{view}" for s in manifest]
    have = cache.get_many("meta@v1", keys)
    new = {}
    for s, k in zip(manifest, keys):
        if k in have:
            continue
        try:
            if view == "clean":
                with Image.open(s.file) as im:
                    q = estimate_jpeg_quality(im) if im.format == "JPEG" else None
                    new[k] = _row(im.width, im.height, s.file.stat().st_size, im.format or "", q)
            else:
                data = Matched.parse_tag(view).encode(load_image(s.file))
                with Image.open(io.BytesIO(data)) as im:
                    new[k] = _row(im.width, im.height, len(data), "JPEG", estimate_jpeg_quality(im))
        except (OSError, ImageLoadError):
            new[k] = np.full(len(META_FEATURES), np.nan, dtype=np.float32)
    if new:
        cache.put_many("meta@v1", new)
        have.update(new)
    return np.stack([have[k] for k in keys])


class ShortcutModel:
    """Gradient-boosted trees on :data:`META_FEATURES`."""

    def fit(self, X: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> ShortcutModel:
        self.model_ = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, random_state=0)
        self.model_.fit(X, y, sample_weight=w)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict_proba(X)[:, 1]
