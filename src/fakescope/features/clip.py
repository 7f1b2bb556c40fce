"""Frozen CLIP ViT-B/16 image embeddings (the UnivFD feature space).

The encoder is the INT8 ONNX export pulled by ``fakescope weights pull``; it
runs with onnxruntime on any CPU. Embeddings are L2-normalised, 512-d.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Sequence

import numpy as np
from PIL import Image

from .. import weights
from .shared import SharedModel
from .views import clip_view

CLIP_WEIGHTS = "clip-vit-b16-int8.onnx"
CLIP_SIZE = 224
CLIP_DIM = 512


class ClipEncoder(SharedModel):
    """Lazily-loaded ONNX session; one per process is enough (it is thread-safe).

    The INT8 model quantises activations dynamically, with one scale for the
    whole input tensor: an image's embedding would depend on the other images
    in its batch. So every image is encoded in a call of its own, and calls
    run in parallel on single-threaded kernels, which is as fast as batching
    on a CPU and makes each result independent of its neighbours.
    """


    def __init__(self, workers: int | None = None):
        import onnxruntime as ort

        self.workers = workers or int(os.environ.get("FAKESCOPE_THREADS", 0)) or (os.cpu_count() or 1)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(weights.path_of(CLIP_WEIGHTS)), sess_options=opts, providers=_providers(ort)
        )
        self.input_name = self.session.get_inputs()[0].name
        self.pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="clip")

    def embed_one(self, pixels: np.ndarray) -> np.ndarray:
        """(3, 224, 224) normalised pixels -> (512,) unit-norm embedding."""
        (emb,) = self.session.run(["image_embeds"], {self.input_name: pixels[None].astype(np.float32, copy=False)})
        return emb[0] / max(float(np.linalg.norm(emb[0])), 1e-12)

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Embeddings of RGB images, (N, 512), each computed on its own."""
        if not len(images):
            return np.zeros((0, CLIP_DIM), np.float32)
        return np.stack(list(self.pool.map(lambda im: self.embed_one(clip_view(im, CLIP_SIZE)), images)))


def _providers(ort) -> list[str]:
    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
