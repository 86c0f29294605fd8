"""Timeloop export (arch, problem, mapping), arch import, stats parsing.

timeloop-model itself is not installable here, so the exported files are checked against the
format document (shared/design/timeloop-format.md): the doc's own example mapping is reproduced,
and every export is re-read and checked for Timeloop's rules (factor products = bounds, spatial
products <= fan-out, datatype entries for every level).
"""

from __future__ import annotations

import logging
import math
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from cosa_onnx.errors import ScheduleError, SpecError, UserInputError
from cosa_onnx.hwmodels.loader import builtin_names, load_spec
from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.hwmodels.timeloop_arch import default_keeps
from cosa_onnx.problem import ALL_DIMS, Dim, LoopProblem, Operand
from cosa_onnx.schedule import LevelMapping, Schedule, make_factors, trivial_schedule
from cosa_onnx.timeloop import (
    energy_table,
    energy_table_from_ert,
    export_timeloop,
    parse_timeloop_stats,
    problem_from_timeloop,
    schedule_from_timeloop_mapping,
    spec_from_timeloop_arch,
    timeloop_arch_dict,
)

# Verbatim from shared/design/timeloop-format.md (ResNet-50 layer C=K=256, P=Q=14, R=S=3 on Simba).
DOC_ARCH = """
arch:
  arithmetic: {instances: 1024, word-bits: 8}
  storage:
  - {name: Registers, entries: 1, instances: 1024, word-bits: 8, cluster-size: 64, num-ports: 2, num-banks: 8}
  - {name: AccumulationBuffer, entries: 64, instances: 128, word-bits: 24, cluster-size: 8, network-word-bits: 16}
  - {name: WeightBuffer, entries: 16384, instances: 128, word-bits: 8, block-size: 8}
  - {name: InputBuffer, entries: 4096, instances: 16, word-bits: 8, block-size: 8}
  - {name: GlobalBuffer, entries: 65536, instances: 1, word-bits: 8, block-size: 8, num-banks: 256}
  - {name: DRAM, technology: DRAM, instances: 1, word-bits: 8, block-size: 64, bandwidth: 20.0}
"""
DOC_PROBLEM = """
problem: {shape: cnn-layer, C: 256, K: 256, N: 1, P: 14, Q: 14, R: 3, S: 3,
          Hstride: 1, Wstride: 1, Hdilation: 1, Wdilation: 1}
"""
DOC_MAPPING = """
mapping:
  - {target: Registers,          type: datatype, keep: [Weights],         bypass: [Inputs, Outputs]}
  - {target: AccumulationBuffer, type: datatype, keep: [Outputs],         bypass: [Weights, Inputs]}
  - {target: WeightBuffer,       type: datatype, keep: [Weights],         bypass: [Inputs, Outputs]}
  - {target: InputBuffer,        type: datatype, keep: [Inputs],          bypass: [Weights, Outputs]}
  - {target: GlobalBuffer,       type: datatype, keep: [Inputs, Outputs], bypass: [Weights]}
  - {target: DRAM,               type: datatype, keep: [Weights, Inputs, Outputs], bypass: []}
  - {target: Registers,          type: temporal, factors: R1 S1 P1 Q1 C1 K1 N1, permutation: RSPQCKN}
  - {target: AccumulationBuffer, type: spatial,  factors: R1 S1 P1 Q1 C8 K1 N1, permutation: CRSPQKN, split: 7}
  - {target: AccumulationBuffer, type: temporal, factors: R1 S1 P7 Q7 C1 K1 N1, permutation: QPRSCKN}
  - {target: WeightBuffer,       type: temporal, factors: R3 S3 P1 Q1 C4 K1 N1, permutation: RSCPQKN}
  - {target: InputBuffer,        type: spatial,  factors: R1 S1 P1 Q1 C1 K8 N1, permutation: KRSPQCN, split: 7}
  - {target: InputBuffer,        type: temporal, factors: R1 S1 P1 Q1 C1 K1 N1, permutation: RSPQCKN}
  - {target: GlobalBuffer,       type: spatial,  factors: R1 S1 P1 Q1 C1 K16 N1, permutation: KRSPQCN, split: 7}
  - {target: GlobalBuffer,       type: temporal, factors: R1 S1 P2 Q2 C1 K1 N1, permutation: QPRSCKN}
  - {target: DRAM,               type: temporal, factors: R1 S1 P1 Q1 C8 K2 N1, permutation: CKRSPQN}
"""
SIMBA_KEEPS = {"Registers": ["Weights"], "AccumulationBuffer": ["Outputs"], "WeightBuffer": ["Weights"],
               "InputBuffer": ["Inputs"], "GlobalBuffer": ["Inputs", "Outputs"]}
