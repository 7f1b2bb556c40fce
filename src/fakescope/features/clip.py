"""Frozen CLIP ViT-B/16 image embeddings (the UnivFD feature space).

The encoder is the INT8 ONNX export pulled by ``fakescope weights pull``; it
runs with onnxruntime on any CPU. Embeddings are L2-normalised, 512-d.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

import numpy as np
from PIL import Image

from .. import weights
from .views import clip_view

CLIP_WEIGHTS = "clip-vit-b16-int8.onnx"
CLIP_SIZE = 224
CLIP_DIM = 512


class ClipEncoder:
    """Lazily-loaded ONNX session; one per process is enough (it is thread-safe)."""

    _shared: ClipEncoder | None = None
    _lock = threading.Lock()

    def __init__(self, threads: int | None = None):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or int(os.environ.get("FAKESCOPE_THREADS", 0)) or (os.cpu_count() or 1)
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(weights.path_of(CLIP_WEIGHTS)), sess_options=opts, providers=_providers(ort)
        )
        self.input_name = self.session.get_inputs()[0].name

    @classmethod
    def shared(cls) -> ClipEncoder:
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def embed_arrays(self, batch: np.ndarray) -> np.ndarray:
        """(B, 3, 224, 224) normalised pixels -> (B, 512) unit-norm embeddings."""
        (emb,) = self.session.run(["image_embeds"], {self.input_name: batch.astype(np.float32, copy=False)})
        return emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)

    def embed(self, images: Sequence[Image.Image], batch_size: int = 16) -> np.ndarray:
        out = [
            self.embed_arrays(np.stack([clip_view(im, CLIP_SIZE) for im in images[i : i + batch_size]]))
            for i in range(0, len(images), batch_size)
        ]
        return np.concatenate(out) if out else np.zeros((0, CLIP_DIM), np.float32)


def _providers(ort) -> list[str]:
    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
