"""``cosa-onnx export-timeloop MODEL.cosa.onnx DIR``: one Timeloop folder per scheduled layer.

Each folder ``DIR/<NNN>_<layer>/`` holds ``arch.yaml``, ``problem.yaml`` and ``map.yaml`` for
``timeloop-model arch.yaml problem.yaml map.yaml`` (see :mod:`cosa_onnx.timeloop`), written from
the annotations alone.
"""

from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path
from typing import Any

from cosa_onnx.commands.common import load_annotated_layers
from cosa_onnx.errors import UserInputError

logger = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("export-timeloop", help="write Timeloop arch/problem/map YAML per layer",
                              description="Write one folder per scheduled layer of a compiled model with the "
                                          "arch.yaml, problem.yaml and map.yaml that timeloop-model reads.")
    p.add_argument("model", help="a .cosa.onnx model written by `cosa-onnx compile`")
    p.add_argument("out_dir", metavar="DIR", help="output folder (created if missing)")
    p.add_argument("--layer", metavar="NAME", help="only this layer (node name)")
    p.set_defaults(func=run)


def folder_name(index: int, layer_name: str) -> str:
    """``3, "/layer1/conv1"`` -> ``003_layer1_conv1`` (unique by the index, safe on every OS)."""
    safe = _UNSAFE.sub("_", layer_name).strip("._") or "layer"
    return f"{index:03d}_{safe[:80]}"


def run(args: argparse.Namespace) -> int:
    from cosa_onnx.timeloop import export_timeloop

    annotated, nodes = load_annotated_layers(args.model, args.layer)
    out = Path(args.out_dir)
    if out.exists() and not out.is_dir():
        raise UserInputError(f"{out} exists and is not a folder; give a folder path")
    spec = annotated.network.spec
    for ann in nodes:
        index = annotated.nodes.index(ann)
        export_timeloop(ann.problem, spec, ann.schedule, out / folder_name(index, ann.node_name))
    print(f"wrote {len(nodes)} layer folder(s) to {out}")
    return 0
