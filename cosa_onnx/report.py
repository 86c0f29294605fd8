"""The whole-network report: per-layer rows, totals, the unscheduled-op estimate.

``build_report`` turns the per-layer results of a compile (problem, schedule, cost, bounds, solver
facts) into a :class:`NetworkReport` made of plain values only, so a report can be serialised,
read back (``from_dict``) and re-rendered without the cost model or the solver.

Invariants (tested):

- every scheduled total is the sum of the per-layer rows, in row order (cycles, energy, MACs, the
  bounds, the per-level/tensor energy); network utilisation = MACs / (cycles x MAC count); network
  EDP = total cycles x total energy (not the sum of the layers' EDPs);
- ops the scheduler does not map (pooling, elementwise, softmax, normalisation, reshapes, ...) are
  listed with their data movement and a *bandwidth-bound estimate* (see :func:`estimate_unscheduled`),
  and ``whole_model`` = scheduled totals + that estimate, labelled as such;
- run-dependent fields (solve times, cache hits) live only under ``timing`` keys, so two reports
  compare equal "timing fields aside" with :func:`without_timing`.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cosa_onnx import __version__
from cosa_onnx.bounds import LayerBounds
from cosa_onnx.cost import LayerCost
from cosa_onnx.errors import UserInputError
from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.problem import ALL_DIMS, LoopProblem
from cosa_onnx.schedule import Schedule

logger = logging.getLogger(__name__)

REPORT_SCHEMA_VERSION = 1
TIMING_KEY = "timing"
MAC_LEVEL = "MAC"  # pseudo level name of the MAC energy in the breakdown

# Ops that only reinterpret a tensor's shape or produce metadata: on an accelerator they move no
# data, so the estimate counts 0 words for them (they are still listed with their sizes).
VIEW_OPS: frozenset[str] = frozenset({
    "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Shape", "Size", "Constant",
    "ConstantOfShape", "Dropout",
})

ESTIMATE_LABEL = ("bandwidth-bound estimate: each unscheduled op reads its inputs from and writes its "
                  "outputs to DRAM once (no fusion, compute ignored); view ops (Reshape, Flatten, ...) "
                  "move nothing")


class ReportError(UserInputError):
    """A report cannot be read or written (bad schema version, unknown format, unwritable path)."""


# ---- inputs ---------------------------------------------------------------------------------------

class UnscheduledLike(Protocol):
    @property
    def node_name(self) -> str: ...
    @property
    def op_type(self) -> str: ...
    @property
    def input_words(self) -> int | None: ...
    @property
    def output_words(self) -> int | None: ...


@dataclass(frozen=True, kw_only=True)
class LayerResult:
    """One scheduled layer as the pipeline hands it to the report."""

    node_name: str
    op_type: str
    problem: LoopProblem
    schedule: Schedule
    cost: LayerCost
    bounds: LayerBounds
    solve_time_s: float = 0.0
    cache_hit: bool = False


# ---- the report's plain-value rows ----------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class LayerRow:
    """One scheduled layer in the report (plain values only)."""

    node_name: str
    op_type: str
    shape: dict[str, int]              # G R S P Q C K N bounds + strides and dilations
    shape_group: int                   # index into NetworkReport.shape_groups
    schedule_summary: str
    schedule: dict[str, Any]           # Schedule.to_dict() without "solver" (see the row's solver/timing)
    cycles: int
    compute_cycles: int
    energy_pj: float
    edp: float                         # cycles x pJ
    utilization: float
    macs: int
    padded_macs: int
    bound_compute_cycles: int
    bound_dram_cycles: int
    bound_latency_cycles: int
    bound_energy_pj: float
    latency_vs_bound: float | None     # cycles / latency bound (>= 1 for a sound model)
    energy_vs_bound: float | None      # energy / energy bound
    energy_breakdown_pj: dict[str, dict[str, float]]  # level -> tensor -> pJ (level "MAC": {"MAC": pJ})
    limited_by: str                    # "compute" or the level whose bandwidth sets the cycles
    accesses: list[dict[str, Any]]     # per level and tensor: reads, fills, updates (words), energy_pj
    solver: dict[str, Any]             # method, objective_name, status, objective, best_bound, gap, flags
    latency_s: float | None
    timing: dict[str, Any]             # run-dependent: solve_time_s, cache_hit


@dataclass(frozen=True, kw_only=True)
class UnscheduledRow:
    """One op the scheduler does not map, with its data movement and the estimate."""

    node_name: str
    op_type: str
    input_words: int | None
    output_words: int | None
    moved_words: int | None            # words the estimate moves through DRAM (None = size unknown)
    estimate_cycles: int
    estimate_energy_pj: float
    note: str


@dataclass(frozen=True, kw_only=True)
class NetworkReport:
    schema_version: int
    tool_version: str
    model_name: str
    arch: dict[str, Any]               # name, sha256, mac_instances, clock_ghz, levels, dram figures
    layers: tuple[LayerRow, ...]
    shape_groups: tuple[dict[str, Any], ...]   # {"shape": {...}, "layers": [names]}
    totals: dict[str, Any]
    unscheduled: tuple[UnscheduledRow, ...]
    unscheduled_totals: dict[str, Any]
    whole_model: dict[str, Any]
    timing: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "tool_version": self.tool_version,
            "model_name": self.model_name,
            "arch": dict(self.arch),
            "layers": [_row_dict(r) for r in self.layers],
            "shape_groups": [dict(g) for g in self.shape_groups],
            "totals": dict(self.totals),
            "unscheduled": [_row_dict(u) for u in self.unscheduled],
            "unscheduled_totals": dict(self.unscheduled_totals),
            "whole_model": dict(self.whole_model),
            TIMING_KEY: dict(self.timing),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NetworkReport:
        version = data.get("schema_version")
        if version != REPORT_SCHEMA_VERSION:
            raise ReportError(f"report schema_version {version!r} is not supported (this tool reads "
                              f"{REPORT_SCHEMA_VERSION}); regenerate the report with this version")
        try:
            return cls(
                schema_version=int(version),
                tool_version=str(data["tool_version"]),
                model_name=str(data["model_name"]),
                arch=dict(data["arch"]),
                layers=tuple(LayerRow(**row) for row in data["layers"]),
                shape_groups=tuple(dict(g) for g in data["shape_groups"]),
                totals=dict(data["totals"]),
                unscheduled=tuple(UnscheduledRow(**row) for row in data["unscheduled"]),
                unscheduled_totals=dict(data["unscheduled_totals"]),
                whole_model=dict(data["whole_model"]),
                timing=dict(data.get(TIMING_KEY, {})),
            )
        except (KeyError, TypeError) as exc:
            raise ReportError(f"report is missing or has malformed fields ({exc}); regenerate it") from None


def _row_dict(row: LayerRow | UnscheduledRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in row.__dataclass_fields__}


# ---- helpers --------------------------------------------------------------------------------------

def without_timing(data: Any) -> Any:
    """A copy of a report dict (or any JSON value) with every ``timing`` entry removed, recursively."""
    if isinstance(data, Mapping):
        return {k: without_timing(v) for k, v in data.items() if k != TIMING_KEY}
    if isinstance(data, list | tuple):
        return [without_timing(v) for v in data]
    return data


def _ratio(value: float, bound: float) -> float | None:
    """value / bound; None when the bound is 0 (JSON has no infinity)."""
    return float(value) / float(bound) if bound > 0 else None


def _seconds(cycles: int, spec: HardwareSpec) -> float | None:
    return None if not spec.clock_ghz else cycles / (spec.clock_ghz * 1e9)


def shape_dict(problem: LoopProblem) -> dict[str, int]:
    out = {d.value: problem.bound(d) for d in ALL_DIMS}
    out.update(w_stride=problem.w_stride, h_stride=problem.h_stride,
               w_dilation=problem.w_dilation, h_dilation=problem.h_dilation)
    return out


def schedule_summary(schedule: Schedule) -> str:
    """One line, outermost level first: ``DRAM t(K4 C2) | GlobalBuffer t(Q7) s(K16) | ...``."""
    parts: list[str] = []
    for lm in reversed(schedule.levels):
        temporal = [f"{d.value}{lm.temporal_factor(d)}" for d in reversed(lm.full_order())
                    if lm.temporal_factor(d) > 1]
        spatial = [f"{d.value}{f}" for d, f in lm.spatial]
        if not temporal and not spatial:
            continue
        text = lm.level
        if temporal:
            text += f" t({' '.join(temporal)})"
        if spatial:
            text += f" s({' '.join(spatial)})"
        parts.append(text)
    return " | ".join(parts) if parts else "(all loops trivial)"


def energy_breakdown(cost: LayerCost) -> dict[str, dict[str, float]]:
    """level -> tensor -> pJ (innermost level first), plus ``{"MAC": {"MAC": pJ}}``; sums to the energy."""
    out: dict[str, dict[str, float]] = {}
    for access in cost.accesses:
        slot = out.setdefault(access.level, {})
        slot[access.operand.value] = slot.get(access.operand.value, 0.0) + access.energy_pj
    out[MAC_LEVEL] = {MAC_LEVEL: float(cost.mac_energy_pj)}
    return out


def limited_by(cost: LayerCost) -> str:
    """What sets the layer's cycles: "compute" or the level whose bandwidth needs the most cycles."""
    level, worst = max(cost.bandwidth_cycles, key=lambda item: item[1], default=("", 0))
    return level if worst > cost.compute_cycles else "compute"


