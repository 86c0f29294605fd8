"""The three passes in an onnx-ir PassManager, beside a stock onnx-ir pass; requires/ensures enforced."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnx_ir as ir
import pytest
from onnx_ir.passes import InPlacePass, PassManager, PassResult, PreconditionError
from onnx_ir.passes.common import ClearMetadataAndDocStringPass

import cosa_onnx
from cosa_onnx.annotations import NODE_METADATA_MIN_IR_VERSION, NODE_PROBLEM, NODE_SCHEDULE, read_annotations
from cosa_onnx.passes.import_layers import META_IMPORTED, META_LAYER, ImportLayersPass
from cosa_onnx.passes.lower import LowerPass
from cosa_onnx.passes.schedule_layers import META_REPORT, META_RESULT, ScheduleLayersPass
from cosa_onnx.pipeline import CompileOptions
from cosa_onnx.problem import LoopProblem
from cosa_onnx.report import without_timing

TINY = Path(__file__).resolve().parents[1] / "models" / "tiny_cnn.onnx"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One schedule cache for this session's compile tests (each tiny-CNN shape is solved once)."""
    return tmp_path_factory.getbasetemp() / "tiny-cnn-schedule-cache"


def _options(cache_dir: Path) -> CompileOptions:
    return CompileOptions(time_limit_s=0.5, jobs=1, cache_dir=cache_dir)


def test_pass_manager_runs_the_passes_beside_other_passes(cache_dir: Path) -> None:
    model = ir.load(str(TINY))
    manager = PassManager([
        ClearMetadataAndDocStringPass(),          # an unrelated stock pass first
        ImportLayersPass(),
        ScheduleLayersPass("simba", _options(cache_dir)),
        LowerPass(),
    ])
    result = manager(model)
    assert result.modified and result.model is model
    imported = model.meta[META_IMPORTED]
    for layer in imported.layers:
        node = model.graph.node(layer.node_index)
        assert node.meta[META_LAYER] is layer                       # analysis objects: meta, not saved
        assert node.meta[META_RESULT].node_name == layer.node_name
        assert NODE_SCHEDULE in node.metadata_props                 # saved results: metadata_props
    assert model.ir_version >= NODE_METADATA_MIN_IR_VERSION
    proto = ir.serde.serialize_model(model)
    onnx.checker.check_model(proto, full_check=True)
    # Same schedules and report as the one-call API (same cache: the MIP runs once per shape).
    api = cosa_onnx.compile(onnx.load(str(TINY)), arch="simba", time_limit_s=0.5, jobs=1, cache_dir=cache_dir)
    back = read_annotations(proto)
    assert {n.node_name: n.schedule for n in back.nodes} == dict(api.schedules)
    assert without_timing(model.meta[META_REPORT].to_dict()) == without_timing(api.report.to_dict())


class PrependConstantPass(InPlacePass):
    """A stand-in for any graph-editing pass: adds an unused node at the front (node indices shift)."""

    def call(self, model: ir.Model) -> PassResult:
        const = ir.node("Constant", inputs=[], attributes={"value": ir.tensor(np.array([1.0], dtype=np.float32))})
        model.graph.insert_before(model.graph.node(0), const)
        return PassResult(model, modified=True)


def test_graph_edits_between_passes_keep_schedules_on_their_nodes(cache_dir: Path) -> None:
    model = ir.load(str(TINY))
    PassManager([ImportLayersPass(), PrependConstantPass(), ScheduleLayersPass("simba", _options(cache_dir)),
                 LowerPass()])(model)
    annotated = [node for node in model.graph if NODE_SCHEDULE in node.metadata_props]
    assert [node.name for node in annotated] == [layer.node_name for layer in model.meta[META_IMPORTED].layers]
    for node in annotated:
        assert LoopProblem.from_json(node.metadata_props[NODE_PROBLEM]).name == node.name
    onnx.checker.check_model(ir.serde.serialize_model(model))


def test_analysis_passes_do_not_modify_the_model() -> None:
    model = ir.load(str(TINY))
    result = ImportLayersPass()(model)
    assert not result.modified
    assert all(not node.metadata_props for node in model.graph)


def test_schedule_pass_requires_import_pass() -> None:
    with pytest.raises(PreconditionError, match="ImportLayersPass"):
        ScheduleLayersPass("simba")(ir.load(str(TINY)))


def test_lower_pass_requires_schedules() -> None:
    model = ir.load(str(TINY))
    ImportLayersPass()(model)
    with pytest.raises(PreconditionError, match="ScheduleLayersPass"):
        LowerPass()(model)
