"""Importer: one tiny ONNX-text fixture per op/attribute combination (tests/fixtures/importer)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from importer_helpers import fixture_model, zero_feeds

from cosa_onnx.errors import ShapeError
from cosa_onnx.importer import import_model
from cosa_onnx.problem import Dim, LoopProblem

# fixture -> expected fields of each layer, in graph order (fields not listed must keep their defaults)
EXPECTED: dict[str, list[dict[str, Any]]] = {
    "conv_nonsquare_asym_stride": [dict(r=5, s=3, p=10, q=10, c=3, k=8, w_stride=3, h_stride=2,
                                        w_pad=(2, 1), h_pad=(1, 0))],
    "conv_dilation2": [dict(r=3, s=3, p=16, q=16, c=4, k=6, w_dilation=2, h_dilation=2, w_pad=(2, 2), h_pad=(2, 2))],
    "conv_depthwise": [dict(g=32, r=3, s=3, p=7, q=7, c=1, k=1, n=2, w_stride=2, h_stride=2,
                            w_pad=(1, 1), h_pad=(1, 1))],
    "conv_grouped": [dict(g=4, r=3, s=3, p=8, q=8, c=4, k=8, w_pad=(1, 1), h_pad=(1, 1))],
    "conv1d": [dict(r=5, p=50, c=16, k=32, w_stride=2, w_pad=(2, 2))],
    "conv_autopad_same_upper": [dict(r=4, s=4, p=8, q=8, c=3, k=4, w_stride=2, h_stride=2, w_pad=(1, 2), h_pad=(1, 2))],
    "conv_autopad_same_lower": [dict(r=4, s=4, p=8, q=8, c=3, k=4, w_stride=2, h_stride=2, w_pad=(2, 1), h_pad=(2, 1))],
    "conv_autopad_valid": [dict(r=4, s=4, p=6, q=6, c=3, k=4, w_stride=2, h_stride=2)],
    "gemm_transa": [dict(op_type="Gemm", p=8, c=64, k=32)],
    "gemm_transb": [dict(op_type="Gemm", p=8, c=64, k=32)],
    "matmul_batched_weight": [dict(op_type="MatMul", p=60, c=20, k=30)],
    "matmul_shared_left": [dict(op_type="MatMul", p=120, c=20, k=10)],
    "matmul_broadcast": [dict(op_type="MatMul", g=6, p=10, c=20, k=30)],
    "attention": [dict(op_type="MatMul", g=12, p=128, c=64, k=128), dict(op_type="MatMul", g=12, p=128, c=128, k=64)],
    "quantized": [
        dict(op_type="QLinearConv", r=3, s=3, p=8, q=8, c=8, k=16, weight_bits=8, input_bits=8, output_bits=8),
        dict(op_type="ConvInteger", r=3, s=3, p=8, q=8, c=8, k=16, weight_bits=8, input_bits=8, output_bits=32),
        dict(op_type="QLinearMatMul", p=4, c=32, k=16, weight_bits=8, input_bits=8, output_bits=8),
        dict(op_type="MatMulInteger", p=4, c=32, k=16, weight_bits=8, input_bits=8, output_bits=32),
    ],
    "opset11": [dict(r=3, s=3, p=30, q=30, c=3, k=16), dict(op_type="Gemm", p=1, c=14400, k=10)],
    "opset_newest": [dict(r=3, s=3, p=30, q=30, c=3, k=16), dict(op_type="MatMul", p=480, c=30, k=10)],
    "weights_computed": [dict(c=4, k=8, p=8, q=8), dict(c=8, k=8, p=8, q=8), dict(r=3, s=3, c=8, k=6, p=6, q=6)],
    "symbolic_fallback": [dict(r=3, s=3, p=6, q=6, c=3, k=4)],
}
_FLOAT_BITS = {"weight_bits": 32, "input_bits": 32, "output_bits": 32}


def _expected_problem(name: str, fields: dict[str, Any]) -> LoopProblem:
    merged = {"op_type": "Conv", **_FLOAT_BITS, **fields}
    return LoopProblem(name=name, **merged)


@pytest.mark.parametrize("fixture", sorted(EXPECTED))
def test_fixture_imports_to_expected_problems(fixture: str) -> None:
    imported = import_model(fixture_model(fixture))
    got = [layer.problem for layer in imported.layers]
    want = [_expected_problem(p.name, fields) for p, fields in zip(got, EXPECTED[fixture], strict=False)]
    assert len(got) == len(EXPECTED[fixture])
    assert got == want
    assert all(layer.problem.name == layer.node_name for layer in imported.layers)


# Every fixture whose graph outputs are produced directly by layers: onnxruntime's actual output
# size must equal the size of the loop nest's output tensor (G*N*K*P*Q).
_RUNNABLE = ["conv_nonsquare_asym_stride", "conv_dilation2", "conv_depthwise", "conv_grouped", "conv1d",
             "conv_autopad_same_upper", "conv_autopad_same_lower", "conv_autopad_valid", "gemm_transa",
             "gemm_transb", "matmul_batched_weight", "matmul_shared_left", "matmul_broadcast", "attention",
             "opset_newest"]


@pytest.mark.parametrize("fixture", _RUNNABLE)
def test_output_size_matches_onnxruntime(fixture: str) -> None:
    model = fixture_model(fixture)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    outputs = session.run(None, zero_feeds(model))
    last = import_model(model).layers[-1].problem
    out_dims = (Dim.G, Dim.N, Dim.K, Dim.P, Dim.Q)
    assert outputs[-1].size == math.prod(last.bound(d) for d in out_dims)


def test_conv_macs_match_a_direct_count() -> None:
    """MACs of a strided, dilated, padded conv = output elements x (C_in/group * kH * kW)."""
    problem = import_model(fixture_model("conv_nonsquare_asym_stride")).layers[0].problem
    assert problem.macs == (1 * 8 * 10 * 10) * (3 * 3 * 5)


def test_dynamic_batch_without_binding_names_node_and_flags() -> None:
    with pytest.raises(ShapeError) as info:
        import_model(fixture_model("dynamic_batch"))
    message = str(info.value)
    assert "'Conv_0'" in message and "--batch" in message and "--input-shape image=" in message
    assert "\n" not in message


@pytest.mark.parametrize("kwargs", [{"batch": 3}, {"input_shapes": {"image": [3, 3, 16, 16]}}])
def test_dynamic_batch_bound(kwargs: dict[str, Any]) -> None:
    layers = import_model(fixture_model("dynamic_batch"), **kwargs).layers
    assert [(lay.problem.n, lay.problem.p, lay.problem.q) for lay in layers] == [(3, 14, 14), (1, 3, 1)]
    assert layers[1].problem.c == 8 * 14 * 14


def test_fixed_batch_one_is_rebound() -> None:
    layers = import_model(fixture_model("opset11"), batch=4).layers
    assert layers[0].problem.n == 4 and layers[1].problem.p == 4


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"input_shapes": {"nope": [1, 3, 16, 16]}}, "no input 'nope'"),
    ({"input_shapes": {"image": [1, 3, 16]}}, "rank 4"),
    ({"input_shapes": {"image": [0, 3, 16, 16]}}, "positive"),
    ({"batch": 0}, "positive"),
])
def test_bad_bindings_are_shape_errors(kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(ShapeError, match=needle):
        import_model(fixture_model("dynamic_batch"), **kwargs)


def test_zero_dim_is_a_shape_error() -> None:
    text = """<ir_version: 8, opset_import: ["" : 17]>
    z (float[1,0,8,8] x, float[4,0,3,3] w) => (float[1,4,6,6] y) { y = Conv(x, w) }"""
    with pytest.raises(ShapeError, match="zero or negative"):
        import_model(onnx.parser.parse_model(text))


def test_unscheduled_ops_names_and_graph() -> None:
    imported = import_model(fixture_model("mixed_graph"))
    assert [lay.node_name for lay in imported.layers] == ["dup", "Conv_2", "Conv_4"]
    ops = {op.node_name: op for op in imported.unscheduled}
    assert sorted(ops) == ["Add_3", "Conv_5", "Relu_1"]
    assert ops["Conv_5"].op_type == "Conv"  # 3-D conv: reported, not scheduled, no crash
    assert ops["Relu_1"].input_words == ops["Relu_1"].output_words == 8 * 8 * 8
    assert ops["Conv_5"].output_words == 2 * 4 * 2 * 2
    assert set(imported.graph.edges) == {("dup", "Conv_2"), ("Conv_2", "Conv_4"), ("dup", "Conv_4")}
    assert list(imported.graph.nodes) == ["dup", "Conv_2", "Conv_4"]


def test_unknown_op_counts_none_when_shapes_unknown() -> None:
    text = """<ir_version: 8, opset_import: ["" : 17, "custom.domain" : 1]>
    u (float[1,3,8,8] x) => (float[1,3,8,8] y) { y = custom.domain.Mystery(x) }"""
    imported = import_model(onnx.parser.parse_model(text))
    assert imported.layers == ()
    (op,) = imported.unscheduled
    assert (op.op_type, op.input_words) == ("Mystery", 3 * 8 * 8)
    assert op.output_words is None or op.output_words == 3 * 8 * 8


def test_import_does_not_modify_the_callers_model() -> None:
    model = fixture_model("dynamic_batch")
    before = model.SerializeToString()
    import_model(model, batch=2)
    assert model.SerializeToString() == before


def test_ir_round_trip_and_shape_key_dedup() -> None:
    imported = import_model(fixture_model("mixed_graph"))
    for layer in imported.layers:
        assert LoopProblem.from_json(layer.problem.to_json()) == layer.problem
        assert LoopProblem.from_dict(layer.problem.to_dict()) == layer.problem
    first, _, last = (layer.problem for layer in imported.layers)
    assert first.name != last.name and first.shape_key() == last.shape_key()
    assert len({layer.problem.shape_key() for layer in imported.layers}) == 2


def test_local_functions_are_inlined() -> None:
    text = """<ir_version: 8, opset_import: ["" : 17, "local" : 1]>
    f (float[1,3,8,8] x, float[4,3,3,3] w) => (float[1,4,6,6] y) { y = local.Block(x, w) }
    <domain: "local", opset_import: ["" : 17]>
    Block (a, b) => (c) { c = Conv(a, b) }"""
    imported = import_model(onnx.parser.parse_model(text))
    assert [lay.problem.k for lay in imported.layers] == [4]


def test_weights_as_initializers_read_no_values() -> None:
    """Big initializers are dropped before inference; the result is the same as for graph-input weights."""
    model = fixture_model("conv_grouped")
    weight = np.ones((32, 4, 3, 3), dtype=np.float32)
    model.graph.initializer.append(onnx.numpy_helper.from_array(weight, "w"))
    assert import_model(model).layers[0].problem.g == 4


def test_symbolic_fallback_with_big_constant_and_initializer() -> None:
    """onnxruntime's inference still runs when weights are stripped and a Constant node is large."""
    text = """<ir_version: 8, opset_import: ["" : 17, "com.microsoft" : 1]>
    f (float[1,3,8,8] x, float[8] b) => (float[1,4,6,6] y) {
      big = Constant <value = float[1,3,8,8] {FILL}> ()
      s = Add(x, big)
      g = com.microsoft.BiasGelu(s, b)
      y = Conv(g, w)
    }""".replace("FILL", ",".join(["0.5"] * 192))
    model = onnx.parser.parse_model(text)
    model.graph.initializer.append(onnx.numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w"))
    model.graph.input.append(onnx.helper.make_tensor_value_info("w", onnx.TensorProto.FLOAT, [4, 3, 3, 3]))
    assert import_model(model).layers[0].problem.c == 3


@pytest.mark.parametrize(("a", "b", "pck"), [([20], [20, 30], (1, 20, 30)), ([10, 20], [20], (10, 20, 1)),
                                             ([3, 10, 20], [20], (30, 20, 1))])
def test_matmul_vector_operands(a: list[int], b: list[int], pck: tuple[int, int, int]) -> None:
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("MatMul", ["a", "b"], ["y"])], "v",
        [onnx.helper.make_tensor_value_info("a", onnx.TensorProto.FLOAT, a),
         onnx.helper.make_tensor_value_info("b", onnx.TensorProto.FLOAT, b)],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    (layer,) = import_model(model).layers
    assert (layer.problem.p, layer.problem.c, layer.problem.k) == pck and layer.node_name == "MatMul_0"


