"""Local refinement of a valid plan with the real cost model (cosa_onnx.cost.evaluate).

Moves, tried in a fixed order (deterministic, bounded by an evaluation budget): move one prime
factor to another level / kind, swap two prime factors of different dims, and move one dim to
another position in a level's loop order. First improvement is taken; stops at a local optimum.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from cosa_onnx.cost import LayerCost, evaluate
from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.passes.cosa_mip.plan import LevelPlan, Plan
from cosa_onnx.problem import Dim, LoopProblem, prime_factors
from cosa_onnx.schedule import Schedule, SolverInfo, check

logger = logging.getLogger(__name__)

Metric = Callable[[LayerCost], tuple[float, ...]]


def metric_for(name: str) -> Metric:
    """Lexicographic key to minimise: the named metric, then the other two as tie-breakers."""
    if name == "latency":
        return lambda c: (float(c.cycles), c.energy_pj)
    if name == "energy":
        return lambda c: (c.energy_pj, float(c.cycles))
    return lambda c: (c.edp, float(c.cycles))


class Atom(NamedTuple):
    """One prime factor placed at a level, spatially or temporally."""

    dim: Dim
    prime: int
    level: int
    spatial: bool


@dataclass(frozen=True, kw_only=True)
class State:
    atoms: tuple[Atom, ...]
    orders: tuple[tuple[Dim, ...], ...]


def to_state(plan: Plan) -> State:
    atoms: list[Atom] = []
    for i, lp in enumerate(plan.levels):
        for spatial, factors in ((False, lp.temporal), (True, lp.spatial)):
            for d, f in factors:
                atoms.extend(Atom(d, p, i, spatial) for p in prime_factors(f))
    return State(atoms=tuple(sorted(atoms)), orders=tuple(lp.order for lp in plan.levels))


def to_plan(state: State, bounds: tuple[tuple[Dim, int], ...]) -> Plan:
    n = len(state.orders)
    levels = []
    for i in range(n):
        temporal: dict[Dim, int] = {}
        spatial: dict[Dim, int] = {}
        for a in state.atoms:
            if a.level == i:
                target = spatial if a.spatial else temporal
                target[a.dim] = target.get(a.dim, 1) * a.prime
        order = [d for d in state.orders[i] if temporal.get(d, 1) > 1]
        order += [d for d in sorted(temporal) if temporal[d] > 1 and d not in order]
        levels.append(LevelPlan(temporal=tuple(sorted(temporal.items())), spatial=tuple(sorted(spatial.items())),
                                order=tuple(order)))
    return Plan(levels=tuple(levels), bounds=bounds)


def _with_atoms(state: State, atoms: list[Atom], insert: dict[int, Dim]) -> State:
    orders = list(state.orders)
    for level, d in insert.items():
        if d not in orders[level]:
            orders[level] = (d, *orders[level])
    return State(atoms=tuple(sorted(atoms)), orders=tuple(orders))


def _neighbours(state: State, spec: HardwareSpec) -> Iterator[State]:
    n = len(state.orders)
    outer = n - 1
    kinds = [(lv, sp) for lv in range(n) for sp in (False, True) if not (sp and (lv == outer or spec.fanout(lv) <= 1))]
    atoms = list(state.atoms)
    seen: set[Atom] = set()
    for idx, a in enumerate(atoms):
        if a in seen:
            continue
        seen.add(a)
        for lv, sp in kinds:
            if (lv, sp) == (a.level, a.spatial):
                continue
            moved = [*atoms[:idx], Atom(a.dim, a.prime, lv, sp), *atoms[idx + 1:]]
            yield _with_atoms(state, moved, {} if sp else {lv: a.dim})
    for i, a in enumerate(atoms):
        for j in range(i + 1, len(atoms)):
            b = atoms[j]
            if a.dim == b.dim or (a.level, a.spatial) == (b.level, b.spatial):
                continue
            swapped = list(atoms)
            swapped[i] = Atom(a.dim, a.prime, b.level, b.spatial)
            swapped[j] = Atom(b.dim, b.prime, a.level, a.spatial)
            ins = {}
            if not b.spatial:
                ins[b.level] = a.dim
            if not a.spatial:
                ins[a.level] = b.dim
            yield _with_atoms(state, swapped, ins)
    yield from _group_swaps(state, atoms)
    for lv, order in enumerate(state.orders):
        for pos, d in enumerate(order):
            rest = order[:pos] + order[pos + 1:]
            for new in range(len(order)):
                if new == pos:
                    continue
                orders = list(state.orders)
                orders[lv] = (*rest[:new], d, *rest[new:])
                yield State(atoms=state.atoms, orders=tuple(orders))


def _group_swaps(state: State, atoms: list[Atom]) -> Iterator[State]:
    """Swap all factors of one dim at one place with the j largest factors of another dim at another
    place (e.g. a spatial R7 for three temporal K2s): what single-prime moves cannot reach."""
    places: dict[tuple[Dim, int, bool], list[int]] = {}
    for idx, a in enumerate(atoms):
        places.setdefault((a.dim, a.level, a.spatial), []).append(idx)
    keys = sorted(places)
    for ka in keys:
        for kb in keys:
            if ka[0] == kb[0] or ka[1:] == kb[1:]:
                continue
            src = places[ka]
            dst = sorted(places[kb], key=lambda i: -atoms[i].prime)
            for j in range(1, len(dst) + 1):
                if j == 1 and len(src) == 1:
                    continue  # a plain two-atom swap, already tried
                moved = list(atoms)
                for i in src:
                    moved[i] = Atom(atoms[i].dim, atoms[i].prime, kb[1], kb[2])
                for i in dst[:j]:
                    moved[i] = Atom(atoms[i].dim, atoms[i].prime, ka[1], ka[2])
                ins = {}
                if not kb[2]:
                    ins[kb[1]] = ka[0]
                if not ka[2]:
                    ins[ka[1]] = kb[0]
                yield _with_atoms(state, moved, ins)


def refine(problem: LoopProblem, spec: HardwareSpec, plan: Plan, metric: Metric, *,
           max_evals: int, deadline: float) -> tuple[Plan, int]:
    """Hill-climb from a valid ``plan``; returns the best plan found and the evaluations spent."""
    from cosa_onnx.passes.cosa_mip.plan import to_schedule  # local: plan imports stay light

    def score(st: State) -> tuple[float, ...] | None:
        sched: Schedule = to_schedule(problem, spec, to_plan(st, plan.bounds), SolverInfo())
        if check(problem, spec, sched):
            return None
        return metric(evaluate(problem, spec, sched))

    best = to_state(plan)
    best_score = score(best)
    if best_score is None:
        return plan, 1
    evals = 1
    skip = 0  # resume the neighbourhood scan where the last improvement was found
    while evals < max_evals and time.perf_counter() < deadline:
        improved = False
        neighbours = list(_neighbours(best, spec))
        order = neighbours[skip:] + neighbours[:skip]
        for pos, cand in enumerate(order):
            evals += 1
            s = score(cand)
            if s is not None and s < best_score:
                best, best_score, improved = cand, s, True
                skip = (skip + pos) % max(len(neighbours), 1)
                break
            if evals >= max_evals or time.perf_counter() >= deadline:
                break
        if not improved:
            break
    logger.debug("layer %s: refinement used %d evaluations", problem.name, evals)
    return to_plan(best, plan.bounds), evals
