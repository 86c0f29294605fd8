"""Small inputs for the report tests: real problems, specs and schedules; a few layer results.

Cost and bounds come from the real ``cosa_onnx.cost`` / ``cosa_onnx.bounds`` when they are importable,
otherwise from small stand-ins computed from the schedule (so the report's arithmetic, not the cost
model, is what these tests check).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from cosa_onnx.hwmodels.loader import load_spec
from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.problem import LoopProblem
from cosa_onnx.report import LayerResult
from cosa_onnx.schedule import Schedule, SolverInfo, trivial_schedule


@dataclass(frozen=True, kw_only=True)
class StandInCost:
    cycles: int
    compute_cycles: int
    energy_pj: float
    macs: int
    padded_macs: int
    utilization: float
    energy_by_level_operand_pj: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class StandInBounds:
    compute_cycles: int
    dram_cycles: int
    latency_cycles: int
    energy_pj: float


@dataclass(frozen=True, kw_only=True)
class StandInOp:
    node_name: str
    op_type: str
    node_index: int
    input_words: int | None
    output_words: int | None


def _stand_in_cost(problem: LoopProblem, spec: HardwareSpec, schedule: Schedule) -> StandInCost:
    cycles = schedule.compute_cycles
    breakdown: dict[str, dict[str, float]] = {}
    for lv in spec.levels:
        breakdown[lv.name] = {v.value: problem.tensor_words(v) * lv.read_energy_pj_per_word for v in sorted(lv.keeps)}
    energy = sum(e for per in breakdown.values() for e in per.values()) + problem.macs * spec.mac_energy_pj
    return StandInCost(cycles=cycles, compute_cycles=cycles, energy_pj=energy, macs=problem.macs,
                       padded_macs=problem.macs, utilization=problem.macs / (cycles * spec.mac_instances),
                       energy_by_level_operand_pj=breakdown)


def _stand_in_bounds(problem: LoopProblem, spec: HardwareSpec) -> StandInBounds:
    from cosa_onnx.problem import Operand
    dram = spec.outermost
    reads = problem.tensor_words(Operand.WEIGHTS) + problem.tensor_words(Operand.INPUTS)
    writes = problem.tensor_words(Operand.OUTPUTS)
    compute = math.ceil(problem.macs / spec.mac_instances)
    dram_cycles = max(math.ceil(reads / (dram.read_bandwidth_words_per_cycle or math.inf)),
                      math.ceil(writes / (dram.write_bandwidth_words_per_cycle or math.inf)))
    energy = problem.macs * spec.mac_energy_pj + reads * dram.read_energy_pj_per_word + writes * dram.write_energy_pj_per_word
    return StandInBounds(compute_cycles=compute, dram_cycles=dram_cycles, latency_cycles=max(compute, dram_cycles),
                         energy_pj=energy)


def evaluate_layer(problem: LoopProblem, spec: HardwareSpec, schedule: Schedule) -> tuple[Any, Any]:
    """(cost, bounds) from the real cost model when present, else from the stand-ins."""
    try:
        from cosa_onnx.bounds import layer_bounds  # type: ignore[import-not-found,unused-ignore]
        from cosa_onnx.cost import evaluate  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return _stand_in_cost(problem, spec, schedule), _stand_in_bounds(problem, spec)
    return evaluate(problem, spec, schedule), layer_bounds(problem, spec)


PROBLEMS = (
    LoopProblem(name="conv1", op_type="Conv", r=3, s=3, p=8, q=8, c=3, k=16, w_stride=2, h_stride=2),
    LoopProblem(name="conv2", op_type="Conv", r=3, s=3, p=4, q=4, c=16, k=32),
    LoopProblem(name="conv3", op_type="Conv", r=3, s=3, p=4, q=4, c=16, k=32),   # same shape as conv2
    LoopProblem(name="fc", op_type="Gemm", c=512, k=10),
)

UNSCHEDULED = (
    StandInOp(node_name="relu_1", op_type="Relu", node_index=1, input_words=1024, output_words=1024),
    StandInOp(node_name="pool_2", op_type="MaxPool", node_index=3, input_words=4096, output_words=1023),
    StandInOp(node_name="flat", op_type="Flatten", node_index=5, input_words=512, output_words=512),
    StandInOp(node_name="dyn", op_type="Softmax", node_index=7, input_words=None, output_words=None),
)


def make_results(spec: HardwareSpec | None = None, problems: tuple[LoopProblem, ...] = PROBLEMS) -> list[LayerResult]:
    spec = spec or load_spec("simba")
    out = []
    for i, problem in enumerate(problems):
        base = trivial_schedule(problem, spec)
        solver = SolverInfo(method="mip", objective_name="latency", status="optimal", objective=1.0 + i,
                            gap=0.001 * i, wall_time_s=0.25 * (i + 1))
        schedule = Schedule(levels=base.levels, padded_bounds=base.padded_bounds, solver=solver)
        cost, bounds = evaluate_layer(problem, spec, schedule)
        out.append(LayerResult(node_name=problem.name, op_type=problem.op_type, problem=problem, schedule=schedule,
                               cost=cost, bounds=bounds, solve_time_s=0.5 * (i + 1), cache_hit=i % 2 == 1))
    return out
