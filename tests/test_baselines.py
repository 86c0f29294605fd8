"""Search baselines: random search (valid, deterministic, exact pruning) and exhaustive search
(complete, optimal, never beaten by random search)."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest

pytest.importorskip("cosa_onnx.cost")
pytest.importorskip("cosa_onnx.mapspace")

from cosa_onnx.cost import evaluate
from cosa_onnx.hwmodels.loader import load_spec, spec_from_dict
from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.mapspace import random_schedule
from cosa_onnx.passes.baselines import (
    SearchOptions,
    SearchSpaceTooLargeError,
    count_space,
    enumerate_schedules,
    exhaustive_search,
    objective_key,
    random_search,
)
from cosa_onnx.passes.baselines.exhaustive import dim_splits, slots_for
from cosa_onnx.problem import ALL_DIMS, LoopProblem, prime_factors
from cosa_onnx.schedule import Schedule, check

TINY_SPEC = {
    "name": "tiny3",
    "mac": {"instances": 4, "energy_pj": 1.0},
    "levels": [
        {"name": "PEBuffer", "capacity_words": 12, "word_bits": 8, "instances": 4,
         "keeps": ["Weights", "Inputs", "Outputs"], "read_energy_pj_per_word": 0.5,
         "write_energy_pj_per_word": 0.5},
        {"name": "Global", "capacity_words": 96, "word_bits": 8, "instances": 1,
         "keeps": ["Inputs", "Outputs"], "read_energy_pj_per_word": 4.0, "write_energy_pj_per_word": 4.0},
        {"name": "DRAM", "capacity_words": None, "word_bits": 8, "instances": 1,
         "keeps": ["Weights", "Inputs", "Outputs"], "read_bandwidth_words_per_cycle": 2.0,
         "write_bandwidth_words_per_cycle": 2.0, "read_energy_pj_per_word": 100.0,
         "write_energy_pj_per_word": 100.0},
    ],
}


@pytest.fixture(scope="module")
def tiny() -> HardwareSpec:
    return spec_from_dict(TINY_SPEC)


@pytest.fixture(scope="module")
def simba() -> HardwareSpec:
    return load_spec("simba")


TINY_PROBLEMS = [
    LoopProblem(name="tiny_conv", r=3, p=2, c=2, k=2),
    LoopProblem(name="tiny_strided", r=2, p=3, c=2, k=2, w_stride=2),
    LoopProblem(name="tiny_mm", op_type="MatMul", p=4, c=4, k=2),
]


def _normalise(schedule: Schedule) -> tuple[object, ...]:
    """Identity of a schedule up to loops of bound 1 in the orders (which change nothing)."""
    out = []
    for lm in schedule.levels:
        nontrivial = {d for d, f in lm.temporal if f > 1}
        out.append((lm.level, lm.temporal, lm.spatial, tuple(d for d in lm.order if d in nontrivial), lm.keeps))
    return tuple(out)


def test_dim_splits_are_all_distinct_factorisations() -> None:
    for bound in (1, 2, 12, 36, 7):
        splits = dim_splits(bound, 4)
        assert all(math.prod(s) == bound for s in splits)
        assert len(set(splits)) == len(splits)
        expected = math.prod(math.comb(m + 3, 3) for m in Counter(prime_factors(bound)).values()) if bound > 1 else 1
        assert len(splits) == expected


def test_slots_skip_spatial_where_there_is_no_fanout(tiny: HardwareSpec, simba: HardwareSpec) -> None:
    assert slots_for(tiny) == [(0, False), (1, True), (1, False), (2, False)]
    assert (len(simba.levels) - 1, True) not in slots_for(simba)


@pytest.mark.parametrize("problem", TINY_PROBLEMS, ids=lambda p: p.name)
def test_enumeration_is_valid_unique_and_counted(problem: LoopProblem, tiny: HardwareSpec) -> None:
    schedules = list(enumerate_schedules(problem, tiny))
    assert schedules
    assert len(schedules) == count_space(problem, tiny)
    assert len({_normalise(s) for s in schedules}) == len(schedules)
    for s in schedules[:: max(1, len(schedules) // 200)]:
        assert check(problem, tiny, s) == []


@pytest.mark.parametrize("problem", TINY_PROBLEMS, ids=lambda p: p.name)
def test_enumeration_contains_every_random_schedule(problem: LoopProblem, tiny: HardwareSpec) -> None:
    space = {_normalise(s) for s in enumerate_schedules(problem, tiny)}
    rng = random.Random(7)
    seen = 0
    for _ in range(300):
        s = random_schedule(problem, tiny, rng)
        if s is None or s.padded_bounds or any(lm.keeps != lv.keeps for lm, lv in zip(s.levels, tiny.levels, strict=True)):
            continue
        seen += 1
        assert _normalise(s) in space
    assert seen > 50


@pytest.mark.parametrize(("problem", "objectives"), [(TINY_PROBLEMS[0], ("latency", "edp")),
                                                     (TINY_PROBLEMS[1], ("energy",))], ids=["conv", "strided"])
def test_exhaustive_is_optimal_and_never_beaten(problem: LoopProblem, objectives: tuple[str, ...],
                                                tiny: HardwareSpec) -> None:
    # Brute force over the same space, independently of the search's bookkeeping.
    costs = [evaluate(problem, tiny, s) for s in enumerate_schedules(problem, tiny)]
    for objective in objectives:
        best = exhaustive_search(problem, tiny, objective=objective, limit=100_000)
        assert check(problem, tiny, best) == []
        assert best.solver.method == "exhaustive" and best.solver.objective_name == objective
        best_key = objective_key(evaluate(problem, tiny, best), objective)
        assert best.solver.objective == pytest.approx(best_key[0])
        assert min(objective_key(c, objective) for c in costs) == best_key
        rnd = random_search(problem, tiny, samples=100, seed=3, objective=objective)
        assert objective_key(evaluate(problem, tiny, rnd), objective) >= best_key


def test_exhaustive_limit_raises_a_clear_error(simba: HardwareSpec) -> None:
    big = LoopProblem(name="big_layer", r=3, s=3, p=8, q=8, c=16, k=16)
    with pytest.raises(SearchSpaceTooLargeError, match=r"big_layer.*1000"):
        exhaustive_search(big, simba, objective="latency", limit=1000)


def test_exhaustive_on_simba_tiny_layer(simba: HardwareSpec) -> None:
    problem = LoopProblem(name="fc_tiny", op_type="Gemm", c=4, k=2)
    best = exhaustive_search(problem, simba, objective="latency", limit=200_000)
    assert check(problem, simba, best) == []
    rnd = random_search(problem, simba, samples=100, seed=0, objective="latency")
    assert evaluate(problem, simba, rnd).cycles >= evaluate(problem, simba, best).cycles


@pytest.mark.parametrize("objective", ["latency", "energy", "edp"])
def test_random_search_valid_and_deterministic(simba: HardwareSpec, objective: str) -> None:
    problem = LoopProblem(name="conv3x3", r=3, s=3, p=14, q=14, c=32, k=64, w_stride=1)
    a = random_search(problem, simba, samples=40, seed=11, objective=objective)
    b = random_search(problem, simba, samples=40, seed=11, objective=objective)
    assert check(problem, simba, a) == []
    assert a.levels == b.levels and a.padded_bounds == b.padded_bounds
    assert a.solver.method == "random" and a.solver.objective_name == objective
    assert a.solver.objective == pytest.approx(objective_key(evaluate(problem, simba, a), objective)[0])


@pytest.mark.parametrize("objective", ["latency", "edp"])
def test_random_search_pruning_is_exact(simba: HardwareSpec, objective: str) -> None:
    """The fast path returns exactly what evaluating every sample would return."""
    problem = LoopProblem(name="conv1x1", p=28, q=28, c=64, k=128)
    samples, seed = 60, 5
    rng = random.Random(seed)
    drawn = []
    while len(drawn) < samples:
        s = random_schedule(problem, simba, rng)
        if s is not None:
            drawn.append(s)
    keys = [objective_key(evaluate(problem, simba, s), objective) for s in drawn]
    naive = drawn[keys.index(min(keys))]
    fast = random_search(problem, simba, samples=samples, seed=seed, objective=objective)
    assert fast.levels == naive.levels
    assert fast.solver.objective == pytest.approx(min(keys)[0])


def test_more_samples_never_worse(simba: HardwareSpec) -> None:
    problem = LoopProblem(name="conv", r=3, s=3, p=7, q=7, c=64, k=64)
    few = random_search(problem, simba, samples=5, seed=1, objective="latency")
    many = random_search(problem, simba, samples=100, seed=1, objective="latency")
    assert many.solver.objective is not None and few.solver.objective is not None
    assert many.solver.objective <= few.solver.objective


def test_search_options_validate_and_tokenise() -> None:
    opts = SearchOptions(objective="energy", samples=5, seed=2)
    assert opts.cache_token() == {"objective": "energy", "samples": 5, "seed": 2, "limit": opts.limit}
    with pytest.raises(Exception, match="objective"):
        SearchOptions(objective="speed")
    assert all(d in ALL_DIMS for d in ALL_DIMS)
