"""Hand-worked and calibration tests of cosa_onnx.cost.evaluate."""

from __future__ import annotations

import json
import math

import pytest
from cost_fixtures import I, O, W, doc_mapping, level_dict, mapping, one_level_spec, two_level_spec

from cosa_onnx.cost import LayerCost, evaluate
from cosa_onnx.errors import ScheduleError
from cosa_onnx.hwmodels.loader import load_spec, spec_from_dict
from cosa_onnx.problem import LoopProblem
from cosa_onnx.schedule import Schedule, check, make_factors


def counts(cost: LayerCost, level: str, operand: object) -> tuple[int, int, int]:
    a = next(a for a in cost.accesses if a.level == level and a.operand == operand)
    return a.reads, a.fills, a.updates


def test_one_level_hand_worked() -> None:
    """One DRAM level, one MAC; C=2, K=3, P=2 (12 MACs), all loops temporal at DRAM (order C, P, K).

    The MAC has no storage, so every one of the 12 steps reads one weight and one input from DRAM
    (12 + 12 reads) and sends one output update (12 updates). A partial sum is read back every time
    except the first touch of each of the K*P = 6 outputs: 12 - 6 = 6 output reads. No fills (DRAM
    has no parent). Energy = reads (12+12+6) x 1 pJ + updates 12 x 2 pJ + 12 MACs x 0.5 pJ = 60 pJ.
    Cycles = 12 temporal steps on 1 MAC: utilisation 1.
    """
    spec = one_level_spec()
    problem = LoopProblem(name="one", c=2, k=3, p=2)
    schedule = Schedule(levels=(mapping("DRAM", {"C": 2, "K": 3, "P": 2}, {}, "CPK", [W, I, O]),))
    assert check(problem, spec, schedule) == []
    cost = evaluate(problem, spec, schedule)
    assert counts(cost, "DRAM", W) == (12, 0, 0)
    assert counts(cost, "DRAM", I) == (12, 0, 0)
    assert counts(cost, "DRAM", O) == (6, 0, 12)
    assert cost.energy_pj == pytest.approx(60.0)
    assert (cost.cycles, cost.compute_cycles, cost.utilization) == (12, 12, 1.0)


def test_two_level_hand_worked() -> None:
    """Buffer (keeps all, 1 instance, 2 MACs) under DRAM; C=2, K=4, P=3 (24 MACs).

    Nest, outermost first: DRAM K2, DRAM P3 | Buffer C2, Buffer spatial K2 | 2 MACs.
    Buffer tiles: weights K2 x C2 = 4, inputs C2 x P1 = 2, outputs K2 x P1 = 2.
    - Weights change only when K increments (once): fills 4 + 4 = 8 = DRAM weight reads.
    - Inputs change on each of the 2 x 2 = 4 P increments and on the K increment (P resets to 0):
      2 + 4 x 2 + 2 = 12 fills = DRAM input reads (the 6 inputs, twice).
    - Outputs change like inputs: 12 new output words, all distinct (K4 x P3 = 12): DRAM updates
      12, DRAM reads 12 - 12 = 0 (first reads free), Buffer output fills 0.
    - MACs: 12 steps x 2 MACs. Weights differ per MAC: 24 reads; the input is shared: 12 reads
      (multicast); outputs differ per MAC: 24 updates, 24 - 12 first touches = 12 reads.
    Cycles: 12 compute; DRAM reads 8 + 12 = 20 at 1 word/cycle -> 20 cycles (bandwidth-bound).
    """
    spec = two_level_spec()
    problem = LoopProblem(name="two", c=2, k=4, p=3)
    schedule = Schedule(levels=(mapping("Buffer", {"C": 2}, {"K": 2}, "C", [W, I, O]),
                                mapping("DRAM", {"K": 2, "P": 3}, {}, "PK", [W, I, O])))
    assert check(problem, spec, schedule) == []
    cost = evaluate(problem, spec, schedule)
    assert counts(cost, "DRAM", W) == (8, 0, 0)
    assert counts(cost, "DRAM", I) == (12, 0, 0)
    assert counts(cost, "DRAM", O) == (0, 0, 12)
    assert counts(cost, "Buffer", W) == (24, 8, 0)
    assert counts(cost, "Buffer", I) == (12, 12, 0)
    assert counts(cost, "Buffer", O) == (12, 0, 24)
    assert cost.compute_cycles == 12
    assert cost.cycles == 20
    assert cost.utilization == pytest.approx(24 / (20 * 2))
    expected = (24 + 12 + 12) * 1 + (8 + 12 + 24) * 2 + (20) * 1 + 12 * 2 + 24 * 0.5
    assert cost.energy_pj == pytest.approx(expected)


def test_doc_mapping_matches_timeloop() -> None:
    """shared/design/timeloop-format.md: Timeloop 3.0.3 reports 112,896 cycles, util 1.00, 127.33 uJ.

    Compulsory DRAM traffic of this mapping, by hand: weights read once (256*256*9 = 589,824; the
    GlobalBuffer's P, Q loops are irrelevant to them), inputs twice (K2 is outside C8 at DRAM:
    2 * 256 * 16 * 16 = 131,072), outputs written once (50,176; C8 at DRAM is inside K2, and
    the GlobalBuffer keeps the partial sums).
    """
    spec = load_spec("simba")
    problem = LoopProblem(name="res3x3", r=3, s=3, p=14, q=14, c=256, k=256)
    schedule = doc_mapping()
    assert check(problem, spec, schedule) == []
    cost = evaluate(problem, spec, schedule)
    assert cost.cycles == 112_896
    assert cost.utilization == pytest.approx(1.0)
    assert cost.energy_pj / 1e6 == pytest.approx(127.33, rel=0.01)
    assert counts(cost, "DRAM", W) == (589_824, 0, 0)
    assert counts(cost, "DRAM", I) == (131_072, 0, 0)
    assert counts(cost, "DRAM", O) == (0, 0, 50_176)
    assert sum(e for _, e in cost.energy_by_level_pj) + cost.mac_energy_pj == pytest.approx(cost.energy_pj)
    assert sum(e for _, e in cost.energy_by_operand_pj) + cost.mac_energy_pj == pytest.approx(cost.energy_pj)


