"""Property tests: the CoSA MIP pass over random layer shapes x built-in and random valid specs.

Properties: it never crashes; every returned schedule passes ``check()``; infeasibility is reported
as :class:`InfeasibleError` naming the layer — and only when the layer really cannot be mapped (the
all-at-the-outermost-level schedule also fails ``check()``).

The default run solves a few hundred cases with a tight node limit; ``-m nightly`` runs thousands.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cosa_onnx.errors import InfeasibleError
from cosa_onnx.hwmodels.loader import builtin_names, load_spec, spec_from_dict
from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.passes.cosa_mip import MipOptions, schedule_problem
from cosa_onnx.problem import LoopProblem
from cosa_onnx.schedule import check, trivial_schedule

# Sizes that stress factorisation: 1s, primes (small and large), powers of two, awkward composites.
SMALL_SIZES = [1, 1, 1, 2, 3, 4, 5, 7, 8, 11, 13, 16]
LARGE_SIZES = [17, 31, 56, 64, 97, 112, 127, 224, 255, 509, 1021, 2048, 4096]
# Default run: tight limits (a solve costs ~0.1-0.2 s of CPU; many end in the flagged fallback).
FAST = MipOptions(time_limit_s=0.1, max_nodes=50, refine=False)
BUILTIN_SPECS = {name: load_spec(name) for name in builtin_names()}

# mostly small bounds (cheap solves), with primes, large and awkward sizes mixed in
dim = st.one_of(st.sampled_from(SMALL_SIZES), st.sampled_from(SMALL_SIZES), st.sampled_from(SMALL_SIZES),
                st.sampled_from(LARGE_SIZES), st.integers(min_value=1, max_value=300))
small = st.sampled_from([1, 1, 1, 2, 3, 5, 7])


@st.composite
def conv_problems(draw: st.DrawFn) -> LoopProblem:
    r, s = draw(small), draw(small)
    return LoopProblem(
        name=f"conv_r{r}s{s}", op_type="Conv", g=draw(st.sampled_from([1, 1, 1, 2, 3, 32])), r=r, s=s,
        p=draw(dim), q=draw(dim), c=draw(dim), k=draw(dim), n=draw(st.sampled_from([1, 1, 2, 3, 8])),
        w_stride=draw(st.sampled_from([1, 1, 2, 3])), h_stride=draw(st.sampled_from([1, 1, 2])),
        w_dilation=draw(st.sampled_from([1, 1, 2])), h_dilation=1,
    )


@st.composite
def matmul_problems(draw: st.DrawFn) -> LoopProblem:
    big = st.one_of(dim, st.sampled_from([8191, 65521, 2**20]))
    return LoopProblem(name="matmul", op_type="MatMul", g=draw(st.sampled_from([1, 1, 4, 12])),
                       p=draw(big), c=draw(big), k=draw(big))


problems = st.one_of(conv_problems(), matmul_problems())


@st.composite
def random_specs(draw: st.DrawFn) -> HardwareSpec:
    """A valid spec (through the real loader): 1-3 on-chip levels + DRAM, whole-number fan-outs."""
    mac_instances = draw(st.sampled_from([1, 4, 16, 64, 256, 1024]))
    inner_count = draw(st.integers(min_value=1, max_value=3))
    instances = mac_instances
    levels: list[dict[str, Any]] = []
    for i in range(inner_count):
        divisors = [d for d in (1, 2, 4, 8, 16) if instances % d == 0]
        instances = instances // draw(st.sampled_from(divisors))
        keeps = draw(st.lists(st.sampled_from(["Weights", "Inputs", "Outputs"]), min_size=1, max_size=3, unique=True))
        capacity = draw(st.sampled_from([1, 2, 3, 16, 64, 512, 4096, 65536]))
        keeps = keeps[:capacity]  # the loader refuses a level too small for one word of each kept tensor
        level: dict[str, Any] = {
            "name": f"L{i}", "capacity_words": capacity,
            "word_bits": 8, "instances": instances, "keeps": keeps,
            "read_energy_pj_per_word": float(2 ** i), "write_energy_pj_per_word": float(2 ** i),
        }
        if len(keeps) > 1 and level["capacity_words"] >= 16 and draw(st.booleans()):
            level["partition"] = {v: 1.0 / len(keeps) for v in keeps}
        levels.append(level)
    levels.append({"name": "DRAM", "capacity_words": None, "word_bits": 8, "instances": 1,
                   "keeps": ["Weights", "Inputs", "Outputs"], "read_energy_pj_per_word": 100.0,
                   "write_energy_pj_per_word": 100.0, "read_bandwidth_words_per_cycle": 8.0})
    return spec_from_dict({"name": "random", "mac": {"instances": mac_instances, "energy_pj": 0.5},
                           "levels": levels})


specs = st.one_of(st.sampled_from(sorted(BUILTIN_SPECS.values(), key=lambda s: s.name)), random_specs())


def assert_schedules_or_reports_infeasible(problem: LoopProblem, spec: HardwareSpec, options: MipOptions) -> None:
    trivially_feasible = check(problem, spec, trivial_schedule(problem, spec)) == []
    try:
        schedule = schedule_problem(problem, spec, options)
    except InfeasibleError as exc:
        assert problem.name in str(exc), f"infeasibility does not name the layer: {exc}"
        assert not trivially_feasible, f"{problem.describe()} on {spec.name}: reported infeasible but the " \
                                        "all-outermost schedule is valid"
        return
    assert check(problem, spec, schedule) == [], (problem.describe(), spec.name)


def test_random_specs_are_valid_and_varied() -> None:
    """The spec strategy itself: specs load and span several level counts and MAC counts."""
    seen: set[tuple[int, int]] = set()

    @settings(max_examples=60, deadline=None, database=None, derandomize=True)
    @given(random_specs())
    def collect(spec: HardwareSpec) -> None:
        seen.add((len(spec.levels), spec.mac_instances))

    collect()
    assert len({levels for levels, _ in seen}) >= 3 and len({macs for _, macs in seen}) >= 3


BUILTIN = st.sampled_from(sorted(BUILTIN_SPECS.values(), key=lambda s: s.name))
# 220 solves in the default run (~0.1-0.25 s of CPU each; the 6-level built-ins cost the most)
QUICK = settings(max_examples=120, deadline=None, database=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow])


@settings(QUICK, max_examples=100)
@given(problem=problems, spec=BUILTIN)
def test_builtin_specs(problem: LoopProblem, spec: HardwareSpec) -> None:
    assert_schedules_or_reports_infeasible(problem, spec, FAST)


@QUICK
@given(problem=problems, spec=random_specs())
def test_random_specs(problem: LoopProblem, spec: HardwareSpec) -> None:
    assert_schedules_or_reports_infeasible(problem, spec, FAST)


@pytest.mark.slow
@settings(max_examples=400, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(problem=problems, spec=specs)
def test_slow_default_options(problem: LoopProblem, spec: HardwareSpec) -> None:
    """The shipped defaults (2 s, refinement on): real MIP solutions rather than mostly fallbacks."""
    assert_schedules_or_reports_infeasible(problem, spec, MipOptions())


@pytest.mark.nightly
@settings(max_examples=5000, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(problem=problems, spec=specs, refine=st.booleans(), objective=st.sampled_from(["default", "latency", "energy"]))
def test_nightly_many_cases(problem: LoopProblem, spec: HardwareSpec, refine: bool, objective: str) -> None:
    options = MipOptions(time_limit_s=2.0, objective=objective, refine=refine)
    assert_schedules_or_reports_infeasible(problem, spec, options)
