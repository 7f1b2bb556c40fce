"""One instance per process of each model class, made on first use; ONNX sessions run one input per call."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import weights


class SharedModel:
    """Mixin: ``cls.shared()`` is the process's one instance of ``cls``, so a model session (seconds to
    load, hundreds of MB) is loaded once however many detectors use it. Thread-safe."""

    _shared_lock = threading.Lock()

    @classmethod
    def shared(cls):
        with SharedModel._shared_lock:
            instance = cls.__dict__.get("_instance")
            if instance is None:
                instance = cls()
                cls._instance = instance
            return instance


class OnnxModel(SharedModel):
    """A pretrained ONNX graph from the weight cache, run on one input per call, calls in parallel.

    INT8 graphs quantise activations dynamically, with one scale for the whole
    input tensor: an image's output would depend on the other images in its
    batch. So every image is run in a call of its own, and calls run in
    parallel on single-threaded kernels, which is as fast as batching on a CPU
    and makes each result independent of its neighbours. Float graphs are run
    the same way, for the same guarantee.

    Subclasses name ``weights_file`` and may override :meth:`model` (e.g. to
    expose an intermediate tensor, :func:`with_graph_outputs`).
    """

    weights_file = ""

    def __init__(self, workers: int | None = None):
        import onnxruntime as ort

        self.workers = workers or int(os.environ.get("FAKESCOPE_THREADS", 0)) or (os.cpu_count() or 1)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(self.model(), sess_options=opts, providers=_providers(ort))
        self.input_name = self.session.get_inputs()[0].name
        self.pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=type(self).__name__)

    def model(self) -> str | bytes:
        """What the session loads: the cached file's path, or a serialised graph."""
        return str(weights.path_of(self.weights_file))

    def run_one(self, pixels: np.ndarray, outputs: list[str]) -> list[np.ndarray]:
        """The named outputs for one (C, H, W) input, batch axis dropped."""
        return [o[0] for o in self.session.run(outputs, {self.input_name: pixels[None].astype(np.float32, copy=False)})]

    def map(self, fn: Callable, items: Iterable) -> list:
        """``fn`` over ``items`` on the session's threads, in order."""
        return list(self.pool.map(fn, items))


def _providers(ort) -> list[str]:
    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


def with_graph_outputs(model: bytes, names: list[str]) -> bytes:
    """A serialised ONNX model with the named intermediate float tensors added to its graph outputs.

    Protocol buffers merge a message field that occurs twice, and append to
    repeated fields, so appending a ``ModelProto`` that holds only
    ``graph { output: [...] }`` to the serialised model adds those outputs and
    changes nothing else. That spares a dependency on the ``onnx`` package for
    one edit. The outputs are declared as float tensors of unknown shape.
    """
    float_tensor = _field(1, _varint(1 << 3) + _varint(1))  # TypeProto { tensor_type { elem_type: FLOAT } }
    outputs = b"".join(_field(12, _field(1, name.encode()) + _field(2, float_tensor)) for name in names)
    return model + _field(7, outputs)  # ModelProto.graph (7) { GraphProto.output (12): ValueInfoProto }


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload
