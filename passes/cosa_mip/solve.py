"""``schedule_problem``: the CoSA MIP pass for one layer (solve, repair, refine, check)."""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass

from cosa_onnx.cost import evaluate
from cosa_onnx.errors import InfeasibleError, ScheduleError
from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.passes.cosa_mip.constraints import DEFAULT_SPLIT
from cosa_onnx.passes.cosa_mip.layout import build_layout
from cosa_onnx.passes.cosa_mip.mipsolve import MipResult, solve_layout
from cosa_onnx.passes.cosa_mip.options import MipOptions
from cosa_onnx.passes.cosa_mip.padding import padded_variants
from cosa_onnx.passes.cosa_mip.plan import Plan, from_schedule, to_schedule
from cosa_onnx.passes.cosa_mip.refine import Metric, metric_for, refine
from cosa_onnx.problem import Dim, LoopProblem
from cosa_onnx.schedule import Schedule, SolverInfo, check, trivial_schedule

logger = logging.getLogger(__name__)

REFINE_EVALS = 1200          # cost-model evaluations per candidate plan (deterministic budget)
FALLBACK_EVALS = 2000
PRIMARY_LIMIT_FACTOR = 2.0   # time limit multiplier of the first MIP candidate


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


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """A plan to refine and rank, where it came from, and the MIP run that produced it (if any)."""

    plan: Plan
    start: str          # "proxy", "proxy-padded", "paper", "outermost"
    result: MipResult | None


def _mip_candidates(problem: LoopProblem, spec: HardwareSpec, options: MipOptions, deadline: float) -> list[Candidate]:
    """``cosa`` solves the paper-era model only; the other objectives solve the spec-derived proxy
    (exact and padded bounds) and, with refinement on, the paper-era objective on the exact bounds
    (a second, differently biased start)."""
    runs: list[tuple[str, dict[Dim, int], str | None, bool]]
    if options.objective == "cosa":
        runs = [("paper", problem.bounds, None, True)]
    else:
        variants = padded_variants(problem) if options.allow_padding else [problem.bounds]
        runs = [("proxy" if i == 0 else "proxy-padded", b, options.ranking_metric, False) for i, b in enumerate(variants)]
        if options.refine:
            runs.append(("paper", problem.bounds, None, False))
    out = []
    for label, bounds, metric, paper in runs:
        layout = build_layout(problem, spec, bounds, paper_units=paper)
        # the proxy on exact bounds may use twice the limit: its incumbent matters most
        limit_s = options.time_limit_s * (PRIMARY_LIMIT_FACTOR if label == "proxy" else 1.0)
        result = solve_layout(layout, options, split=DEFAULT_SPLIT, paper=paper, deadline=deadline, metric=metric,
                              time_limit_s=limit_s)
        if result.plan is not None:
            out.append(Candidate(plan=result.plan, start=label, result=result))
    return out


def _best(problem: LoopProblem, spec: HardwareSpec, options: MipOptions, candidates: list[Candidate],
          metric: Metric, refining: bool) -> Candidate:
    """Refine every candidate (if ``refining``) and keep the best by ``metric`` (first on ties)."""
    scored = []
    for cand in candidates:
        plan = cand.plan
        if refining:
            plan, _ = refine(problem, spec, plan, metric, max_evals=REFINE_EVALS,
                             deadline=time.perf_counter() + 4 * options.time_limit_s)
        sched = to_schedule(problem, spec, plan, SolverInfo())
        scored.append((metric(evaluate(problem, spec, sched)), dataclasses.replace(cand, plan=plan)))
    scored.sort(key=lambda t: t[0])
    return scored[0][1]


def _refined_outermost(problem: LoopProblem, spec: HardwareSpec, options: MipOptions, trivial: Plan,
                       deadline: float) -> Plan:
    """The all-outermost schedule improved by the cost-model local search (no CBC)."""
    evals = FALLBACK_EVALS if options.refine else FALLBACK_EVALS // 10
    plan, _ = refine(problem, spec, trivial, metric_for(options.ranking_metric), max_evals=evals, deadline=deadline)
    return plan


def fallback_schedule(problem: LoopProblem, spec: HardwareSpec, options: MipOptions, flag: str) -> Schedule:
    """A valid schedule without any MIP solve (flagged ``fallback`` and ``flag``), for when a solve
    could not finish, e.g. a worker process the driver had to stop."""
    start = time.perf_counter()
    trivial = from_schedule(ensure_fits(problem, spec), problem)
    plan = _refined_outermost(problem, spec, options, trivial, start + 4 * options.time_limit_s)
    info = SolverInfo(method="fallback", objective_name=options.objective, status="fallback",
                      flags=("fallback", flag), wall_time_s=time.perf_counter() - start)
    schedule = to_schedule(problem, spec, plan, info)
    violations = check(problem, spec, schedule)
    if violations:
        raise ScheduleError(f"layer {problem.name!r}: the fallback schedule is invalid: {violations[0]}")
    return schedule


def schedule_problem(problem: LoopProblem, spec: HardwareSpec, options: MipOptions) -> Schedule:
    """Schedule one layer: always a check()-valid schedule (flagged if the solver was cut short)."""
    start = time.perf_counter()
    trivial = from_schedule(ensure_fits(problem, spec), problem)
    deadline = start + options.time_limit_s * (3 + PRIMARY_LIMIT_FACTOR) + 0.5  # at most four MIP candidates
    candidates = _mip_candidates(problem, spec, options, deadline)
    metric = metric_for(options.ranking_metric)
    refining = options.refine and options.objective != "cosa"
    flags: list[str] = []
    if not candidates:
        flags.append("fallback")
        best = Candidate(plan=_refined_outermost(problem, spec, options, trivial, deadline + 2 * options.time_limit_s),
                         start="outermost", result=None)
    else:
        if refining:
            candidates.append(Candidate(plan=trivial, start="outermost", result=None))
        best = _best(problem, spec, options, candidates, metric, refining)
        if best.result is None:  # report the MIP run of the proxy all the same
            best = dataclasses.replace(best, result=candidates[0].result)
        flags.append(f"start:{best.start}")
    if any(c.result is not None and c.result.hit_limit for c in candidates):
        flags.append("time-limit-hit")
    if any(b != problem.bound(d) for d, b in best.plan.bounds):
        flags.append("padded")
    info = _info(best.result, options.objective, flags, time.perf_counter() - start)
    schedule = to_schedule(problem, spec, best.plan, info)
    violations = check(problem, spec, schedule)
    if violations:
        raise ScheduleError(f"layer {problem.name!r}: the MIP pass produced an invalid schedule: {violations[0]}")
    return dataclasses.replace(schedule, solver=dataclasses.replace(info, wall_time_s=time.perf_counter() - start))
