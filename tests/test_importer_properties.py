"""Property tests: random Conv / MatMul nodes import to loop nests whose output size and MAC count agree
with what onnxruntime actually computes (output shape) and with a direct count from the weight shape."""

from __future__ import annotations

import math

import numpy as np
import onnxruntime as ort
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from cosa_onnx.importer import import_model
from cosa_onnx.problem import Dim

_OUT = (Dim.G, Dim.N, Dim.K, Dim.P, Dim.Q)


def _run(model_bytes: bytes, feeds: dict[str, np.ndarray]) -> np.ndarray:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)[0]


@st.composite
def conv_cases(draw: st.DrawFn) -> dict[str, object]:
    spatial = draw(st.sampled_from([1, 2]))
    group = draw(st.sampled_from([1, 2, 4]))
    c_per_group, k_per_group = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kernel = [draw(st.integers(1, 4)) for _ in range(spatial)]
    strides = [draw(st.integers(1, 3)) for _ in range(spatial)]
    dilations = [draw(st.integers(1, 2)) for _ in range(spatial)]
    auto_pad = draw(st.sampled_from(["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"]))
    if auto_pad.startswith("SAME"):  # onnxruntime refuses dilation with SAME padding
        dilations = [1] * spatial
    pads = [draw(st.integers(0, 2)) for _ in range(2 * spatial)]
    size = [draw(st.integers((k - 1) * d + 1, 12)) for k, d in zip(kernel, dilations, strict=True)]
    return {"spatial": spatial, "group": group, "c": c_per_group, "k": k_per_group, "kernel": kernel,
            "strides": strides, "dilations": dilations, "auto_pad": auto_pad, "pads": pads, "size": size,
            "batch": draw(st.integers(1, 2))}


@settings(max_examples=40, deadline=None, derandomize=True)
@given(conv_cases())
def test_random_conv_matches_onnxruntime(case: dict[str, object]) -> None:
    group, c, k = int(case["group"]), int(case["c"]), int(case["k"])  # type: ignore[call-overload]
    kernel, size = list(case["kernel"]), list(case["size"])  # type: ignore[call-overload]
    x_shape = [int(case["batch"]), group * c, *size]  # type: ignore[call-overload]
    w_shape = [group * k, c, *kernel]
    attrs: dict[str, object] = {"group": group, "strides": case["strides"], "dilations": case["dilations"]}
    if case["auto_pad"] == "NOTSET":
        attrs["pads"] = case["pads"]
    else:
        attrs["auto_pad"] = case["auto_pad"]
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="conv", **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape),
                                            helper.make_tensor_value_info("w", TensorProto.FLOAT, w_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    x = np.ones(x_shape, np.float32)
    y = _run(model.SerializeToString(), {"x": x, "w": np.ones(w_shape, np.float32)})
    (layer,) = import_model(model).layers
    problem = layer.problem
    assert y.size == math.prod(problem.bound(d) for d in _OUT)
    assert problem.macs == y.size * c * math.prod(kernel)
    spatial_out = list(y.shape[2:])
    assert spatial_out == ([problem.p] if len(kernel) == 1 else [problem.q, problem.p])
    # with all-ones data, each output counts the unpadded taps it saw: never more than the halo covers
    assert y.max() <= c * math.prod(kernel)
    width = (problem.p - 1) * problem.w_stride + (problem.r - 1) * problem.w_dilation + 1
    assert width == size[-1] + sum(problem.w_pad) - _slack(size[-1] + sum(problem.w_pad), problem.r,
                                                           problem.w_stride, problem.w_dilation)


def _slack(padded: int, kernel: int, stride: int, dilation: int) -> int:
    """Input columns past the last window (floor division in the output-size formula)."""
    return (padded - ((kernel - 1) * dilation + 1)) % stride


@st.composite
def matmul_cases(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    m, kd, nd = draw(st.integers(1, 5)), draw(st.integers(1, 5)), draw(st.integers(1, 5))
    rank = draw(st.integers(0, 2))
    batch = [draw(st.integers(1, 3)) for _ in range(rank)]
    a_batch = [b if draw(st.booleans()) else 1 for b in batch][draw(st.integers(0, rank)):]
    b_batch = [b if draw(st.booleans()) else 1 for b in batch][draw(st.integers(0, rank)):]
    return [*a_batch, m, kd], [*b_batch, kd, nd]


@settings(max_examples=40, deadline=None, derandomize=True)
@given(matmul_cases())
def test_random_matmul_matches_onnxruntime(shapes: tuple[list[int], list[int]]) -> None:
    a_shape, b_shape = shapes
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["y"], name="mm")], "g",
                              [helper.make_tensor_value_info("a", TensorProto.FLOAT, a_shape),
                               helper.make_tensor_value_info("b", TensorProto.FLOAT, b_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    y = _run(model.SerializeToString(), {"a": np.ones(a_shape, np.float32), "b": np.ones(b_shape, np.float32)})
    (layer,) = import_model(model).layers
    problem = layer.problem
    assert y.size == math.prod(problem.bound(d) for d in _OUT)
    assert problem.macs == y.size * a_shape[-1]
    assert problem.c == a_shape[-1]
