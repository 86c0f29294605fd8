"""The analytical access counts agree EXACTLY with the brute-force loop-nest simulator.

Random small problems (stride 2, dilation 2, G > 1, R != S, batch) x random valid schedules from
``random_schedule`` x every built-in spec plus small hand-made specs (bypassing, a partitioned
shared level, wide fan-outs). Every (level, tensor) count — reads, fills, updates — must match.
"""

from __future__ import annotations

import dataclasses
import random

import pytest
from cost_fixtures import I, O, W, mapping, small_array_spec, two_level_spec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loopnest_sim import simulate

from cosa_onnx.cost import evaluate
from cosa_onnx.hwmodels.loader import builtin_names, load_spec
from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.mapspace import random_schedule
from cosa_onnx.problem import LoopProblem
from cosa_onnx.schedule import Schedule, check, make_factors

SPECS: list[HardwareSpec] = [load_spec(n) for n in builtin_names()] + [small_array_spec(), two_level_spec()]
MAX_MACS = 1500


@st.composite
def small_problems(draw: st.DrawFn) -> LoopProblem:
    return LoopProblem(
        name="h", g=draw(st.sampled_from([1, 1, 2])), r=draw(st.integers(1, 3)), s=draw(st.integers(1, 3)),
        p=draw(st.integers(1, 5)), q=draw(st.integers(1, 4)), c=draw(st.sampled_from([1, 2, 3, 4, 6])),
        k=draw(st.sampled_from([1, 2, 4, 8])), n=draw(st.sampled_from([1, 1, 2])),
        w_stride=draw(st.integers(1, 2)), h_stride=draw(st.integers(1, 2)),
        w_dilation=draw(st.integers(1, 2)), h_dilation=draw(st.integers(1, 2)),
    )


def model_counts(problem: LoopProblem, spec: HardwareSpec, schedule: Schedule) -> dict[tuple[int, object], tuple[int, int, int]]:
    cost = evaluate(problem, spec, schedule)
    index = {lv.name: i for i, lv in enumerate(spec.levels)}
    return {(index[a.level], a.operand): (a.reads, a.fills, a.updates) for a in cost.accesses}


def drop_keeps(schedule: Schedule, rng: random.Random) -> Schedule:
    """The same loops with some inner levels bypassing some tensors they could keep."""
    levels = [dataclasses.replace(lm, keeps=frozenset(v for v in lm.keeps if rng.random() < 0.6))
              for lm in schedule.levels[:-1]]
    return dataclasses.replace(schedule, levels=(*levels, schedule.levels[-1]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(problem=small_problems(), spec_index=st.integers(0, len(SPECS) - 1), seed=st.integers(0, 2**32 - 1),
       bypass=st.booleans())
def test_model_equals_simulator(problem: LoopProblem, spec_index: int, seed: int, bypass: bool) -> None:
    spec = SPECS[spec_index]
    rng = random.Random(seed)
    schedule = random_schedule(problem, spec, rng)
    assert schedule is not None
    if bypass:
        schedule = drop_keeps(schedule, rng)
    assert check(problem, spec, schedule) == []
    if problem.macs > MAX_MACS:  # keep the brute force quick; the schedule is still checked
        return
    assert model_counts(problem, spec, schedule) == simulate(problem, spec, schedule)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_model_equals_simulator_strided_halo(spec: HardwareSpec) -> None:
    """A fixed awkward shape (stride 2, dilation 2, R != S, G = 2) on every spec, 8 schedules each."""
    problem = LoopProblem(name="halo", g=2, r=3, s=2, p=4, q=3, c=2, k=2, w_stride=2, h_dilation=2)
    rng = random.Random(7)
    for _ in range(8):
        schedule = random_schedule(problem, spec, rng)
        assert schedule is not None and check(problem, spec, schedule) == []
        assert model_counts(problem, spec, schedule) == simulate(problem, spec, schedule)


def test_spatial_sliding_window_multicast_and_partial_sums() -> None:
    """Hand-built schedule on the small array: P and R spatial side by side (overlapping windows
    across PEs), outputs spilled and re-read (C outside P at DRAM). Exercises the union rules."""
    spec = small_array_spec()
    problem = LoopProblem(name="win", r=3, p=8, c=4, k=2, w_stride=1)
    schedule = Schedule(levels=(
        mapping("Reg", {}, {}, "", [W]),
        mapping("PEBuf", {"P": 2}, {"R": 3}, "P", [I, O]),
        mapping("Shared", {}, {"P": 4}, "", [W, I]),
        mapping("GLB", {}, {"C": 2}, "", [I, O]),
        mapping("DRAM", {"K": 2, "C": 2}, {}, "KC", [W, I, O]),
    ))
    assert check(problem, spec, schedule) == []
    counts = model_counts(problem, spec, schedule)
    assert counts == simulate(problem, spec, schedule)
    assert counts[(4, O)][0] > 0  # partial sums do come back from DRAM in this mapping


@pytest.mark.parametrize("seed", range(6))
def test_model_equals_simulator_with_padding(seed: int) -> None:
    """Schedules over padded bounds (P 5 -> 6, C 3 -> 4): the padded nest is what runs."""
    problem = LoopProblem(name="pad", r=2, s=1, p=5, q=2, c=3, k=2, w_stride=2)
    padded = dataclasses.replace(problem, p=6, c=4)
    spec = SPECS[seed % len(SPECS)]
    base = random_schedule(padded, spec, random.Random(seed))
    assert base is not None
    schedule = dataclasses.replace(base, padded_bounds=make_factors({"P": 6, "C": 4}))
    assert check(problem, spec, schedule) == []
    assert model_counts(problem, spec, schedule) == simulate(problem, spec, schedule)
    cost = evaluate(problem, spec, schedule)
    assert (cost.macs, cost.padded_macs) == (problem.macs, padded.macs)


def test_loop_order_changes_counts() -> None:
    """The comparison has teeth: swapping two DRAM loops changes both the model and the simulator."""
    spec = two_level_spec()
    problem = LoopProblem(name="two", c=2, k=4, p=3)
    inner = mapping("Buffer", {"C": 2}, {"K": 2}, "C", [W, I, O])
    a = Schedule(levels=(inner, mapping("DRAM", {"K": 2, "P": 3}, {}, "PK", [W, I, O])))
    b = Schedule(levels=(inner, mapping("DRAM", {"K": 2, "P": 3}, {}, "KP", [W, I, O])))
    assert simulate(problem, spec, a) != simulate(problem, spec, b)
    assert model_counts(problem, spec, a) == simulate(problem, spec, a)
    assert model_counts(problem, spec, b) == simulate(problem, spec, b)


@pytest.mark.nightly
@settings(max_examples=5000, deadline=None, suppress_health_check=list(HealthCheck))
@given(problem=small_problems(), spec_index=st.integers(0, len(SPECS) - 1), seed=st.integers(0, 2**32 - 1),
       bypass=st.booleans())
def test_model_equals_simulator_nightly(problem: LoopProblem, spec_index: int, seed: int, bypass: bool) -> None:
    test_model_equals_simulator.hypothesis.inner_test(problem, spec_index, seed, bypass)  # type: ignore[attr-defined]
