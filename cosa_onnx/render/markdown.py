"""The Markdown report: totals, per-layer table, schedules, energy breakdown, unscheduled ops."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from cosa_onnx.render import _format as fmt
from cosa_onnx.report import NetworkReport

logger = logging.getLogger(__name__)


def cell(text: object) -> str:
    """Text safe inside a Markdown table cell: no pipes, newlines or raw HTML."""
    value = str(text).replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(value.split())


def table(header: Sequence[str], rows: Sequence[Sequence[object]], align: str = "") -> list[str]:
    """A GitHub-flavoured table; ``align`` has one char per column: l or r (default l)."""
    marks = ["---:" if (align[i:i + 1] == "r") else "---" for i in range(len(header))]
    out = ["| " + " | ".join(cell(h) for h in header) + " |", "| " + " | ".join(marks) + " |"]
    out.extend("| " + " | ".join(cell(v) for v in row) + " |" for row in rows)
    return out


def _header(report: NetworkReport) -> list[str]:
    arch = report.arch
    clock = f", {arch['clock_ghz']:g} GHz" if arch.get("clock_ghz") else ", no clock given (cycles only)"
    return [
        f"# cosa-onnx report: {cell(report.model_name)}",
        "",
        f"Architecture **{cell(arch['name'])}** ({fmt.count(arch['mac_instances'])} MACs{clock}; "
        f"spec sha256 `{str(arch['sha256'])[:16]}…`), cosa-onnx {cell(report.tool_version)}, "
        f"report schema {report.schema_version}.",
        "",
    ]


def _totals(report: NetworkReport) -> list[str]:
    t, w, u = report.totals, report.whole_model, report.unscheduled_totals
    timing = report.timing
    rows: list[tuple[str, str]] = [
        ("Scheduled layers", f"{t['layers']} ({timing.get('distinct_shapes', '–')} distinct shapes)"),
        ("Cycles", fmt.count(t["cycles"])),
        ("Latency", fmt.seconds(t["latency_s"])),
        ("Energy", fmt.energy(t["energy_pj"])),
        ("EDP (total cycles × total energy)", fmt.edp(t["edp"])),
        ("Utilisation (MACs / (cycles × MAC count))", fmt.percent(t["utilization"])),
        ("MACs (padded)", f"{fmt.count(t['macs'])} ({fmt.count(t['padded_macs'])})"),
        ("Compute bound", f"{fmt.count(t['bound_compute_cycles'])} cycles"),
        ("Latency bound (compute or DRAM traffic)", f"{fmt.count(t['bound_latency_cycles'])} cycles"),
        ("Cycles / latency bound", fmt.ratio(t["latency_vs_bound"])),
        ("Energy bound", fmt.energy(t["bound_energy_pj"])),
        ("Energy / energy bound", fmt.ratio(t["energy_vs_bound"])),
        ("Solver time (sum over layers)", fmt.seconds(timing.get("solve_time_s"))),
        ("Cache hits", str(timing.get("cache_hits", "–"))),
        (f"Unscheduled ops ({u['ops']}), estimate", f"{fmt.count(u['estimate_cycles'])} cycles, "
                                                     f"{fmt.energy(u['estimate_energy_pj'])}"),
        ("**Whole model** (scheduled + estimate)", f"**{fmt.count(w['cycles'])} cycles**, "
                                                   f"{fmt.seconds(w['latency_s'])}, {fmt.energy(w['energy_pj'])}"),
    ]
    out = ["## Totals", "", "| Metric | Value |", "| --- | ---: |"]
    out.extend(f"| {name} | {value} |" for name, value in rows)
    out += ["", f"Whole model = {cell(w['label'])}. Estimate: {cell(u['label'])}.", ""]
    return out


def _layers(report: NetworkReport) -> list[str]:
    header = ["#", "Node", "Op", "Shape", "Cycles", "Latency bound", "× bound", "Limited by", "Energy", "× bound",
              "Util.", "Solver", "Gap", "Time", "Cache"]
    rows = [
        [i, r.node_name, r.op_type, fmt.shape(r.shape), fmt.count(r.cycles), fmt.count(r.bound_latency_cycles),
         fmt.ratio(r.latency_vs_bound), r.limited_by, fmt.energy(r.energy_pj), fmt.ratio(r.energy_vs_bound),
         fmt.percent(r.utilization), fmt.solver_status(r.solver), fmt.gap(r.solver.get("gap")),
         fmt.seconds(r.timing.get("solve_time_s")), "hit" if r.timing.get("cache_hit") else ""]
        for i, r in enumerate(report.layers)
    ]
    return ["## Layers", "", *table(header, rows, "rlllrrrlrrrlrrl"), ""]


def _schedules(report: NetworkReport) -> list[str]:
    rows = [[i, r.node_name, r.schedule_summary] for i, r in enumerate(report.layers)]
    return ["## Schedules (outermost level first; t = temporal, s = spatial)", "",
            *table(["#", "Node", "Schedule"], rows, "rll"), ""]


def _energy(report: NetworkReport) -> list[str]:
    breakdown = report.totals["energy_breakdown_pj"]
    operands = fmt.operand_order({v for per in breakdown.values() for v in per})
    total = report.totals["energy_pj"] or 1.0
    rows = []
    for level, per in breakdown.items():
        level_pj = sum(per.values())
        rows.append([level, *(fmt.energy(per[v]) if v in per else "" for v in operands),
                     fmt.energy(level_pj), fmt.percent(level_pj / total)])
    header = ["Level", *operands, "Total", "Share"]
    return ["## Energy by memory level and tensor", "", *table(header, rows, "l" + "r" * (len(operands) + 2)), ""]


def _unscheduled(report: NetworkReport) -> list[str]:
    if not report.unscheduled:
        return ["## Unscheduled ops", "", "None: every op is a scheduled layer.", ""]
    rows = [[u.node_name, u.op_type, fmt.words(u.input_words), fmt.words(u.output_words),
             fmt.words(u.moved_words), fmt.count(u.estimate_cycles), fmt.energy(u.estimate_energy_pj), u.note]
            for u in report.unscheduled]
    header = ["Node", "Op", "Input words", "Output words", "Moved words", "Est. cycles", "Est. energy", "Note"]
    label = report.unscheduled_totals["label"]
    return ["## Unscheduled ops (not mapped by the scheduler)", "", f"_{cell(label)}._", "",
            *table(header, rows, "llrrrrrl"), ""]


def _groups(report: NetworkReport) -> list[str]:
    shared = [g for g in report.shape_groups if len(g["layers"]) > 1]
    if not shared:
        return []
    rows = [[fmt.shape(g["shape"]), len(g["layers"]), ", ".join(g["layers"])] for g in shared]
    return ["## Layers sharing a shape (solved once)", "", *table(["Shape", "Layers", "Nodes"], rows, "lrl"), ""]


def render_markdown(report: NetworkReport) -> str:
    lines = [*_header(report), *_totals(report), *_layers(report), *_energy(report), *_unscheduled(report),
             *_schedules(report), *_groups(report)]
    return "\n".join(lines).rstrip() + "\n"
