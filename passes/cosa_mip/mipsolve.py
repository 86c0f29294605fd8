"""Run CBC on a built model, with capacity repair: decode, measure the real tiles, tighten, re-solve."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import mip

from cosa_onnx.passes.cosa_mip.build import BuiltModel, build_model
from cosa_onnx.passes.cosa_mip.decode import decode
from cosa_onnx.passes.cosa_mip.layout import Layout
from cosa_onnx.passes.cosa_mip.options import MipOptions
from cosa_onnx.passes.cosa_mip.plan import Plan
from cosa_onnx.problem import ALL_DIMS, ALL_OPERANDS, Dim, Operand

logger = logging.getLogger(__name__)

MAX_REPAIRS = 4


@dataclass(frozen=True, kw_only=True)
class MipResult:
    """One MIP solve: the decoded plan (None if CBC found nothing valid) and solver statistics."""

    plan: Plan | None
    status: str
    objective: float | None
    best_bound: float | None
    gap: float | None
    wall_time_s: float
    repairs: int
    hit_limit: bool


def tile_extents(plan: Plan, level: int) -> dict[Dim, int]:
    ext = {d: 1 for d in ALL_DIMS}
    for lp in plan.levels[: level + 1]:
        for d, f in (*lp.temporal, *lp.spatial):
            ext[d] *= f
    return ext


def overflows(layout: Layout, plan: Plan, budgets: Mapping[tuple[int, Operand], float]) -> dict[tuple[int, Operand], float]:
    """Per budgeted (level, tensor): log2(real tile / allowed words) where the real rule is broken.

    Partitioned levels: each tile against its share. Shared levels: the sum of kept tiles against the
    capacity; the excess is charged to each tile that exceeds its MIP share (all of them if none does).
    """
    spec, problem = layout.spec, layout.problem
    out: dict[tuple[int, Operand], float] = {}
    for i, level in enumerate(spec.levels):
        if level.capacity_words is None:
            continue
        ext = tile_extents(plan, i)
        tiles = {v: problem.footprint(v, ext) for v in ALL_OPERANDS if v in level.keeps and (i, v) in budgets}
        if level.partition is not None or len(tiles) == 1:
            for v, words in tiles.items():
                cap = level.capacity_for(v) or 0.0
                if words > cap + 1e-9:
                    out[(i, v)] = math.log2(words / cap)
        elif sum(tiles.values()) > level.capacity_words:
            excess = math.log2(sum(tiles.values()) / level.capacity_words)
            over = [v for v, w in tiles.items() if math.log2(w) > budgets[(i, v)] + 1e-9] or list(tiles)
            for v in over:
                out[(i, v)] = excess
    return out


def _status(st: mip.OptimizationStatus) -> str:
    return {mip.OptimizationStatus.OPTIMAL: "optimal", mip.OptimizationStatus.FEASIBLE: "feasible",
            mip.OptimizationStatus.INFEASIBLE: "infeasible", mip.OptimizationStatus.INT_INFEASIBLE: "infeasible",
            mip.OptimizationStatus.NO_SOLUTION_FOUND: "no-solution"}.get(st, str(st.name).lower())


@contextlib.contextmanager
def _native_stdout_silenced() -> Iterator[None]:
    """CBC sometimes prints (``Coin0505I ...``) straight to file descriptor 1 whatever python-mip's
    verbosity; route the descriptor to /dev/null while it runs so the user's terminal stays clean."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no stdout at all
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def solve_layout(layout: Layout, options: MipOptions, *, split: Mapping[Operand, float], paper: bool,
                 deadline: float, metric: str | None = None, time_limit_s: float | None = None) -> MipResult:
    """Build, solve and repair until the decoded plan fits every level (or give up). The CBC runs
    (first solve and repairs) share ``time_limit_s`` (default: the options' limit)."""
    start = time.perf_counter()
    limit_s = options.time_limit_s if time_limit_s is None else time_limit_s
    # The spec-derived proxy runs with cuts off: measured, its root cuts cost more than they gain.
    bm: BuiltModel = build_model(layout, split=split, paper_halo=paper, threads=options.threads, seed=options.seed,
                                  metric=metric, cuts=-1 if metric is None else 0)
    bm.model.max_mip_gap = options.rel_gap
    bm.model.max_mip_gap_abs = 1e-6
    status, hit_limit = "no-solution", False
    for repair in range(MAX_REPAIRS + 1):
        # repairs share the candidate's time limit
        remaining = min(limit_s - (time.perf_counter() - start), deadline - time.perf_counter())
        if remaining <= 0.01:
            hit_limit = True
            break
        run_start = time.perf_counter()
        with _native_stdout_silenced():
            st = bm.model.optimize(max_seconds=remaining, max_nodes=options.effective_max_nodes)
        status = _status(st)
        unfinished = st in (mip.OptimizationStatus.FEASIBLE, mip.OptimizationStatus.NO_SOLUTION_FOUND)
        # a run that stopped on its node limit is deterministic; only the clock makes it load-dependent
        hit_limit = hit_limit or (unfinished and time.perf_counter() - run_start >= 0.95 * remaining)
        if bm.model.num_solutions == 0:
            break
        plan = decode(bm.vars)
        over = overflows(layout, plan, bm.budgets)
        if not over:
            return _result(bm, plan, status, start, repair, hit_limit)
        for key, excess in over.items():
            used = bm.capacity[key].x or 0.0
            bm.budgets[key] = min(bm.budgets[key], used - excess - 1e-3)
            bm.model.add_constr(bm.capacity[key] <= bm.budgets[key])
        logger.debug("layer %s: tightened %s after an overflowing incumbent", layout.problem.name, sorted(over))
    return _result(bm, None, status, start, MAX_REPAIRS, hit_limit)


def _result(bm: BuiltModel, plan: Plan | None, status: str, start: float, repairs: int, hit_limit: bool) -> MipResult:
    m = bm.model
    obj = m.objective_value if m.num_solutions else None
    bound = m.objective_bound
    gap = None
    if obj is not None and bound is not None and math.isfinite(bound):
        gap = abs(obj - bound) / max(abs(obj), 1e-9)
    return MipResult(plan=plan, status=status, objective=obj, best_bound=bound if bound is not None and math.isfinite(bound) else None,
                     gap=gap, wall_time_s=time.perf_counter() - start, repairs=repairs, hit_limit=hit_limit)
