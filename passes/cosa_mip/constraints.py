"""Constraints of the CoSA MIP: assignment, fan-out, capacity (log space, with halo), reuse."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import mip

from cosa_onnx.errors import InfeasibleError
from cosa_onnx.passes.cosa_mip.layout import Layout, Placement, direct_dims, halo_axes, stride_of
from cosa_onnx.passes.cosa_mip.variables import MipVars, int_binary_product
from cosa_onnx.problem import ALL_OPERANDS, Operand

EPS = 1e-6

# Default split of a shared level without a spec partition (CoSA paper-era: GB Inputs 0.25 / Outputs 0.75).
DEFAULT_SPLIT: Mapping[Operand, float] = {Operand.WEIGHTS: 1.0, Operand.INPUTS: 1.0, Operand.OUTPUTS: 3.0}


@dataclass(frozen=True, kw_only=True)
class HaloMode:
    """Where the sliding-window halo is counted.

    ``paper``: only at the innermost bounded level keeping inputs, R/S factors summed over every
    non-outermost placement (the original's quirk). Otherwise: at every bounded input level, with
    the R/S factors inside it.
    """

    paper: bool


def add_assignment_constraints(mv: MipVars, *, fill_slots_inward: bool = False) -> None:
    """Every factor placed once; one dimension per slot and one slot per dimension; a slot's
    loops belong to its dimension."""
    lay = mv.layout
    for g in lay.groups:
        mv.model += mip.xsum(v for k, v in mv.x.items() if k.group == g.gid) == g.mult
    for z in lay.slots:
        mv.model += mip.xsum(mv.slot_dim[(z, d)] for d in lay.slot_dims) <= 1
        for k, v in mv.x_at(Placement(lay.slot_level, z)):
            g = lay.groups[k.group]
            mv.model += v <= g.mult * mv.slot_dim[(z, g.dim)]
        if fill_slots_inward and z > 0:
            mv.model += (mip.xsum(mv.slot_dim[(z - 1, d)] for d in lay.slot_dims)
                         >= mip.xsum(mv.slot_dim[(z, d)] for d in lay.slot_dims))
    for d in lay.slot_dims:
        if lay.slots:
            mv.model += mip.xsum(mv.slot_dim[(z, d)] for z in lay.slots) <= 1


def add_fanout_constraints(mv: MipVars) -> None:
    """Sum of log2 spatial factors at a level <= log2 fan-out."""
    lay = mv.layout
    for level in range(lay.outer_level):
        if not lay.spatial_allowed(level):
            continue
        terms = [lay.groups[k.group].lg * v for k, v in mv.x.items() if k.spatial and k.placement.level == level]
        if terms:
            mv.model += mip.xsum(terms) <= math.log2(lay.spec.fanout(level)) + EPS


def capacity_budgets(layout: Layout, split: Mapping[Operand, float]) -> dict[tuple[int, Operand], float]:
    """log2 words available per (bounded level, kept tensor); shared levels use the spec partition or ``split``."""
    out: dict[tuple[int, Operand], float] = {}
    for i, level in enumerate(layout.spec.levels):
        if level.capacity_words is None or not level.keeps:
            continue
        kept = [v for v in ALL_OPERANDS if v in level.keeps]
        if sum(1 for _ in kept) > level.capacity_words:
            raise InfeasibleError(f"layer {layout.problem.name!r}: level {level.name} holds {level.capacity_words} "
                                  f"words, fewer than one word per kept tensor; enlarge it in the spec")
        for v in kept:
            if level.partition is not None:
                words = level.capacity_for(v) or 0.0
                if words < 1:
                    raise InfeasibleError(f"layer {layout.problem.name!r}: level {level.name} partition gives "
                                          f"{v.value} {words:g} words (< 1); fix the partition in the spec")
            elif len(kept) == 1:
                words = float(level.capacity_words)
            else:
                words = level.capacity_words * split[v] / sum(split[u] for u in kept)
            out[(i, v)] = max(math.log2(words), 0.0) if words > 0 else 0.0
    return out


def base_capacity_expr(mv: MipVars, level: int, operand: Operand) -> mip.LinExpr:
    """sum of lg(stride * f) over factors directly relevant to ``operand`` inside ``level``."""
    lay = mv.layout
    rel = direct_dims(operand)
    inside = set(lay.placements_within(level))
    terms = []
    for k, v in mv.x.items():
        g = lay.groups[k.group]
        if k.placement in inside and g.dim in rel:
            terms.append(math.log2(stride_of(lay.problem, operand, g.dim) * g.prime) * v)
    return mip.xsum(terms)


def add_zz(mv: MipVars, level: int) -> None:
    """zz[level, P] = 1 iff some P factor (the primary dim of a halo axis) is placed inside ``level``."""
    lay = mv.layout
    for axis in halo_axes(lay.problem):
        zz = mv.model.add_var(name=f"zz_l{level}_{axis.primary}", var_type=mip.BINARY)
        inside = [(lay.groups[k.group].mult, v) for k, v in mv.x.items()
                  if k.placement.level <= level and lay.groups[k.group].dim == axis.primary]
        for count, v in inside:
            mv.model += count * zz >= v
        mv.model += zz <= mip.xsum(v for _, v in inside)
        mv.zz[(level, axis.primary)] = zz


def halo_expr(mv: MipVars, level: int, mode: HaloMode) -> mip.LinExpr:
    """R (S) factors count lg(dilation * f) if no P (Q) factor is inside ``level``, else 1 each."""
    lay = mv.layout
    axes = halo_axes(lay.problem)
    if axes and (level, axes[0].primary) not in mv.zz:
        add_zz(mv, level)
    terms: list[mip.LinExpr | mip.Var] = []
    for axis in axes:
        zz = mv.zz[(level, axis.primary)]
        for k, v in mv.x.items():
            g = lay.groups[k.group]
            if g.dim != axis.secondary:
                continue
            if mode.paper:
                if k.placement.level == lay.outer_level:
                    continue
            elif k.placement.level > level:
                continue
            c0 = math.log2(axis.dilation * g.prime)
            c1 = 1.0
            terms.append(c0 * v)
            if abs(c1 - c0) > 1e-12:
                name = f"h_l{level}_{v.name}"
                terms.append((c1 - c0) * int_binary_product(mv.model, v, g.mult, zz, name))
    return mip.xsum(terms)


def input_halo_levels(layout: Layout, mode: HaloMode) -> list[int]:
    levels = [i for i, lv in enumerate(layout.spec.levels)
              if Operand.INPUTS in lv.keeps and lv.capacity_words is not None]
    if not halo_axes(layout.problem):
        return []
    return levels[:1] if mode.paper else levels


def capacity_exprs(mv: MipVars, budgets: Mapping[tuple[int, Operand], float],
                   mode: HaloMode) -> dict[tuple[int, Operand], mip.LinExpr]:
    """U[m, v] for every budgeted (level, tensor), halo included where ``mode`` puts it."""
    halo_levels = set(input_halo_levels(mv.layout, mode))
    out = {}
    for (level, v) in budgets:
        expr = base_capacity_expr(mv, level, v)
        if v == Operand.INPUTS and level in halo_levels:
            expr = expr + halo_expr(mv, level, mode)
        out[(level, v)] = expr
    return out


def add_capacity_constraints(mv: MipVars, exprs: Mapping[tuple[int, Operand], mip.LinExpr],
                             budgets: Mapping[tuple[int, Operand], float]) -> dict[tuple[int, Operand], mip.Constr]:
    out = {}
    for key, expr in exprs.items():
        out[key] = mv.model.add_constr(expr <= budgets[key] + EPS, name=f"cap_l{key[0]}_{key[1].value}")
    return out


def add_reuse_tracking(mv: MipVars) -> None:
    """y[v, z] = 1 once a slot at or inside z holds a dimension relevant to v (monotone outward)."""
    lay = mv.layout
    for v in ALL_OPERANDS:
        rel = direct_dims(v)
        prev: mip.Var | None = None
        for z in lay.slots:
            y = mv.model.add_var(name=f"y_{v.value}_{z}", var_type=mip.BINARY)
            for d in lay.slot_dims:
                if d in rel:
                    mv.model += y >= mv.slot_dim[(z, d)]
            if prev is not None:
                mv.model += y >= prev
            mv.y[(v, z)] = y
            prev = y
