"""Node order and the layer-to-layer dataflow graph of an ONNX graph."""

from __future__ import annotations

import heapq
import logging
from collections.abc import Collection, Sequence

import networkx as nx
import onnx

logger = logging.getLogger(__name__)

__all__ = ["build_layer_graph", "topological_order", "unique_names"]


def unique_names(nodes: Sequence[onnx.NodeProto]) -> list[str]:
    """One name per node: its own if non-empty and not taken, else ``<OpType>_<index>``."""
    taken: set[str] = set()
    out: list[str] = []
    for index, node in enumerate(nodes):
        name = node.name if node.name and node.name not in taken else f"{node.op_type}_{index}"
        suffix = 1
        base = name
        while name in taken:
            name = f"{base}_{suffix}"
            suffix += 1
        taken.add(name)
        out.append(name)
    return out


def topological_order(nodes: Sequence[onnx.NodeProto]) -> list[int]:
    """Node indices in dataflow order, keeping file order where it is free (files should already be sorted)."""
    producer: dict[str, int] = {}
    for i, node in enumerate(nodes):
        for out in node.output:
            if out:
                producer[out] = i
    deps: list[set[int]] = [{producer[t] for t in n.input if t in producer} - {i} for i, n in enumerate(nodes)]
    users: list[list[int]] = [[] for _ in nodes]
    for i, ds in enumerate(deps):
        for d in ds:
            users[d].append(i)
    waiting = [len(ds) for ds in deps]
    ready = [i for i, w in enumerate(waiting) if w == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for u in users[i]:
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(ready, u)
    if len(order) < len(nodes):  # a cycle: invalid ONNX; keep the rest in file order
        logger.warning("the graph has a cycle among %d nodes; keeping their file order", len(nodes) - len(order))
        seen = set(order)
        order.extend(i for i in range(len(nodes)) if i not in seen)
    return order


def build_layer_graph(nodes: Sequence[onnx.NodeProto], names: Sequence[str], order: Sequence[int],
                      layers: Collection[int]) -> nx.DiGraph:
    """Edges A -> B when layer B consumes, directly or through non-layer nodes, a tensor layer A made.

    ``layers`` are the node indices of the scheduled layers; graph nodes are their names, added in
    ``order`` and carrying ``op_type`` and ``node_index`` attributes.
    """
    graph = nx.DiGraph()
    sources: dict[str, frozenset[str]] = {}  # tensor -> layers whose output reaches it
    for i in order:
        node = nodes[i]
        reaching: frozenset[str] = frozenset().union(*(sources.get(t, frozenset()) for t in node.input if t))
        if i in layers:
            graph.add_node(names[i], op_type=node.op_type, node_index=i)
            graph.add_edges_from((src, names[i]) for src in sorted(reaching))
            reaching = frozenset({names[i]})
        for out in node.output:
            if out:
                sources[out] = reaching
    return graph
