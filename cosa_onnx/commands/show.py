"""``cosa-onnx show MODEL.cosa.onnx [--layer NAME]``: a layer's schedule as a loop nest.

Per memory level, outermost first: what the level keeps, the tile of each kept tensor and the
buffer occupancy, then its temporal loops (``for``, outermost first) and its spatial loops
(``parallel-for``, spread over the instances of the level below).
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from cosa_onnx.commands.common import load_annotated_layers
from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.problem import ALL_DIMS, ALL_OPERANDS, LoopProblem
from cosa_onnx.schedule import Schedule

logger = logging.getLogger(__name__)

INDENT = "  "


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("show", help="print a compiled layer's schedule as a loop nest",
                              description="Print the schedule of each layer (or of --layer NAME) of a model "
                                          "written by `cosa-onnx compile`, as the loop nest engineers read.")
    p.add_argument("model", help="a .cosa.onnx model written by `cosa-onnx compile`")
    p.add_argument("--layer", metavar="NAME", help="only this layer (node name)")
    p.set_defaults(func=run)


def _level_header(problem: LoopProblem, spec: HardwareSpec, schedule: Schedule, index: int) -> str:
    level = spec.levels[index]
    kept = [v for v in ALL_OPERANDS if v in schedule.levels[index].keeps]
    extents = schedule.tile_extents(index)
    tiles = {v: problem.footprint(v, extents) for v in kept}
    keeps = " ".join(v.value for v in kept) or "nothing (bypassed)"
    head = f"{level.name} [{keeps}] x{level.instances}"
    if not tiles:
        return head
    tile_text = ", ".join(f"{v.value} {words:,}" for v, words in tiles.items())
    if level.capacity_words is None:
        return f"{head}: tiles {tile_text} words (unbounded)"
    if level.partition is not None:
        parts = ", ".join(f"{v.value} {100 * words / (level.capacity_for(v) or 1):.1f}%" for v, words in tiles.items())
        return f"{head}: tiles {tile_text} words; occupancy {parts} of their partitions"
    used = sum(tiles.values())
    return (f"{head}: tiles {tile_text} words; occupancy {used:,}/{level.capacity_words:,} words "
            f"({100 * used / level.capacity_words:.1f}%)")


def loop_nest(problem: LoopProblem, spec: HardwareSpec, schedule: Schedule) -> list[str]:
    """The schedule as indented text, outermost level first."""
    lines: list[str] = []
    depth = 0
    for index in reversed(range(len(schedule.levels))):
        lm = schedule.levels[index]
        lines.append(INDENT * depth + _level_header(problem, spec, schedule, index))
        for dim in reversed(lm.full_order()):
            factor = lm.temporal_factor(dim)
            if factor > 1:
                depth += 1
                lines.append(INDENT * depth + f"for {dim.value} in [0:{factor})")
        if lm.spatial:
            depth += 1
            loops = ", ".join(f"{d.value} in [0:{f})" for d, f in lm.spatial)
            below = "MACs" if index == 0 else f"{spec.levels[index - 1].name} instances"
            lines.append(INDENT * depth + f"parallel-for {loops}  ({lm.spatial_size} of {spec.fanout(index)} {below})")
    lines.append(INDENT * (depth + 1) + f"MAC x{spec.mac_instances}")
    return lines


def describe_layer(problem: LoopProblem, spec: HardwareSpec, schedule: Schedule, cycles: int,
                   energy_pj: float) -> list[str]:
    padded = {d: schedule.bound(d, problem) for d in ALL_DIMS if schedule.bound(d, problem) != problem.bound(d)}
    info = schedule.solver
    lines = [f"{problem.describe()} on {spec.name}",
             f"{cycles:,} cycles, {energy_pj / 1e6:.3f} uJ; solver {info.method} {info.status}"
             + ("" if info.gap is None else f", gap {100 * info.gap:.1f}%")
             + (f", flags {', '.join(info.flags)}" if info.flags else "")]
    if padded:
        lines.append("padded: " + ", ".join(f"{d.value} {problem.bound(d)}->{b}" for d, b in padded.items()))
    return [*lines, *loop_nest(problem, spec, schedule)]


def run(args: argparse.Namespace) -> int:
    annotated, nodes = load_annotated_layers(args.model, args.layer)
    spec = annotated.network.spec
    blocks = ["\n".join(describe_layer(n.problem, spec, n.schedule, n.cycles, n.energy_pj)) for n in nodes]
    print("\n\n".join(blocks))
    return 0
