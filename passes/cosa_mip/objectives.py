"""Objectives of the CoSA MIP (linear in the placement variables; products linearised)."""

from __future__ import annotations

from collections.abc import Mapping

import mip

from cosa_onnx.passes.cosa_mip.layout import Layout, Placement, direct_dims
from cosa_onnx.passes.cosa_mip.variables import MipVars, int_binary_product
from cosa_onnx.problem import ALL_OPERANDS, Operand

UTIL_WEIGHT = -0.1
COMP_WEIGHT = 10.0
TRAF_WEIGHT = 1.0


def util_weights(layout: Layout) -> dict[tuple[int, Operand], float]:
    """Util pairs: every level below the slot level that keeps a tensor; the outermost such level
    keeping weights gets 1.01 (the paper-era weight on Simba's weight buffer)."""
    out: dict[tuple[int, Operand], float] = {}
    for i in layout.inner_levels:
        level = layout.spec.levels[i]
        if level.capacity_words is None:
            continue
        for v in ALL_OPERANDS:
            if v in level.keeps:
                out[(i, v)] = 1.0
    weight_levels = [i for (i, v) in out if v == Operand.WEIGHTS]
    if len(weight_levels) > 1:
        out[(max(weight_levels), Operand.WEIGHTS)] = 1.01
    return out


def comp_expr(mv: MipVars) -> mip.LinExpr:
    """log2 of the temporal iteration count (a proxy of compute cycles)."""
    return mip.xsum(mv.layout.groups[k.group].lg * v for k, v in mv.x.items() if not k.spatial)


def traffic_expr(mv: MipVars, operand: Operand) -> mip.LinExpr:
    """The paper-era traffic proxy of one tensor (see docs/mip.md)."""
    lay = mv.layout
    rel = direct_dims(operand)
    terms: list[mip.LinExpr | mip.Var] = []
    for k, v in mv.x.items():
        g = lay.groups[k.group]
        p = k.placement
        if p.level in lay.inner_levels and g.dim in rel:
            terms.append(0.99 * (0.8 + 0.04 * p.level) * g.lg * v)
        elif p.level == lay.slot_level and k.spatial:
            terms.append(0.99 * g.lg * v)
        elif p.level == lay.outer_level and not k.spatial:
            terms.append((1.01 if operand == Operand.WEIGHTS else 1.0) * g.lg * v)
    for z in lay.slots:
        y = mv.y[(operand, z)]
        for k, v in mv.x_at(Placement(lay.slot_level, z), spatial=False):
            g = lay.groups[k.group]
            if g.prime > 1:
                w = int_binary_product(mv.model, v, g.mult, y, f"t_{operand.value}_{v.name}", lower_only=True)
                terms.append(g.lg * w)
    return mip.xsum(terms)


def cosa_objective(mv: MipVars, util: Mapping[tuple[int, Operand], mip.LinExpr]) -> mip.LinExpr:
    """-0.1 * Util + 10 * Comp + 1 * Traf (the paper-era objective; on Simba exactly the appendix's)."""
    weights = util_weights(mv.layout)
    util_sum = mip.xsum(w * util[key] for key, w in weights.items() if key in util)
    traf = mip.xsum(traffic_expr(mv, v) for v in ALL_OPERANDS)
    return UTIL_WEIGHT * util_sum + COMP_WEIGHT * comp_expr(mv) + TRAF_WEIGHT * traf
