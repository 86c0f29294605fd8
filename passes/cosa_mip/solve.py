"""``schedule_problem``: the CoSA MIP pass for one layer (solve, repair, refine, check)."""

from __future__ import annotations

import dataclasses
import logging
import time

from cosa_onnx.cost import evaluate
from cosa_onnx.errors import InfeasibleError, ScheduleError
from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.passes.cosa_mip.constraints import DEFAULT_SPLIT
from cosa_onnx.passes.cosa_mip.layout import build_layout
from cosa_onnx.passes.cosa_mip.mipsolve import MipResult, solve_layout
from cosa_onnx.passes.cosa_mip.options import MipOptions
from cosa_onnx.passes.cosa_mip.padding import padded_variants
from cosa_onnx.passes.cosa_mip.plan import Plan, from_schedule, to_schedule
from cosa_onnx.passes.cosa_mip.refine import metric_for, refine
from cosa_onnx.problem import Dim, LoopProblem
from cosa_onnx.schedule import Schedule, SolverInfo, check, trivial_schedule

logger = logging.getLogger(__name__)

REFINE_EVALS = 2000          # cost-model evaluations per candidate plan (deterministic budget)
FALLBACK_EVALS = 2000


def ensure_fits(problem: LoopProblem, spec: HardwareSpec) -> Schedule:
    """The all-outermost schedule, or InfeasibleError naming the level where even 1-word tiles overflow."""
    trivial = trivial_schedule(problem, spec)
    problems = check(problem, spec, trivial)
    if problems:
        level = problems[0].split(":")[0]
        raise InfeasibleError(f"layer {problem.name!r}: cannot be mapped: {level} cannot hold even one word of each "
                              f"tensor it keeps ({problems[0]}); enlarge it or change what it keeps")
    return trivial


def _info(result: MipResult | None, objective: str, flags: list[str], total_s: float) -> SolverInfo:
    if result is None:
        return SolverInfo(method="fallback", objective_name=objective, status="fallback", wall_time_s=total_s,
                          flags=tuple(flags))
    return SolverInfo(method="mip", objective_name=objective, status=result.status, objective=result.objective,
                      best_bound=result.best_bound, gap=result.gap, wall_time_s=total_s, flags=tuple(flags))


def _candidate_plans(problem: LoopProblem, spec: HardwareSpec, options: MipOptions,
                     deadline: float) -> list[tuple[Plan, MipResult]]:
    """MIP solutions to refine and rank: ``cosa`` solves the paper-era model only; the other
    objectives solve the spec-derived proxy (exact and padded bounds) and, on the exact bounds, the
    paper-era objective too (a second, differently biased start for the refinement)."""
    runs: list[tuple[dict[Dim, int], str | None, bool]]
    if options.objective == "cosa":
        runs = [(problem.bounds, None, True)]
    else:
        variants = padded_variants(problem) if options.allow_padding else [problem.bounds]
        runs = [(b, options.ranking_metric, False) for b in variants]
        if options.refine:
            runs.append((problem.bounds, None, False))
    out = []
    for bounds, metric, paper in runs:
        layout = build_layout(problem, spec, bounds, paper_units=paper)
        result = solve_layout(layout, options, split=DEFAULT_SPLIT, paper=paper, deadline=deadline, metric=metric)
        if result.plan is not None:
            out.append((result.plan, result))
    return out


def schedule_problem(problem: LoopProblem, spec: HardwareSpec, options: MipOptions) -> Schedule:
    """Schedule one layer: always a check()-valid schedule (flagged if the solver was cut short)."""
    start = time.perf_counter()
    trivial = ensure_fits(problem, spec)
    deadline = start + options.time_limit_s * 3 + 0.5  # at most three MIP candidates
    candidates = _candidate_plans(problem, spec, options, deadline)
    metric = metric_for(options.ranking_metric)
    flags: list[str] = []
    best_plan: Plan
    best_result: MipResult | None
    if not candidates:
        flags.append("fallback")
        best_plan, _ = refine(problem, spec, from_schedule(trivial, problem), metric,
                              max_evals=FALLBACK_EVALS if options.refine else FALLBACK_EVALS // 10,
                              deadline=deadline + 2 * options.time_limit_s)
        best_result = None
    else:
        if options.refine and options.objective != "cosa":
            candidates.append((from_schedule(trivial, problem), candidates[0][1]))  # a third, unbiased start
        scored = []
        for plan, result in candidates:
            if options.refine and options.objective != "cosa":
                plan, _ = refine(problem, spec, plan, metric, max_evals=REFINE_EVALS,
                                 deadline=time.perf_counter() + 4 * options.time_limit_s)
            sched = to_schedule(problem, spec, plan, SolverInfo())
            scored.append((metric(evaluate(problem, spec, sched)), plan, result))
        scored.sort(key=lambda t: t[0])
        _, best_plan, best_result = scored[0]
    if best_result is not None and best_result.hit_limit:
        flags.append("time-limit-hit")
    if best_plan.bounds != tuple(sorted(problem.bounds.items())) and any(
            b != problem.bound(d) for d, b in best_plan.bounds):
        flags.append("padded")
    info = _info(best_result, options.objective, flags, time.perf_counter() - start)
    schedule = to_schedule(problem, spec, best_plan, info)
    violations = check(problem, spec, schedule)
    if violations:
        raise ScheduleError(f"layer {problem.name!r}: the MIP pass produced an invalid schedule: {violations[0]}")
    return dataclasses.replace(schedule, solver=dataclasses.replace(info, wall_time_s=time.perf_counter() - start))
