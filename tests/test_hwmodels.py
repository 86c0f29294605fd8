"""Hardware specs: loader validation (bad-spec corpus), built-ins conformance, YAML round trip."""

from __future__ import annotations

import copy
import importlib.util
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from cosa_onnx.errors import SpecError
from cosa_onnx.hwmodels.loader import SPECS_DIR, builtin_names, load_spec, load_spec_file, spec_from_dict
from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.problem import ALL_OPERANDS, LoopProblem, Operand
from cosa_onnx.schedule import check, trivial_schedule

BUILTINS = builtin_names()
EXPECTED_BUILTINS = {"simba", "simba-large", "eyeriss-like", "tpu-like", "gemmini-like"}
Mutation = Callable[[dict[str, Any]], Any]


def _base() -> dict[str, Any]:
    data = copy.deepcopy(load_spec("simba").to_dict())
    data["name"] = "bad"
    return data


def _level(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(lv for lv in data["levels"] if lv["name"] == name)


def _set(level: str, key: str, value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> dict[str, Any]:
        _level(data, level)[key] = value
        return data
    return mutate


def _drop(level: str, key: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> dict[str, Any]:
        del _level(data, level)[key]
        return data
    return mutate


def _top(key: str, value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> dict[str, Any]:
        data[key] = value
        return data
    return mutate


def _without_top(key: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> dict[str, Any]:
        del data[key]
        return data
    return mutate


def _no_weights(data: dict[str, Any]) -> dict[str, Any]:
    for lv in data["levels"]:
        lv["keeps"] = [k for k in lv["keeps"] if k != "Weights"]
    return data


def _duplicate_name(data: dict[str, Any]) -> dict[str, Any]:
    _level(data, "InputBuffer")["name"] = "WeightBuffer"
    return data


def _mac_instances(value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> dict[str, Any]:
        data["mac"]["instances"] = value
        return data
    return mutate


def _reversed_levels(data: dict[str, Any]) -> dict[str, Any]:
    data["levels"].reverse()
    return data


def _level_not_mapping(data: dict[str, Any]) -> dict[str, Any]:
    data["levels"][2] = "WeightBuffer"
    return data


# (id, mutation, substring the one-line message must contain: spec, level and field)
BAD_SPECS: list[tuple[str, Mutation, str]] = [
    ("missing-levels", _without_top("levels"), "spec 'bad': missing field 'levels'"),
    ("empty-levels", _top("levels", []), "spec 'bad' levels: must be a non-empty list"),
    ("levels-not-list", _top("levels", {"a": 1}), "spec 'bad' levels: must be a non-empty list"),
    ("missing-name", _without_top("name"), "hardware spec: missing field 'name'"),
    ("missing-mac", _without_top("mac"), "spec 'bad': missing field 'mac'"),
    ("mac-not-mapping", _top("mac", 1024), "spec 'bad' mac: must be a mapping"),
    ("mac-unknown-field", _top("mac", {"instances": 1024, "energy_pj": 0.25, "energy": 1}), "spec 'bad' mac: unknown field(s) energy"),
    ("negative-capacity", _set("GlobalBuffer", "capacity_words", -4), "spec 'bad' level 'GlobalBuffer' capacity_words: must be a positive"),
    ("zero-capacity", _set("InputBuffer", "capacity_words", 0), "level 'InputBuffer' capacity_words"),
    ("float-capacity", _set("InputBuffer", "capacity_words", 40.5), "level 'InputBuffer' capacity_words"),
    ("missing-capacity", _drop("WeightBuffer", "capacity_words"), "level 'WeightBuffer': missing field 'capacity_words'"),
    ("zero-instances", _set("InputBuffer", "instances", 0), "level 'InputBuffer' instances: must be a positive integer"),
    ("bool-instances", _set("InputBuffer", "instances", True), "level 'InputBuffer' instances: must be a positive integer"),
    ("string-word-bits", _set("Registers", "word_bits", "8"), "level 'Registers' word_bits: must be a positive integer"),
    ("negative-block", _set("DRAM", "block_words", -64), "level 'DRAM' block_words"),
    ("unknown-tensor", _set("WeightBuffer", "keeps", ["Weight"]), "level 'WeightBuffer' keeps: unknown tensor 'Weight'"),
    ("keeps-not-list", _set("WeightBuffer", "keeps", "Weights"), "level 'WeightBuffer' keeps: must be a list"),
    ("keeps-duplicate", _set("WeightBuffer", "keeps", ["Weights", "Weights"]), "level 'WeightBuffer' keeps: lists a tensor twice"),
    ("missing-keeps", _drop("Registers", "keeps"), "level 'Registers': missing field 'keeps'"),
    ("kept-nowhere", _no_weights, "no level keeps Weights"),
    ("outermost-misses-tensor", _set("DRAM", "keeps", ["Weights", "Outputs"]),
     "level 'DRAM' keeps: the outermost level must keep every tensor (missing Inputs)"),
    ("outermost-bounded", _set("DRAM", "capacity_words", 1 << 30), "level 'DRAM' capacity_words: the outermost level must be unbounded"),
    ("inner-unbounded", _set("GlobalBuffer", "capacity_words", None), "level 'GlobalBuffer' capacity_words: only the outermost"),
    ("fanout-not-whole", _set("InputBuffer", "instances", 24), "level 'InputBuffer' instances: 24 does not divide the 128"),
    ("mac-inconsistent", _mac_instances(1000), "spec 'bad' mac instances: 1000 MACs are not a whole multiple"),
    ("mac-zero", _mac_instances(0), "spec 'bad' mac instances: must be a positive integer"),
    ("declared-fanout-wrong", _set("InputBuffer", "fanout", 4), "level 'InputBuffer' fanout: declared 4"),
    ("levels-outermost-first", _reversed_levels, "spec 'bad' levels: the first level 'DRAM' is unbounded and the last"),
    ("duplicate-level", _duplicate_name, "level 'WeightBuffer' name: duplicate level name"),
    ("level-not-mapping", _level_not_mapping, "spec 'bad' levels[2]: must be a mapping"),
    ("level-unknown-field", _set("InputBuffer", "capacity_word", 4), "level 'InputBuffer': unknown field(s) capacity_word"),
    ("top-unknown-field", _top("clock_mhz", 500), "spec 'bad': unknown field(s) clock_mhz"),
    ("negative-energy", _set("DRAM", "read_energy_pj_per_word", -1.0), "level 'DRAM' read_energy_pj_per_word: must be a non-negative"),
    ("string-energy", _set("DRAM", "write_energy_pj_per_word", "100"), "level 'DRAM' write_energy_pj_per_word"),
    ("zero-bandwidth", _set("DRAM", "read_bandwidth_words_per_cycle", 0), "level 'DRAM' read_bandwidth_words_per_cycle: must be"),
    ("zero-clock", _top("clock_ghz", 0), "spec 'bad' clock_ghz: must be a positive number"),
    ("partition-zero", _set("GlobalBuffer", "partition", {"Inputs": 0, "Outputs": 0.5}),
     "level 'GlobalBuffer' partition Inputs: fraction must be in (0, 1]"),
    ("partition-above-one", _set("GlobalBuffer", "partition", {"Inputs": 1.5}), "level 'GlobalBuffer' partition Inputs: fraction"),
    ("partition-sum", _set("GlobalBuffer", "partition", {"Inputs": 0.6, "Outputs": 0.6}),
     "level 'GlobalBuffer' partition: fractions sum to 1.2 > 1"),
    ("partition-not-kept", _set("GlobalBuffer", "partition", {"Weights": 0.5}),
     "level 'GlobalBuffer' partition: names Weights, which the level does not keep"),
    ("partition-leaves-kept-tensor-out", _set("GlobalBuffer", "partition", {"Inputs": 0.5}),
     "level 'GlobalBuffer' partition: gives Outputs, which the level keeps, no words"),
    ("partition-unknown", _set("GlobalBuffer", "partition", {"Psums": 0.5}), "level 'GlobalBuffer' partition: unknown tensor 'Psums'"),
    ("partition-not-mapping", _set("GlobalBuffer", "partition", [0.5]), "level 'GlobalBuffer' partition: must map"),
    ("partition-below-one-word", _set("AccumulationBuffer", "partition", {"Outputs": 0.01}),
     "level 'AccumulationBuffer' partition Outputs: 0.01 of 64 words is less than one word"),
    ("no-room-for-kept-tensors", _set("GlobalBuffer", "capacity_words", 1),
     "level 'GlobalBuffer' capacity_words: 1 word(s) cannot hold one element of each of the 2 kept tensors"),
    ("timeloop-attr-not-scalar", _set("Registers", "timeloop_attributes", {"cluster-size": [64]}),
     "level 'Registers' timeloop_attributes cluster-size"),
]


@pytest.mark.parametrize(("mutation", "expected"), [(m, e) for _, m, e in BAD_SPECS], ids=[i for i, _, _ in BAD_SPECS])
def test_bad_spec_names_the_field(tmp_path: Path, mutation: Mutation, expected: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(mutation(_base()), sort_keys=False))
    with pytest.raises(SpecError) as info:
        load_spec_file(path)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message


@pytest.mark.parametrize(("text", "expected"), [
    ("name: x\nlevels: [\n", "is not valid YAML (line"),
    ("- a\n- b\n", "top level must be a mapping"),
    ("just a string\n", "top level must be a mapping"),
    ("", "is empty"),
    ("name: x\nmac: {instances: 1, energy_pj: 0}\nlevels:\n  - !!python/object:os.system {}\n", "not valid YAML"),
])
def test_malformed_files(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(SpecError, match=r"broken\.yaml") as info:
        load_spec_file(path)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_unreadable_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read hardware spec"):
        load_spec_file(tmp_path / "missing.yaml")


def test_valid_partition_and_fanout_are_accepted() -> None:
    data = _base()
    _level(data, "GlobalBuffer")["partition"] = {"Inputs": 0.25, "Outputs": 0.75}
    _level(data, "InputBuffer")["fanout"] = 8
    spec = spec_from_dict(data)
    level = spec.levels[spec.level_index("GlobalBuffer")]
    assert level.capacity_for(Operand.INPUTS) == 0.25 * 65536
    assert spec_from_dict(spec.to_dict()) == spec


def test_tensor_kept_nowhere_below_dram_is_fine() -> None:
    data = _base()
    for lv in data["levels"][:-1]:
        lv["keeps"] = [k for k in lv["keeps"] if k != "Inputs"]
    spec = spec_from_dict(data)
    assert spec.keeping_levels(Operand.INPUTS) == [len(spec.levels) - 1]


# ---- built-ins ------------------------------------------------------------------------------------
def test_all_expected_builtins_ship() -> None:
    assert set(BUILTINS) >= EXPECTED_BUILTINS


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_conformance(name: str) -> None:
    spec = load_spec(name)
    assert spec.name == name
    assert spec.outermost.unbounded and all(not lv.unbounded for lv in spec.levels[:-1])
    assert set(spec.outermost.keeps) == set(ALL_OPERANDS)
    assert spec.mac_energy_pj >= 0
    for lv in spec.levels:
        assert lv.read_energy_pj_per_word >= 0 and lv.write_energy_pj_per_word >= 0
    fanouts = [spec.fanout(i) for i in range(len(spec.levels))]
    assert math.prod(fanouts) * spec.outermost.instances == spec.mac_instances
    assert spec.source and spec.description
    text = (SPECS_DIR / f"{name}.yaml").read_text()
    assert text.lstrip().startswith("#") and "source" in text.lower()  # the file states its sources


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_round_trips_through_yaml(name: str) -> None:
    spec = load_spec(name)
    again = spec_from_dict(yaml.safe_load(yaml.safe_dump(spec.to_dict())))
    assert again == spec
    assert again.content_hash() == spec.content_hash()


PROBLEMS = [
    LoopProblem(name="conv3x3", c=16, k=32, p=7, q=7, r=3, s=3),
    LoopProblem(name="strided", c=3, k=8, p=5, q=5, r=7, s=7, w_stride=2, h_stride=2),
    LoopProblem(name="fc", op_type="Gemm", c=64, k=10),
    LoopProblem(name="grouped", g=4, c=2, k=2, p=4, q=4, r=3, s=3),
]


@pytest.mark.parametrize("name", BUILTINS)
@pytest.mark.parametrize("problem", PROBLEMS, ids=[p.name for p in PROBLEMS])
def test_builtin_trivial_schedule_is_valid(name: str, problem: LoopProblem) -> None:
    spec = load_spec(name)
    assert check(problem, spec, trivial_schedule(problem, spec)) == []


@pytest.mark.skipif(importlib.util.find_spec("cosa_onnx.cost") is None, reason="cost model not in the tree yet")
@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_trivial_schedule_has_finite_cost(name: str) -> None:
    from cosa_onnx import cost

    spec = load_spec(name)
    problem = PROBLEMS[0]
    result = cost.evaluate(problem, spec, trivial_schedule(problem, spec))
    assert 0 < result.cycles < float("inf")
    assert 0 < result.energy_pj < float("inf")


def test_simba_is_the_design_doc_machine() -> None:
    """shared/design/simba.md's table: (entries, word bits, instances, fan-out, block, keeps)."""
    spec = load_spec("simba")
    table = {
        "Registers": (1, 8, 1024, 1, 1, {"Weights"}),
        "AccumulationBuffer": (64, 24, 128, 8, 1, {"Outputs"}),
        "WeightBuffer": (16384, 8, 128, 1, 8, {"Weights"}),
        "InputBuffer": (4096, 8, 16, 8, 8, {"Inputs"}),
        "GlobalBuffer": (65536, 8, 1, 16, 8, {"Inputs", "Outputs"}),
        "DRAM": (None, 8, 1, 1, 64, {"Weights", "Inputs", "Outputs"}),
    }
    assert [lv.name for lv in spec.levels] == list(table)
    for i, lv in enumerate(spec.levels):
        assert (lv.capacity_words, lv.word_bits, lv.instances, spec.fanout(i), lv.block_words,
                {v.value for v in lv.keeps}) == table[lv.name]
    per_access = {"Registers": 0.49 / 64, "AccumulationBuffer": 1.58 / 8, "WeightBuffer": 7.12 / 8,
                  "InputBuffer": 4.70 / 8, "GlobalBuffer": 16.76 / 8, "DRAM": 6400 / 64}
    for lv in spec.levels:
        assert lv.read_energy_pj_per_word == pytest.approx(per_access[lv.name])
        assert lv.write_energy_pj_per_word == pytest.approx(per_access[lv.name])
    assert spec.mac_instances == 1024 and spec.mac_energy_pj == 0.25
    dram = spec.outermost
    assert (dram.read_bandwidth_words_per_cycle or 0) + (dram.write_bandwidth_words_per_cycle or 0) == 20


def test_simba_large_is_simba_with_four_times_the_instances() -> None:
    simba, large = load_spec("simba"), load_spec("simba-large")
    assert large.mac_instances == 4 * simba.mac_instances == 4096
    gb = simba.level_index("GlobalBuffer")
    for i, (a, b) in enumerate(zip(simba.levels, large.levels, strict=True)):
        assert b.instances == (4 * a.instances if i < gb else a.instances)
        assert (a.capacity_words, a.keeps, a.read_energy_pj_per_word) == (b.capacity_words, b.keeps, b.read_energy_pj_per_word)
    assert large.fanout(gb) == 64


def test_published_sizes_of_the_other_builtins() -> None:
    eyeriss = load_spec("eyeriss-like")
    assert eyeriss.mac_instances == 168 and eyeriss.fanout(eyeriss.level_index("GlobalBuffer")) == 168
    assert eyeriss.levels[eyeriss.level_index("GlobalBuffer")].capacity_kib == 108
    gemmini = load_spec("gemmini-like")
    assert gemmini.mac_instances == 256
    assert gemmini.levels[gemmini.level_index("Scratchpad")].capacity_kib == 256
    assert gemmini.levels[gemmini.level_index("Accumulator")].capacity_kib == 64
    tpu = load_spec("tpu-like")
    assert tpu.mac_instances == 256 * 256
    assert tpu.levels[tpu.level_index("UnifiedBuffer")].capacity_kib == 24 * 1024


def test_spec_objects_are_frozen_and_hashable() -> None:
    spec = load_spec("simba")
    assert isinstance(spec, HardwareSpec)
    assert hash(spec) == hash(load_spec("simba"))
    with pytest.raises(AttributeError):
        spec.name = "x"  # type: ignore[misc]


def test_partition_order_is_canonical() -> None:
    data = _base()
    _level(data, "GlobalBuffer")["partition"] = {"Outputs": 0.5, "Inputs": 0.5}
    first = spec_from_dict(data)
    _level(data, "GlobalBuffer")["partition"] = {"Inputs": 0.5, "Outputs": 0.5}
    assert spec_from_dict(data) == first
    assert spec_from_dict(data).content_hash() == first.content_hash()

