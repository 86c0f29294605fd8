"""Brute-force reference simulator of a schedule's loop nest (test-only).

It literally runs every iteration of the nest — every temporal step, every spatial instance of
every level, every MAC — records the exact set of tensor elements each MAC touches, builds what
each buffer instance holds in each step, and counts fills, reads and updates element by element
with Python sets. It shares no code with ``cosa_onnx.costmodel`` beyond the data model
(problem, spec, schedule), so agreement with :func:`cosa_onnx.cost.evaluate` is evidence.

Conventions simulated (docs/cost-model.md states them once, for both):

- nest order, outermost first: per level (outermost level first) its temporal loops in ``order``
  reversed (``order`` lists innermost first), then its spatial loops;
- a buffer instance of level L holds, during one iteration of the temporal loops above L, the
  bounding box of the elements touched by the MACs below it in that iteration (what ``check()``
  sizes and Timeloop's hyper-rectangles hold); moving to the next iteration it fills the elements
  of the new box it does not already hold;
- a parent instance reads, per step, the union of the elements its child instances fill
  (multicast); outputs go the other way: the union of the children's new output elements is
  one update each at the parent (spatial reduction), and a partial sum is read back (parent read,
  child fill) only if that instance has held the element before (first reads of zeros are free);
- MACs have no storage: each MAC step reads its operands (one read per distinct element among the
  MACs of an instance) and updates its output (likewise, spatially reduced).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass

from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.problem import ALL_DIMS, ALL_OPERANDS, PROJECTION, Dim, LoopProblem, Operand
from cosa_onnx.schedule import Schedule

Element = tuple[int, ...]


@dataclass(frozen=True)
class SimLoop:
    level: int
    dim: Dim
    extent: int
    spatial: bool


def nest_loops(schedule: Schedule) -> list[SimLoop]:
    loops: list[SimLoop] = []
    for level in range(len(schedule.levels) - 1, -1, -1):
        lm = schedule.levels[level]
        order = list(lm.order) + [d for d in ALL_DIMS if d not in lm.order]
        for d in reversed(order):
            loops.append(SimLoop(level, d, lm.temporal_factor(d), False))
        for d in ALL_DIMS:
            loops.append(SimLoop(level, d, lm.spatial_factor(d), True))
    return [lp for lp in loops if lp.extent > 1]


def element(problem: LoopProblem, operand: Operand, index: dict[Dim, int]) -> Element:
    return tuple(sum(index[t.dim] * problem.coefficient(t.coefficient) for t in axis) for axis in PROJECTION[operand])


def box(points: set[Element]) -> set[Element]:
    """Every element of the bounding box of ``points``."""
    lows = [min(p[a] for p in points) for a in range(len(next(iter(points))))]
    highs = [max(p[a] for p in points) for a in range(len(lows))]
    return set(itertools.product(*(range(lo, hi + 1) for lo, hi in zip(lows, highs, strict=True))))


def simulate(problem: LoopProblem, spec: HardwareSpec, schedule: Schedule) -> dict[tuple[int, Operand], tuple[int, int, int]]:
    """(level index, tensor) -> (reads, fills, updates), totals over all instances."""
    loops = nest_loops(schedule)
    temporal = [lp for lp in loops if not lp.spatial]
    spatial = [lp for lp in loops if lp.spatial]
    nlev = len(schedule.levels)
    keeping = {v: [i for i in range(nlev) if v in schedule.levels[i].keeps] for v in ALL_OPERANDS}
    # touched[v][level][epoch][instance] = exact set of elements touched (level -1 = per MAC step).
    touched: dict[Operand, dict[int, dict[tuple[int, ...], dict[tuple[int, ...], set[Element]]]]] = {
        v: {lv: defaultdict(lambda: defaultdict(set)) for lv in [-1, *keeping[v]]} for v in ALL_OPERANDS}
    levels = sorted({lv for v in ALL_OPERANDS for lv in touched[v]})
    t_pos = {lv: [k for k, lp in enumerate(temporal) if lp.level > lv] for lv in levels}
    s_pos = {lv: [k for k, lp in enumerate(spatial) if lp.level > lv] for lv in levels}
    combos = [(s_idx, {lv: tuple(s_idx[k] for k in s_pos[lv]) for lv in levels})
              for s_idx in itertools.product(*(range(lp.extent) for lp in spatial))]
    for t_idx in itertools.product(*(range(lp.extent) for lp in temporal)):
        epochs = {lv: tuple(t_idx[k] for k in t_pos[lv]) for lv in levels}
        for s_idx, insts in combos:
            index = {d: 0 for d in ALL_DIMS}
            t_it, s_it = iter(t_idx), iter(s_idx)
            for lp in loops:
                i = next(s_it) if lp.spatial else next(t_it)
                index[lp.dim] = index[lp.dim] * lp.extent + i
            for v in ALL_OPERANDS:
                el = element(problem, v, index)
                for lv, per_epoch in touched[v].items():
                    per_epoch[epochs[lv]][insts[lv]].add(el)
    counts: dict[tuple[int, Operand], list[int]] = defaultdict(lambda: [0, 0, 0])
    for v in ALL_OPERANDS:
        chain = [-1, *keeping[v]]
        for child, parent in itertools.pairwise(chain):
            _account(v, child, parent, loops, touched[v][child], counts)
    return {k: (c[0], c[1], c[2]) for k, c in counts.items()}


def _account(v: Operand, child: int, parent: int, loops: list[SimLoop],
             epochs: dict[tuple[int, ...], dict[tuple[int, ...], set[Element]]],
             counts: dict[tuple[int, Operand], list[int]]) -> None:
    prefix = sum(1 for lp in loops if lp.spatial and lp.level > parent)
    held: dict[tuple[int, ...], set[Element]] = defaultdict(set)
    seen_child: dict[tuple[int, ...], set[Element]] = defaultdict(set)
    seen_parent: dict[tuple[int, ...], set[Element]] = defaultdict(set)
    for _epoch, instances in epochs.items():  # insertion order = time order
        sent: dict[tuple[int, ...], set[Element]] = defaultdict(set)
        for inst, points in instances.items():
            if child == -1:
                new = set(points)  # a MAC step: no storage, all operands needed
            else:
                tile = box(points)
                new = tile - held[inst]
                held[inst] = tile
                fills = len(new & seen_child[inst]) if v is Operand.OUTPUTS else len(new)
                counts[(child, v)][1] += fills
                seen_child[inst] |= tile
            sent[inst[:prefix]] |= new
        for pinst, words in sent.items():
            if v is Operand.OUTPUTS:
                counts[(parent, v)][2] += len(words)
                counts[(parent, v)][0] += len(words & seen_parent[pinst])
                seen_parent[pinst] |= words
            else:
                counts[(parent, v)][0] += len(words)
