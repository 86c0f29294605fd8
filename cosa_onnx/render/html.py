"""One self-contained HTML report: key numbers, inline SVG charts, and the tables.

No scripts, no external assets, no network: CSS and SVG are inline. Every model-provided string
(model and layer names, op types, notes) is HTML-escaped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from cosa_onnx.render import _format as fmt
from cosa_onnx.render.plots import (
    PALETTE,
    Axis,
    HRow,
    LegendItem,
    Marker,
    Segment,
    compact,
    esc,
    hbar_chart,
    vbar_stacked,
)
from cosa_onnx.report import NetworkReport

logger = logging.getLogger(__name__)

CHART_IDS = ("chart-cycles", "chart-energy-levels", "chart-energy-layers", "chart-utilization", "chart-time-share")
TABLE_IDS = ("table-totals", "table-layers", "table-energy", "table-unscheduled", "table-schedules", "table-shapes")

BAR, BOUND_BG, BOUND_LINE, COMPUTE, OVER = "#4e79a7", "#f6e3c6", "#e8912d", "#222222", "#e15759"
TENSOR_COLORS = {"Weights": "#4e79a7", "Inputs": "#f28e2b", "Outputs": "#59a14f", "all": "#b07aa1", "MAC": "#9c9c9c"}
UNSCHEDULED, OTHER = "#f28e2b", "#9fb8d3"
OVER_BOUND = 1.2       # a layer more than this far above its latency bound is drawn red
TIME_SHARE_ROWS = 30   # layers shown individually in the time-share chart

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d1d1f}
main{max-width:1300px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px} h2{font-size:18px;margin:32px 0 10px}
.sub{color:#555;font-size:13px;margin-bottom:18px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(165px,1fr));gap:10px}
.card{background:#fff;border-radius:8px;padding:10px 14px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.card .k{font-size:12px;color:#666}.card .v{font-size:20px;font-weight:600;margin-top:2px}
.card .d{font-size:11px;color:#777;margin-top:2px}
.card.whole{border-left:4px solid #e15759}
figure{background:#fff;border-radius:8px;padding:8px;margin:14px 0;box-shadow:0 1px 2px rgba(0,0,0,.08)}
figcaption{font-size:12px;color:#555;padding:4px 8px}
.note{font-size:13px;color:#444;background:#fff8e6;border-left:4px solid #f2b84b;padding:8px 12px;border-radius:4px}
.scroll{overflow-x:auto;background:#fff;border-radius:8px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
table{border-collapse:collapse;font-size:12px;width:100%}
th,td{padding:4px 8px;border-bottom:1px solid #eee;text-align:left;white-space:nowrap}
th{background:#fafafa;position:sticky;top:0} td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.over td{background:#fff1f1} code{font-size:11px}
"""


