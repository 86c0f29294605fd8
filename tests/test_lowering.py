"""The lowering into ONNX metadata: round trip, checker, onnxruntime bit-identical, nothing else touched.

These tests write annotations directly (schedules from ``trivial_schedule``: the lowering does not
care where a schedule came from); the end-to-end compile is in test_pipeline.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from cosa_onnx import __version__
from cosa_onnx.annotations import (
    MODEL_ARCH,
    MODEL_ARCH_SHA256,
    MODEL_ARCH_SPEC,
    NODE_METADATA_MIN_IR_VERSION,
    NODE_SCHEDULE,
    NetworkAnnotation,
    NodeAnnotation,
    annotate_proto,
    props_of,
    read_annotations,
)
from cosa_onnx.errors import CosaError, ModelLoadError
from cosa_onnx.hwmodels.loader import load_spec
from cosa_onnx.pipeline import external_locations, save_model
from cosa_onnx.problem import LoopProblem
from cosa_onnx.schedule import trivial_schedule


def conv_model(ir_version: int = 8) -> onnx.ModelProto:
    """x[1,3,8,8] -> Conv(4x3x3x3, pad 1) -> Relu -> Conv(2x4x1x1) -> y, real random weights."""
    rng = np.random.default_rng(0)
    w0 = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w0")
    w1 = numpy_helper.from_array(rng.standard_normal((2, 4, 1, 1)).astype(np.float32), "w1")
    nodes = [
        helper.make_node("Conv", ["x", "w0"], ["a"], name="conv0", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["a"], ["b"], name="relu0"),
        helper.make_node("Conv", ["b", "w1"], ["y"], name=""),  # unnamed on purpose
    ]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 8, 8])], [w0, w1])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=ir_version)


def annotations_for_conv_model() -> tuple[list[NodeAnnotation], NetworkAnnotation]:
    spec = load_spec("simba")
    problems = [(0, LoopProblem(name="conv0", r=3, s=3, p=8, q=8, c=3, k=4, w_pad=(1, 1), h_pad=(1, 1))),
                (2, LoopProblem(name="Conv_2", p=8, q=8, c=4, k=2))]
    nodes = []
    for index, problem in problems:
        schedule = trivial_schedule(problem, spec)
        nodes.append(NodeAnnotation(node_index=index, problem=problem, schedule=schedule,
                                    cycles=schedule.compute_cycles, energy_pj=0.1 + index / 3, op_type="Conv"))
    network = NetworkAnnotation(version=__version__, spec=spec, totals={"cycles": sum(n.cycles for n in nodes)},
                                model_name="tiny",
                                unscheduled=({"node_name": "relu0", "op_type": "Relu", "input_words": 256,
                                              "output_words": 256},))
    return nodes, network


def annotated_conv_model(ir_version: int = 8) -> tuple[onnx.ModelProto, onnx.ModelProto]:
    original = conv_model(ir_version)
    annotated = onnx.ModelProto()
    annotated.CopyFrom(original)
    annotate_proto(annotated, *annotations_for_conv_model())
    return original, annotated


def run(model: onnx.ModelProto | str, x: np.ndarray) -> np.ndarray:
    source = model if isinstance(model, str) else model.SerializeToString()
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"x": x})[0])


def test_round_trip_reads_back_what_was_written(tmp_path: Path) -> None:
    nodes, network = annotations_for_conv_model()
    _, annotated = annotated_conv_model()
    path = save_model(annotated, tmp_path / "tiny.cosa.onnx")
    back = read_annotations(onnx.load(str(path)))
    assert [(n.node_index, n.problem, n.schedule, n.cycles, n.energy_pj) for n in back.nodes] == \
        [(n.node_index, n.problem, n.schedule, n.cycles, n.energy_pj) for n in nodes]
    assert back.network.spec == network.spec
    assert dict(back.network.totals) == dict(network.totals)
    assert list(back.network.unscheduled) == [dict(u) for u in network.unscheduled]
    assert back.network.model_name == "tiny" and back.network.version == __version__


def test_checker_and_onnxruntime_bit_identical() -> None:
    original, annotated = annotated_conv_model()
    onnx.checker.check_model(annotated, full_check=True)
    x = np.random.default_rng(1).standard_normal((1, 3, 8, 8)).astype(np.float32)
    assert run(annotated, x).tobytes() == run(original, x).tobytes()


def test_only_metadata_changes() -> None:
    original, annotated = annotated_conv_model()
    assert annotated.ir_version == NODE_METADATA_MIN_IR_VERSION
    for before, after in zip(original.graph.node, annotated.graph.node, strict=True):
        assert list(after.attribute) == list(before.attribute)
        stripped = onnx.NodeProto()
        stripped.CopyFrom(after)
        del stripped.metadata_props[:]
        assert stripped == before
    assert list(annotated.graph.initializer) == list(original.graph.initializer)
    assert NODE_SCHEDULE not in props_of(annotated.graph.node[1].metadata_props)  # Relu untouched
    props = props_of(annotated.metadata_props)
    assert props[MODEL_ARCH] == "simba" and len(props[MODEL_ARCH_SHA256]) == 64


def test_newer_ir_version_is_kept() -> None:
    _, annotated = annotated_conv_model(ir_version=11)
    assert annotated.ir_version == 11


def test_annotating_twice_replaces_keys() -> None:
    _, annotated = annotated_conv_model()
    annotate_proto(annotated, *annotations_for_conv_model())
    keys = [e.key for e in annotated.graph.node[0].metadata_props]
    assert len(keys) == len(set(keys))
    onnx.checker.check_model(annotated)


def test_wrong_node_is_refused() -> None:
    nodes, network = annotations_for_conv_model()
    bad = [NodeAnnotation(node_index=1, problem=nodes[0].problem, schedule=nodes[0].schedule, cycles=1,
                          energy_pj=1.0, op_type="Conv")]
    with pytest.raises(CosaError, match="Relu"):
        annotate_proto(conv_model(), bad, network)


def test_unannotated_and_tampered_models_are_refused() -> None:
    with pytest.raises(ModelLoadError, match="cosa-onnx compile"):
        read_annotations(conv_model())
    _, annotated = annotated_conv_model()
    for entry in annotated.metadata_props:
        if entry.key == MODEL_ARCH_SPEC:
            entry.value = entry.value.replace('"instances": 1024', '"instances": 512', 1)
    with pytest.raises(ModelLoadError, match="sha256"):
        read_annotations(annotated)


def test_external_data_copy_still_finds_its_data(tmp_path: Path) -> None:
    src_dir, out_dir = tmp_path / "src", tmp_path / "out"
    src_dir.mkdir()
    out_dir.mkdir()
    original = conv_model()
    onnx.save_model(original, str(src_dir / "m.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="m.data", size_threshold=0)
    data_before = (src_dir / "m.data").read_bytes()
    proto = onnx.load(str(src_dir / "m.onnx"), load_external_data=False)
    assert external_locations(proto) == ["m.data"]
    annotate_proto(proto, *annotations_for_conv_model())
    x = np.random.default_rng(2).standard_normal((1, 3, 8, 8)).astype(np.float32)
    expected = run(str(src_dir / "m.onnx"), x)
    same_dir = save_model(proto, src_dir / "m.cosa.onnx", source_dir=src_dir)
    other_dir = save_model(proto, out_dir / "m.cosa.onnx", source_dir=src_dir)
    assert run(str(same_dir), x).tobytes() == expected.tobytes()
    assert run(str(other_dir), x).tobytes() == expected.tobytes()
    assert (src_dir / "m.data").read_bytes() == data_before == (out_dir / "m.data").read_bytes()
    onnx.checker.check_model(str(other_dir), full_check=True)


def test_unwritable_output_leaves_nothing(tmp_path: Path) -> None:
    _, annotated = annotated_conv_model()
    with pytest.raises(CosaError, match="cannot write"):
        save_model(annotated, tmp_path / "missing-dir" / "m.cosa.onnx")
    assert list(tmp_path.iterdir()) == []
