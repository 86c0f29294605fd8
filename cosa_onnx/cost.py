"""The analytical cost model: cycles, energy and per-level accesses of one scheduled layer.

``evaluate(problem, spec, schedule)`` counts, per memory level and tensor, the reads, fills and
updates of the schedule's loop nest exactly (Timeloop's counting rules, see docs/cost-model.md and
:mod:`cosa_onnx.costmodel.accesses`), prices them with the spec's per-word energies and derives
cycles as the maximum of the compute cycles and every level's bandwidth-limited cycles.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cosa_onnx.costmodel.accesses import Counts, access_counts
from cosa_onnx.errors import ScheduleError
from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.problem import ALL_DIMS, ALL_OPERANDS, LoopProblem, Operand
from cosa_onnx.schedule import Schedule

logger = logging.getLogger(__name__)

COST_SCHEMA_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class LevelAccess:
    """Accesses of one tensor at one memory level, totals over all instances (words, pJ)."""

    level: str
    operand: Operand
    reads: int
    fills: int
    updates: int
    energy_pj: float

    @property
    def writes(self) -> int:
        return self.fills + self.updates

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "operand": self.operand.value, "reads": self.reads, "fills": self.fills,
                "updates": self.updates, "energy_pj": self.energy_pj}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LevelAccess:
        return cls(level=str(data["level"]), operand=Operand(data["operand"]), reads=int(data["reads"]),
                   fills=int(data["fills"]), updates=int(data["updates"]), energy_pj=float(data["energy_pj"]))


@dataclass(frozen=True, kw_only=True)
class LayerCost:
    """Cost of one schedule. ``padded_macs`` = MACs executed on the padded bounds (>= ``macs``)."""

    cycles: int
    compute_cycles: int
    energy_pj: float
    macs: int
    padded_macs: int
    utilization: float
    mac_energy_pj: float
    accesses: tuple[LevelAccess, ...]                       # innermost level first
    energy_by_level_pj: tuple[tuple[str, float], ...]       # innermost level first
    energy_by_operand_pj: tuple[tuple[Operand, float], ...]  # memory energy only (MACs separate)
    bandwidth_cycles: tuple[tuple[str, int], ...]            # per level: cycles its traffic needs

    @property
    def edp(self) -> float:
        """Energy-delay product in pJ x cycles."""
        return self.energy_pj * self.cycles

    @property
    def wasted_macs(self) -> int:
        return self.padded_macs - self.macs

    def access(self, level: str, operand: Operand) -> LevelAccess | None:
        for a in self.accesses:
            if a.level == level and a.operand is operand:
                return a
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": COST_SCHEMA_VERSION,
            "cycles": self.cycles, "compute_cycles": self.compute_cycles, "energy_pj": self.energy_pj,
            "edp": self.edp, "macs": self.macs, "padded_macs": self.padded_macs,
            "utilization": self.utilization, "mac_energy_pj": self.mac_energy_pj,
            "accesses": [a.to_dict() for a in self.accesses],
            "energy_by_level_pj": dict(self.energy_by_level_pj),
            "energy_by_operand_pj": {v.value: e for v, e in self.energy_by_operand_pj},
            "bandwidth_cycles": dict(self.bandwidth_cycles),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LayerCost:
        version = data.get("schema_version")
        if version != COST_SCHEMA_VERSION:
            raise ValueError(f"layer cost schema_version {version!r} is not supported (this tool reads {COST_SCHEMA_VERSION})")
        return cls(
            cycles=int(data["cycles"]), compute_cycles=int(data["compute_cycles"]),
            energy_pj=float(data["energy_pj"]), macs=int(data["macs"]), padded_macs=int(data["padded_macs"]),
            utilization=float(data["utilization"]), mac_energy_pj=float(data["mac_energy_pj"]),
            accesses=tuple(LevelAccess.from_dict(a) for a in data["accesses"]),
            energy_by_level_pj=tuple((str(k), float(v)) for k, v in data["energy_by_level_pj"].items()),
            energy_by_operand_pj=tuple((Operand(k), float(v)) for k, v in data["energy_by_operand_pj"].items()),
            bandwidth_cycles=tuple((str(k), int(v)) for k, v in data["bandwidth_cycles"].items()),
        )


def _level_accesses(spec: HardwareSpec, counts: Mapping[tuple[int, Operand], Counts]) -> tuple[LevelAccess, ...]:
    out: list[LevelAccess] = []
    for i, level in enumerate(spec.levels):
        for v in ALL_OPERANDS:
            c = counts.get((i, v))
            if c is None:
                continue
            energy = c.reads * level.read_energy_pj_per_word + (c.fills + c.updates) * level.write_energy_pj_per_word
            out.append(LevelAccess(level=level.name, operand=v, reads=c.reads, fills=c.fills, updates=c.updates,
                                   energy_pj=energy))
    return tuple(out)


def _active_instances(schedule: Schedule, index: int) -> int:
    """Instances of level ``index`` the schedule uses (product of spatial factors above it)."""
    return math.prod(lm.spatial_size for lm in schedule.levels[index + 1:])


def _bandwidth_cycles(spec: HardwareSpec, schedule: Schedule, accesses: tuple[LevelAccess, ...]) -> tuple[tuple[str, int], ...]:
    out: list[tuple[str, int]] = []
    for i, level in enumerate(spec.levels):
        active = _active_instances(schedule, i)
        reads = sum(a.reads for a in accesses if a.level == level.name) / active
        writes = sum(a.writes for a in accesses if a.level == level.name) / active
        cycles = 0
        if level.read_bandwidth_words_per_cycle:
            cycles = max(cycles, math.ceil(reads / level.read_bandwidth_words_per_cycle - 1e-9))
        if level.write_bandwidth_words_per_cycle:
            cycles = max(cycles, math.ceil(writes / level.write_bandwidth_words_per_cycle - 1e-9))
        out.append((level.name, cycles))
    return tuple(out)


def evaluate(problem: LoopProblem, spec: HardwareSpec, schedule: Schedule) -> LayerCost:
    """Cycles, energy and accesses of ``schedule`` (assumed valid per ``check()``)."""
    if len(schedule.levels) != len(spec.levels):
        raise ScheduleError(f"layer {problem.name}: schedule has {len(schedule.levels)} levels, spec "
                            f"'{spec.name}' has {len(spec.levels)} (schedule it for this spec)")
    counts = access_counts(problem, schedule)
    accesses = _level_accesses(spec, counts)
    padded_macs = math.prod(schedule.bound(d, problem) for d in ALL_DIMS)
    mac_energy = padded_macs * spec.mac_energy_pj
    by_level = tuple((lv.name, sum(a.energy_pj for a in accesses if a.level == lv.name)) for lv in spec.levels)
    by_operand = tuple((v, sum(a.energy_pj for a in accesses if a.operand is v)) for v in ALL_OPERANDS)
    bandwidth = _bandwidth_cycles(spec, schedule, accesses)
    compute = schedule.compute_cycles
    cycles = max(compute, *(c for _, c in bandwidth))
    energy = mac_energy + sum(e for _, e in by_level)
    return LayerCost(
        cycles=cycles, compute_cycles=compute, energy_pj=energy, macs=problem.macs, padded_macs=padded_macs,
        utilization=problem.macs / (cycles * spec.mac_instances), mac_energy_pj=mac_energy,
        accesses=accesses, energy_by_level_pj=by_level, energy_by_operand_pj=by_operand, bandwidth_cycles=bandwidth,
    )
