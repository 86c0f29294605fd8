"""Schedules (mappings): per memory level, temporal and spatial loop bounds and a loop order.

Semantics (Timeloop's): the loops listed for level ``L`` split the tile held by one instance of
``L`` into the tiles of the level below — temporal loops over time (outermost first is the *end* of
``order``, which lists loops innermost first), spatial loops across the ``fanout(L)`` instances of
the level below (the MACs for the innermost level). So the tile one instance of ``L`` holds is the
product of every factor at ``L`` and below, and the compute cycles are the product of every temporal
factor.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.problem import ALL_DIMS, ALL_OPERANDS, Dim, LoopProblem, Operand

SCHEDULE_SCHEMA_VERSION = 1

Factors = tuple[tuple[Dim, int], ...]


def make_factors(values: Mapping[Dim, int] | Mapping[str, int]) -> Factors:
    """Canonical (G R S P Q C K N order, factors > 1 only) tuple form of a factor mapping."""
    by_dim = {Dim(k): int(v) for k, v in values.items()}
    return tuple((d, by_dim[d]) for d in ALL_DIMS if by_dim.get(d, 1) != 1)


@dataclass(frozen=True, kw_only=True)
class LevelMapping:
    """The loops of one memory level. ``order`` lists temporal dims innermost first."""

    level: str
    temporal: Factors = ()
    spatial: Factors = ()
    order: tuple[Dim, ...] = ()
    keeps: frozenset[Operand] = frozenset()

    def __post_init__(self) -> None:
        # Canonical factor tuples (G R S P Q C K N order, no 1s) so equal mappings compare equal and
        # survive a JSON round trip unchanged, whatever order a scheduler listed them in.
        object.__setattr__(self, "temporal", make_factors(dict(self.temporal)))
        object.__setattr__(self, "spatial", make_factors(dict(self.spatial)))

    def temporal_factor(self, dim: Dim) -> int:
        return dict(self.temporal).get(dim, 1)

    def spatial_factor(self, dim: Dim) -> int:
        return dict(self.spatial).get(dim, 1)

    @property
    def temporal_iterations(self) -> int:
        out = 1
        for _, f in self.temporal:
            out *= f
        return out

    @property
    def spatial_size(self) -> int:
        out = 1
        for _, f in self.spatial:
            out *= f
        return out

    def full_order(self) -> tuple[Dim, ...]:
        """``order`` completed with the dims it leaves out (all factor 1), innermost first."""
        return tuple(self.order) + tuple(d for d in ALL_DIMS if d not in self.order)

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "temporal": {d.value: f for d, f in self.temporal},
            "spatial": {d.value: f for d, f in self.spatial},
            "order": [d.value for d in self.order],
            "keeps": [v.value for v in ALL_OPERANDS if v in self.keeps],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LevelMapping:
        return cls(
            level=str(data["level"]),
            temporal=make_factors(data.get("temporal", {})),
            spatial=make_factors(data.get("spatial", {})),
            order=tuple(Dim(d) for d in data.get("order", [])),
            keeps=frozenset(Operand(v) for v in data.get("keeps", [])),
        )


@dataclass(frozen=True, kw_only=True)
class SolverInfo:
    """How a schedule was found. Timing fields are excluded from equality-relevant output."""

    method: str = "unknown"          # "mip", "random", "exhaustive", "fallback", ...
    objective_name: str = ""
    status: str = ""                 # "optimal", "feasible", "timeout", "fallback", ...
    objective: float | None = None
    best_bound: float | None = None
    gap: float | None = None
    wall_time_s: float | None = None
    flags: tuple[str, ...] = ()      # e.g. ("time-limit-hit", "fallback")

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method, "objective_name": self.objective_name, "status": self.status,
            "objective": self.objective, "best_bound": self.best_bound, "gap": self.gap,
            "wall_time_s": self.wall_time_s, "flags": list(self.flags),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SolverInfo:
        return cls(
            method=str(data.get("method", "unknown")), objective_name=str(data.get("objective_name", "")),
            status=str(data.get("status", "")), objective=data.get("objective"),
            best_bound=data.get("best_bound"), gap=data.get("gap"), wall_time_s=data.get("wall_time_s"),
            flags=tuple(data.get("flags", ())),
        )


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """A complete mapping of one loop problem onto a spec: one LevelMapping per memory level.

    ``padded_bounds`` are the bounds the factors tile; a dim may be padded above the problem's
    bound (e.g. 55 -> 56) and the extra MACs are wasted work the cost model counts.
    """

    levels: tuple[LevelMapping, ...]
    padded_bounds: tuple[tuple[Dim, int], ...] = ()
    solver: SolverInfo = field(default_factory=SolverInfo)

    def bound(self, dim: Dim, problem: LoopProblem) -> int:
        return dict(self.padded_bounds).get(dim, problem.bound(dim))

    def tiled_bounds(self, problem: LoopProblem) -> dict[Dim, int]:
        return {d: self.bound(d, problem) for d in ALL_DIMS}

    def tile_extents(self, level_index: int) -> dict[Dim, int]:
        """Per-dim extent of the tile one instance of level ``level_index`` holds."""
        extents = {d: 1 for d in ALL_DIMS}
        for lm in self.levels[: level_index + 1]:
            for d, f in lm.temporal:
                extents[d] *= f
            for d, f in lm.spatial:
                extents[d] *= f
        return extents

    @property
    def compute_cycles(self) -> int:
        """Temporal iterations = cycles if every MAC step takes one cycle."""
        out = 1
        for lm in self.levels:
            out *= lm.temporal_iterations
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEDULE_SCHEMA_VERSION,
            "levels": [lm.to_dict() for lm in self.levels],
            "padded_bounds": {d.value: b for d, b in self.padded_bounds},
            "solver": self.solver.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schedule:
        version = data.get("schema_version")
        if version != SCHEDULE_SCHEMA_VERSION:
            raise ValueError(f"schedule schema_version {version!r} is not supported "
                             f"(this tool reads {SCHEDULE_SCHEMA_VERSION})")
        return cls(
            levels=tuple(LevelMapping.from_dict(lm) for lm in data["levels"]),
            padded_bounds=make_factors(data.get("padded_bounds", {})),
            solver=SolverInfo.from_dict(data.get("solver", {})),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Schedule:
        return cls.from_dict(json.loads(text))


def level_capacity_violations(problem: LoopProblem, spec: HardwareSpec, schedule: Schedule,
                              index: int) -> list[str]:
    """Tile-size violations at one level (per-tensor if partitioned, else the kept tiles' sum)."""
    level = spec.levels[index]
    if level.capacity_words is None:
        return []
    kept = schedule.levels[index].keeps
    extents = schedule.tile_extents(index)
    tiles = {v: problem.footprint(v, extents) for v in ALL_OPERANDS if v in kept}
    out: list[str] = []
    if level.partition is not None:
        for v, words in tiles.items():
            cap = level.capacity_for(v) or 0.0
            if words > cap + 1e-9:
                out.append(f"level {level.name}: {v.value} tile of {words} words exceeds its "
                           f"{cap:g}-word partition")
    elif sum(tiles.values()) > level.capacity_words:
        detail = " + ".join(f"{v.value} {w}" for v, w in tiles.items())
        out.append(f"level {level.name}: tiles ({detail}) = {sum(tiles.values())} words exceed "
                   f"capacity {level.capacity_words}")
    return out


def check(problem: LoopProblem, spec: HardwareSpec, schedule: Schedule) -> list[str]:
    """Every way ``schedule`` is invalid for ``problem`` on ``spec`` (empty list = valid)."""
    out: list[str] = []
    if len(schedule.levels) != len(spec.levels):
        return [f"schedule has {len(schedule.levels)} levels, spec '{spec.name}' has {len(spec.levels)}"]
    for i, (lm, level) in enumerate(zip(schedule.levels, spec.levels, strict=True)):
        if lm.level != level.name:
            out.append(f"level {i}: schedule names '{lm.level}', spec has '{level.name}'")
        for d, f in (*lm.temporal, *lm.spatial):
            if f < 1:
                out.append(f"level {level.name}: factor {d}{f} is not a positive integer")
        if lm.spatial_size > spec.fanout(i):
            out.append(f"level {level.name}: spatial factors {lm.spatial_size} exceed fan-out {spec.fanout(i)}")
        if len(set(lm.order)) != len(lm.order):
            out.append(f"level {level.name}: loop order {''.join(lm.order)} repeats a dimension")
        missing = [d for d, f in lm.temporal if f > 1 and d not in lm.order]
        if missing:
            out.append(f"level {level.name}: loop order {''.join(lm.order)} leaves out "
                       f"{''.join(missing)}")
        extra = lm.keeps - level.keeps
        if extra:
            out.append(f"level {level.name}: keeps {sorted(v.value for v in extra)}, which the spec bypasses")
    if set(spec.outermost.keeps) - set(schedule.levels[-1].keeps):
        out.append(f"level {spec.outermost.name}: the outermost level must keep every tensor")
    for d in ALL_DIMS:
        tiled = schedule.bound(d, problem)
        total = 1
        for lm in schedule.levels:
            total *= lm.temporal_factor(d) * lm.spatial_factor(d)
        if tiled < problem.bound(d):
            out.append(f"dimension {d}: padded bound {tiled} is below the problem bound {problem.bound(d)}")
        if total != tiled:
            out.append(f"dimension {d}: product of factors {total} != bound {tiled}")
    if schedule.levels[-1].spatial:
        out.append(f"level {spec.outermost.name}: spatial factors at the outermost level")
    for i in range(len(spec.levels)):
        out.extend(level_capacity_violations(problem, spec, schedule, i))
    return out


def trivial_schedule(problem: LoopProblem, spec: HardwareSpec) -> Schedule:
    """Everything temporal at the outermost level: valid whenever one-element tiles fit every level."""
    levels = [LevelMapping(level=lv.name, keeps=lv.keeps) for lv in spec.levels[:-1]]
    outer = spec.outermost
    levels.append(LevelMapping(level=outer.name, temporal=make_factors(problem.bounds),
                               order=ALL_DIMS, keeps=outer.keeps))
    return Schedule(levels=tuple(levels), solver=SolverInfo(method="trivial", status="fallback"))