def test_to_dict_round_trip_through_json() -> None:
    spec = load_spec("simba")
    problem = LoopProblem(name="res3x3", r=3, s=3, p=14, q=14, c=256, k=256)
    cost = evaluate(problem, spec, doc_mapping())
    data = json.loads(json.dumps(cost.to_dict()))
    again = LayerCost.from_dict(data)
    assert again == cost
    assert data["edp"] == pytest.approx(cost.cycles * cost.energy_pj)
    with pytest.raises(ValueError, match="schema_version"):
        LayerCost.from_dict({**data, "schema_version": 99})


def test_padded_bounds_count_wasted_macs() -> None:
    """P=7 padded to 8 on the one-level spec: 8 * 2 MACs executed, 14 useful."""
    spec = one_level_spec()
    problem = LoopProblem(name="pad", p=7, c=2)
    schedule = Schedule(levels=(mapping("DRAM", {"P": 8, "C": 2}, {}, "CP", [W, I, O]),),
                        padded_bounds=make_factors({"P": 8}))
    assert check(problem, spec, schedule) == []
    cost = evaluate(problem, spec, schedule)
    assert (cost.macs, cost.padded_macs, cost.wasted_macs) == (14, 16, 2)
    assert cost.utilization == pytest.approx(14 / 16)
    assert cost.mac_energy_pj == pytest.approx(16 * 0.5)


def test_fc_layer_is_dram_bound_on_simba() -> None:
    """ResNet-50's FC layer: 2,048,000 weights at 10 words/cycle cannot finish in 2000 cycles."""
    spec = load_spec("simba")
    problem = LoopProblem(name="fc", c=2048, k=1000)
    schedule = Schedule(levels=(
        mapping("Registers", keeps=[W]),
        mapping("AccumulationBuffer", {}, {"C": 8}, "", [O]),
        mapping("WeightBuffer", keeps=[W]),
        mapping("InputBuffer", {}, {"C": 8}, "", [I]),
        mapping("GlobalBuffer", {}, {"C": 16}, "", [I, O]),
        mapping("DRAM", {"C": 2, "K": 1000}, {}, "CK", [W, I, O]),
    ))
    assert check(problem, spec, schedule) == []
    cost = evaluate(problem, spec, schedule)
    assert cost.compute_cycles == 2000
    dram = cost.access("DRAM", W)
    assert dram is not None and dram.reads == 2_048_000
    assert cost.cycles >= math.ceil(2_048_000 / 10)
    assert dict(cost.bandwidth_cycles)["DRAM"] == cost.cycles > cost.compute_cycles


def test_schedule_for_another_spec_is_rejected() -> None:
    problem = LoopProblem(name="one", c=2, k=3, p=2)
    schedule = Schedule(levels=(mapping("DRAM", {"C": 2, "K": 3, "P": 2}, {}, "CPK", [W, I, O]),))
    with pytest.raises(ScheduleError, match="layer one: schedule has 1 levels"):
        evaluate(problem, load_spec("simba"), schedule)


def test_bandwidth_is_per_used_instance() -> None:
    """Two buffers (1 read word/cycle each) under a shared level; K=2 spread over them, C=3 in time.

    Per buffer, per MAC step (3 steps): 1 weight read, 1 input read, 1 output update, and output
    reads 3 - 1 = 2 (first free): 8 reads per instance -> 8 cycles, although compute takes 3.
    Utilisation = 6 MACs / (8 cycles x 2 MACs).
    """
    spec = spec_from_dict({"name": "bw", "mac": {"instances": 2, "energy_pj": 0.5}, "levels": [
        level_dict("Buffer", 16, 2, ["Weights", "Inputs", "Outputs"], read_bandwidth_words_per_cycle=1.0),
        level_dict("Mid", 64, 1, ["Weights", "Inputs", "Outputs"]),
        level_dict("DRAM", None, 1, ["Weights", "Inputs", "Outputs"], write_bandwidth_words_per_cycle=0.25)]})
    problem = LoopProblem(name="bw", c=3, k=2)
    schedule = Schedule(levels=(mapping("Buffer", {"C": 3}, {}, "C", [W, I, O]),
                                mapping("Mid", {}, {"K": 2}, "", [W, I, O]),
                                mapping("DRAM", {}, {}, "", [W, I, O])))
    assert check(problem, spec, schedule) == []
    cost = evaluate(problem, spec, schedule)
    assert sum(a.reads for a in cost.accesses if a.level == "Buffer") == 16
    assert dict(cost.bandwidth_cycles) == {"Buffer": 8, "Mid": 0, "DRAM": 8}  # 2 output updates / 0.25
    assert (cost.compute_cycles, cost.cycles) == (3, 8)
    assert cost.utilization == pytest.approx(6 / 16)
