"""``ImportLayersPass``: an onnx-ir analysis pass that finds the Conv/Gemm/MatMul layers of a model.

It changes nothing in the model. Each schedulable node gets its :class:`~cosa_onnx.importer.Layer`
in ``node.meta[META_LAYER]``; the model gets the whole :class:`~cosa_onnx.importer.ImportedModel` in
``model.meta[META_IMPORTED]``. Later passes (``ScheduleLayersPass``, ``LowerPass``) read those.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import onnx_ir as ir
from onnx_ir.passes import InPlacePass, PassResult, PostconditionError

from cosa_onnx.importer import ImportedModel, Layer, import_model

logger = logging.getLogger(__name__)

META_LAYER = "cosa_onnx.layer"
META_IMPORTED = "cosa_onnx.imported"


def layer_nodes(model: ir.Model) -> list[tuple[ir.Node, Layer]]:
    """The main graph's nodes that carry a Layer in ``meta``, in graph order (found by ``meta``, not
    by index, so passes that edit the graph in between do not misplace schedules)."""
    out: list[tuple[ir.Node, Layer]] = []
    for node in model.graph:
        layer = node.meta.get(META_LAYER)
        if isinstance(layer, Layer):
            out.append((node, layer))
    return out


def imported_of(model: ir.Model) -> ImportedModel | None:
    value = model.meta.get(META_IMPORTED)
    return value if isinstance(value, ImportedModel) else None


class ImportLayersPass(InPlacePass):
    """Analysis: attach a LoopProblem-bearing Layer to every Conv/Gemm/MatMul node (meta only)."""

    def __init__(self, *, batch: int | None = None, input_shapes: Mapping[str, Sequence[int]] | None = None) -> None:
        super().__init__()
        self.batch = batch
        self.input_shapes = input_shapes

    def call(self, model: ir.Model) -> PassResult:
        proto = ir.serde.serialize_model(model)
        imported = import_model(proto, batch=self.batch, input_shapes=self.input_shapes)
        for layer in imported.layers:
            model.graph.node(layer.node_index).meta[META_LAYER] = layer
        model.meta[META_IMPORTED] = imported
        logger.debug("ImportLayersPass: %d layers, %d unscheduled ops", len(imported.layers),
                     len(imported.unscheduled))
        return PassResult(model, modified=False)

    def ensures(self, model: ir.Model) -> None:
        imported = imported_of(model)
        if imported is None:
            raise PostconditionError(f"model.meta[{META_IMPORTED!r}] was not set")
        for layer in imported.layers:
            node = model.graph.node(layer.node_index)
            if node.op_type != layer.op_type:
                raise PostconditionError(f"layer {layer.node_name!r}: node #{layer.node_index} is a "
                                         f"{node.op_type}, not a {layer.op_type}")
