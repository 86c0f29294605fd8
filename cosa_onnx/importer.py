"""The ONNX importer: every Conv/Gemm/MatMul (and quantised form) of a model as a :class:`LoopProblem`.

``import_model`` binds the user's dims (``batch``, ``input_shapes``), runs ONNX shape inference
(non-strict, with data propagation) and, for layers still unknown, onnxruntime's symbolic shape
inference. Layers whose shapes stay unknown are a :class:`ShapeError` naming the node and the flag
to use. Every other node becomes an :class:`UnscheduledOp` with its element counts — never dropped.
Weights are never read: only dims are needed (see :mod:`cosa_onnx.onnx_load`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import onnx

from cosa_onnx.errors import ShapeError
from cosa_onnx.layer_graph import build_layer_graph, topological_order, unique_names
from cosa_onnx.onnx_load import load_model
from cosa_onnx.onnx_ops import OPERAND_INPUTS, NodeShapes, UnsupportedLayer, map_node
from cosa_onnx.onnx_shapes import (
    ShapeTable,
    TensorInfo,
    bind_inputs,
    infer_onnx,
    infer_symbolic,
    light_copy,
    runtime_inputs,
)
from cosa_onnx.problem import LoopProblem

logger = logging.getLogger(__name__)

__all__ = ["ImportedModel", "Layer", "UnscheduledOp", "import_model", "load_model"]

_ONNX_DOMAINS = frozenset({"", "ai.onnx"})
_DEFAULT_BITS = 32


@dataclass(frozen=True, kw_only=True)
class Layer:
    """A scheduled node: its unique name, op type, index in the ONNX graph and loop problem."""

    node_name: str
    op_type: str
    node_index: int
    problem: LoopProblem


@dataclass(frozen=True, kw_only=True)
class UnscheduledOp:
    """A node that is not scheduled; element counts of all its inputs / outputs (None if unknown)."""

    node_name: str
    op_type: str
    node_index: int
    input_words: int | None
    output_words: int | None
    # True when every input is an initializer or itself constant (e.g. a weight made by
    # ConstantOfShape): the op is folded at load time and moves no data per inference.
    constant: bool = False


@dataclass(kw_only=True)
class ImportedModel:
    """Layers and unscheduled ops in topological order, and the layer dataflow graph."""

    layers: tuple[Layer, ...]
    unscheduled: tuple[UnscheduledOp, ...]
    graph: nx.DiGraph
    model_name: str


def import_model(model: str | os.PathLike[str] | onnx.ModelProto, *, batch: int | None = None,
                 input_shapes: Mapping[str, Sequence[int]] | None = None) -> ImportedModel:
    """Import every layer of ``model`` (a path or a ModelProto, which is not modified)."""
    proto, model_name = _resolve(model)
    light = _inlined(light_copy(proto))
    bind_inputs(light, batch=batch, input_shapes=input_shapes)
    inferred = infer_onnx(light)
    table = ShapeTable(inferred.graph)
    nodes = list(inferred.graph.node)
    candidates = {i for i, n in enumerate(nodes) if n.op_type in OPERAND_INPUTS and n.domain in _ONNX_DOMAINS}
    if any(not _operands_known(nodes[i], table) for i in candidates):
        logger.info("some layer shapes are unknown after ONNX shape inference; trying onnxruntime's")
        symbolic = infer_symbolic(inferred)
        if symbolic is not None:
            table.update(symbolic.graph)
    names = unique_names(nodes)
    order = topological_order(nodes)
    hint = _binding_hint(inferred.graph, table)
    layers: list[Layer] = []
    unscheduled: list[UnscheduledOp] = []
    constant_nodes = _constant_nodes(inferred.graph, nodes, order)
    for i in order:
        node, name = nodes[i], names[i]
        problem = _layer_problem(node, name, table, hint) if i in candidates else None
        if problem is None:
            unscheduled.append(UnscheduledOp(node_name=name, op_type=node.op_type, node_index=i,
                                             input_words=table.elements(node.input),
                                             output_words=table.elements(node.output),
                                             constant=i in constant_nodes))
        else:
            layers.append(Layer(node_name=name, op_type=node.op_type, node_index=i, problem=problem))
    _warn_nested_layers(nodes, names)
    graph = build_layer_graph(nodes, names, order, {layer.node_index for layer in layers})
    logger.info("%s: %d layers, %d unscheduled ops", model_name, len(layers), len(unscheduled))
    return ImportedModel(layers=tuple(layers), unscheduled=tuple(unscheduled), graph=graph, model_name=model_name)


_NON_DETERMINISTIC = frozenset({"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial"})


def _constant_nodes(graph: onnx.GraphProto, nodes: Sequence[onnx.NodeProto], order: Sequence[int]) -> set[int]:
    """Indices of nodes whose inputs are all initializers or outputs of constant nodes."""
    constant_tensors = {init.name for init in graph.initializer} | {""}
    graph_inputs = {value.name for value in graph.input}
    constant_tensors -= graph_inputs  # an initializer that is also an input can be overridden
    out: set[int] = set()
    for i in order:
        node = nodes[i]
        if node.op_type in _NON_DETERMINISTIC or node.op_type in OPERAND_INPUTS:
            continue
        if all(name in constant_tensors for name in node.input):
            out.add(i)
            constant_tensors.update(node.output)
    return out


def _warn_nested_layers(nodes: Sequence[onnx.NodeProto], names: Sequence[str]) -> None:
    """Conv/matmul nodes inside If/Loop/Scan bodies are not scheduled: say so, never silently."""
    for node, name in zip(nodes, names, strict=True):
        nested = sum(_count_layer_ops(attr.g) for attr in node.attribute if attr.HasField("g"))
        nested += sum(_count_layer_ops(g) for attr in node.attribute for g in attr.graphs)
        if nested:
            logger.warning("node '%s' (%s) has %d conv/matmul node(s) in its subgraph(s); they are not scheduled "
                           "(only top-level layers are)", name, node.op_type, nested)


def _count_layer_ops(graph: onnx.GraphProto) -> int:
    count = 0
    for node in graph.node:
        count += node.op_type in OPERAND_INPUTS and node.domain in _ONNX_DOMAINS
        count += sum(_count_layer_ops(attr.g) for attr in node.attribute if attr.HasField("g"))
        count += sum(_count_layer_ops(g) for attr in node.attribute for g in attr.graphs)
    return count


def _resolve(model: str | os.PathLike[str] | onnx.ModelProto) -> tuple[onnx.ModelProto, str]:
    if isinstance(model, onnx.ModelProto):
        return model, model.graph.name or "model"
    return load_model(model), Path(model).stem


def _inlined(model: onnx.ModelProto) -> onnx.ModelProto:
    """Model-local functions expanded, so layers inside them are seen."""
    if not model.functions:
        return model
    from onnx import inliner

    return inliner.inline_local_functions(model)


def _operands_known(node: onnx.NodeProto, table: ShapeTable) -> bool:
    x_index, w_index = OPERAND_INPUTS[node.op_type]
    return all(len(node.input) > j and table.get(node.input[j]).concrete is not None for j in (x_index, w_index))


def _layer_problem(node: onnx.NodeProto, name: str, table: ShapeTable, hint: str) -> LoopProblem | None:
    try:
        return map_node(node, _node_shapes(node, name, table, hint))
    except UnsupportedLayer as exc:
        logger.warning("layer '%s' (%s) is not scheduled (%s); it is listed with the unscheduled ops",
                       name, node.op_type, exc)
        return None


def _node_shapes(node: onnx.NodeProto, name: str, table: ShapeTable, hint: str) -> NodeShapes:
    x_index, w_index = OPERAND_INPUTS[node.op_type]
    if len(node.input) <= max(x_index, w_index):
        raise ShapeError(f"layer '{name}' ({node.op_type}): has {len(node.input)} inputs, expected at least "
                         f"{max(x_index, w_index) + 1}; check the model")
    x_name, w_name = node.input[x_index], node.input[w_index]
    y_name = node.output[0] if node.output else ""
    x = _known(node, name, x_name, table.get(x_name), hint)
    w = _known(node, name, w_name, table.get(w_name), hint)
    y_info = table.get(y_name)
    y = y_info.concrete
    if y is not None and any(d < 1 for d in y):
        raise ShapeError(f"layer '{name}' ({node.op_type}): output '{y_name}' has a zero or negative dim "
                         f"{list(y)}; check the input shapes")
    x_bits = table.bits(x_name) or table.bits(w_name) or _DEFAULT_BITS
    w_bits = table.bits(w_name) or x_bits
    y_bits = table.bits(y_name) or max(x_bits, w_bits)
    return NodeShapes(name=name, x=x, w=w, y=y, x_bits=x_bits, w_bits=w_bits, y_bits=y_bits)


def _known(node: onnx.NodeProto, name: str, tensor: str, info: TensorInfo, hint: str) -> tuple[int, ...]:
    dims = info.concrete
    where = f"layer '{name}' ({node.op_type})"
    if dims is None:
        shown = "rank unknown" if info.dims is None else _show(info.dims)
        raise ShapeError(f"{where}: the shape of '{tensor}' is unknown ({shown}); {hint}")
    if any(d < 1 for d in dims):
        raise ShapeError(f"{where}: '{tensor}' has a zero or negative dim {list(dims)}; "
                         "fix the model or bind positive dims with --batch N / --input-shape NAME=DIMS")
    return dims


def _show(dims: Sequence[int | str | None]) -> str:
    return "x".join("?" if d is None else str(d) for d in dims)


def _binding_hint(graph: onnx.GraphProto, table: ShapeTable) -> str:
    """What to pass to bind the graph inputs whose dims are not all known."""
    dynamic = [vi.name for vi in runtime_inputs(graph) if table.get(vi.name).concrete is None]
    if not dynamic:
        return "shape inference could not resolve it; bind the input shapes with --input-shape NAME=DIMS"
    examples = " ".join(f"--input-shape {n}={_show(table.get(n).dims or ('?',))}" for n in dynamic)
    return f"bind the dynamic dims with --batch N or {examples} (replace symbols/? with sizes)"