def _solver_dict(schedule: Schedule) -> tuple[dict[str, Any], dict[str, Any]]:
    solver = schedule.solver.to_dict()
    wall = solver.pop("wall_time_s", None)
    return solver, {"solver_wall_time_s": wall}


def _layer_row(res: LayerResult, spec: HardwareSpec, group: int) -> LayerRow:
    cost, bounds = res.cost, res.bounds
    solver, solver_timing = _solver_dict(res.schedule)
    sched = res.schedule.to_dict()
    del sched["solver"]  # kept once, in the row's "solver" (timing aside)
    cycles, energy = int(cost.cycles), float(cost.energy_pj)
    return LayerRow(
        node_name=res.node_name, op_type=res.op_type, shape=shape_dict(res.problem), shape_group=group,
        schedule_summary=schedule_summary(res.schedule), schedule=sched,
        cycles=cycles, compute_cycles=int(cost.compute_cycles), energy_pj=energy, edp=cycles * energy,
        utilization=float(cost.utilization), macs=int(cost.macs), padded_macs=int(cost.padded_macs),
        bound_compute_cycles=int(bounds.compute_cycles), bound_dram_cycles=int(bounds.dram_cycles),
        bound_latency_cycles=int(bounds.latency_cycles), bound_energy_pj=float(bounds.energy_pj),
        latency_vs_bound=_ratio(cycles, bounds.latency_cycles), energy_vs_bound=_ratio(energy, bounds.energy_pj),
        energy_breakdown_pj=energy_breakdown(cost), limited_by=limited_by(cost),
        accesses=[a.to_dict() for a in cost.accesses], solver=solver, latency_s=_seconds(cycles, spec),
        timing={"solve_time_s": float(res.solve_time_s), "cache_hit": bool(res.cache_hit), **solver_timing},
    )


