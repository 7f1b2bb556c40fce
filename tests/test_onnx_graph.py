"""ONNX graphs edited without the ``onnx`` package: INT8 weights stored as unsigned, so that quantised
matrix products are exact on every CPU (fakescope.features.shared.with_unsigned_weights)."""

from __future__ import annotations

import numpy as np
import pytest

from fakescope.features.onnx_reader import read_graph
from fakescope.features.shared import _field, _varint, with_unsigned_weights

ort = pytest.importorskip("onnxruntime")

K, N = 64, 6


def _int(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value & (2**64 - 1))  # varint field; negatives as 64-bit


def _tensor(name: str, arr: np.ndarray, raw: bool) -> bytes:
    """An INT8 TensorProto: raw bytes, or one int32_data varint per value (as exporters write zero points)."""
    body = b"".join(_int(1, d) for d in arr.shape) + _int(2, 3) + _field(8, name.encode())
    if raw:
        return body + _field(9, arr.astype(np.int8).tobytes())
    return body + b"".join(_int(5, int(v)) for v in arr.ravel())


def _value(name: str, elem: int, dims: list[int]) -> bytes:
    shape = b"".join(_field(1, _int(1, d)) for d in dims)  # TensorShapeProto.dim { dim_value }
    return _field(1, name.encode()) + _field(2, _field(1, _int(1, elem) + _field(2, shape)))


def _node(inputs: list[str], outputs: list[str], op: str) -> bytes:
    """A GraphProto.node field."""
    return _field(1, b"".join(_field(1, i.encode()) for i in inputs) + b"".join(_field(2, o.encode()) for o in outputs)
                  + _field(3, op.encode()) + _field(4, op.encode()))  # fmt: skip


def model(weight: np.ndarray, zero: np.ndarray, also_cast: bool = False) -> bytes:
    """x (float, 1 x K) -> DynamicQuantizeLinear -> MatMulInteger with INT8 ``weight`` (K x N) and per-column
    ``zero`` -> y (int32, 1 x N). ``also_cast``: the weight is read by a Cast node too (output ``c``)."""
    nodes = _node(["x"], ["xq", "xs", "xz"], "DynamicQuantizeLinear") + _node(["xq", "w", "xz", "wz"], ["y"],
                                                                               "MatMulInteger")  # fmt: skip
    outputs = _field(12, _value("y", 6, [1, N]))
    if also_cast:
        nodes += _field(1, _field(1, b"w") + _field(2, b"c") + _field(3, b"cast") + _field(4, b"Cast")
                        + _field(5, _field(1, b"to") + _int(3, 1) + _int(20, 2)))  # attribute to=FLOAT, type INT
        outputs += _field(12, _value("c", 1, [K, N]))
    graph = (nodes + _field(2, b"g") + _field(5, _tensor("w", weight, raw=True)) + _field(5, _tensor("wz", zero, False))
             + _field(11, _value("x", 1, [1, K])) + outputs)  # fmt: skip
    opset = _field(8, _field(1, b"") + _int(2, 17))
    return _int(1, 8) + opset + _field(7, graph)


def _case(seed: int = 0):
    rng = np.random.default_rng(seed)
    weight = rng.integers(-127, 128, (K, N)).astype(np.int8)
    weight[:, 0] = 127  # every product large: a saturating 16-bit sum of pairs would clip this column
    zero = np.array([0, 0, -3, 5, 0, 1], np.int8)
    x = rng.random((1, K)).astype(np.float32)
    x[0, :2], x[0, 2:10] = (0.0, 1.0), 1.0  # range [0, 1]: quantised with scale 1/255, zero point 0
    xq = np.clip(np.rint(x / np.float32(1 / 255)), 0, 255).astype(np.int64)
    exact = xq @ (weight.astype(np.int64) - zero.astype(np.int64))
    return weight, zero, x, exact


def _run(graph: bytes, x: np.ndarray, outputs=("y",)) -> list[np.ndarray]:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(graph, sess_options=opts, providers=["CPUExecutionProvider"])
    return session.run(list(outputs), {"x": x})


def test_unsigned_weights_give_the_exact_integer_products():
    """The rewritten graph stores weight + 128 and zero point + 128 as UINT8, changes nothing else, and
    its products equal the exact integer ones (the signed graph's may saturate on CPUs without VNNI)."""
    weight, zero, x, exact = _case()
    signed = model(weight, zero)
    unsigned = with_unsigned_weights(signed)
    assert isinstance(unsigned, bytes) and unsigned != signed
    before, nodes_before = read_graph(signed)
    after, nodes_after = read_graph(unsigned)
    assert nodes_after == nodes_before
    assert after["w"].dtype == after["wz"].dtype == np.uint8
    assert np.array_equal(after["w"].astype(int), before["w"].astype(int) + 128)
    assert np.array_equal(after["wz"].astype(int), zero.astype(int) + 128)
    (y,) = _run(unsigned, x)
    assert np.array_equal(y[0], exact[0])
    (y_signed,) = _run(signed, x)
    print("signed graph's largest error on this CPU:", int(np.abs(y_signed[0] - exact[0]).max()))


def test_weights_read_by_other_nodes_are_left_as_they_are():
    """A weight that another node reads too keeps its type: the model comes back unchanged."""
    weight, zero, x, _ = _case(1)
    signed = model(weight, zero, also_cast=True)
    assert with_unsigned_weights(signed) is signed
    y, cast = _run(signed, x, ("y", "c"))
    assert np.array_equal(cast, weight.astype(np.float32))


def test_a_model_without_quantised_products_is_returned_as_given(tmp_path):
    path = tmp_path / "float.onnx"
    graph = _node(["x"], ["y"], "Relu") + _field(2, b"g") + _field(11, _value("x", 1, [1, K]))
    graph += _field(12, _value("y", 1, [1, K]))
    path.write_bytes(_int(1, 8) + _field(8, _field(1, b"") + _int(2, 17)) + _field(7, graph))
    assert with_unsigned_weights(str(path)) == str(path)
