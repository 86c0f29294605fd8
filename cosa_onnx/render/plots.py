"""Inline SVG charts, generated here (no libraries, no scripts, no external assets).

Two primitives cover every chart of the HTML report:

- :func:`hbar_chart` — one row per item (layer), each with stacked segments, an optional pale
  background bar (e.g. the latency bound), tick markers (e.g. the compute bound) and a right-hand
  annotation;
- :func:`vbar_stacked` — a few categories (memory levels) with stacked segments (tensors).

All text is escaped; every bar carries an SVG ``<title>`` tooltip.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

logger = logging.getLogger(__name__)

FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif"
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac")
# Shades per tensor inside one level's hue (Weights, Inputs, Outputs, other).
TENSOR_SHADES = {"Weights": 0.0, "Inputs": 0.35, "Outputs": 0.6}
CHAR_PX = 7.0  # approximate width of one 12 px character (bold included)


@dataclass(frozen=True, kw_only=True)
class Segment:
    value: float
    color: str
    tip: str = ""


@dataclass(frozen=True, kw_only=True)
class Marker:
    value: float
    color: str
    tip: str = ""
    dashed: bool = False


@dataclass(frozen=True, kw_only=True)
class HRow:
    label: str
    segments: tuple[Segment, ...] = ()
    background: Segment | None = None
    markers: tuple[Marker, ...] = ()
    note: str = ""
    emphasis: bool = False


@dataclass(frozen=True, kw_only=True)
class LegendItem:
    label: str
    color: str
    kind: str = "box"  # box | line | pale


@dataclass(frozen=True, kw_only=True)
class Axis:
    label: str
    fmt: Callable[[float], str] = field(default=lambda v: f"{v:g}")
    fixed_max: float | None = None


def esc(text: object) -> str:
    return escape(str(text), quote=True)


def shade(color: str, amount: float) -> str:
    """``color`` mixed with white by ``amount`` (0 = unchanged, 1 = white)."""
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    mix = [round(c + (255 - c) * amount) for c in (r, g, b)]
    return "#" + "".join(f"{c:02x}" for c in mix)


def nice_ticks(maximum: float, count: int = 5) -> list[float]:
    """Round tick values from 0 covering ``maximum`` (1-2-2.5-5 steps)."""
    if maximum <= 0 or not math.isfinite(maximum):
        return [0.0, 1.0]
    raw = maximum / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    n = math.ceil(maximum / step - 1e-9)
    return [i * step for i in range(n + 1)]


def compact(value: float) -> str:
    """Short axis numbers: 1.5k, 2M, 3G."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:g}{suffix}"
    return f"{value:g}"