def _shape_groups(layers: Sequence[LayerResult]) -> tuple[list[int], list[dict[str, Any]]]:
    index: dict[tuple[Any, ...], int] = {}
    groups: list[dict[str, Any]] = []
    member: list[int] = []
    for res in layers:
        key = res.problem.shape_key()
        if key not in index:
            index[key] = len(groups)
            groups.append({"shape": shape_dict(res.problem), "layers": []})
        groups[index[key]]["layers"].append(res.node_name)
        member.append(index[key])
    return member, groups


# ---- unscheduled-op estimate ------------------------------------------------------------------------

def _dram_figures(spec: HardwareSpec) -> dict[str, Any]:
    dram = spec.outermost
    return {
        "name": dram.name,
        "read_bandwidth_words_per_cycle": dram.read_bandwidth_words_per_cycle,
        "write_bandwidth_words_per_cycle": dram.write_bandwidth_words_per_cycle,
        "read_energy_pj_per_word": dram.read_energy_pj_per_word,
        "write_energy_pj_per_word": dram.write_energy_pj_per_word,
    }


def _transfer_cycles(words: int, bandwidth: float | None) -> int:
    if words <= 0 or not bandwidth:
        return 0  # unlimited bandwidth (None) moves in no time, as in the layer bounds
    return math.ceil(words / bandwidth - 1e-9)  # as the layer bounds: 100 / 0.1 is 1000 cycles, not 1001


