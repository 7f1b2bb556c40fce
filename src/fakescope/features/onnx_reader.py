"""Read the weights of an ONNX file without the ``onnx`` package.

An ONNX file is one protocol-buffer message (``ModelProto``). The PyTorch CLIP
encoder (:mod:`fakescope.features.clip_torch`) needs only two things from it:
the initializers (named tensors) and, for the quantised matrix products, which
node uses which weight. Both are a few fields deep, so a small reader of the
wire format does, as :func:`fakescope.features.shared.with_graph_outputs`
does for writing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# TensorProto.DataType -> numpy dtype (the types initializers of our exports use)
_DTYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 5: np.int16, 6: np.int32, 7: np.int64, 10: np.float16,
           11: np.float64}  # fmt: skip


@dataclass
class Node:
    """One graph node: what it computes, its name and its inputs/outputs (tensor names)."""

    op_type: str
    name: str
    inputs: list[str]
    outputs: list[str]


def _varint(buf, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, i


def _fields(buf):
    """``(field number, wire type, value)`` of each field of a message; length-delimited values are memoryviews."""
    for number, wire, value, _, _ in _fields_at(buf):
        yield number, wire, value


def _fields_at(buf):
    """As :func:`_fields`, with where each field lies in ``buf`` added: ``buf[start:end]`` is the whole
    field, key included."""
    i, n = 0, len(buf)
    while i < n:
        start = i
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = buf[i : i + 8], i + 8
        elif wire == 5:
            value, i = buf[i : i + 4], i + 4
        elif wire == 2:
            size, i = _varint(buf, i)
            value, i = buf[i : i + size], i + size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value, start, i


def _ints(values: list) -> list[int]:
    """Repeated integer field values, packed (one length-delimited run) or not."""
    out: list[int] = []
    for v in values:
        if isinstance(v, int):
            out.append(v)
            continue
        i = 0
        while i < len(v):
            x, i = _varint(v, i)
            out.append(x)
    return out


def _signed(x: int, bits: int = 64) -> int:
    return x - (1 << bits) if x >= 1 << (bits - 1) else x


def _tensor(buf) -> tuple[str, np.ndarray]:
    parts: dict[int, list] = {}
    for number, _, value in _fields(buf):
        parts.setdefault(number, []).append(value)
    name = bytes(parts[8][0]).decode()
    dims = [_signed(d) for d in _ints(parts.get(1, []))]
    dtype = _DTYPES.get(parts.get(2, [0])[0])
    if dtype is None:
        raise ValueError(f"initializer {name}: unsupported data type {parts.get(2)}")
    if 9 in parts:  # raw_data
        arr = np.frombuffer(bytes(parts[9][0]), dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype)
    elif 4 in parts:  # float_data (packed fixed32)
        arr = np.frombuffer(b"".join(bytes(v) for v in parts[4]), dtype="<f4").astype(dtype)
    elif 5 in parts:  # int32_data: int8/uint8/int16/int32 values, as varints
        arr = np.array([_signed(x, 64) for x in _ints(parts[5])], dtype=np.int64).astype(dtype)
    elif 7 in parts:  # int64_data
        arr = np.array([_signed(x) for x in _ints(parts[7])], dtype=np.int64)
    else:
        arr = np.zeros(0, dtype=dtype)
    return name, arr.reshape(dims)


def _node(buf) -> Node:
    parts: dict[int, list] = {}
    for number, _, value in _fields(buf):
        parts.setdefault(number, []).append(value)

    def text(field: int) -> list[str]:
        return [bytes(v).decode() for v in parts.get(field, [])]

    return Node(op_type=text(4)[0], name=(text(3) or [""])[0], inputs=text(1), outputs=text(2))


def read_graph(model: str | Path | bytes) -> tuple[dict[str, np.ndarray], list[Node]]:
    """The initializers (name -> array) and the nodes of an ONNX model's main graph.

    ``model`` is a file's path or a serialised model. A graph field that occurs more than once (as
    :func:`~fakescope.features.shared.with_graph_outputs` writes) is merged, as protocol buffers do.
    """
    data = memoryview(model if isinstance(model, bytes) else Path(model).read_bytes())
    tensors: dict[str, np.ndarray] = {}
    nodes: list[Node] = []
    for graph in (value for number, _, value in _fields(data) if number == 7):  # ModelProto.graph
        for number, _, value in _fields(graph):
            if number == 1:  # GraphProto.node
                nodes.append(_node(value))
            elif number == 5:  # GraphProto.initializer
                name, arr = _tensor(value)
                tensors[name] = arr
    return tensors, nodes
