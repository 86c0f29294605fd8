"""Read and write the schedules an ONNX model carries in its ``metadata_props``.

Node keys (one scheduled node each): ``cosa_onnx.problem`` and ``cosa_onnx.schedule`` (JSON with a
schema version), ``cosa_onnx.cycles`` and ``cosa_onnx.energy_pj``. Model keys: the tool version, the
architecture's name, SHA-256 and full spec JSON (so ``report`` and ``show`` work from the file
alone), the network totals, the model name and the unscheduled ops. Nothing else in the model is
touched: no node attributes (onnxruntime rejects unknown ones), no initializers.

Node ``metadata_props`` are part of the ONNX IR from version 10; an older model is raised to 10.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import onnx

from cosa_onnx.errors import CosaError, ModelLoadError
from cosa_onnx.hwmodels.loader import spec_from_dict
from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.problem import LoopProblem
from cosa_onnx.schedule import Schedule

logger = logging.getLogger(__name__)

PREFIX = "cosa_onnx."
NODE_PROBLEM = "cosa_onnx.problem"
NODE_SCHEDULE = "cosa_onnx.schedule"
NODE_CYCLES = "cosa_onnx.cycles"
NODE_ENERGY_PJ = "cosa_onnx.energy_pj"
MODEL_VERSION = "cosa_onnx.version"
MODEL_ARCH = "cosa_onnx.arch"
MODEL_ARCH_SHA256 = "cosa_onnx.arch_sha256"
MODEL_ARCH_SPEC = "cosa_onnx.arch_spec"
MODEL_TOTALS = "cosa_onnx.totals"
MODEL_NAME = "cosa_onnx.model_name"
MODEL_UNSCHEDULED = "cosa_onnx.unscheduled"

# Node metadata_props were added to the ONNX IR in version 10 (onnx 1.16, March 2024).
NODE_METADATA_MIN_IR_VERSION = 10


@dataclass(frozen=True, kw_only=True)
class NodeAnnotation:
    """The saved result of one scheduled node (``node_index`` counts the main graph's nodes)."""

    node_index: int
    problem: LoopProblem
    schedule: Schedule
    cycles: int
    energy_pj: float
    op_type: str = ""  # the node's op type, checked when writing (not saved: the problem has it)

    @property
    def node_name(self) -> str:
        return self.problem.name

    def to_props(self) -> dict[str, str]:
        return {
            NODE_PROBLEM: self.problem.to_json(),
            NODE_SCHEDULE: self.schedule.to_json(),
            NODE_CYCLES: str(int(self.cycles)),
            NODE_ENERGY_PJ: repr(float(self.energy_pj)),
        }

    @classmethod
    def from_props(cls, node_index: int, props: Mapping[str, str]) -> NodeAnnotation:
        where = f"node #{node_index}"
        try:
            problem = LoopProblem.from_json(props[NODE_PROBLEM])
            where = f"node '{problem.name}'"
            return cls(node_index=node_index, problem=problem,
                       schedule=Schedule.from_json(props[NODE_SCHEDULE]),
                       cycles=int(props[NODE_CYCLES]), energy_pj=float(props[NODE_ENERGY_PJ]))
        except (KeyError, ValueError, TypeError) as exc:
            raise ModelLoadError(f"{where}: cosa_onnx annotation is incomplete or corrupt ({exc}); "
                                 "recompile the original model with `cosa-onnx compile`") from None


@dataclass(frozen=True, kw_only=True)
class NetworkAnnotation:
    """The model-level saved results."""

    version: str
    spec: HardwareSpec
    totals: Mapping[str, Any]
    model_name: str
    unscheduled: Sequence[Mapping[str, Any]] = field(default_factory=tuple)

    def to_props(self) -> dict[str, str]:
        return {
            MODEL_VERSION: self.version,
            MODEL_ARCH: self.spec.name,
            MODEL_ARCH_SHA256: self.spec.content_hash(),
            MODEL_ARCH_SPEC: json.dumps(self.spec.to_dict(), sort_keys=True),
            MODEL_TOTALS: json.dumps(dict(self.totals), sort_keys=True),
            MODEL_NAME: self.model_name,
            MODEL_UNSCHEDULED: json.dumps([dict(u) for u in self.unscheduled], sort_keys=True),
        }


@dataclass(frozen=True, kw_only=True)
class AnnotatedModel:
    """Everything ``cosa-onnx compile`` saved in a model, read back."""

    network: NetworkAnnotation
    nodes: tuple[NodeAnnotation, ...]

    def node(self, name: str) -> NodeAnnotation:
        for ann in self.nodes:
            if ann.node_name == name:
                return ann
        raise KeyError(name)


# ---- writing -----------------------------------------------------------------------------------
def set_props(entries: Any, props: Mapping[str, str]) -> None:
    """Set ``props`` in a repeated ``StringStringEntryProto`` field, replacing keys already there."""
    existing = {entry.key: entry for entry in entries}
    for key, value in props.items():
        entry = existing.get(key)
        if entry is None:
            entry = entries.add()
            entry.key = key
        entry.value = value


def props_of(entries: Iterable[Any]) -> dict[str, str]:
    return {entry.key: entry.value for entry in entries}


def annotate_proto(model: onnx.ModelProto, nodes: Sequence[NodeAnnotation], network: NetworkAnnotation) -> None:
    """Write the annotations into ``model`` in place (metadata only; IR raised to 10 if below)."""
    graph_nodes = model.graph.node
    for ann in nodes:
        if not 0 <= ann.node_index < len(graph_nodes):
            raise CosaError(f"layer {ann.node_name!r}: node #{ann.node_index} is outside the main graph "
                            "(layers inside model-local functions cannot be annotated yet)")
        node = graph_nodes[ann.node_index]
        if ann.op_type and node.op_type != ann.op_type:
            raise CosaError(f"layer {ann.node_name!r}: node #{ann.node_index} of the main graph is a {node.op_type}, "
                            f"not a {ann.op_type} (layers inside model-local functions cannot be annotated yet)")
        set_props(node.metadata_props, ann.to_props())
    set_props(model.metadata_props, network.to_props())
    if nodes and model.ir_version < NODE_METADATA_MIN_IR_VERSION:
        logger.info("raising IR version %d -> %d for node metadata_props", model.ir_version,
                    NODE_METADATA_MIN_IR_VERSION)
        model.ir_version = NODE_METADATA_MIN_IR_VERSION


# ---- reading -----------------------------------------------------------------------------------
def _spec_from_json(text: str) -> HardwareSpec:
    return spec_from_dict(json.loads(text))


def read_network(props: Mapping[str, str]) -> NetworkAnnotation:
    """The model-level annotation from model ``metadata_props`` (ModelLoadError if absent/corrupt)."""
    if MODEL_ARCH_SPEC not in props:
        raise ModelLoadError("model has no cosa_onnx annotations: run `cosa-onnx compile MODEL.onnx` "
                             "and pass the .cosa.onnx file it writes")
    try:
        spec = _spec_from_json(props[MODEL_ARCH_SPEC])
        totals = json.loads(props.get(MODEL_TOTALS, "{}"))
        unscheduled = json.loads(props.get(MODEL_UNSCHEDULED, "[]"))
    except (ValueError, TypeError) as exc:
        raise ModelLoadError(f"model metadata {MODEL_ARCH_SPEC}/{MODEL_TOTALS} is corrupt ({exc}); "
                             "recompile the original model") from None
    expected = props.get(MODEL_ARCH_SHA256)
    if expected is not None and expected != spec.content_hash():
        raise ModelLoadError(f"model metadata {MODEL_ARCH_SHA256} does not match the embedded spec "
                             f"'{spec.name}': the annotations were edited; recompile the original model")
    return NetworkAnnotation(version=props.get(MODEL_VERSION, ""), spec=spec, totals=totals,
                             model_name=props.get(MODEL_NAME, ""), unscheduled=tuple(unscheduled))


def read_annotations(model: onnx.ModelProto) -> AnnotatedModel:
    """Read back what :func:`annotate_proto` wrote (nodes in graph order)."""
    network = read_network(props_of(model.metadata_props))
    nodes = []
    for index, node in enumerate(model.graph.node):
        props = props_of(node.metadata_props)
        if NODE_SCHEDULE in props or NODE_PROBLEM in props:
            nodes.append(NodeAnnotation.from_props(index, props))
    return AnnotatedModel(network=network, nodes=tuple(nodes))