def _table(table_id: str, header: Sequence[str], rows: Sequence[Sequence[object]], numeric: str = "",
           row_classes: Sequence[str] = ()) -> str:
    """An HTML table; ``numeric`` has one char per column, "r" for right-aligned numbers."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if i < len(row_classes) and row_classes[i] else ""
        cells = "".join(f'<td class="n">{esc(v)}</td>' if numeric[j:j + 1] == "r" else f"<td>{esc(v)}</td>"
                        for j, v in enumerate(row))
        body.append(f"<tr{cls}>{cells}</tr>")
    return f'<div class="scroll"><table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _card(key: str, value: str, detail: str = "", cls: str = "") -> str:
    extra = f" {cls}" if cls else ""
    return (f'<div class="card{extra}"><div class="k">{esc(key)}</div><div class="v">{esc(value)}</div>'
            f'<div class="d">{esc(detail)}</div></div>')


def _cards(report: NetworkReport) -> str:
    t, w, u = report.totals, report.whole_model, report.unscheduled_totals
    cards = [
        _card("Cycles (scheduled layers)", fmt.big_count(t["cycles"]), f"{fmt.ratio(t['latency_vs_bound'])} the latency bound"),
        _card("Latency", fmt.seconds(t["latency_s"]), "" if t["latency_s"] is not None else "spec has no clock_ghz"),
        _card("Energy", fmt.energy(t["energy_pj"]), f"{fmt.ratio(t['energy_vs_bound'])} the energy bound"),
        _card("EDP", f"{t['edp']:.3e}", "total cycles × total pJ"),
        _card("Utilisation", fmt.percent(t["utilization"]), f"{fmt.count(report.arch['mac_instances'])} MACs"),
        _card("Latency bound", fmt.big_count(t["bound_latency_cycles"]), f"compute bound {fmt.big_count(t['bound_compute_cycles'])}"),
        _card("Unscheduled ops (estimate)", fmt.big_count(u["estimate_cycles"]), f"{u['ops']} ops, {fmt.energy(u['estimate_energy_pj'])}"),
        _card("Whole model", fmt.big_count(w["cycles"]), f"cycles incl. estimate; {fmt.energy(w['energy_pj'])}", "whole"),
        _card("Solver time", fmt.seconds(report.timing.get("solve_time_s")),
              f"{report.timing.get('cache_hits', 0)} cache hits, {report.timing.get('distinct_shapes', '–')} shapes"),
    ]
    return f'<div class="cards">{"".join(cards)}</div>'


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{esc(caption)}</figcaption></figure>"


def chart_cycles(report: NetworkReport) -> str:
    rows = []
    for r in report.layers:
        over = (r.latency_vs_bound or 0.0) > OVER_BOUND
        rows.append(HRow(
            label=r.node_name,
            background=Segment(value=r.bound_latency_cycles, color=BOUND_BG,
                               tip=f"latency bound {fmt.count(r.bound_latency_cycles)} cycles"),
            segments=(Segment(value=r.cycles, color=OVER if over else BAR,
                              tip=f"{r.node_name}: {fmt.count(r.cycles)} cycles"),),
            markers=(Marker(value=r.bound_compute_cycles, color=COMPUTE, dashed=True,
                            tip=f"compute bound {fmt.count(r.bound_compute_cycles)} cycles"),
                     Marker(value=r.bound_latency_cycles, color=BOUND_LINE,
                            tip=f"latency bound {fmt.count(r.bound_latency_cycles)} cycles")),
            note=fmt.ratio(r.latency_vs_bound), emphasis=over))
    legend = (LegendItem(label="cycles (this schedule)", color=BAR),
              LegendItem(label=f"> {OVER_BOUND}× latency bound", color=OVER),
              LegendItem(label="latency bound (compute or DRAM traffic)", color=BOUND_LINE, kind="line"),
              LegendItem(label="compute bound", color=COMPUTE, kind="line"))
    svg = hbar_chart("chart-cycles", "Cycles per layer against the compute and latency bounds", rows,
                     axis=Axis(label="cycles", fmt=compact), legend=legend)
    return _figure(svg, "Right-hand numbers: cycles / latency bound. The pale bar is the latency bound, "
                        "the dashed tick the compute bound (MACs / MAC count).")


def _level_colors(report: NetworkReport) -> dict[str, str]:
    names = list(report.totals["energy_breakdown_pj"])
    return {name: ("#9c9c9c" if name == "MAC" else PALETTE[i % len(PALETTE)]) for i, name in enumerate(names)}


def chart_energy_levels(report: NetworkReport) -> str:
    breakdown = report.totals["energy_breakdown_pj"]
    operands = fmt.operand_order({v for per in breakdown.values() for v in per})
    total = report.totals["energy_pj"] or 1.0
    categories, stacks, notes = [], [], []
    for level, per in breakdown.items():
        categories.append(level)
        stacks.append([Segment(value=per[v], color=TENSOR_COLORS.get(v, "#bab0ac"),
                               tip=f"{level} / {v}: {fmt.energy(per[v])}") for v in operands if v in per])
        notes.append(fmt.percent(sum(per.values()) / total))
    legend = [LegendItem(label=v, color=TENSOR_COLORS.get(v, "#bab0ac")) for v in operands]
    svg = vbar_stacked("chart-energy-levels", "Network energy by memory level and tensor", categories, stacks,
                       axis=Axis(label="energy", fmt=fmt.energy), legend=legend, notes=notes)
    return _figure(svg, "Stacked by tensor; labels give each level's share of the scheduled energy.")


def chart_energy_layers(report: NetworkReport) -> str:
    colors = _level_colors(report)
    rows = []
    for r in report.layers:
        segs = tuple(Segment(value=sum(per.values()), color=colors.get(level, "#bab0ac"),
                             tip=f"{r.node_name} / {level}: {fmt.energy(sum(per.values()))}")
                     for level, per in r.energy_breakdown_pj.items())
        rows.append(HRow(label=r.node_name, segments=segs,
                         markers=(Marker(value=r.bound_energy_pj, color=COMPUTE, dashed=True,
                                         tip=f"energy bound {fmt.energy(r.bound_energy_pj)}"),),
                         note=fmt.ratio(r.energy_vs_bound)))
    legend = [*(LegendItem(label=name, color=c) for name, c in colors.items()),
              LegendItem(label="energy bound", color=COMPUTE, kind="line")]
    svg = hbar_chart("chart-energy-layers", "Energy per layer by memory level", rows,
                     axis=Axis(label="energy", fmt=fmt.energy), legend=legend)
    return _figure(svg, "Right-hand numbers: energy / energy bound (MACs x MAC energy + compulsory DRAM traffic).")


def chart_utilization(report: NetworkReport) -> str:
    t = report.totals
    rows = [HRow(label="network", segments=(Segment(value=t["utilization"], color="#59a14f",
                                                     tip=f"network: {fmt.percent(t['utilization'])}"),),
                 note=fmt.percent(t["utilization"]), emphasis=True)]
    rows += [HRow(label=r.node_name, segments=(Segment(value=r.utilization, color="#76b7b2",
                                                        tip=f"{r.node_name}: {fmt.percent(r.utilization)}"),),
                  note=fmt.percent(r.utilization)) for r in report.layers]
    svg = hbar_chart("chart-utilization", "MAC utilisation per layer", rows,
                     axis=Axis(label="utilisation (useful MACs / (cycles × MAC count))",
                               fmt=lambda v: f"{100 * v:g} %", fixed_max=1.0))
    return _figure(svg, "Padding MACs count as waste; 100 % = every MAC busy every cycle.")


def chart_time_share(report: NetworkReport) -> str:
    whole = report.whole_model["cycles"] or 1
    est = report.unscheduled_totals["estimate_cycles"]
    items = [(r.node_name, r.cycles, BAR) for r in report.layers]
    items.append((f"unscheduled ops ({report.unscheduled_totals['ops']}, estimate)", est, UNSCHEDULED))
    items.sort(key=lambda item: -item[1])  # stable: ties keep network order
    shown, rest = items[:TIME_SHARE_ROWS], items[TIME_SHARE_ROWS:]
    if rest:
        shown.append((f"{len(rest)} other layers", sum(c for _, c, _ in rest), OTHER))
    rows, cumulative = [], 0.0
    for name, cycles, color in shown:
        share = cycles / whole
        cumulative += share
        rows.append(HRow(label=name, segments=(Segment(value=share, color=color,
                                                       tip=f"{name}: {fmt.count(cycles)} cycles"),),
                         note=f"{fmt.percent(share)}  (cum. {fmt.percent(cumulative, 0)})",
                         emphasis=color != BAR))
    svg = hbar_chart("chart-time-share", "Where time goes: share of whole-model cycles", rows,
                     axis=Axis(label="share of whole-model cycles (scheduled + unscheduled estimate)",
                               fmt=lambda v: f"{100 * v:g} %"))
    return _figure(svg, "Largest first; the unscheduled ops are a bandwidth-bound estimate, not a schedule.")


def _layers_table(report: NetworkReport) -> str:
    header = ["#", "Node", "Op", "Shape", "Cycles", "Compute bound", "Latency bound", "× bound", "Limited by",
              "Energy", "× bound", "Util.", "MACs", "Padded MACs", "Solver", "Gap", "Time", "Cache"]
    rows = [[i, r.node_name, r.op_type, fmt.shape(r.shape), fmt.count(r.cycles), fmt.count(r.bound_compute_cycles),
             fmt.count(r.bound_latency_cycles), fmt.ratio(r.latency_vs_bound), r.limited_by, fmt.energy(r.energy_pj),
             fmt.ratio(r.energy_vs_bound), fmt.percent(r.utilization), fmt.count(r.macs), fmt.count(r.padded_macs),
             fmt.solver_status(r.solver), fmt.gap(r.solver.get("gap")), fmt.seconds(r.timing.get("solve_time_s")),
             "hit" if r.timing.get("cache_hit") else ""] for i, r in enumerate(report.layers)]
    classes = ["over" if (r.latency_vs_bound or 0.0) > OVER_BOUND else "" for r in report.layers]
    return _table("table-layers", header, rows, "rlllrrrrlrrrrrlrrl", classes)


def _totals_table(report: NetworkReport) -> str:
    t, w = report.totals, report.whole_model
    rows = [["Cycles", fmt.count(t["cycles"])], ["Latency", fmt.seconds(t["latency_s"])],
            ["Energy", fmt.energy(t["energy_pj"])], ["EDP", fmt.edp(t["edp"])],
            ["Utilisation", fmt.percent(t["utilization"])],
            ["MACs (padded)", f"{fmt.count(t['macs'])} ({fmt.count(t['padded_macs'])})"],
            ["Compute bound (cycles)", fmt.count(t["bound_compute_cycles"])],
            ["DRAM-traffic bound (cycles, sum of layers)", fmt.count(t["bound_dram_cycles"])],
            ["Latency bound (cycles)", fmt.count(t["bound_latency_cycles"])],
            ["Cycles / latency bound", fmt.ratio(t["latency_vs_bound"])],
            ["Energy bound", fmt.energy(t["bound_energy_pj"])], ["Energy / energy bound", fmt.ratio(t["energy_vs_bound"])],
            ["Whole model cycles (incl. estimate)", fmt.count(w["cycles"])],
            ["Whole model latency (incl. estimate)", fmt.seconds(w["latency_s"])],
            ["Whole model energy (incl. estimate)", fmt.energy(w["energy_pj"])]]
    return _table("table-totals", ["Metric", "Value"], rows, "lr")


def _energy_table(report: NetworkReport) -> str:
    breakdown = report.totals["energy_breakdown_pj"]
    operands = fmt.operand_order({v for per in breakdown.values() for v in per})
    total = report.totals["energy_pj"] or 1.0
    rows = [[level, *(fmt.energy(per[v]) if v in per else "" for v in operands), fmt.energy(sum(per.values())),
             fmt.percent(sum(per.values()) / total)] for level, per in breakdown.items()]
    return _table("table-energy", ["Level", *operands, "Total", "Share"], rows, "l" + "r" * (len(operands) + 2))


def _unscheduled_table(report: NetworkReport) -> str:
    rows = [[u.node_name, u.op_type, fmt.words(u.input_words), fmt.words(u.output_words), fmt.words(u.moved_words),
             fmt.count(u.estimate_cycles), fmt.energy(u.estimate_energy_pj), u.note] for u in report.unscheduled]
    return _table("table-unscheduled", ["Node", "Op", "Input words", "Output words", "Moved words", "Est. cycles",
                                        "Est. energy", "Note"], rows, "llrrrrrl")


def _schedules_table(report: NetworkReport) -> str:
    rows = [[i, r.node_name, fmt.shape(r.shape), r.schedule_summary] for i, r in enumerate(report.layers)]
    return _table("table-schedules", ["#", "Node", "Shape", "Schedule (outermost level first; t temporal, s spatial)"],
                  rows, "rlll")


def _shapes_table(report: NetworkReport) -> str:
    rows = [[fmt.shape(g["shape"]), len(g["layers"]), ", ".join(g["layers"])]
            for g in report.shape_groups if len(g["layers"]) > 1]
    return _table("table-shapes", ["Shape", "Layers", "Nodes (one solve for all)"], rows or [["none", 0, ""]], "lrl")


def _header(report: NetworkReport) -> str:
    arch = report.arch
    clock = f"{arch['clock_ghz']:g} GHz" if arch.get("clock_ghz") else "no clock in spec (cycles only)"
    return (f"<h1>cosa-onnx report: {esc(report.model_name)}</h1>"
            f'<div class="sub">Architecture <b>{esc(arch["name"])}</b> · {fmt.count(arch["mac_instances"])} MACs · '
            f"{esc(clock)} · spec sha256 <code>{esc(str(arch['sha256'])[:16])}…</code> · cosa-onnx "
            f"{esc(report.tool_version)} · report schema {report.schema_version} · {len(report.layers)} scheduled "
            f"layers, {len(report.unscheduled)} unscheduled ops</div>")


def render_html(report: NetworkReport) -> str:
    u = report.unscheduled_totals
    note = (f'<p class="note">Whole model = {esc(report.whole_model["label"])}. The estimate for the '
            f'{u["ops"]} unscheduled ops: {esc(u["label"])}.</p>')
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>cosa-onnx report: {esc(report.model_name)}</title><style>{CSS}</style></head><body><main>",
        _header(report), _cards(report), note,
        "<h2>Latency</h2>", chart_cycles(report), chart_time_share(report), chart_utilization(report),
        "<h2>Energy</h2>", chart_energy_levels(report), chart_energy_layers(report),
        "<h2>Totals</h2>", _totals_table(report),
        "<h2>Layers</h2>", _layers_table(report),
        "<h2>Energy by memory level and tensor</h2>", _energy_table(report),
        "<h2>Unscheduled ops</h2>", _unscheduled_table(report),
        "<h2>Schedules</h2>", _schedules_table(report),
        "<h2>Layers sharing a shape</h2>", _shapes_table(report),
        "</main></body></html>",
    ]
    return "\n".join(parts) + "\n"
