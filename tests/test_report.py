"""The report data model: totals are sums of rows, JSON round trip, the unscheduled estimate, writing."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
from test_report_fixtures import PROBLEMS, UNSCHEDULED, make_results, op

from cosa_onnx.errors import UserInputError
from cosa_onnx.hwmodels.loader import load_spec, spec_from_dict
from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.report import (
    REPORT_SCHEMA_VERSION,
    NetworkReport,
    ReportError,
    build_report,
    estimate_unscheduled,
    render_report,
    without_timing,
    write_report,
)


@pytest.fixture(scope="module")
def spec() -> HardwareSpec:
    return load_spec("simba")


@pytest.fixture(scope="module")
def report(spec: HardwareSpec) -> NetworkReport:
    return build_report(make_results(spec), UNSCHEDULED, spec, model_name="tiny")


def test_rows_follow_layers(report: NetworkReport) -> None:
    assert [r.node_name for r in report.layers] == [p.name for p in PROBLEMS]
    assert [r.macs for r in report.layers] == [p.macs for p in PROBLEMS]


def test_totals_equal_sums_of_rows(report: NetworkReport, spec: HardwareSpec) -> None:
    t = report.totals
    for name in ("cycles", "compute_cycles", "macs", "padded_macs", "bound_compute_cycles",
                 "bound_dram_cycles", "bound_latency_cycles"):
        assert t[name] == sum(getattr(r, name) for r in report.layers), name
    for name in ("energy_pj", "bound_energy_pj"):
        assert t[name] == pytest.approx(math.fsum(getattr(r, name) for r in report.layers), rel=1e-12), name
    assert t["utilization"] == pytest.approx(t["macs"] / (t["cycles"] * spec.mac_instances))
    assert t["edp"] == pytest.approx(t["cycles"] * t["energy_pj"])
    assert t["latency_vs_bound"] == pytest.approx(t["cycles"] / t["bound_latency_cycles"])
    # the per-level/tensor breakdown sums to the rows' breakdowns, and each row's to its energy
    for level, per in t["energy_breakdown_pj"].items():
        for operand, e in per.items():
            assert e == pytest.approx(sum(r.energy_breakdown_pj.get(level, {}).get(operand, 0.0)
                                          for r in report.layers))
    for row in report.layers:
        assert sum(e for per in row.energy_breakdown_pj.values() for e in per.values()) == pytest.approx(
            row.energy_pj, rel=1e-6)


def test_shape_groups_dedupe_identical_layers(report: NetworkReport) -> None:
    groups = [g["layers"] for g in report.shape_groups]
    assert ["conv2", "conv3"] in groups
    assert len(groups) == 3
    by_name = {r.node_name: r.shape_group for r in report.layers}
    assert by_name["conv2"] == by_name["conv3"] != by_name["conv1"]
    assert report.timing["distinct_shapes"] == 3


def test_unscheduled_estimate_arithmetic(spec: HardwareSpec) -> None:
    dram = spec.outermost
    assert dram.read_bandwidth_words_per_cycle and dram.write_bandwidth_words_per_cycle
    pool = op("pool", "MaxPool", 4096, 1023)
    row = estimate_unscheduled(pool, spec)
    assert row.moved_words == 4096 + 1023
    assert row.estimate_cycles == max(math.ceil(4096 / dram.read_bandwidth_words_per_cycle),
                                      math.ceil(1023 / dram.write_bandwidth_words_per_cycle))
    assert row.estimate_energy_pj == pytest.approx(4096 * dram.read_energy_pj_per_word
                                                   + 1023 * dram.write_energy_pj_per_word)
    view = estimate_unscheduled(op("f", "Flatten", 99, 99), spec)
    assert (view.moved_words, view.estimate_cycles, view.estimate_energy_pj) == (0, 0, 0.0)
    unknown = estimate_unscheduled(op("d", "Softmax", None, 5), spec)
    assert unknown.moved_words is None and "unknown" in unknown.note


def test_estimate_with_slow_write_channel(spec: HardwareSpec) -> None:
    data = spec.to_dict()
    data["levels"][-1]["write_bandwidth_words_per_cycle"] = 0.5
    slow = spec_from_dict(data)
    row = estimate_unscheduled(op("a", "Add", 100, 50), slow)
    assert row.estimate_cycles == 100  # 50 words at 0.5 words/cycle beat 100 words at 10/cycle


def test_whole_model_is_scheduled_plus_estimate(report: NetworkReport) -> None:
    un = report.unscheduled_totals
    assert un["estimate_cycles"] == sum(r.estimate_cycles for r in report.unscheduled) > 0
    assert un["unknown_size_ops"] == 1
    assert report.whole_model["cycles"] == report.totals["cycles"] + un["estimate_cycles"]
    assert report.whole_model["energy_pj"] == pytest.approx(report.totals["energy_pj"] + un["estimate_energy_pj"])
    assert "estimate" in report.whole_model["label"] and "estimate" in un["label"]


def test_latency_in_seconds_only_with_clock(spec: HardwareSpec) -> None:
    data = spec.to_dict()
    data["clock_ghz"] = 2.0
    clocked = spec_from_dict(data)
    rep = build_report(make_results(clocked), UNSCHEDULED, clocked, model_name="tiny")
    assert rep.totals["latency_s"] == pytest.approx(rep.totals["cycles"] / 2e9)
    assert rep.layers[0].latency_s == pytest.approx(rep.layers[0].cycles / 2e9)
    assert rep.whole_model["latency_s"] == pytest.approx(rep.whole_model["cycles"] / 2e9)
    plain = build_report(make_results(spec), UNSCHEDULED, spec, model_name="tiny")
    assert plain.totals["latency_s"] is None


def test_json_round_trip(report: NetworkReport) -> None:
    text = render_report(report, "json")
    data = json.loads(text)
    assert data["schema_version"] == REPORT_SCHEMA_VERSION
    again = NetworkReport.from_dict(data)
    assert again == report
    assert render_report(again, "json") == text


def test_timing_fields_are_separate(spec: HardwareSpec, report: NetworkReport) -> None:
    other = build_report([r.__class__(**{**r.__dict__, "solve_time_s": 99.0, "cache_hit": not r.cache_hit})
                          for r in make_results(spec)], UNSCHEDULED, spec, model_name="tiny")
    assert other.to_dict() != report.to_dict()
    assert without_timing(other.to_dict()) == without_timing(report.to_dict())
    flat = json.dumps(without_timing(report.to_dict()))
    assert "solve_time_s" not in flat and "wall_time_s" not in flat and "cache_hit" not in flat


def test_from_dict_rejects_other_versions(report: NetworkReport) -> None:
    data = report.to_dict()
    data["schema_version"] = REPORT_SCHEMA_VERSION + 1
    with pytest.raises(ReportError, match="schema_version"):
        NetworkReport.from_dict(data)
    assert issubclass(ReportError, UserInputError)


def test_write_report_by_suffix(report: NetworkReport, tmp_path: Path) -> None:
    out = write_report(report, tmp_path / "r.json")
    assert NetworkReport.from_dict(json.loads(out.read_text())) == report
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temp file left behind
    with pytest.raises(ReportError, match=r"\.txt"):
        write_report(report, tmp_path / "r.txt")


def test_write_report_unwritable(report: NetworkReport, tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="cannot write report"):
        write_report(report, tmp_path / "missing-dir" / "r.json")


def test_report_of_a_real_model_file(spec: HardwareSpec) -> None:
    """The shipped tiny CNN through the real importer, trivial schedules and the real cost model."""
    from cosa_onnx.importer import import_model

    model_path = Path(__file__).resolve().parents[1] / "models" / "tiny_cnn.onnx"
    if not model_path.exists():
        pytest.skip(f"{model_path} not generated yet (models/generate.py)")
    imported = import_model(model_path)
    problems = tuple(layer.problem for layer in imported.layers)
    rep = build_report(make_results(spec, problems), imported.unscheduled, spec, model_name=imported.model_name)
    assert [r.node_name for r in rep.layers] == [layer.node_name for layer in imported.layers]
    assert [u.node_name for u in rep.unscheduled] == [u.node_name for u in imported.unscheduled]
    assert rep.totals["cycles"] == sum(r.cycles for r in rep.layers)
    assert rep.totals["macs"] == sum(p.macs for p in problems)
    estimated = [u for u in imported.unscheduled if u.op_type not in ("Flatten",)]
    assert rep.unscheduled_totals["moved_words"] == sum((u.input_words or 0) + (u.output_words or 0) for u in estimated)
    assert NetworkReport.from_dict(json.loads(render_report(rep, "json"))) == rep


def test_estimate_rounding_matches_the_layer_bounds(spec: HardwareSpec) -> None:
    data = spec.to_dict()
    data["levels"][-1]["read_bandwidth_words_per_cycle"] = 0.1
    slow = spec_from_dict(data)
    assert estimate_unscheduled(op("a", "Relu", 100, 0), slow).estimate_cycles == 1000
    assert estimate_unscheduled(op("b", "Relu", 101, 0), slow).estimate_cycles == 1010


def test_constant_ops_move_no_data_per_inference(spec: HardwareSpec) -> None:
    """ResNet-50's weights are made by ConstantOfShape (and a real model may transpose or
    dequantize an initializer): ops whose inputs are all constant are folded at load time."""
    from cosa_onnx.importer import import_model

    model_path = Path(__file__).resolve().parents[1] / "models" / "resnet50.onnx"
    imported = import_model(model_path)
    constant = [u for u in imported.unscheduled if u.constant]
    assert constant and {u.op_type for u in constant} == {"ConstantOfShape"}
    assert not any(u.constant for u in imported.unscheduled if u.op_type in ("Relu", "Add", "MaxPool"))
    rows = [estimate_unscheduled(u, spec) for u in constant]
    assert all(r.estimate_cycles == 0 and r.moved_words == 0 for r in rows)
    # a non-view op flagged constant is not charged either, while the same op unflagged is
    folded = estimate_unscheduled(dataclasses.replace(constant[0], op_type="Transpose"), spec)
    live = estimate_unscheduled(dataclasses.replace(constant[0], op_type="Transpose", constant=False), spec)
    assert folded.estimate_cycles == 0 and live.estimate_cycles > 0