def test_fixed_batch_other_than_one_is_kept_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    model = fixture_model("conv_depthwise")  # fixed batch 2
    assert import_model(model, batch=8).layers[0].problem.n == 2
    assert "fixed first dim 2" in caplog.text


def test_shared_symbol_bound_on_every_input() -> None:
    text = """<ir_version: 8, opset_import: ["" : 17]>
    s (float[B,16,32] a, float[B,32,8] b) => (float[B,16,8] y) { y = MatMul(a, b) }"""
    (layer,) = import_model(onnx.parser.parse_model(text), input_shapes={"a": [5, 16, 32]}).layers
    assert (layer.problem.g, layer.problem.p, layer.problem.c, layer.problem.k) == (5, 16, 32, 8)


def test_unsorted_graph_is_imported_in_dataflow_order() -> None:
    model = fixture_model("mixed_graph")
    nodes = list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(reversed(nodes))
    imported = import_model(model)
    order = list(imported.graph.nodes)
    assert order == [layer.node_name for layer in imported.layers]
    assert [layer.node_index for layer in imported.layers] == [5, 3, 1]  # reversed file positions
    assert set(imported.graph.edges) == {(order[0], order[1]), (order[1], order[2]), (order[0], order[2])}


def test_precisions_follow_dtypes() -> None:
    text = """<ir_version: 8, opset_import: ["" : 17]>
    h (float16[4,32] a, float16[32,16] b) => (float16[4,16] y) { y = MatMul(a, b) }"""
    (layer,) = import_model(onnx.parser.parse_model(text)).layers
    assert (layer.problem.weight_bits, layer.problem.input_bits, layer.problem.output_bits) == (16, 16, 16)
    from cosa_onnx.onnx_shapes import element_bits

    assert element_bits(onnx.TensorProto.INT4) == 4 and element_bits(onnx.TensorProto.BFLOAT16) == 16
    assert element_bits(onnx.TensorProto.STRING) is None


