"""``LowerPass``: save the schedules into the model's ``metadata_props`` (the only pass that edits).

Requires ImportLayersPass and ScheduleLayersPass to have run. Each scheduled node gets the
``cosa_onnx.*`` node keys and the model gets the model keys of :mod:`cosa_onnx.annotations`; the IR
version is raised to 10 if below (node metadata_props exist from IR 10). No node attributes,
initializers or graph structure change.
"""

from __future__ import annotations

import logging

import onnx_ir as ir
from onnx_ir.passes import InPlacePass, PassResult, PostconditionError, PreconditionError

from cosa_onnx.annotations import NODE_METADATA_MIN_IR_VERSION, NODE_SCHEDULE, NodeAnnotation
from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.passes.import_layers import imported_of, layer_nodes
from cosa_onnx.passes.schedule_layers import META_REPORT, META_RESULT, META_SPEC
from cosa_onnx.pipeline import network_annotation
from cosa_onnx.report import NetworkReport

logger = logging.getLogger(__name__)


class LowerPass(InPlacePass):
    """Write node and model ``metadata_props`` from the analysis results in ``meta``."""

    def requires(self, model: ir.Model) -> None:
        if imported_of(model) is None or not isinstance(model.meta.get(META_REPORT), NetworkReport):
            raise PreconditionError("no schedules in model.meta: run ImportLayersPass and ScheduleLayersPass first")

    def call(self, model: ir.Model) -> PassResult:
        imported = imported_of(model)
        report, spec = model.meta[META_REPORT], model.meta[META_SPEC]
        assert imported is not None and isinstance(spec, HardwareSpec)
        nodes = [(node, layer, node.meta[META_RESULT]) for node, layer in layer_nodes(model)]
        for index, (node, layer, result) in enumerate(nodes):
            ann = NodeAnnotation(node_index=index, problem=result.problem, schedule=result.schedule,
                                 cycles=int(result.cost.cycles), energy_pj=float(result.cost.energy_pj),
                                 op_type=layer.op_type)
            node.metadata_props.update(ann.to_props())
        network = network_annotation(report, spec, imported.unscheduled)
        model.metadata_props.update(network.to_props())
        if nodes and model.ir_version < NODE_METADATA_MIN_IR_VERSION:
            model.ir_version = NODE_METADATA_MIN_IR_VERSION
        logger.debug("LowerPass: annotated %d nodes", len(nodes))
        return PassResult(model, modified=True)

    def ensures(self, model: ir.Model) -> None:
        for node, layer in layer_nodes(model):
            if NODE_SCHEDULE not in node.metadata_props:
                raise PostconditionError(f"layer {layer.node_name!r} was not annotated")