def estimate_unscheduled(op: UnscheduledLike, spec: HardwareSpec) -> UnscheduledRow:
    """Bandwidth-bound estimate for one unscheduled op.

    Reads ``input_words`` at the DRAM read bandwidth and writes ``output_words`` at the write
    bandwidth; the two channels are independent, so cycles = max(ceil(in / read_bw),
    ceil(out / write_bw)); energy = in x read pJ/word + out x write pJ/word. View ops and constant
    ops (all inputs are weights, folded when the model is loaded) count 0; an op whose sizes are
    unknown counts 0 and says so.
    """
    dram = spec.outermost
    in_words, out_words = op.input_words, op.output_words
    if getattr(op, "constant", False):
        return UnscheduledRow(node_name=op.node_name, op_type=op.op_type, input_words=in_words,
                              output_words=out_words, moved_words=0, estimate_cycles=0,
                              estimate_energy_pj=0.0, note="constant: folded at load time, no per-inference work")
    if op.op_type in VIEW_OPS:
        return UnscheduledRow(node_name=op.node_name, op_type=op.op_type, input_words=in_words,
                              output_words=out_words, moved_words=0, estimate_cycles=0,
                              estimate_energy_pj=0.0, note="view op: moves no data")
    if in_words is None or out_words is None:
        return UnscheduledRow(node_name=op.node_name, op_type=op.op_type, input_words=in_words,
                              output_words=out_words, moved_words=None, estimate_cycles=0,
                              estimate_energy_pj=0.0, note="tensor sizes unknown: not estimated")
    cycles = max(_transfer_cycles(in_words, dram.read_bandwidth_words_per_cycle),
                 _transfer_cycles(out_words, dram.write_bandwidth_words_per_cycle))
    energy = in_words * dram.read_energy_pj_per_word + out_words * dram.write_energy_pj_per_word
    return UnscheduledRow(node_name=op.node_name, op_type=op.op_type, input_words=in_words,
                          output_words=out_words, moved_words=in_words + out_words, estimate_cycles=cycles,
                          estimate_energy_pj=energy, note="")


def _unscheduled_totals(rows: Sequence[UnscheduledRow], spec: HardwareSpec) -> dict[str, Any]:
    cycles = sum(r.estimate_cycles for r in rows)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.op_type] = counts.get(r.op_type, 0) + 1
    return {
        "label": ESTIMATE_LABEL,
        "ops": len(rows),
        "ops_by_type": dict(sorted(counts.items())),
        "unknown_size_ops": sum(1 for r in rows if r.moved_words is None),
        "moved_words": sum(r.moved_words or 0 for r in rows),
        "estimate_cycles": cycles,
        "estimate_energy_pj": sum(r.estimate_energy_pj for r in rows),
        "estimate_latency_s": _seconds(cycles, spec),
    }


# ---- totals -----------------------------------------------------------------------------------------

_SUMMED_FIELDS = ("cycles", "compute_cycles", "energy_pj", "macs", "padded_macs", "bound_compute_cycles",
                  "bound_dram_cycles", "bound_latency_cycles", "bound_energy_pj")