def _truncate(label: str, max_chars: int) -> str:
    """Shorten in the middle (the end of a layer name usually tells layers apart): ``encoder.l…self.query``."""
    if len(label) <= max_chars:
        return label
    head = max(1, (max_chars - 1) // 3)
    tail = max_chars - 1 - head
    return label[:head] + "…" + label[len(label) - tail:]


def _legend(items: Sequence[LegendItem], x: float, y: float, width: float) -> tuple[list[str], float]:
    """Legend entries laid out left to right, wrapping; returns SVG parts and the height used."""
    parts: list[str] = []
    cx, cy = x, y
    for item in items:
        w = 22 + len(item.label) * CHAR_PX
        if cx + w > x + width and cx > x:
            cx, cy = x, cy + 18
        if item.kind == "line":
            parts.append(f'<line x1="{cx:.1f}" y1="{cy - 4:.1f}" x2="{cx + 12:.1f}" y2="{cy - 4:.1f}" '
                         f'stroke="{item.color}" stroke-width="3"/>')
        else:
            parts.append(f'<rect x="{cx:.1f}" y="{cy - 10:.1f}" width="12" height="12" rx="2" fill="{item.color}"/>')
        parts.append(f'<text x="{cx + 17:.1f}" y="{cy:.1f}" font-size="12" fill="#333">{esc(item.label)}</text>')
        cx += w + 12
    return parts, (cy - y) + 22 if items else 0.0


def _svg(chart_id: str, width: float, height: float, title: str, body: Sequence[str]) -> str:
    return (f'<svg id="{esc(chart_id)}" class="chart" xmlns="http://www.w3.org/2000/svg" role="img" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" width="100%" style="max-width:{width:.0f}px;{FONT}">'
            f"<title>{esc(title)}</title>" + "".join(body) + "</svg>")


def _x_axis(ticks: Sequence[float], x0: float, scale: float, top: float, bottom: float, axis: Axis) -> list[str]:
    parts: list[str] = []
    for t in ticks:
        x = x0 + t * scale
        parts.append(f'<line x1="{x:.1f}" y1="{top:.1f}" x2="{x:.1f}" y2="{bottom:.1f}" stroke="#e5e5e5"/>')
        parts.append(f'<text x="{x:.1f}" y="{bottom + 14:.1f}" font-size="11" fill="#555" '
                     f'text-anchor="middle">{esc(axis.fmt(t))}</text>')
    parts.append(f'<text x="{x0 + ticks[-1] * scale / 2:.1f}" y="{bottom + 30:.1f}" font-size="12" fill="#333" '
                 f'text-anchor="middle">{esc(axis.label)}</text>')
    return parts


def _row_max(row: HRow) -> float:
    values = [sum(s.value for s in row.segments)]
    values += [m.value for m in row.markers]
    if row.background is not None:
        values.append(row.background.value)
    return max(values)


def _hrow(row: HRow, y: float, x0: float, scale: float, bar_h: float, label_x: float, note_x: float,
          max_chars: int) -> list[str]:
    weight = ' font-weight="600"' if row.emphasis else ""
    parts = [f'<text x="{label_x:.1f}" y="{y + bar_h * 0.8:.1f}" font-size="12" fill="#222" text-anchor="end"{weight}>'
             f"<title>{esc(row.label)}</title>{esc(_truncate(row.label, max_chars))}</text>"]
    if row.background is not None:
        bg = row.background
        parts.append(f'<rect x="{x0:.1f}" y="{y - 2:.1f}" width="{max(bg.value * scale, 0):.2f}" height="{bar_h + 4:.1f}" '
                     f'fill="{bg.color}"><title>{esc(bg.tip)}</title></rect>')
    # over a background bar the segments are thinner, so the background stays visible
    seg_h = bar_h * 0.6 if row.background is not None else bar_h
    seg_y = y + (bar_h - seg_h) / 2
    x = x0
    for seg in row.segments:
        w = max(seg.value * scale, 0.0)
        parts.append(f'<rect x="{x:.2f}" y="{seg_y:.1f}" width="{w:.2f}" height="{seg_h:.1f}" fill="{seg.color}">'
                     f"<title>{esc(seg.tip)}</title></rect>")
        x += w
    for m in row.markers:
        mx = x0 + m.value * scale
        dash = ' stroke-dasharray="2,2"' if m.dashed else ""
        parts.append(f'<line x1="{mx:.1f}" y1="{y - 3:.1f}" x2="{mx:.1f}" y2="{y + bar_h + 3:.1f}" stroke="{m.color}" '
                     f'stroke-width="2"{dash}><title>{esc(m.tip)}</title></line>')
    if row.note:
        parts.append(f'<text x="{note_x:.1f}" y="{y + bar_h * 0.8:.1f}" font-size="11" fill="#444"{weight}>'
                     f"{esc(row.note)}</text>")
    return parts


def hbar_chart(chart_id: str, title: str, rows: Sequence[HRow], *, axis: Axis,
               legend: Sequence[LegendItem] = (), width: float = 1230.0, row_h: float = 18.0) -> str:
    """Horizontal bars, one row per item, sharing one linear x axis from 0."""
    max_chars = min(40, max((len(r.label) for r in rows), default=4))
    label_w = 12 + max_chars * CHAR_PX
    note_w = 12 + max((len(r.note) for r in rows), default=0) * 6.2
    x0, x1 = label_w + 8, width - note_w - 10
    legend_parts, legend_h = _legend(legend, x0, 44, x1 - x0)
    top = 34 + legend_h + 6
    maximum = axis.fixed_max or max((_row_max(r) for r in rows), default=1.0)
    ticks = nice_ticks(maximum)
    scale = (x1 - x0) / ticks[-1] if ticks[-1] > 0 else 0.0
    bar_h = row_h * 0.62
    bottom = top + len(rows) * row_h + 4
    body = [f'<rect width="{width:.0f}" height="{bottom + 40:.0f}" fill="#fff"/>',
            f'<text x="12" y="22" font-size="15" font-weight="600" fill="#111">{esc(title)}</text>', *legend_parts]
    body += _x_axis(ticks, x0, scale, top - 4, bottom, axis)
    for i, row in enumerate(rows):
        body += _hrow(row, top + i * row_h + (row_h - bar_h) / 2, x0, scale, bar_h, label_w, x1 + 8, max_chars)
    body.append(f'<line x1="{x0:.1f}" y1="{top - 4:.1f}" x2="{x0:.1f}" y2="{bottom:.1f}" stroke="#888"/>')
    return _svg(chart_id, width, bottom + 40, title, body)


def vbar_stacked(chart_id: str, title: str, categories: Sequence[str], stacks: Sequence[Sequence[Segment]], *,
                 axis: Axis, legend: Sequence[LegendItem] = (), notes: Sequence[str] = (),
                 width: float = 1230.0, height: float = 360.0) -> str:
    """Vertical stacked bars, one per category, on one linear y axis from 0."""
    legend_parts, legend_h = _legend(legend, 70, 44, width - 90)
    top, bottom, x0, x1 = 40 + legend_h + 14, height - 46, 70.0, width - 20
    maximum = max((sum(s.value for s in stack) for stack in stacks), default=1.0)
    ticks = nice_ticks(maximum)
    scale = (bottom - top) / ticks[-1] if ticks[-1] > 0 else 0.0
    slot = (x1 - x0) / max(len(categories), 1)
    bar_w = min(slot * 0.6, 90.0)
    body = [f'<rect width="{width:.0f}" height="{height:.0f}" fill="#fff"/>',
            f'<text x="12" y="22" font-size="15" font-weight="600" fill="#111">{esc(title)}</text>', *legend_parts]
    for t in ticks:
        y = bottom - t * scale
        body.append(f'<line x1="{x0:.1f}" y1="{y:.1f}" x2="{x1:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        body.append(f'<text x="{x0 - 6:.1f}" y="{y + 4:.1f}" font-size="11" fill="#555" text-anchor="end">'
                    f"{esc(axis.fmt(t))}</text>")
    body.append(f'<text x="16" y="{(top + bottom) / 2:.1f}" font-size="12" fill="#333" text-anchor="middle" '
                f'transform="rotate(-90 16 {(top + bottom) / 2:.1f})">{esc(axis.label)}</text>')
    for i, (name, stack) in enumerate(zip(categories, stacks, strict=True)):
        cx = x0 + slot * (i + 0.5)
        y = bottom
        for seg in stack:
            h = max(seg.value * scale, 0.0)
            body.append(f'<rect x="{cx - bar_w / 2:.1f}" y="{y - h:.2f}" width="{bar_w:.1f}" height="{h:.2f}" '
                        f'fill="{seg.color}"><title>{esc(seg.tip)}</title></rect>')
            y -= h
        if i < len(notes) and notes[i]:
            body.append(f'<text x="{cx:.1f}" y="{y - 5:.1f}" font-size="11" fill="#333" text-anchor="middle">'
                        f"{esc(notes[i])}</text>")
        body.append(f'<text x="{cx:.1f}" y="{bottom + 16:.1f}" font-size="12" fill="#222" text-anchor="middle">'
                    f"{esc(_truncate(name, int(slot / CHAR_PX)))}<title>{esc(name)}</title></text>")
    body.append(f'<line x1="{x0:.1f}" y1="{bottom:.1f}" x2="{x1:.1f}" y2="{bottom:.1f}" stroke="#888"/>')
    return _svg(chart_id, width, height, title, body)
