"""A plan: per memory level, temporal and spatial prime-factor multisets and a loop order.

The MIP decodes into a plan; the local refinement edits plans; a plan becomes a Schedule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.problem import ALL_DIMS, Dim, LoopProblem
from cosa_onnx.schedule import LevelMapping, Schedule, SolverInfo, make_factors


@dataclass(frozen=True, kw_only=True)
class LevelPlan:
    """Loop bounds of one level (dim -> product of its prime factors there) and the temporal order."""

    temporal: tuple[tuple[Dim, int], ...]
    spatial: tuple[tuple[Dim, int], ...]
    order: tuple[Dim, ...]  # innermost first; only dims with a temporal factor > 1


@dataclass(frozen=True, kw_only=True)
class Plan:
    levels: tuple[LevelPlan, ...]
    bounds: tuple[tuple[Dim, int], ...]  # the (possibly padded) bounds the factors tile


def canonical_order(temporal: Mapping[Dim, int], preferred: tuple[Dim, ...] = ()) -> tuple[Dim, ...]:
    """Dims with a temporal factor > 1: ``preferred`` ones first (innermost), then canonical order."""
    dims = [d for d in preferred if temporal.get(d, 1) > 1]
    return (*dims, *(d for d in ALL_DIMS if temporal.get(d, 1) > 1 and d not in dims))


def level_plan(temporal: Mapping[Dim, int], spatial: Mapping[Dim, int], preferred: tuple[Dim, ...] = ()) -> LevelPlan:
    return LevelPlan(temporal=make_factors(temporal), spatial=make_factors(spatial),
                     order=canonical_order(temporal, preferred))


def to_schedule(problem: LoopProblem, spec: HardwareSpec, plan: Plan, solver: SolverInfo) -> Schedule:
    levels = tuple(
        LevelMapping(level=lv.name, temporal=lp.temporal, spatial=lp.spatial, order=lp.order, keeps=lv.keeps)
        for lv, lp in zip(spec.levels, plan.levels, strict=True)
    )
    padded = tuple((d, b) for d, b in plan.bounds if b != problem.bound(d))
    return Schedule(levels=levels, padded_bounds=padded, solver=solver)


def from_schedule(schedule: Schedule, problem: LoopProblem) -> Plan:
    levels = tuple(LevelPlan(temporal=lm.temporal, spatial=lm.spatial,
                             order=tuple(d for d in lm.order if lm.temporal_factor(d) > 1))
                   for lm in schedule.levels)
    return Plan(levels=levels, bounds=tuple(schedule.tiled_bounds(problem).items()))