def _sum_breakdown(rows: Sequence[LayerRow]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for row in rows:
        for level, per_operand in row.energy_breakdown_pj.items():
            slot = out.setdefault(level, {})
            for operand, e in per_operand.items():
                slot[operand] = slot.get(operand, 0.0) + e
    return out


def _totals(rows: Sequence[LayerRow], spec: HardwareSpec) -> dict[str, Any]:
    totals: dict[str, Any] = {name: sum(getattr(r, name) for r in rows) for name in _SUMMED_FIELDS}
    cycles, energy = totals["cycles"], totals["energy_pj"]
    totals.update(
        layers=len(rows),
        edp=cycles * energy,
        utilization=totals["macs"] / (cycles * spec.mac_instances) if cycles else 0.0,
        latency_vs_bound=_ratio(cycles, totals["bound_latency_cycles"]),
        energy_vs_bound=_ratio(energy, totals["bound_energy_pj"]),
        latency_s=_seconds(cycles, spec),
        energy_breakdown_pj=_sum_breakdown(rows),
    )
    return totals


def _whole_model(totals: Mapping[str, Any], unscheduled: Mapping[str, Any], spec: HardwareSpec) -> dict[str, Any]:
    cycles = int(totals["cycles"]) + int(unscheduled["estimate_cycles"])
    energy = float(totals["energy_pj"]) + float(unscheduled["estimate_energy_pj"])
    return {
        "label": "scheduled layers (cost model) + unscheduled ops (bandwidth-bound estimate)",
        "cycles": cycles,
        "energy_pj": energy,
        "edp": cycles * energy,
        "latency_s": _seconds(cycles, spec),
        "unscheduled_share_of_cycles": unscheduled["estimate_cycles"] / cycles if cycles else 0.0,
    }


def arch_summary(spec: HardwareSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "sha256": spec.content_hash(),
        "mac_instances": spec.mac_instances,
        "mac_energy_pj": spec.mac_energy_pj,
        "clock_ghz": spec.clock_ghz,
        "levels": [lv.name for lv in spec.levels],
        "dram": _dram_figures(spec),
    }


def build_report(layers: Sequence[LayerResult], unscheduled: Sequence[UnscheduledLike], spec: HardwareSpec,
                 *, model_name: str) -> NetworkReport:
    """The network report of one compile: rows in the given order, totals = sums of the rows."""
    member, groups = _shape_groups(layers)
    rows = tuple(_layer_row(res, spec, g) for res, g in zip(layers, member, strict=True))
    un_rows = tuple(estimate_unscheduled(op, spec) for op in unscheduled)
    totals = _totals(rows, spec)
    un_totals = _unscheduled_totals(un_rows, spec)
    timing = {
        "solve_time_s": sum(r.timing["solve_time_s"] for r in rows),
        "cache_hits": sum(1 for r in rows if r.timing["cache_hit"]),
        "distinct_shapes": len(groups),
    }
    logger.debug("report for %s: %d layers, %d unscheduled ops", model_name, len(rows), len(un_rows))
    return NetworkReport(
        schema_version=REPORT_SCHEMA_VERSION, tool_version=__version__, model_name=model_name,
        arch=arch_summary(spec), layers=rows, shape_groups=tuple(groups), totals=totals,
        unscheduled=un_rows, unscheduled_totals=un_totals, whole_model=_whole_model(totals, un_totals, spec),
        timing=timing,
    )


# ---- rendering / writing ----------------------------------------------------------------------------

FORMATS = {".json": "json", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html"}


def render_report(report: NetworkReport, fmt: str) -> str:
    """The report as text: ``fmt`` is "json", "md" or "html"."""
    if fmt == "json":
        from cosa_onnx.render.json_report import render_json
        return render_json(report)
    if fmt == "md":
        from cosa_onnx.render.markdown import render_markdown
        return render_markdown(report)
    if fmt == "html":
        from cosa_onnx.render.html import render_html
        return render_html(report)
    raise ReportError(f"unknown report format {fmt!r}: use json, md or html")


def format_for_path(path: str | os.PathLike[str]) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ReportError(f"report path {os.fspath(path)!r}: unknown suffix {suffix or '(none)'!r}; "
                          "use .json, .md or .html")
    return FORMATS[suffix]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_report(report: NetworkReport, path: str | os.PathLike[str]) -> Path:
    """Write the report atomically (temp file + rename); the format follows the suffix."""
    target = Path(path)
    text = render_report(report, format_for_path(target))
    directory = target.parent if str(target.parent) else Path(".")
    tmp_name: str | None = None
    try:
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=directory, prefix=f".{target.name}.",
                                         suffix=".tmp", delete=False) as handle:
            tmp_name = handle.name
            handle.write(text)
        os.chmod(tmp_name, 0o666 & ~_umask())
        os.replace(tmp_name, target)
    except OSError as exc:
        if tmp_name is not None and os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise ReportError(f"cannot write report {os.fspath(target)!r}: {exc.strerror or exc}; "
                          "choose a writable path") from None
    logger.info("wrote %s report to %s", FORMATS[target.suffix.lower()], target)
    return target
