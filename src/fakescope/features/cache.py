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
