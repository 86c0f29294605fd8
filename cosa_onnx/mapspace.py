"""Random valid schedules: the map space sampler behind the random-search baselines and the tests.

Every prime factor of every dimension is placed, in random order, at a random level and as a
spatial or temporal loop, chosen uniformly among the placements that keep the schedule valid so far
(spatial product within the level's fan-out; every kept tile, halo included, within capacity at
that level and every level above it, since tiles only grow upwards). Placing at the outermost level
temporally is always valid, so construction never dead-ends; each level then gets a random loop
order. The result passes :func:`cosa_onnx.schedule.check` by construction.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence

from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.problem import ALL_DIMS, PROJECTION, Dim, LoopProblem, Operand, prime_factors
from cosa_onnx.schedule import LevelMapping, Schedule, SolverInfo, make_factors

logger = logging.getLogger(__name__)

_Axes = tuple[tuple[tuple[Dim, int], ...], ...]


def _words(axes: _Axes, extents: dict[Dim, int]) -> int:
    words = 1
    for axis in axes:
        if len(axis) == 1:
            d, coef = axis[0]
            words *= 1 + (extents[d] - 1) * coef
        else:
            extent = 1
            for d, coef in axis:
                extent += (extents[d] - 1) * coef
            words *= extent
    return words


class _Capacity:
    """Fast capacity test of one level (same rule as schedule.level_capacity_violations)."""

    def __init__(self, problem: LoopProblem, spec: HardwareSpec, index: int) -> None:
        level = spec.levels[index]
        self.unbounded = level.capacity_words is None
        self.kept: list[tuple[_Axes, float]] = []
        for v in level.keeps:
            axes = tuple(tuple((t.dim, problem.coefficient(t.coefficient)) for t in axis) for axis in PROJECTION[v])
            self.kept.append((axes, level.capacity_for(v) or 0.0))
        self.partitioned = level.partition is not None
        self.total = float(level.capacity_words or 0)

    def fits(self, extents: dict[Dim, int]) -> bool:
        if self.unbounded:
            return True
        sizes = [(_words(axes, extents), cap) for axes, cap in self.kept]
        if self.partitioned:
            return all(w <= cap + 1e-9 for w, cap in sizes)
        return sum(w for w, _ in sizes) <= self.total


def _factor_list(problem: LoopProblem) -> list[tuple[Dim, int]]:
    return [(d, f) for d in ALL_DIMS for f in prime_factors(problem.bound(d)) if f > 1]


def _place(factors: Sequence[tuple[Dim, int]], spec: HardwareSpec, caps: list[_Capacity],
           rng: random.Random) -> tuple[list[dict[Dim, int]], list[dict[Dim, int]]] | None:
    n = len(spec.levels)
    temporal: list[dict[Dim, int]] = [{} for _ in range(n)]
    spatial: list[dict[Dim, int]] = [{} for _ in range(n)]
    spatial_size = [1] * n
    fanout = [spec.fanout(i) for i in range(n)]
    cumulative = [{d: 1 for d in ALL_DIMS} for _ in range(n)]  # tile extents at level <= i
    if not all(caps[i].fits(cumulative[i]) for i in range(n)):
        return None
    for d, f in factors:
        fits_from = n - 1  # lowest level i such that levels i..n-1 all fit with d multiplied by f
        for j in range(n - 1, -1, -1):
            trial = dict(cumulative[j])
            trial[d] *= f
            if not caps[j].fits(trial):
                break
            fits_from = j
        options = [(i, False) for i in range(fits_from, n)]
        options += [(i, True) for i in range(fits_from, n - 1) if spatial_size[i] * f <= fanout[i]]
        level, is_spatial = rng.choice(options)
        target = spatial if is_spatial else temporal
        target[level][d] = target[level].get(d, 1) * f
        if is_spatial:
            spatial_size[level] *= f
        for j in range(level, n):
            cumulative[j][d] *= f
    return temporal, spatial


def random_schedule(problem: LoopProblem, spec: HardwareSpec, rng: random.Random, *,
                    max_tries: int = 1) -> Schedule | None:
    """A random schedule valid per ``check()``, or None if not even one-element tiles fit."""
    caps = [_Capacity(problem, spec, i) for i in range(len(spec.levels))]
    base = _factor_list(problem)
    for _ in range(max(1, max_tries)):
        factors = list(base)
        rng.shuffle(factors)
        placed = _place(factors, spec, caps, rng)
        if placed is None:
            logger.debug("layer %s: one-element tiles do not fit %s", problem.name, spec.name)
            return None
        temporal, spatial = placed
        levels = []
        for i, lv in enumerate(spec.levels):
            order = [d for d in ALL_DIMS if temporal[i].get(d, 1) > 1]
            rng.shuffle(order)
            levels.append(LevelMapping(level=lv.name, temporal=make_factors(temporal[i]),
                                       spatial=make_factors(spatial[i]), order=tuple(order),
                                       keeps=frozenset(v for v in Operand if v in lv.keeps)))
        return Schedule(levels=tuple(levels), solver=SolverInfo(method="random", status="feasible"))
    return None
