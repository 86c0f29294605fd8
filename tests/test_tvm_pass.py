"""The TVM Relax pass: conversion of Relax calls to loop problems, and the pass end to end.

The shape-conversion tests run everywhere; the rest need apache-tvm (``pip install 'cosa-onnx[tvm]'``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from cosa_onnx.hwmodels.loader import load_spec
from cosa_onnx.schedule import check
from cosa_onnx.tvm_pass import UnsupportedCallError, conv2d_problem, matmul_problem

TVM_REASON = "apache-tvm is not installed (pip install 'cosa-onnx[tvm]')"


# ---- pure shape conversion ---------------------------------------------------------------------

def test_conv2d_problem_maps_layout_pads_and_groups() -> None:
    problem = conv2d_problem("c", data_shape=[2, 8, 9, 9], weight_shape=[16, 1, 3, 3], out_shape=[2, 16, 9, 6],
                             strides=[1, 2], padding=[0, 1, 2, 3], dilation=[1, 1], groups=8)
    assert (problem.g, problem.c, problem.k, problem.n) == (8, 1, 2, 2)
    assert (problem.r, problem.s, problem.p, problem.q) == (3, 3, 6, 9)
    assert (problem.w_stride, problem.h_stride) == (2, 1)
    assert problem.w_pad == (1, 3) and problem.h_pad == (0, 2)


def test_conv2d_problem_reads_nhwc_layouts() -> None:
    nchw = conv2d_problem("a", data_shape=[1, 3, 8, 10], weight_shape=[4, 3, 3, 5], out_shape=[1, 4, 6, 6],
                          strides=[1, 1], padding=[0], dilation=[1, 1], groups=1)
    nhwc = conv2d_problem("a", data_shape=[1, 8, 10, 3], weight_shape=[3, 5, 3, 4], out_shape=[1, 6, 6, 4],
                          strides=[1, 1], padding=[0], dilation=[1, 1], groups=1,
                          data_layout="NHWC", kernel_layout="HWIO", out_layout="NHWC")
    assert nchw == nhwc
    assert (nchw.r, nchw.s) == (5, 3)


def test_conv2d_problem_refuses_blocked_layouts_and_zero_dims() -> None:
    with pytest.raises(UnsupportedCallError, match="layout"):
        conv2d_problem("a", data_shape=[1, 1, 8, 8, 4], weight_shape=[4, 4, 3, 3], out_shape=[1, 4, 6, 6],
                       strides=[1, 1], padding=[0], dilation=[1, 1], groups=1, data_layout="NCHW4c")
    with pytest.raises(UnsupportedCallError, match="zero or negative"):
        conv2d_problem("a", data_shape=[0, 3, 8, 8], weight_shape=[4, 3, 3, 3], out_shape=[0, 4, 6, 6],
                       strides=[1, 1], padding=[0], dilation=[1, 1], groups=1)


@pytest.mark.parametrize(("a", "b", "expected_gpck"), [
    ([7, 5], [5, 3], (1, 7, 5, 3)),
    ([4, 7, 5], [5, 3], (1, 28, 5, 3)),          # batch of A folds into M: B is a shared weight
    ([4, 7, 5], [4, 5, 3], (4, 7, 5, 3)),        # batched both sides: G = batch
    ([2, 1, 7, 5], [3, 5, 3], (6, 7, 5, 3)),     # broadcast batch
    ([5], [5, 3], (1, 1, 5, 3)),                 # vector @ matrix
    ([7, 5], [5], (1, 7, 5, 1)),                 # matrix @ vector
])
def test_matmul_problem(a: list[int], b: list[int], expected_gpck: tuple[int, int, int, int]) -> None:
    problem = matmul_problem("m", a_shape=a, b_shape=b)
    assert (problem.g, problem.p, problem.c, problem.k) == expected_gpck
    # every output element takes one MAC per contracted element
    assert problem.macs == np.matmul(np.zeros(a), np.zeros(b)).size * a[-1]


def test_matmul_problem_refuses_mismatched_shapes() -> None:
    with pytest.raises(UnsupportedCallError, match="inner dims differ"):
        matmul_problem("m", a_shape=[7, 5], b_shape=[4, 3])
    with pytest.raises(UnsupportedCallError, match="broadcast"):
        matmul_problem("m", a_shape=[2, 7, 5], b_shape=[3, 5, 3])


# ---- the pass on a real Relax module -----------------------------------------------------------

def _small_model() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.standard_normal((16, 3, 3, 3)).astype(np.float32), "w1"),
        numpy_helper.from_array(rng.standard_normal((16, 1, 3, 3)).astype(np.float32), "w2"),
        numpy_helper.from_array(rng.standard_normal((10, 16)).astype(np.float32), "fc_w"),
        numpy_helper.from_array(rng.standard_normal((10,)).astype(np.float32), "fc_b"),
        numpy_helper.from_array(rng.standard_normal((8, 6)).astype(np.float32), "dyn_w"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 0, 1, 2], strides=[2, 2]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], name="dw", group=16, pads=[1, 1, 1, 1]),
        helper.make_node("GlobalAveragePool", ["c2"], ["gp"], name="gap"),
        helper.make_node("Flatten", ["gp"], ["f"], name="flat"),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["y"], name="fc", transB=1),
        helper.make_node("MatMul", ["d", "dyn_w"], ["z"], name="dyn"),
    ]
    graph = helper.make_graph(
        nodes, "tvm_small",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 17, 16]),
         helper.make_tensor_value_info("d", TensorProto.FLOAT, ["batch", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10]),
         helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 6])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


@pytest.fixture(scope="module")
def relax_module(tmp_path_factory: pytest.TempPathFactory) -> Any:
    pytest.importorskip("tvm", reason=TVM_REASON)
    from tvm.relax.frontend.onnx import from_onnx

    path = Path(tmp_path_factory.mktemp("tvm")) / "small.onnx"
    onnx.save(_small_model(), path)
    return from_onnx(onnx.load(path), keep_params_in_input=False)


def test_extract_calls_finds_conv_and_matmul(relax_module: Any) -> None:
    from cosa_onnx.tvm_pass import extract_calls

    found = extract_calls(relax_module)
    by_shape = sorted((lay.op_name, lay.problem.bounds["K"], lay.problem.bounds["G"]) for lay in found.layers)
    assert by_shape == [("relax.matmul", 10, 1), ("relax.nn.conv2d", 1, 16), ("relax.nn.conv2d", 16, 1)]
    conv1 = next(lay.problem for lay in found.layers if lay.problem.k == 16)
    # 17x16 input, pads top 1 / left 0 / bottom 1 / right 2, stride 2: (17+2-3)//2+1 rows, (16+2-3)//2+1 columns
    assert (conv1.q, conv1.p, conv1.h_pad, conv1.w_pad) == (9, 8, (1, 1), (0, 2))
    assert [s.reason for s in found.skipped] == ["dimension 'batch' is symbolic; bind it, e.g. bind={'batch': 1}"]
    bound = extract_calls(relax_module, bind={"batch": 5})
    assert not bound.skipped
    assert any(lay.problem.p == 5 and lay.problem.c == 8 and lay.problem.k == 6 for lay in bound.layers)


def test_relax_and_onnx_importer_agree(relax_module: Any) -> None:
    from cosa_onnx.importer import import_model
    from cosa_onnx.tvm_pass import extract_calls

    onnx_keys = sorted(layer.problem.shape_key() for layer in import_model(_small_model(), input_shapes={"d": [3, 8]}).layers)
    relax_keys = sorted(layer.problem.shape_key() for layer in extract_calls(relax_module, bind={"batch": 3}).layers)
    assert relax_keys == onnx_keys
    assert len(onnx_keys) == 4


def test_pass_attaches_valid_schedules_and_leaves_program_alone(relax_module: Any, tmp_path: Path) -> None:
    import tvm

    from cosa_onnx.passes.cosa_mip import MipOptions
    from cosa_onnx.tvm_pass import SCHEDULES_ATTR, cosa_schedule_pass, read_document, read_schedules

    spec = load_spec("simba")
    options = MipOptions(time_limit_s=0.5)
    pass_ = cosa_schedule_pass(arch="simba", options=options, cache_dir=tmp_path / "cache", use_cache=False)
    assert isinstance(pass_, tvm.transform.ModulePass)
    with tvm.transform.PassContext(opt_level=3):
        out = tvm.transform.Sequential([pass_])(relax_module)

    tvm.ir.assert_structural_equal(out["main"].body, relax_module["main"].body)
    document = read_document(out)
    assert document["arch"] == "simba" and document["arch_sha256"] == spec.content_hash()
    assert len(document["skipped"]) == 1 and "'batch' is symbolic" in next(iter(document["skipped"].values()))
    schedules = read_schedules(out)
    assert len(schedules) == 3
    from cosa_onnx.tvm_pass import extract_calls
    problems = {lay.key: lay.problem for lay in extract_calls(relax_module).layers}
    assert set(problems) == set(schedules)
    for key, schedule in schedules.items():
        assert check(problems[key], spec, schedule) == [], key
        assert document["calls"][key]["cycles"] >= schedule.compute_cycles
    func_attr = json.loads(str(out["main"].attrs[SCHEDULES_ATTR]))
    assert {f"main/{name}" for name in func_attr} == set(schedules)


@pytest.mark.parametrize("name", ["tiny_cnn", "resnet50", "mobilenet_v2", "bert_base"])
def test_shipped_models_agree_with_onnx_importer(name: str) -> None:
    """Every layer the ONNX importer schedules is found in the Relax module with the same loop problem."""
    pytest.importorskip("tvm", reason=TVM_REASON)
    from tvm.relax.frontend.onnx import from_onnx

    from cosa_onnx.importer import import_model
    from cosa_onnx.tvm_pass import extract_calls

    model = onnx.load(Path(__file__).resolve().parent.parent / "models" / f"{name}.onnx")
    found = extract_calls(from_onnx(model, keep_params_in_input=False))
    assert not found.skipped
    onnx_keys = sorted(layer.problem.shape_key() for layer in import_model(model).layers)
    assert sorted(layer.problem.shape_key() for layer in found.layers) == onnx_keys


def test_conv1d_matches_onnx_importer() -> None:
    pytest.importorskip("tvm", reason=TVM_REASON)
    from tvm.relax.frontend.onnx import from_onnx

    from cosa_onnx.importer import import_model
    from cosa_onnx.tvm_pass import extract_calls

    weights = numpy_helper.from_array(np.ones((4, 8, 3), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], name="c1d", pads=[2, 1], strides=[2], dilations=[2])], "conv1d",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8, 21])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4, 10])], [weights])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    (layer,) = extract_calls(from_onnx(model, keep_params_in_input=False)).layers
    (expected,) = import_model(model).layers
    assert layer.op_name == "relax.nn.conv1d"
    assert layer.problem.shape_key() == expected.problem.shape_key()
    assert (layer.problem.w_pad, layer.problem.p, layer.problem.s, layer.problem.q) == ((2, 1), 10, 1, 1)


def test_unknown_arch_is_a_spec_error() -> None:
    from cosa_onnx.errors import SpecError
    from cosa_onnx.tvm_pass import cosa_schedule_pass

    with pytest.raises(SpecError, match="no_such_arch"):
        cosa_schedule_pass(arch="no_such_arch")