DOC_LAYER = LoopProblem(name="res4_conv2", c=256, k=256, p=14, q=14, r=3, s=3)


def _lm(spec: HardwareSpec, level: str, *, temporal: dict[str, int] | None = None,
        spatial: dict[str, int] | None = None, order: str = "") -> LevelMapping:
    return LevelMapping(level=level, temporal=make_factors(temporal or {}), spatial=make_factors(spatial or {}),
                        order=tuple(Dim(c) for c in order), keeps=spec.levels[spec.level_index(level)].keeps)


def doc_schedule(spec: HardwareSpec) -> Schedule:
    """The doc's mapping, written as our schedule (order innermost first, only non-unit loops)."""
    return Schedule(levels=(
        _lm(spec, "Registers"),
        _lm(spec, "AccumulationBuffer", spatial={"C": 8}, temporal={"P": 7, "Q": 7}, order="QP"),
        _lm(spec, "WeightBuffer", temporal={"R": 3, "S": 3, "C": 4}, order="RSC"),
        _lm(spec, "InputBuffer", spatial={"K": 8}),
        _lm(spec, "GlobalBuffer", spatial={"K": 16}, temporal={"P": 2, "Q": 2}, order="QP"),
        _lm(spec, "DRAM", temporal={"C": 8, "K": 2}, order="CK"),
    ))


