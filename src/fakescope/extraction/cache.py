"""A persistent feature cache, so training and benchmarks decode and encode each image once.

Keys are (extractor, view, content hash): the same pixels under the same
transform always map to the same features, wherever the file lives.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import numpy as np

from .. import weights


class FeatureCache:
    """sqlite-backed store of float arrays."""

    def __init__(self, path: str | Path | None = None):
        default = os.environ.get("FAKESCOPE_FEATURE_CACHE") or weights.home() / "features.sqlite"
        self.path = Path(path or default)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._db() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS features (extractor TEXT, key TEXT, dtype TEXT, shape TEXT, data BLOB,"
                " PRIMARY KEY (extractor, key))"
            )

    def _db(self) -> sqlite3.Connection:
        if getattr(self._local, "db", None) is None:
            self._local.db = sqlite3.connect(self.path, timeout=60)
        return self._local.db

    def get_many(self, extractor: str, keys: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        db = self._db()
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            rows = db.execute(
                f"SELECT key, dtype, shape, data FROM features WHERE extractor=? AND key IN ({','.join('?' * len(chunk))})",
                [extractor, *chunk],
            )
            for key, dtype, shape, data in rows:
                shp = tuple(int(s) for s in shape.split(",") if s)
                found[key] = np.frombuffer(data, dtype=dtype).reshape(shp)
        return found

    def put_many(self, extractor: str, items: dict[str, np.ndarray]) -> None:
        with self._db() as db:
            db.executemany(
                "INSERT OR REPLACE INTO features VALUES (?, ?, ?, ?, ?)",
                [
                    (extractor, k, v.dtype.str, ",".join(map(str, v.shape)), np.ascontiguousarray(v).tobytes())
                    for k, v in items.items()
                ],
            )


def export_features(manifest, extractor: str, view: str, path: str | Path, cache: FeatureCache | None = None) -> int:
    """Write the cached features of ``manifest`` under one extractor and view to an ``.npz`` file, so that
    another machine can train on them without the images. uint8 image arrays are stored as lossless WebP
    (exact pixels, about a third of the raw size). Returns the number of items written."""
    import io

    from PIL import Image

    from ..features.extract import EXTRACTORS
    from .batch import cache_keys

    cache = cache or FeatureCache()
    ex = EXTRACTORS[extractor]
    keys = list(dict.fromkeys(cache_keys(manifest, view)))  # identical files once
    have = cache.get_many(ex.cache_key, keys)
    missing = [k for k in keys if k not in have]
    if missing:
        raise KeyError(f"{len(missing)} of {len(keys)} items are not cached for {ex.cache_key} ({view}); "
                       "extract them first")  # fmt: skip
    blobs, shapes, lossless = [], [], []
    for k in keys:
        a = have[k]
        if a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3:
            buf = io.BytesIO()
            Image.fromarray(a).save(buf, "WEBP", lossless=True, quality=100, method=4)
            blobs.append(buf.getvalue())
            lossless.append(True)
        else:
            blobs.append(np.ascontiguousarray(a).tobytes())
            lossless.append(False)
        shapes.append(a.shape)
    offsets = np.cumsum([0] + [len(b) for b in blobs])
    np.savez(path, extractor=np.array(ex.cache_key), keys=np.array(keys), data=np.frombuffer(b"".join(blobs), np.uint8),
             offsets=offsets, shapes=np.array(shapes), webp=np.array(lossless),
             dtypes=np.array([have[k].dtype.str for k in keys]))  # fmt: skip
    return len(keys)


def import_features(path: str | Path, cache: FeatureCache | None = None) -> int:
    """Load a file written by :func:`export_features` into the cache; returns the number of items."""
    import io

    from PIL import Image

    cache = cache or FeatureCache()
    with np.load(path, allow_pickle=False) as z:
        name, keys, data, offsets = str(z["extractor"]), z["keys"], z["data"], z["offsets"]
        shapes, webp, dtypes = z["shapes"], z["webp"], z["dtypes"]
    items = {}
    for i, k in enumerate(keys):
        raw = data[offsets[i] : offsets[i + 1]].tobytes()
        if webp[i]:
            arr = np.asarray(Image.open(io.BytesIO(raw)).convert("RGB"), dtype=np.uint8)
        else:
            arr = np.frombuffer(raw, dtype=dtypes[i]).reshape(tuple(shapes[i]))
        if arr.shape != tuple(shapes[i]):
            raise ValueError(f"{path}: item {k} decoded to {arr.shape}, expected {tuple(shapes[i])}")
        items[str(k)] = arr
    cache.put_many(name, items)
    return len(items)
