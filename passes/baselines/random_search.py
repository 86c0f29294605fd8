"""Best of N valid random schedules by the real cost model (the paper's Random: N = 5; Timeloop's
Hybrid mapper searched on the order of N = 16,000 per layer).

Fast path for large N: identical samples are evaluated once (memo), and a sample is skipped without
evaluation when a cheap lower bound already shows it cannot beat the incumbent (cycles >= the product
of temporal factors; energy >= MACs x MAC energy). Both shortcuts are exact: the returned schedule is
the one a plain evaluate-everything loop would return (first best sample in draw order).
"""

from __future__ import annotations

import logging
import random
import time

from cosa_onnx.cost import evaluate
from cosa_onnx.errors import InfeasibleError, ScheduleError
from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.mapspace import random_schedule
from cosa_onnx.passes.baselines.common import objective_key, validate_objective, with_info
from cosa_onnx.problem import LoopProblem
from cosa_onnx.schedule import Schedule, SolverInfo, check, trivial_schedule

logger = logging.getLogger(__name__)

# Give up early when this many draws in a row produce no valid schedule and none was found yet.
_MAX_EMPTY_DRAWS = 20


def _lower_bound(schedule: Schedule, objective: str, min_energy_pj: float) -> float:
    """A value the objective's primary metric cannot go below for this schedule (no evaluation)."""
    cycles = float(schedule.compute_cycles)
    if objective == "latency":
        return cycles
    if objective == "edp":
        return cycles * min_energy_pj
    return min_energy_pj


def _draw(problem: LoopProblem, spec: HardwareSpec, rng: random.Random, samples: int) -> list[Schedule]:
    """``samples`` valid random schedules (fewer only if the generator keeps failing)."""
    out: list[Schedule] = []
    misses = 0
    while len(out) < samples and misses < 2 * samples:
        schedule = random_schedule(problem, spec, rng)
        if schedule is None:
            misses += 1
            if not out and misses >= _MAX_EMPTY_DRAWS:
                break
            continue
        out.append(schedule)
    return out


def random_search(problem: LoopProblem, spec: HardwareSpec, *, samples: int, seed: int,
                  objective: str) -> Schedule:
    """The best (by ``objective``: latency | energy | edp) of ``samples`` valid random schedules."""
    validate_objective(objective)
    if samples < 1:
        raise ValueError(f"random_search: samples must be >= 1, got {samples}")
    start = time.perf_counter()
    rng = random.Random(seed)
    drawn = _draw(problem, spec, rng, samples)
    if not drawn:
        return _fallback(problem, spec, objective, start)
    min_energy_pj = problem.macs * spec.mac_energy_pj
    memo: dict[object, tuple[float, float]] = {}
    best: Schedule = drawn[0]
    best_key = (float("inf"), float("inf"))
    evaluated = 0
    for schedule in drawn:
        ident = (schedule.levels, schedule.padded_bounds)
        key = memo.get(ident)
        if key is None:
            if _lower_bound(schedule, objective, min_energy_pj) > best_key[0]:
                continue
            key = objective_key(evaluate(problem, spec, schedule), objective)
            memo[ident] = key
            evaluated += 1
        if key < best_key:
            best, best_key = schedule, key
    wall_s = time.perf_counter() - start
    logger.debug("random search %s: %d drawn, %d evaluated, best %s in %.2f s", problem.name, len(drawn),
                 evaluated, best_key, wall_s)
    flags = () if len(drawn) == samples else (f"only-{len(drawn)}-valid-samples",)
    info = SolverInfo(method="random", objective_name=objective, status="feasible", objective=best_key[0],
                      wall_time_s=wall_s, flags=flags)
    return _checked(problem, spec, with_info(best, info))


def _fallback(problem: LoopProblem, spec: HardwareSpec, objective: str, start: float) -> Schedule:
    schedule = trivial_schedule(problem, spec)
    problems = check(problem, spec, schedule)
    if problems:
        raise InfeasibleError(f"layer {problem.name}: no valid schedule found on '{spec.name}' "
                              f"({problems[0]}); use a larger architecture")
    value = objective_key(evaluate(problem, spec, schedule), objective)[0]
    info = SolverInfo(method="random", objective_name=objective, status="fallback", objective=value,
                      wall_time_s=time.perf_counter() - start, flags=("fallback",))
    return with_info(schedule, info)


def _checked(problem: LoopProblem, spec: HardwareSpec, schedule: Schedule) -> Schedule:
    problems = check(problem, spec, schedule)
    if problems:
        raise ScheduleError(f"layer {problem.name}: random search produced an invalid schedule: {problems[0]}")
    return schedule
