"""``ScheduleLayersPass``: an onnx-ir analysis pass that schedules the layers ImportLayersPass found.

One CoSA MIP solve per distinct shape (through :func:`cosa_onnx.scheduling.schedule_problems`, with
its cache and worker processes); each layer node gets its
:class:`~cosa_onnx.report.LayerResult` (schedule, cost, bounds) in ``node.meta[META_RESULT]`` and the
model gets the :class:`~cosa_onnx.report.NetworkReport` in ``model.meta[META_REPORT]`` and the spec
in ``model.meta[META_SPEC]``. Nothing is saved into the model (that is ``LowerPass``'s job).
"""

from __future__ import annotations

import logging
import os

import onnx_ir as ir
from onnx_ir.passes import InPlacePass, PassResult, PostconditionError, PreconditionError

from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.passes.import_layers import META_IMPORTED, imported_of, layer_nodes
from cosa_onnx.pipeline import CompileOptions, ProgressCallback, resolve_spec, schedule_layers
from cosa_onnx.report import LayerResult, NetworkReport, build_report

logger = logging.getLogger(__name__)

META_RESULT = "cosa_onnx.layer_result"
META_REPORT = "cosa_onnx.report"
META_SPEC = "cosa_onnx.spec"


class ScheduleLayersPass(InPlacePass):
    """Analysis: schedule and cost every imported layer (meta only; requires ImportLayersPass)."""

    def __init__(self, arch: str | os.PathLike[str] | HardwareSpec = "simba", options: CompileOptions | None = None,
                 *, on_progress: ProgressCallback | None = None) -> None:
        super().__init__()
        self.spec = resolve_spec(arch)
        self.options = options or CompileOptions()
        self.on_progress = on_progress

    def requires(self, model: ir.Model) -> None:
        if imported_of(model) is None:
            raise PreconditionError(f"model.meta[{META_IMPORTED!r}] is missing: run ImportLayersPass first")

    def call(self, model: ir.Model) -> PassResult:
        imported = imported_of(model)
        assert imported is not None  # checked by requires()
        nodes = layer_nodes(model)
        results = schedule_layers([layer for _, layer in nodes], self.spec, self.options, self.on_progress)
        for (node, _), result in zip(nodes, results, strict=True):
            node.meta[META_RESULT] = result
        model.meta[META_REPORT] = build_report(results, imported.unscheduled, self.spec,
                                               model_name=imported.model_name)
        model.meta[META_SPEC] = self.spec
        return PassResult(model, modified=False)

    def ensures(self, model: ir.Model) -> None:
        if not isinstance(model.meta.get(META_REPORT), NetworkReport):
            raise PostconditionError(f"model.meta[{META_REPORT!r}] was not set")
        for node, layer in layer_nodes(model):
            if not isinstance(node.meta.get(META_RESULT), LayerResult):
                raise PostconditionError(f"layer {layer.node_name!r} has no schedule")
