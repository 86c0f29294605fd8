"""Exact per-level, per-tensor access counts of a schedule (Timeloop's counting rules).

The rules are stated in docs/cost-model.md; in short: the loop nest is, outermost first, for each
level (outermost level first) its temporal loops (outermost first) then its spatial loops. A level
that keeps a tensor holds, per instance, the bounding box of the tensor elements touched below it
for one iteration of the temporal loops above it; when that box changes only the new elements are
filled. A parent reads the union of what its children fill in one step (multicast); outputs are
spatially reduced the same way, and the first read of a partial sum is not counted.

How it is computed exactly without running the nest: every tensor axis is an affine function of
loop indices, so a child's tile is a product of per-axis intervals that translate by a fixed
shift every time a given loop increments (inner loops resetting). The delta per step is
``prod(len) - prod(overlap)``; the union over a parent's children factors per axis (see
:func:`axis_union`). Summing over "loop j increments" events (``count_j`` each) gives the totals.
"""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass
from functools import lru_cache

from cosa_onnx.problem import ALL_OPERANDS, PROJECTION, Dim, LoopProblem, Operand
from cosa_onnx.schedule import Schedule

logger = logging.getLogger(__name__)

MAC_LEVEL = -1  # pseudo level index of the MACs (children of a tensor's innermost keeping level)


@dataclass(frozen=True, slots=True)
class Loop:
    """One loop of the flattened nest. ``below`` = product of this dim's extents inside the loop."""

    level: int
    dim: Dim
    extent: int
    spatial: bool
    below: int


@dataclass(frozen=True, kw_only=True)
class Counts:
    """Totals over all instances of one level for one tensor, in words."""

    reads: int = 0
    fills: int = 0
    updates: int = 0


Axis = tuple[tuple[Dim, int], ...]  # (dim, coefficient) terms of one tensor axis


def build_nest(schedule: Schedule) -> tuple[Loop, ...]:
    """The loops of ``schedule`` outermost first (unit loops dropped)."""
    raw: list[tuple[int, Dim, int, bool]] = []
    for i in range(len(schedule.levels) - 1, -1, -1):
        lm = schedule.levels[i]
        temporal = dict(lm.temporal)
        for d in reversed(lm.full_order()):
            if temporal.get(d, 1) > 1:
                raw.append((i, d, temporal[d], False))
        for d, f in lm.spatial:
            if f > 1:
                raw.append((i, d, f, True))
    below: dict[Dim, int] = {}
    out: list[Loop] = []
    for level, d, f, spatial in reversed(raw):
        out.append(Loop(level=level, dim=d, extent=f, spatial=spatial, below=below.get(d, 1)))
        below[d] = below.get(d, 1) * f
    out.reverse()
    return tuple(out)


def tensor_axes(problem: LoopProblem, operand: Operand) -> tuple[Axis, ...]:
    return tuple(tuple((t.dim, problem.coefficient(t.coefficient)) for t in axis) for axis in PROJECTION[operand])


@lru_cache(maxsize=1 << 16)
def axis_union(offsets: tuple[int, ...], length: int, shift: int) -> tuple[int, int]:
    """Union sizes on one axis over children whose intervals start at ``offsets``.

    Returns ``(|U|, |W|)``: U = points some child holds now; W = points of U that every child
    holding them now also held one step earlier (its interval shifted by ``-shift``). The union of
    the children's deltas over a product of axes then has ``prod |U| - prod |W|`` points.
    """
    if len(offsets) == 1:
        return length, max(0, length - abs(shift))
    cuts = sorted({o for o in offsets} | {o + length for o in offsets}
                  | {o - shift for o in offsets} | {o - shift + length for o in offsets})
    union = kept = 0
    for lo, hi in itertools.pairwise(cuts):
        covered, ok = False, True
        for o in offsets:
            if o <= lo < o + length:
                covered = True
                if not o - shift <= lo < o - shift + length:
                    ok = False
                    break
        if covered:
            union += hi - lo
            if ok:
                kept += hi - lo
    return union, kept


def _tile_lengths(axes: tuple[Axis, ...], extents: dict[Dim, int]) -> list[int]:
    return [1 + sum((extents.get(d, 1) - 1) * coef for d, coef in axis) for axis in axes]


def _offsets(axis: Axis, spatial: list[Loop]) -> tuple[int, ...]:
    coefs = dict(axis)
    values = {0}
    for lp in spatial:
        if lp.dim in coefs:
            step = lp.below * coefs[lp.dim]
            values = {v + i * step for v in values for i in range(lp.extent)}
    return tuple(sorted(values))


def _shifts(axis_coefs: dict[Dim, int], temporal: list[Loop]) -> list[int]:
    """Per temporal loop j: how far the axis moves when j increments and the loops inside reset."""
    out = [0] * len(temporal)
    reset = 0
    for j in range(len(temporal) - 1, -1, -1):
        lp = temporal[j]
        step = lp.below * axis_coefs.get(lp.dim, 0)
        out[j] = step - reset
        reset += (lp.extent - 1) * step
    return out


