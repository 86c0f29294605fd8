"""``cosa-onnx layers MODEL``: the loop problem of every scheduled layer, and what is not scheduled."""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter
from typing import Any

from cosa_onnx.commands.common import add_shape_arguments, shape_bindings
from cosa_onnx.importer import ImportedModel, import_model
from cosa_onnx.problem import ALL_DIMS

logger = logging.getLogger(__name__)

JSON_SCHEMA_VERSION = 1
_DIM_COLUMNS = tuple(d.value for d in ALL_DIMS)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("layers", help="list the conv/matmul layers of an ONNX model as loop problems",
                                   description="Import an ONNX model and print one row per scheduled layer "
                                               "(G R S P Q C K N, strides, dilations, MACs, how many layers share "
                                               "the shape), then the ops that are not scheduled.")
    parser.add_argument("model", help="path to the .onnx file")
    add_shape_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    batch, input_shapes = shape_bindings(args)
    imported = import_model(args.model, batch=batch, input_shapes=input_shapes)
    summary = summarize(imported)
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
    else:
        print(render_table(summary))
    return 0


def summarize(imported: ImportedModel) -> dict[str, Any]:
    """The JSON document of ``layers --json``: layers, unscheduled ops and totals."""
    shape_counts = Counter(layer.problem.shape_key() for layer in imported.layers)
    layers = [{"node_name": layer.node_name, "op_type": layer.op_type, "node_index": layer.node_index,
               "macs": layer.problem.macs, "same_shape_layers": shape_counts[layer.problem.shape_key()],
               "problem": layer.problem.to_dict()} for layer in imported.layers]
    unscheduled = [{"node_name": op.node_name, "op_type": op.op_type, "node_index": op.node_index,
                    "input_words": op.input_words, "output_words": op.output_words, "constant": op.constant}
                   for op in imported.unscheduled]
    counts = Counter(op.op_type for op in imported.unscheduled if not op.constant)
    constant_counts = Counter(op.op_type for op in imported.unscheduled if op.constant)
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "model": imported.model_name,
        "layers": layers,
        "unscheduled": unscheduled,
        "unscheduled_counts": dict(sorted(counts.items())),
        "constant_counts": dict(sorted(constant_counts.items())),
        "edges": [list(edge) for edge in imported.graph.edges],
        "totals": {"layers": len(layers), "distinct_shapes": len(shape_counts),
                   "macs": sum(row["macs"] for row in layers), "unscheduled_ops": len(unscheduled)},
    }


def render_table(summary: dict[str, Any]) -> str:
    """The human-readable form of :func:`summarize`'s document."""
    header = ["node", "op", *_DIM_COLUMNS, "stride", "dilation", "MACs", "same"]
    rows = [header]
    for row in summary["layers"]:
        prob = row["problem"]
        rows.append([row["node_name"], row["op_type"], *(str(prob[d.lower()]) for d in _DIM_COLUMNS),
                     f"{prob['w_stride']}x{prob['h_stride']}", f"{prob['w_dilation']}x{prob['h_dilation']}",
                     f"{row['macs']:,}", str(row["same_shape_layers"])])
    lines = [f"model {summary['model']}: {summary['totals']['layers']} layers", *_align(rows)]
    counts = summary["unscheduled_counts"]
    if counts:
        lines.append("")
        lines.append("not scheduled: " + ", ".join(f"{op} x{n}" for op, n in counts.items()))
    constant = summary.get("constant_counts", {})
    if constant:
        lines.append("constant (folded at load time, no per-inference work): "
                     + ", ".join(f"{op} x{n}" for op, n in constant.items()))
    totals = summary["totals"]
    lines.append("")
    lines.append(f"total: {totals['layers']} layers, {totals['distinct_shapes']} distinct shapes, "
                 f"{totals['macs']:,} MACs, {totals['unscheduled_ops']} unscheduled ops")
    return "\n".join(lines)


def _align(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    numeric = {i for i in range(2, len(widths))}
    return ["  ".join(cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip()
            for r in rows]
