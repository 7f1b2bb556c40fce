"""One instance per process of each model class, made on first use; ONNX sessions run one input per call."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .. import weights
from .onnx_reader import _fields, _fields_at, _node, _tensor


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
        model = with_unsigned_weights(self.model())
        self.session = ort.InferenceSession(model, sess_options=opts, providers=_providers(ort))
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


def with_unsigned_weights(model: str | bytes) -> str | bytes:
    """The model with the signed INT8 weights of its quantised matrix products stored as unsigned ones.

    Dynamically quantised graphs multiply unsigned 8-bit activations by signed 8-bit weights
    (``MatMulInteger``, u8 x s8). On x86 CPUs without VNNI (AVX2 only) onnxruntime computes that
    product with an instruction that adds two u8 x s8 products into a saturating 16-bit integer,
    and 255 * 127 * 2 exceeds 32767: the sums of large activations and weights are clipped, and a
    CLIP embedding comes out at a cosine of about 0.5 to the exact one. Shifting each weight and its
    zero point by 128 (``(q + 128) - (z + 128) = q - z``) leaves every integer product exactly as it
    was, and onnxruntime's u8 x u8 kernel widens to 16 bits before it multiplies, on every CPU. So
    the integer products are the exact ones on every machine. The cost: one CLIP call took 0.43 s
    instead of 0.35 s on a 2-core AVX2 CPU (the rewrite itself 1.2 s, once per process).

    A weight is converted only where it is safe: an INT8 initializer with an INT8 zero point, both
    read by nothing but ``MatMulInteger`` nodes (as B and B's zero point) whose activations come
    from ``DynamicQuantizeLinear`` (unsigned). ``model`` is a path or serialised bytes; a model with
    nothing to convert is returned as given.
    """
    data = memoryview(model if isinstance(model, bytes) else Path(model).read_bytes())
    graphs = [value for number, _, value in _fields(data) if number == 7]  # ModelProto.graph
    nodes = [_node(value) for graph in graphs for number, _, value in _fields(graph) if number == 1]
    signed = {name for graph in graphs for name in _int8_initializers(graph)}
    made_by = {out: node.op_type for node in nodes for out in node.outputs}
    convert: set[str] = set()
    for node in nodes:
        if node.op_type == "MatMulInteger" and len(node.inputs) == 4 and made_by.get(node.inputs[0]) == (
            "DynamicQuantizeLinear") and {node.inputs[1], node.inputs[3]} <= signed:  # fmt: skip
            convert |= {node.inputs[1], node.inputs[3]}
    read_elsewhere = {name for node in nodes for k, name in enumerate(node.inputs)
                      if name in convert and not (node.op_type == "MatMulInteger" and k in (1, 3))}  # fmt: skip
    if not convert or read_elsewhere:
        return model
    out = bytearray()
    for number, _, value, start, end in _fields_at(data):
        out += _field(7, _unsigned_graph(value, convert)) if number == 7 else data[start:end]
    return bytes(out)


def _int8_initializers(graph) -> list[str]:
    """Names of the graph's INT8 initializers stored in a form this module rewrites (data inline)."""
    names = []
    for number, _, value in _fields(graph):
        if number == 5:  # GraphProto.initializer
            parts = {n: v for n, _, v in _fields(value)}
            if parts.get(2) == 3 and set(parts) <= {1, 2, 5, 8, 9}:  # INT8; dims, data, name only
                names.append(bytes(parts[8]).decode())
    return names


def _unsigned_graph(graph, names: set[str]) -> bytes:
    """The graph message with the named INT8 initializers rewritten as UINT8 (each value + 128)."""
    out = bytearray()
    for number, _, value, start, end in _fields_at(graph):
        name = next((bytes(v).decode() for n, _, v in _fields(value) if n == 8), "") if number == 5 else ""
        if name not in names:  # GraphProto.initializer (5) named for conversion, or copied as it is
            out += graph[start:end]
            continue
        _, arr = _tensor(value)
        tensor = b"".join(_varint(1 << 3) + _varint(d) for d in arr.shape)  # dims (non-negative)
        tensor += _varint(2 << 3) + _varint(2)  # data_type: UINT8
        tensor += _field(8, name.encode()) + _field(9, (arr.astype(np.int16) + 128).astype(np.uint8).tobytes())
        out += _field(5, tensor)
    return bytes(out)