@dataclass(frozen=True, kw_only=True)
class PairTraffic:
    """Traffic between a child level (or the MACs) and its parent for one tensor."""

    child_deltas_per_instance: int   # words entering one child instance over the run
    parent_union_per_instance: int   # words one parent instance sends (multicast / reduced)
    child_instances: int             # active child instances (all parents)
    parent_instances: int            # active parent instances


def pair_traffic(problem: LoopProblem, schedule: Schedule, nest: tuple[Loop, ...], operand: Operand,
                 child: int, parent: int) -> PairTraffic:
    axes = tensor_axes(problem, operand)
    extents = schedule.tile_extents(child) if child >= 0 else {}
    lengths = _tile_lengths(axes, extents)
    temporal = [lp for lp in nest if not lp.spatial and lp.level > child]
    between = [lp for lp in nest if lp.spatial and child < lp.level <= parent]
    parents = math.prod(lp.extent for lp in nest if lp.spatial and lp.level > parent)
    children = math.prod(lp.extent for lp in between)
    plain = [len(axis) == 1 for axis in axes]
    # Plain axes: children's intervals are disjoint, only their number matters.
    offsets = [_offsets(axis, between) if not p else () for axis, p in zip(axes, plain, strict=True)]
    spread = [math.prod(lp.extent for lp in between if lp.dim == axis[0][0]) if p else len(o)
              for axis, o, p in zip(axes, offsets, plain, strict=True)]
    unions = [m * n if p else axis_union(o, n, 0)[0] for o, m, n, p in zip(offsets, spread, lengths, plain, strict=True)]
    union_full = math.prod(unions)
    if child == MAC_LEVEL:  # no storage: every MAC step needs its operands afresh
        steps = math.prod(lp.extent for lp in temporal)
        return PairTraffic(child_deltas_per_instance=steps, parent_union_per_instance=steps * union_full,
                           child_instances=parents * children, parent_instances=parents)
    tile = math.prod(lengths)
    child_total, parent_total = tile, union_full
    per_axis = [_shifts(dict(axis), temporal) for axis in axes]
    outer = 1
    for j, lp in enumerate(temporal):
        count = outer * (lp.extent - 1)
        outer *= lp.extent
        overlap = kept = 1
        moved = False
        for a, n in enumerate(lengths):
            s = per_axis[a][j]
            if s:
                moved = True
                s = abs(s)
            left = n - s if n > s else 0
            overlap *= left
            if plain[a]:
                kept *= spread[a] * left
            else:
                kept *= axis_union(offsets[a], n, per_axis[a][j])[1]
        if moved:
            child_total += count * (tile - overlap)
            parent_total += count * (union_full - kept)
    return PairTraffic(child_deltas_per_instance=child_total, parent_union_per_instance=parent_total,
                       child_instances=parents * children, parent_instances=parents)


def distinct_outputs(schedule: Schedule, nest: tuple[Loop, ...], problem: LoopProblem, level: int) -> int:
    """Output words one active instance of ``level`` ever holds (first reads of these are free)."""
    words = 1
    for axis in PROJECTION[Operand.OUTPUTS]:
        for term in axis:
            split = math.prod(lp.extent for lp in nest if lp.spatial and lp.level > level and lp.dim == term.dim)
            words *= schedule.bound(term.dim, problem) // split
    return words


def access_counts(problem: LoopProblem, schedule: Schedule) -> dict[tuple[int, Operand], Counts]:
    """Reads, fills and updates per (level index, tensor), totals over all instances."""
    nest = build_nest(schedule)
    totals: dict[tuple[int, Operand], list[int]] = {}
    for operand in ALL_OPERANDS:
        keeping = [i for i, lm in enumerate(schedule.levels) if operand in lm.keeps]
        chain = [MAC_LEVEL, *keeping]
        for child, parent in itertools.pairwise(chain):
            t = pair_traffic(problem, schedule, nest, operand, child, parent)
            par = totals.setdefault((parent, operand), [0, 0, 0])
            sent = t.parent_instances * t.parent_union_per_instance
            if operand is Operand.OUTPUTS:
                par[2] += sent
                par[0] += sent - t.parent_instances * distinct_outputs(schedule, nest, problem, parent)
                if child != MAC_LEVEL:
                    fresh = distinct_outputs(schedule, nest, problem, child)
                    totals.setdefault((child, operand), [0, 0, 0])[1] += t.child_instances * (t.child_deltas_per_instance - fresh)
            else:
                par[0] += sent
                if child != MAC_LEVEL:
                    totals.setdefault((child, operand), [0, 0, 0])[1] += t.child_instances * t.child_deltas_per_instance
    return {key: Counts(reads=v[0], fills=v[1], updates=v[2]) for key, v in totals.items()}
