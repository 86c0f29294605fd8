"""Tests of cosa_onnx.mapspace.random_schedule: validity, determinism, coverage, impossibility."""

from __future__ import annotations

import random

import pytest
from cost_fixtures import level_dict

from cosa_onnx.hwmodels.loader import builtin_names, load_spec, spec_from_dict
from cosa_onnx.hwmodels.spec import HardwareSpec, MemoryLevel
from cosa_onnx.mapspace import random_schedule
from cosa_onnx.problem import LoopProblem, Operand
from cosa_onnx.schedule import check

SPECS = [load_spec(n) for n in builtin_names()]
PROBLEMS = [
    LoopProblem(name="conv1", r=7, s=7, p=112, q=112, c=3, k=64, w_stride=2, h_stride=2),
    LoopProblem(name="3x3", r=3, s=3, p=56, q=56, c=64, k=64),
    LoopProblem(name="down", p=28, q=28, c=256, k=512, w_stride=2, h_stride=2),
    LoopProblem(name="fc", c=2048, k=1000),
    LoopProblem(name="dw", g=32, r=3, s=3, p=14, q=14, c=1, k=1, w_dilation=2, h_dilation=2),
    LoopProblem(name="prime", p=7, q=7, c=1021, k=3, n=2),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_random_schedules_are_valid(spec: HardwareSpec) -> None:
    rng = random.Random(11)
    for problem in PROBLEMS:
        for _ in range(15):
            schedule = random_schedule(problem, spec, rng)
            assert schedule is not None
            assert check(problem, spec, schedule) == [], problem.name


def test_same_seed_same_schedule() -> None:
    spec = load_spec("simba")
    problem = PROBLEMS[1]
    a = [random_schedule(problem, spec, random.Random(5)) for _ in range(2)]
    assert a[0] == a[1]
    assert random_schedule(problem, spec, random.Random(6)) != a[0]


def test_uses_spatial_and_inner_levels() -> None:
    """The sampler explores the space: some samples put factors spatially and below DRAM."""
    spec = load_spec("simba")
    rng = random.Random(1)
    samples = [random_schedule(PROBLEMS[1], spec, rng) for _ in range(50)]
    assert all(s is not None for s in samples)
    assert any(s is not None and any(lm.spatial for lm in s.levels) for s in samples)
    assert any(s is not None and any(lm.temporal for lm in s.levels[:-1]) for s in samples)
    assert len({s.to_json() for s in samples if s is not None}) > 40


def test_none_when_single_words_do_not_fit() -> None:
    """A one-word level keeping two tensors cannot hold even one-element tiles (the loader rejects
    such a spec; a spec built in code can still have it)."""
    dram = spec_from_dict({"name": "d", "mac": {"instances": 1, "energy_pj": 1.0},
                           "levels": [level_dict("DRAM", None, 1, ["Weights", "Inputs", "Outputs"])]}).levels[0]
    tiny = MemoryLevel(name="Tiny", capacity_words=1, word_bits=8, instances=1,
                       keeps=frozenset({Operand.WEIGHTS, Operand.INPUTS}))
    spec = HardwareSpec(name="tight", mac_instances=1, mac_energy_pj=1.0, levels=(tiny, dram))
    assert random_schedule(LoopProblem(name="x", c=2), spec, random.Random(0)) is None
