"""Tests of cosa_onnx.bounds: compulsory traffic, the ResNet-50 sanity figure, bound <= cost."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosa_onnx.bounds import LayerBounds, layer_bounds, touched_positions
from cosa_onnx.cost import evaluate
from cosa_onnx.hwmodels.loader import builtin_names, load_spec
from cosa_onnx.mapspace import random_schedule
from cosa_onnx.problem import LoopProblem, Operand

WORKLOADS = Path(__file__).resolve().parents[2] / "shared" / "workloads"  # ../shared beside the repo


def resnet50_layers() -> list[LoopProblem]:
    path = WORKLOADS / "resnet50.csv"
    if not path.exists():
        pytest.skip(f"{path} not available")
    with path.open() as fh:
        return [LoopProblem(name=row["name"], r=int(row["R"]), s=int(row["S"]), p=int(row["P"]), q=int(row["Q"]),
                            c=int(row["C"]), k=int(row["K"]), n=int(row["N"]),
                            w_stride=int(row["Wstride"]), h_stride=int(row["Hstride"]),
                            w_dilation=int(row["Wdilation"]), h_dilation=int(row["Hdilation"]))
                for row in csv.DictReader(fh)]


def test_resnet50_latency_bound_on_simba() -> None:
    """Issue 3: latency bound sums to ~5.2 M cycles over the 54 layers, compute bound ~4.0 M,
    the FC layer DRAM-bound by ~100x."""
    spec = load_spec("simba")
    layers = resnet50_layers()
    assert len(layers) == 54
    bounds = [layer_bounds(p, spec) for p in layers]
    assert sum(b.compute_cycles for b in bounds) == pytest.approx(4.0e6, rel=0.01)
    assert sum(b.latency_cycles for b in bounds) == pytest.approx(5.2e6, rel=0.01)
    fc = bounds[-1]
    assert layers[-1].c == 2048 and layers[-1].k == 1000
    assert fc.dram_cycles / fc.compute_cycles == pytest.approx(100, rel=0.05)
    assert fc.words(Operand.WEIGHTS) == 2048 * 1000


def test_strided_1x1_counts_only_touched_pixels() -> None:
    """1x1 stride-2 conv, 28x28 outputs: the 55x55 window span, but only 28x28 pixels are read."""
    problem = LoopProblem(name="down", p=28, q=28, c=4, k=8, w_stride=2, h_stride=2)
    assert problem.tensor_words(Operand.INPUTS) == 4 * 55 * 55
    bounds = layer_bounds(problem, load_spec("simba"))
    assert bounds.words(Operand.INPUTS) == 4 * 28 * 28


def test_padding_is_not_dram_traffic() -> None:
    """3x3 same conv on 8x8 with pad 1: the padded span is 10x10, the real input 8x8."""
    problem = LoopProblem(name="same", r=3, s=3, p=8, q=8, c=2, k=2, w_pad=(1, 1), h_pad=(1, 1))
    assert layer_bounds(problem, load_spec("simba")).words(Operand.INPUTS) == 2 * 8 * 8


def test_touched_positions_brute_force() -> None:
    rng = random.Random(3)
    for _ in range(200):
        outs, win, stride, dil = rng.randint(1, 9), rng.randint(1, 5), rng.randint(1, 4), rng.randint(1, 3)
        span = (outs - 1) * stride + (win - 1) * dil + 1
        pad = (rng.randint(0, 2), rng.randint(0, 2))
        hit = {o * stride + w * dil for o in range(outs) for w in range(win)}
        expected = sum(1 for x in hit if pad[0] <= x < span - pad[1])
        assert touched_positions(outs, win, stride, dil, pad) == expected


def test_touched_positions_huge_dims_are_instant() -> None:
    """A 2^31-wide stride-2 axis is counted arithmetically (no per-position set)."""
    assert touched_positions(2**31, 3, 2, 1, (1, 1)) == 2 * 2**31 - 1
    assert touched_positions(2**31, 1, 2, 1, (0, 0)) == 2**31


def test_round_trip() -> None:
    bounds = layer_bounds(LoopProblem(name="fc", c=2048, k=1000), load_spec("simba"))
    assert bounds.dram_bound
    assert LayerBounds.from_dict(json.loads(json.dumps(bounds.to_dict()))) == bounds


SPECS = [load_spec(n) for n in builtin_names()]


@settings(max_examples=60, deadline=None)
@given(r=st.integers(1, 3), p=st.integers(1, 12), c=st.sampled_from([1, 3, 8, 16]), k=st.sampled_from([1, 4, 16, 64]),
       stride=st.integers(1, 2), spec_index=st.integers(0, len(SPECS) - 1), seed=st.integers(0, 1000))
def test_bound_never_exceeds_cost(r: int, p: int, c: int, k: int, stride: int, spec_index: int, seed: int) -> None:
    spec = SPECS[spec_index]
    problem = LoopProblem(name="b", r=r, s=r, p=p, q=p, c=c, k=k, w_stride=stride, h_stride=stride)
    schedule = random_schedule(problem, spec, random.Random(seed))
    assert schedule is not None
    cost = evaluate(problem, spec, schedule)
    bounds = layer_bounds(problem, spec)
    assert bounds.latency_cycles <= cost.cycles
    assert bounds.energy_pj <= cost.energy_pj * (1 + 1e-12)
