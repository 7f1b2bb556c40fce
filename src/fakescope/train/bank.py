"""Banks of unit-norm embeddings that ship with a model, stored as int8 rows.

A nearest-neighbour head and the out-of-distribution abstention keep training embeddings (thousands of
rows of 512 floats). They are stored as int8 with one scale per row (symmetric: ``row ~ q * scale``,
``scale = max |row| / 127``), a quarter of float32's size. The quantisation happens when the bank is
made, inside ``fit``: the model that is evaluated right after training is exactly the one that is saved
and loaded. The rows are dequantised once, when the bank is made or loaded.

Banks saved by earlier versions (float16 rows, no scale) still load.
"""

from __future__ import annotations

import numpy as np

#: suffix of the key that holds a bank's per-row scales in a weights file
SCALE = ".scale"


class EmbeddingBank:
    """Embedding rows stored as int8 with a per-row scale; ``values`` is the dequantised float32 matrix."""

    def __init__(self, q: np.ndarray, scale: np.ndarray | None = None):
        self.q = np.asarray(q)
        self.scale = None if scale is None else np.asarray(scale, np.float32)
        if self.scale is None:  # an older bank: float16 rows as they were saved
            self.values = self.q.astype(np.float32)
        else:
            self.values = self.q.astype(np.float32) * self.scale[:, None]

    @classmethod
    def quantise(cls, X: np.ndarray) -> EmbeddingBank:
        """int8 rows of ``X`` (symmetric, one scale per row; an all-zero row keeps scale 1)."""
        X = np.asarray(X, np.float32)
        amax = np.abs(X).max(axis=1) if X.size else np.zeros(len(X), np.float32)
        scale = np.where(amax > 0, amax / 127, 1).astype(np.float32)
        q = np.clip(np.rint(X / scale[:, None]), -127, 127).astype(np.int8)
        return cls(q, scale)

    def __len__(self) -> int:
        return len(self.values)

    def arrays(self, key: str) -> dict[str, np.ndarray]:
        """The arrays to save under ``key`` (and ``key + SCALE``)."""
        return {key: self.q} if self.scale is None else {key: self.q, key + SCALE: self.scale}

    @classmethod
    def from_arrays(cls, state: dict[str, np.ndarray], key: str) -> EmbeddingBank:
        """The bank saved under ``key`` by :meth:`arrays` (or a float16 bank of an earlier version)."""
        return cls(state[key], state.get(key + SCALE))


__all__ = ["EmbeddingBank", "SCALE"]
