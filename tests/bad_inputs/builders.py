"""Small ONNX models for the reliability tests, built in the test (they would be binary files).

Weights are deterministic (fixed seed) so two builds of a model are byte-identical.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = [helper.make_opsetid("", 17)]
DimSpec = int | str


def _weights(name: str, shape: Sequence[int], seed: int) -> onnx.TensorProto:
    rng = np.random.default_rng(seed)
    return numpy_helper.from_array(rng.standard_normal(tuple(shape)).astype(np.float32), name)


def tiny_cnn(*, batch: DimSpec = 1, channels: DimSpec = 3, height: DimSpec = 16, width: DimSpec = 16,
             mid: int = 8, classes: int = 10) -> onnx.ModelProto:
    """conv3x3 -> relu -> conv3x3 (stride 2) -> global pool -> flatten -> gemm. Input ``x``."""
    in_ch = channels if isinstance(channels, int) else 3
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2", pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("GlobalAveragePool", ["c2"], ["gp"], name="pool"),
        helper.make_node("Flatten", ["gp"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["y"], name="fc", transB=1),
    ]
    inits = [_weights("w1", (mid, in_ch, 3, 3), 1), _weights("w2", (mid, mid, 3, 3), 2),
             _weights("fc_w", (classes, mid), 3), _weights("fc_b", (classes,), 4)]
    graph = helper.make_graph(
        nodes, "tiny_cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, channels, height, width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, classes])], inits)
    return helper.make_model(graph, opset_imports=OPSET, producer_name="cosa-onnx-tests")


def no_layers() -> onnx.ModelProto:
    """Relu + Softmax only: nothing to schedule."""
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("Softmax", ["r"], ["y"], name="softmax")]
    graph = helper.make_graph(nodes, "no_layers", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 10])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])])
    return helper.make_model(graph, opset_imports=OPSET)


def matmul_inputs(m: int, k: int, n: int) -> onnx.ModelProto:
    """``y = a @ b`` with both operands graph inputs (no weights stored): any size costs nothing."""
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["y"], name="mm")], "matmul",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [m, k]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, [k, n])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])])
    return helper.make_model(graph, opset_imports=OPSET)


def with_external_location(model: onnx.ModelProto, location: str) -> onnx.ModelProto:
    """``model`` with its first initializer's data moved to external ``location`` (not written)."""
    tensor = model.graph.initializer[0]
    size = len(tensor.raw_data) or 4 * int(np.prod(tensor.dims))
    tensor.ClearField("raw_data")
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", str(size))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return model


def save(model: onnx.ModelProto, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return path


def distinct_convs(count: int, *, size: int = 28) -> onnx.ModelProto:
    """A quick 1x1 conv, then ``count`` chained 3x3 convs with distinct channel counts (one MIP solve each)."""
    nodes = [helper.make_node("Conv", ["x", "w_first"], ["c_first"], name="first")]
    inits = [_weights("w_first", (16, 16, 1, 1), 9)]
    prev, ch = "c_first", 16
    for i in range(count):
        out_ch = 32 + 8 * i
        inits.append(_weights(f"w{i}", (out_ch, ch, 3, 3), 10 + i))
        nodes.append(helper.make_node("Conv", [prev, f"w{i}"], [f"c{i}"], name=f"conv{i}", pads=[1, 1, 1, 1]))
        prev, ch = f"c{i}", out_ch
    graph = helper.make_graph(nodes, "distinct_convs",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, size, size])],
                              [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, ch, size, size])], inits)
    return helper.make_model(graph, opset_imports=OPSET)


def small_mlp() -> onnx.ModelProto:
    """Three small matmul/gemm layers and a 1x1 conv: every layer solves to proven optimality in ~1 s."""
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h1"], name="mm1"),
        helper.make_node("Relu", ["h1"], ["r1"], name="relu1"),
        helper.make_node("Gemm", ["r1", "w2", "b2"], ["h2"], name="gemm2"),
        helper.make_node("MatMul", ["h2", "w3"], ["y"], name="mm3"),
        helper.make_node("Conv", ["img", "wc"], ["z"], name="conv1x1"),
    ]
    inits = [_weights("w1", (16, 8), 21), _weights("w2", (8, 12), 22), _weights("b2", (12,), 23),
             _weights("w3", (12, 6), 24), _weights("wc", (4, 4, 1, 1), 25)]
    graph = helper.make_graph(
        nodes, "small_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 16]),
         helper.make_tensor_value_info("img", TensorProto.FLOAT, [1, 4, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 6]),
         helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 4, 4, 4])], inits)
    return helper.make_model(graph, opset_imports=OPSET, producer_name="cosa-onnx-tests")