def parse_factors(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for token in text.split():
        dim, value = token[0], int(token[1:])
        assert dim not in out, f"dimension {dim} listed twice in {text!r}"
        out[dim] = value
    return out


def semantic_entries(mapping: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
    """What Timeloop takes from each entry: keep/bypass sets; factors and the order of non-unit loops."""
    out: dict[tuple[str, str], Any] = {}
    for entry in mapping:
        key = (entry["target"], entry["type"])
        assert key not in out, f"duplicate entry {key}"
        if entry["type"] == "datatype":
            out[key] = (frozenset(entry["keep"]), frozenset(entry["bypass"]))
            continue
        factors = parse_factors(entry["factors"])
        assert sorted(entry["permutation"]) == sorted(factors), "permutation must list every dimension once"
        order = tuple(d for d in entry["permutation"] if factors[d] > 1)
        if entry["type"] == "spatial":
            active = sum(1 for f in factors.values() if f > 1)
            assert entry["split"] >= active  # all spatial factors on mesh X
            order = tuple(sorted(order))  # spatial order does not change counts
        out[key] = ({d: f for d, f in factors.items() if f > 1}, order)
    return out


def _read(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


# ---- export -----------------------------------------------------------------------------------------
def test_doc_mapping_is_reproduced(tmp_path: Path) -> None:
    spec = load_spec("simba")
    paths = export_timeloop(DOC_LAYER, spec, doc_schedule(spec), tmp_path / "layer")
    assert {p.name for p in paths.values()} == {"arch.yaml", "problem.yaml", "map.yaml"}
    ours = _read(paths["mapping"])["mapping"]
    expected = yaml.safe_load(DOC_MAPPING)["mapping"]
    assert semantic_entries(ours) == semantic_entries(expected)
    # Entry order as in the doc: datatype entries, then levels innermost first.
    assert [(e["target"], e["type"]) for e in ours] == [(e["target"], e["type"]) for e in expected]


def test_exported_storage_energies_are_timeloop_access_energies() -> None:
    spec = load_spec("simba")
    storage = timeloop_arch_dict(spec)["arch"]["storage"]
    per_access = {"Registers": 0.49 / 64, "AccumulationBuffer": 1.58 / 8, "WeightBuffer": 7.12,
                  "InputBuffer": 4.70, "GlobalBuffer": 16.76, "DRAM": 6400.0}
    assert {e["name"]: pytest.approx(e["vector-access-energy"]) for e in storage} == per_access
    # and the import reads them back as the same per-word energies
    again = spec_from_timeloop_arch(timeloop_arch_dict(spec), keeps=SIMBA_KEEPS)
    assert [lv.read_energy_pj_per_word for lv in again.levels] == pytest.approx(
        [lv.read_energy_pj_per_word for lv in spec.levels])


def test_doc_problem_and_arch_are_reproduced(tmp_path: Path) -> None:
    spec = load_spec("simba")
    paths = export_timeloop(DOC_LAYER, spec, doc_schedule(spec), tmp_path, energies="timeloop")
    assert _read(paths["problem"]) == yaml.safe_load(DOC_PROBLEM)
    ours = _read(paths["arch"])["arch"]
    doc = yaml.safe_load(DOC_ARCH)["arch"]
    assert ours["arithmetic"]["instances"] == doc["arithmetic"]["instances"]
    for mine, theirs in zip(ours["storage"], doc["storage"], strict=True):
        bandwidth = theirs.pop("bandwidth", None)
        if bandwidth is not None:  # Timeloop reads `bandwidth: B` as B/2 read + B/2 write
            assert (mine.pop("read_bandwidth"), mine.pop("write_bandwidth")) == (bandwidth / 2, bandwidth / 2)
        mine.setdefault("block-size", 1)
        theirs.setdefault("block-size", 1)
        assert mine == theirs


def _check_timeloop_rules(problem_doc: dict[str, Any], arch_doc: dict[str, Any], mapping: list[dict[str, Any]]) -> None:
    prob = problem_doc["problem"]
    bounds = prob["instance"] if isinstance(prob["shape"], dict) else prob
    dims = prob["shape"]["dimensions"] if isinstance(prob["shape"], dict) else ["R", "S", "P", "Q", "C", "K", "N"]
    storage = arch_doc["arch"]["storage"]
    instances = [lv["instances"] for lv in storage]
    below = [arch_doc["arch"]["arithmetic"]["instances"], *instances[:-1]]
    totals = dict.fromkeys(dims, 1)
    targets = [lv["name"] for lv in storage]
    assert {e["target"] for e in mapping if e["type"] == "datatype"} == set(targets)
    for entry in mapping:
        if entry["type"] == "datatype":
            assert set(entry["keep"]) | set(entry["bypass"]) == {"Weights", "Inputs", "Outputs"}
            continue
        factors = parse_factors(entry["factors"])
        assert list(factors) == dims
        for d, f in factors.items():
            totals[d] *= f
        if entry["type"] == "spatial":
            i = targets.index(entry["target"])
            assert math.prod(factors.values()) <= below[i] // instances[i]
            assert entry["split"] == len(dims)
    assert totals == {d: bounds[d] for d in dims}


@pytest.mark.parametrize("name", builtin_names())
@pytest.mark.parametrize("problem", [
    LoopProblem(name="conv", c=8, k=16, p=6, q=6, r=3, s=3, w_stride=2, h_stride=2),
    LoopProblem(name="grouped", g=4, c=2, k=3, p=5, q=5, r=3, s=3),
    LoopProblem(name="matmul", op_type="MatMul", p=12, c=32, k=24),
], ids=["conv", "grouped", "matmul"])
def test_every_builtin_exports_yaml_that_parses(tmp_path: Path, name: str, problem: LoopProblem) -> None:
    spec = load_spec(name)
    paths = export_timeloop(problem, spec, trivial_schedule(problem, spec), tmp_path)
    docs = {key: _read(path) for key, path in paths.items()}
    _check_timeloop_rules(docs["problem"], docs["arch"], docs["mapping"]["mapping"])
    assert len(docs["arch"]["arch"]["storage"]) == len(spec.levels)


def test_grouped_problem_shape_has_g(tmp_path: Path) -> None:
    problem = LoopProblem(name="dw", g=32, c=1, k=1, p=7, q=7, r=3, s=3, w_dilation=2)
    spec = load_spec("simba")
    paths = export_timeloop(problem, spec, trivial_schedule(problem, spec), tmp_path)
    prob = _read(paths["problem"])["problem"]
    shape = prob["shape"]
    assert shape["dimensions"] == [d.value for d in ALL_DIMS]
    spaces = {s["name"]: s["projection"] for s in shape["data-spaces"]}
    for name in ("Weights", "Inputs", "Outputs"):
        assert [["G"]] in spaces[name]  # G indexes every tensor
    assert [["P", "Wstride"], ["R", "Wdilation"]] in spaces["Inputs"]
    assert prob["instance"]["G"] == 32 and prob["instance"]["Wdilation"] == 2
    temporal = [e for e in _read(paths["mapping"])["mapping"] if e["type"] == "temporal"]
    assert parse_factors(temporal[-1]["factors"])["G"] == 32


def test_padded_bounds_are_exported(tmp_path: Path) -> None:
    spec = load_spec("simba")
    problem = LoopProblem(name="odd", c=3, k=10, p=7, q=7)
    trivial = trivial_schedule(problem, spec)
    outer = trivial.levels[-1]
    padded = Schedule(
        levels=(*trivial.levels[:-1], LevelMapping(level=outer.level, keeps=outer.keeps, order=outer.order,
                                                   temporal=make_factors({**problem.bounds, Dim.P: 8}))),
        padded_bounds=((Dim.P, 8),))
    paths = export_timeloop(problem, spec, padded, tmp_path)
    assert _read(paths["problem"])["problem"]["P"] == 8


def test_invalid_schedule_is_refused_and_nothing_written(tmp_path: Path) -> None:
    spec = load_spec("simba")
    schedule = doc_schedule(spec)
    bad = Schedule(levels=(*schedule.levels[:-1], _lm(spec, "DRAM", temporal={"C": 8}, order="C")))
    with pytest.raises(ScheduleError, match="dimension K"):
        export_timeloop(DOC_LAYER, spec, bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unwritable_folder_is_a_user_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    spec = load_spec("simba")
    with pytest.raises(UserInputError, match="cannot write Timeloop files"):
        export_timeloop(DOC_LAYER, spec, doc_schedule(spec), blocker / "sub")


def test_export_overwrites_and_leaves_no_temp_files(tmp_path: Path) -> None:
    spec = load_spec("simba")
    export_timeloop(DOC_LAYER, spec, doc_schedule(spec), tmp_path)
    export_timeloop(DOC_LAYER, spec, doc_schedule(spec), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arch.yaml", "map.yaml", "problem.yaml"]


# ---- arch import ------------------------------------------------------------------------------------
def test_doc_arch_imports_as_simba(caplog: pytest.LogCaptureFixture) -> None:
    simba = load_spec("simba")
    with caplog.at_level(logging.WARNING):
        spec = spec_from_timeloop_arch(yaml.safe_load(DOC_ARCH), name="simba", keeps=SIMBA_KEEPS)
    assert "using 0 pJ" in caplog.text
    assert spec.mac_instances == simba.mac_instances
    for ours, theirs in zip(spec.levels, simba.levels, strict=True):
        fields = ("name", "capacity_words", "word_bits", "instances", "keeps", "block_words",
                  "read_bandwidth_words_per_cycle", "write_bandwidth_words_per_cycle", "timeloop_attributes")
        assert {f: getattr(ours, f) for f in fields} == {f: getattr(theirs, f) for f in fields}
        assert ours.read_energy_pj_per_word == 0.0


def test_doc_arch_with_ert_energies_equals_simba() -> None:
    simba = load_spec("simba")
    ert = {"ERT": {"version": 0.3, "tables": [
        {"name": f"system.chip.{lv.name}[0..{lv.instances - 1}]",
         "actions": [{"name": "read", "arguments": None, "energy": lv.read_energy_pj_per_word * lv.block_words},
                     {"name": "write", "arguments": None, "energy": lv.write_energy_pj_per_word * lv.block_words}]}
        for lv in simba.levels] + [{"name": "system.chip.MACs[0..1023]", "actions": [{"name": "compute", "energy": 0.25}]}]}}
    spec = spec_from_timeloop_arch(yaml.safe_load(DOC_ARCH), name="simba", keeps=SIMBA_KEEPS,
                                   energies=energy_table_from_ert(ert), source=simba.source)
    assert spec.mac_energy_pj == 0.25
    for ours, theirs in zip(spec.levels, simba.levels, strict=True):
        assert ours.read_energy_pj_per_word == pytest.approx(theirs.read_energy_pj_per_word)
        assert ours.write_energy_pj_per_word == pytest.approx(theirs.write_energy_pj_per_word)


@pytest.mark.parametrize("name", builtin_names())
def test_arch_round_trip(name: str) -> None:
    spec = load_spec(name)
    text = yaml.safe_dump(timeloop_arch_dict(spec))
    keeps = {lv.name: [v.value for v in lv.keeps] for lv in spec.levels}
    again = spec_from_timeloop_arch(yaml.safe_load(text), name=spec.name, keeps=keeps, energies=energy_table(spec))
    assert again.mac_instances == spec.mac_instances and again.operand_bits == spec.operand_bits
    assert again.mac_energy_pj == pytest.approx(spec.mac_energy_pj)
    for ours, theirs in zip(again.levels, spec.levels, strict=True):
        for field in ("name", "capacity_words", "word_bits", "instances", "keeps", "block_words",
                      "read_bandwidth_words_per_cycle", "write_bandwidth_words_per_cycle", "timeloop_attributes"):
            assert getattr(ours, field) == getattr(theirs, field), (ours.name, field)
        assert ours.read_energy_pj_per_word == pytest.approx(theirs.read_energy_pj_per_word)


def test_size_and_topology_keys() -> None:
    """sizeKB x 8192 / word bits; depth x block; width -> cluster; multiple-buffering; meshX x meshY."""
    arch = yaml.safe_load(textwrap.dedent("""\
        arch:
          arithmetic: {name: PE_MAC, meshX: 4, meshY: 4, word-bits: 16}
          storage:
          - {name: Regs, depth: 3, block-size: 2, word-bits: 16, meshX: 4, meshY: 4, width: 64}
          - {name: SharedBuffer, sizeKB: 3, word-bits: 24, instances: 2, multiple-buffering: 2}
          - {name: OffChip, word-bits: 16, instances: 1, read_bandwidth: 8, bandwidth: 6}
        """))
    spec = spec_from_timeloop_arch(arch, keeps={"Regs": ["Weights"], "SharedBuffer": ["Inputs", "Outputs"]},
                                   energies={"PE_MAC": {"mac_random": 2.0}, "Regs": {"read": 1.0, "update": 0.5}})
    regs, shared, dram = spec.levels
    assert (spec.mac_instances, spec.operand_bits, spec.mac_energy_pj) == (16, 16, 2.0)
    assert (regs.capacity_words, regs.block_words, regs.instances) == (6, 2, 16)
    assert dict(regs.timeloop_attributes) == {"cluster-size": 2}
    assert (regs.read_energy_pj_per_word, regs.write_energy_pj_per_word) == (0.5, 0.25)
    assert shared.capacity_words == 3 * 1024 * 8 // 24 // 2
    assert dram.unbounded and (dram.read_bandwidth_words_per_cycle, dram.write_bandwidth_words_per_cycle) == (8.0, 3.0)


def test_default_keeps_from_names() -> None:
    assert default_keeps("WeightBuffer") == {Operand.WEIGHTS}
    assert default_keeps("ifmap_spad") == {Operand.INPUTS}
    assert default_keeps("PsumRegFile") == {Operand.OUTPUTS}
    assert default_keeps("InputOutputBuffer") == {Operand.INPUTS, Operand.OUTPUTS}
    assert default_keeps("shared_glb") == set(Operand)


@pytest.mark.parametrize(("arch", "expected"), [
    ({"architecture": {"version": 0.4, "nodes": []}}, "expected the v0.3 tree form"),
    ({"architecture": {"version": 0.3, "subtree": [{"name": "sys", "local": [
        {"name": "DRAM", "class": "DRAM", "attributes": {"word-bits": 8}}]}]}}, "found 0 compute components"),
    ({"architecture": {"version": 0.3, "subtree": [{"name": "sys", "subtree": [{"name": "a"}, {"name": "b"}]}]}},
     "2 subtrees"),
    ({"arch": {"arithmetic": {"instances": 4}}}, "storage: missing"),
    ({"arch": {"storage": [{"name": "DRAM", "word-bits": 8, "instances": 1}]}}, "arithmetic: missing"),
    ({"arch": {"arithmetic": {"instances": 4, "word-bits": 8}, "storage": [{"name": "Buf", "entries": 4, "instances": 4},
                                                                             {"name": "DRAM", "word-bits": 8, "instances": 1}]}},
     "level 'Buf' word-bits: missing"),
    ({"arch": {"arithmetic": {"instances": 4, "word-bits": 8}, "storage": [{"name": "Buf", "word-bits": 8, "instances": 4},
                                                                             {"name": "DRAM", "word-bits": 8, "instances": 1}]}},
     "level 'Buf' entries: missing"),
    ({"arch": {"arithmetic": {"instances": 4, "word-bits": 8}, "storage": [{"name": "Buf", "word-bits": 8, "entries": -2,
                                                                              "instances": 4}]}},
     "level 'Buf' entries: must be a positive integer"),
    ({"arch": {"arithmetic": {"instances": 6, "word-bits": 8}, "storage": [{"name": "Buf", "word-bits": 8, "entries": 8,
                                                                              "instances": 4},
                                                                             {"name": "DRAM", "word-bits": 8, "instances": 1}]}},
     "mac instances: 6 MACs are not a whole multiple"),
    ([1, 2], "top level must be a mapping"),
])
def test_bad_timeloop_arch(arch: Any, expected: str) -> None:
    with pytest.raises(SpecError) as info:
        spec_from_timeloop_arch(arch, keeps={"Buf": ["Weights", "Inputs", "Outputs"]})
    assert expected in str(info.value)


# ---- stats ------------------------------------------------------------------------------------------
STATS_TAIL = """\
=== DRAM ===
    Cycles               : 112896
    Energy (total)       : 1.0 pJ

Summary Stats
-------------
GFLOPs (@1GHz): 2048.00
Utilization: 1.00
Cycles: 112896
Energy: 127.33 uJ
EDP(J*cycle): 1.44e+01
Area: 0.00 mm^2

Computes = 115605504
fJ/Compute
    MACs                          = 250.00
    Registers                     = 7.66
    DRAM                          = 800.12
    Total                         = 1101.41
"""


def test_parse_stats_text_and_file(tmp_path: Path) -> None:
    stats = parse_timeloop_stats(STATS_TAIL)
    assert stats.cycles == 112896 and stats.energy_uj == pytest.approx(127.33)
    assert stats.energy_pj == pytest.approx(127.33e6)
    assert stats.utilization == 1.0 and stats.computes == 115605504
    assert stats.per_compute_pj["MACs"] == pytest.approx(0.25)
    assert stats.per_compute_pj["Total"] == pytest.approx(1.10141)
    path = tmp_path / "timeloop-model.stats.txt"
    path.write_text("header\n" + STATS_TAIL.replace("Utilization: 1.00", "Utilization: 50.00%"))
    from_file = parse_timeloop_stats(path)
    assert from_file.cycles == 112896 and from_file.utilization == 0.5


def test_parse_stats_without_summary_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="no 'Cycles:'"):
        parse_timeloop_stats("ERROR: couldn't map level AccumulationBuffer\n")
    with pytest.raises(UserInputError, match="cannot read Timeloop stats"):
        parse_timeloop_stats(tmp_path / "missing.txt")
    with pytest.raises(UserInputError, match="cannot read Timeloop stats"):
        parse_timeloop_stats(str(tmp_path / "missing.txt"))


# ---- problem and mapping import -----------------------------------------------------------------------
def _canonical(schedule: Schedule) -> list[tuple[Any, ...]]:
    """What a schedule means: per level factors, keeps and the order of its non-unit temporal loops."""
    return [(lm.level, lm.temporal, lm.spatial, lm.keeps,
             tuple(d for d in lm.full_order() if lm.temporal_factor(d) > 1)) for lm in schedule.levels]


def test_doc_files_import_as_the_doc_schedule() -> None:
    spec = load_spec("simba")
    problem = problem_from_timeloop(yaml.safe_load(DOC_PROBLEM), name=DOC_LAYER.name)
    assert problem == DOC_LAYER
    schedule = schedule_from_timeloop_mapping(yaml.safe_load(DOC_MAPPING), problem, spec)
    assert _canonical(schedule) == _canonical(doc_schedule(spec))
    assert schedule.padded_bounds == ()


@pytest.mark.parametrize("name", builtin_names())
def test_export_import_round_trip(tmp_path: Path, name: str) -> None:
    spec = load_spec(name)
    for problem in (DOC_LAYER, LoopProblem(name="g", g=3, c=2, k=5, p=3, q=3, r=3, s=3, h_stride=2)):
        schedule = trivial_schedule(problem, spec)
        paths = export_timeloop(problem, spec, schedule, tmp_path / problem.name)
        assert problem_from_timeloop(_read(paths["problem"]), name=problem.name) == problem
        again = schedule_from_timeloop_mapping(_read(paths["mapping"]), problem, spec)
        assert _canonical(again) == _canonical(schedule)


def test_imported_mapping_with_padding_and_no_datatype_entries() -> None:
    spec = load_spec("simba")
    problem = LoopProblem(name="odd", c=3, k=10, p=7, q=7)
    mapping = {"mapping": [{"target": "DRAM", "type": "temporal", "factors": "P8 Q7 C3 K10",
                            "permutation": "KCQP"}]}
    schedule = schedule_from_timeloop_mapping(mapping, problem, spec)
    assert schedule.padded_bounds == ((Dim.P, 8),)
    assert schedule.levels[-1].order == (Dim.K, Dim.C, Dim.Q, Dim.P)
    assert [lm.keeps for lm in schedule.levels] == [lv.keeps for lv in spec.levels]


@pytest.mark.parametrize(("mapping", "expected"), [
    ({"mapping": [{"target": "L2", "type": "temporal", "factors": "C3"}]}, "not levels of spec 'simba'"),
    ({"mapping": [{"target": "DRAM", "type": "temporal", "factors": "C0"}]}, "bad factor 'C0'"),
    ({"mapping": [{"target": "DRAM", "type": "temporal", "factors": "X3"}]}, "bad factor 'X3'"),
    ({"mapping": [{"target": "DRAM", "type": "mystery"}]}, "unknown entry type 'mystery'"),
    ({"mapping": [{"target": "DRAM", "type": "datatype", "keep": ["Psums"]}]}, "unknown tensor"),
    ({"mapping": "nope"}, "expected a list"),
])
def test_bad_mappings(mapping: Any, expected: str) -> None:
    with pytest.raises(UserInputError, match="Timeloop mapping") as info:
        schedule_from_timeloop_mapping(mapping, DOC_LAYER, load_spec("simba"))
    assert expected in str(info.value)


def test_unsupported_problem_shape() -> None:
    with pytest.raises(UserInputError, match="'depthwise' is not supported"):
        problem_from_timeloop({"problem": {"shape": "depthwise", "C": 3}})


TREE_ARCH = """
architecture:
  version: 0.3
  subtree:
  - name: system
    local:
    - name: DRAM
      class: DRAM
      attributes: {type: LPDDR4, width: 64, block-size: 4, word-bits: 16}
    subtree:
    - name: chip
      attributes: {technology: 45nm}
      local:
      - name: shared_glb
        class: smartbuffer_SRAM
        attributes: {memory_depth: 16384, memory_width: 64, n_banks: 32, block-size: 4, word-bits: 16,
                     read_bandwidth: 16, write_bandwidth: 16}
      - name: DummyBuffer[0..13]
        class: regfile
        attributes: {depth: 16, width: 16, word-bits: 16, block-size: 1, meshX: 14}
      subtree:
      - name: PE[0..167]
        local:
        - name: ifmap_spad
          class: smartbuffer_RF
          attributes: {memory_depth: 12, memory_width: 16, block-size: 1, word-bits: 16, meshX: 14}
        - name: weights_spad
          class: smartbuffer_RF
          attributes: {memory_depth: 192, memory_width: 16, block-size: 1, word-bits: 16, meshX: 14}
        - name: psum_spad
          class: smartbuffer_RF
          attributes: {memory_depth: 16, memory_width: 16, block-size: 1, word-bits: 16, meshX: 14}
        - name: mac
          class: intmac
          attributes: {datawidth: 16, meshX: 14}
"""


def test_v03_tree_architecture_is_flattened(tmp_path: Path) -> None:
    keeps = {"psum_spad": ["Outputs"], "weights_spad": ["Weights"], "ifmap_spad": ["Inputs"], "DummyBuffer": [],
             "shared_glb": ["Inputs", "Outputs"]}
    spec = spec_from_timeloop_arch(yaml.safe_load(TREE_ARCH), name="eyeriss-tree", keeps=keeps)
    assert [lv.name for lv in spec.levels] == ["psum_spad", "weights_spad", "ifmap_spad", "DummyBuffer", "shared_glb", "DRAM"]
    assert [lv.instances for lv in spec.levels] == [168, 168, 168, 14, 1, 1]
    assert [lv.capacity_words for lv in spec.levels] == [16, 192, 12, 16, 65536, None]
    assert spec.mac_instances == 168 and spec.operand_bits == 16
    assert [spec.fanout(i) for i in range(len(spec.levels))] == [1, 1, 1, 12, 14, 1]
    glb = spec.levels[4]
    assert (glb.read_bandwidth_words_per_cycle, glb.block_words) == (16.0, 4)
    # The imported spec exports and schedules like any other.
    problem = LoopProblem(name="c", c=4, k=4, p=3, q=3, r=3, s=3)
    paths = export_timeloop(problem, spec, trivial_schedule(problem, spec), tmp_path)
    assert [e["name"] for e in _read(paths["arch"])["arch"]["storage"]][-1] == "DRAM"
