"""Exhaustive search for small problems: every valid schedule, evaluated by the real cost model.

The space enumerated (complete for schedules without padding and with the spec's keep/bypass
choices): every way to distribute each dimension's prime factors over the (level, spatial |
temporal) slots — no spatial loops at the outermost level or at levels with fan-out 1 — and, for
every such factor assignment, every loop order (permutation) of the dims with a temporal factor > 1
at each level. Two prunings, both exact:

- loops of bound 1 are left out of the orders (a trip-count-1 loop changes nothing);
- partial factor assignments that already exceed a fan-out or a capacity are cut (fan-out products
  and tile footprints only grow as more dims get factors, so no completion can become valid).

If the number of schedules exceeds ``limit``, :class:`SearchSpaceTooLargeError` is raised before any
evaluation.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections import Counter
from collections.abc import Iterator, Sequence

from cosa_onnx.cost import evaluate
from cosa_onnx.errors import InfeasibleError, ScheduleError
from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.passes.baselines.common import (
    SearchSpaceTooLargeError,
    objective_key,
    validate_objective,
    with_info,
)
from cosa_onnx.problem import ALL_DIMS, ALL_OPERANDS, Dim, LoopProblem, prime_factors
from cosa_onnx.schedule import LevelMapping, Schedule, SolverInfo, check, make_factors

logger = logging.getLogger(__name__)

Slot = tuple[int, bool]            # (level index, spatial?)
Assignment = dict[Dim, tuple[int, ...]]  # per dim: factor per slot


def slots_for(spec: HardwareSpec) -> list[Slot]:
    """Where a factor can go: temporal at every level, spatial where the fan-out is > 1."""
    out: list[Slot] = []
    last = len(spec.levels) - 1
    for i in range(len(spec.levels)):
        if i != last and spec.fanout(i) > 1:
            out.append((i, True))
        out.append((i, False))
    return out


def _compositions(total: int, parts: int) -> Iterator[tuple[int, ...]]:
    """Every way to write ``total`` as an ordered sum of ``parts`` non-negative integers."""
    if parts == 1:
        yield (total,)
        return
    for first in range(total + 1):
        for rest in _compositions(total - first, parts - 1):
            yield (first, *rest)


def dim_splits(bound: int, n_slots: int) -> list[tuple[int, ...]]:
    """Every distinct per-slot factorisation of ``bound`` (product of the slots' factors = bound)."""
    if bound == 1:
        return [(1,) * n_slots]
    per_prime = [[tuple(p**e for e in exps) for exps in _compositions(m, n_slots)]
                 for p, m in sorted(Counter(prime_factors(bound)).items())]
    out = []
    for combo in itertools.product(*per_prime):
        out.append(tuple(math.prod(values) for values in zip(*combo, strict=True)))
    return out


def _extents(problem: LoopProblem, slots: Sequence[Slot], assignment: Assignment, level: int) -> dict[Dim, int]:
    extents = {d: 1 for d in ALL_DIMS}
    for d, factors in assignment.items():
        extents[d] = math.prod(f for (lv, _), f in zip(slots, factors, strict=True) if lv <= level)
    return extents


def _fits(problem: LoopProblem, spec: HardwareSpec, slots: Sequence[Slot], assignment: Assignment) -> bool:
    """Fan-out and capacity hold for this (possibly partial; missing dims = 1) assignment."""
    for i in range(len(spec.levels)):
        spatial = math.prod(f for factors in assignment.values()
                            for (lv, sp), f in zip(slots, factors, strict=True) if lv == i and sp)
        if spatial > spec.fanout(i):
            return False
    for i, level in enumerate(spec.levels):
        if level.capacity_words is None:
            continue
        extents = _extents(problem, slots, assignment, i)
        tiles = {v: problem.footprint(v, extents) for v in ALL_OPERANDS if v in level.keeps}
        if level.partition is not None:
            if any(words > (level.capacity_for(v) or 0.0) + 1e-9 for v, words in tiles.items()):
                return False
        elif sum(tiles.values()) > level.capacity_words:
            return False
    return True


def _assignments(problem: LoopProblem, spec: HardwareSpec, slots: Sequence[Slot]) -> Iterator[Assignment]:
    """Every valid factor assignment (depth-first over dims, pruning invalid prefixes)."""
    dims = [d for d in ALL_DIMS if problem.bound(d) > 1]
    options = {d: dim_splits(problem.bound(d), len(slots)) for d in dims}

    def rec(index: int, partial: Assignment) -> Iterator[Assignment]:
        if index == len(dims):
            yield dict(partial)
            return
        d = dims[index]
        for split in options[d]:
            partial[d] = split
            if _fits(problem, spec, slots, partial):
                yield from rec(index + 1, partial)
        partial.pop(d, None)

    yield from rec(0, {})


def _temporal_dims(slots: Sequence[Slot], assignment: Assignment, level: int) -> list[Dim]:
    return [d for d, factors in assignment.items()
            if any(lv == level and not sp and f > 1 for (lv, sp), f in zip(slots, factors, strict=True))]


def _orders_count(spec: HardwareSpec, slots: Sequence[Slot], assignment: Assignment) -> int:
    return math.prod(math.factorial(len(_temporal_dims(slots, assignment, i))) for i in range(len(spec.levels)))


def count_space(problem: LoopProblem, spec: HardwareSpec, *, limit: int | None = None) -> int:
    """Schedules in the exhaustive space; raises SearchSpaceTooLargeError as soon as it passes ``limit``."""
    slots = slots_for(spec)
    total = 0
    for assignment in _assignments(problem, spec, slots):
        total += _orders_count(spec, slots, assignment)
        if limit is not None and total > limit:
            raise SearchSpaceTooLargeError(
                f"layer {problem.name}: the exhaustive search space on '{spec.name}' has more than {limit} "
                "schedules; raise the limit, or use random search or the MIP")
    return total


def _build(spec: HardwareSpec, slots: Sequence[Slot], assignment: Assignment,
           orders: Sequence[Sequence[Dim]]) -> Schedule:
    levels = []
    for i, level in enumerate(spec.levels):
        temporal = {d: f for d, fs in assignment.items() for (lv, sp), f in zip(slots, fs, strict=True)
                    if lv == i and not sp and f > 1}
        spatial = {d: f for d, fs in assignment.items() for (lv, sp), f in zip(slots, fs, strict=True)
                   if lv == i and sp and f > 1}
        levels.append(LevelMapping(level=level.name, temporal=make_factors(temporal), spatial=make_factors(spatial),
                                   order=tuple(orders[i]), keeps=level.keeps))
    return Schedule(levels=tuple(levels))


def enumerate_schedules(problem: LoopProblem, spec: HardwareSpec) -> Iterator[Schedule]:
    """Every schedule of the exhaustive space, in a fixed order (orders innermost first)."""
    slots = slots_for(spec)
    for assignment in _assignments(problem, spec, slots):
        per_level = [list(itertools.permutations(_temporal_dims(slots, assignment, i)))
                     for i in range(len(spec.levels))]
        for orders in itertools.product(*per_level):
            yield _build(spec, slots, assignment, orders)


def exhaustive_search(problem: LoopProblem, spec: HardwareSpec, *, objective: str, limit: int) -> Schedule:
    """The optimum of ``objective`` (latency | energy | edp) over every valid schedule (first in
    enumeration order on ties). Raises SearchSpaceTooLargeError if the space exceeds ``limit``."""
    validate_objective(objective)
    start = time.perf_counter()
    size = count_space(problem, spec, limit=limit)
    best: Schedule | None = None
    best_key = (math.inf, math.inf)
    for schedule in enumerate_schedules(problem, spec):
        key = objective_key(evaluate(problem, spec, schedule), objective)
        if key < best_key:
            best, best_key = schedule, key
    if best is None:
        raise InfeasibleError(f"layer {problem.name}: no valid schedule exists on '{spec.name}' without "
                              "padding; use the MIP (it can pad) or a larger architecture")
    wall_s = time.perf_counter() - start
    logger.debug("exhaustive search %s: %d schedules, best %s in %.2f s", problem.name, size, best_key, wall_s)
    info = SolverInfo(method="exhaustive", objective_name=objective, status="optimal", objective=best_key[0],
                      best_bound=best_key[0], gap=0.0, wall_time_s=wall_s, flags=(f"space={size}",))
    result = with_info(best, info)
    problems = check(problem, spec, result)
    if problems:  # pragma: no cover - the enumeration only builds valid schedules
        raise ScheduleError(f"layer {problem.name}: exhaustive search built an invalid schedule: {problems[0]}")
    return result