def test_unsupported_conv_variant_is_warned(caplog: pytest.LogCaptureFixture) -> None:
    import_model(fixture_model("mixed_graph"))
    assert "'Conv_5' (Conv) is not scheduled (3-D convolution" in caplog.text


@pytest.mark.parametrize(("attrs", "needle"), [
    ("strides=[2]", "'strides' has 1 values"),
    ("pads=[1,1,1]", "'pads' has 3 values"),
    ("dilations=[0,1]", "must be positive"),
    ('auto_pad="SAME_MIDDLE"', "unknown auto_pad"),
])
def test_malformed_conv_attributes_are_shape_errors(attrs: str, needle: str) -> None:
    text = f"""<ir_version: 8, opset_import: ["" : 17]>
    m (float[1,3,8,8] x, float[4,3,3,3] w) => (float[1,4,?,?] y) {{ y = Conv <{attrs}> (x, w) }}"""
    with pytest.raises(ShapeError, match=needle) as info:
        import_model(onnx.parser.parse_model(text))
    assert "'Conv_0'" in str(info.value)


def test_layers_inside_subgraphs_are_reported(caplog: pytest.LogCaptureFixture) -> None:
    text = """<ir_version: 8, opset_import: ["" : 17]>
    s (bool cond, float[4,8] a, float[8,8] w) => (float[4,8] y) {
      y = If (cond) <then_branch = g1 () => (float[4,8] t) { t = MatMul(a, w) },
                     else_branch = g2 () => (float[4,8] e) { e = Identity(a) }>
    }"""
    imported = import_model(onnx.parser.parse_model(text))
    assert imported.layers == () and [op.op_type for op in imported.unscheduled] == ["If"]
    assert "'If_0' (If) has 1 conv/matmul node(s) in its subgraph(s)" in caplog.text
