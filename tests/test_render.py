"""Renderers: every layer in Markdown and HTML, every chart and table present, escaping, a real screenshot."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_report_fixtures import PROBLEMS, UNSCHEDULED, make_results, op

from cosa_onnx.hwmodels.loader import load_spec
from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.problem import LoopProblem
from cosa_onnx.render.html import CHART_IDS, TABLE_IDS
from cosa_onnx.render.markdown import cell
from cosa_onnx.render.plots import nice_ticks
from cosa_onnx.report import NetworkReport, build_report, render_report, write_report

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>|&amp;\'`'


class Collector(HTMLParser):
    """Collects tags, ids, table rows (cell texts per table id) and all text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.ids: dict[str, str] = {}
        self.attrs: list[tuple[str, str | None]] = []
        self.rows: dict[str, list[list[str]]] = {}
        self.text: list[str] = []
        self._table: str | None = None
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)
        element_id = dict(attrs).get("id")
        if element_id:
            self.ids[element_id] = tag
        if tag == "table":
            self._table = element_id
        elif tag == "tr" and self._table is not None:
            self.rows.setdefault(self._table, []).append([])
        elif tag in ("td", "th"):
            self._in_cell = True
            if self._table is not None:
                self.rows[self._table][-1].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_cell and self._table is not None:
            self.rows[self._table][-1][-1] += data


@pytest.fixture(scope="module")
def spec() -> HardwareSpec:
    return load_spec("simba")


@pytest.fixture(scope="module")
def report(spec: HardwareSpec) -> NetworkReport:
    return build_report(make_results(spec), UNSCHEDULED, spec, model_name="tiny")


@pytest.fixture(scope="module")
def evil_report(spec: HardwareSpec) -> NetworkReport:
    problems = (*PROBLEMS[:2], LoopProblem(name=EVIL, op_type="Conv", r=3, s=3, p=4, q=4, c=8, k=8))
    ops = (*UNSCHEDULED, op(EVIL + "_op", "Add</td>", 10, 5))
    return build_report(make_results(spec, problems), ops, spec, model_name=EVIL)


def parse(html: str) -> Collector:
    collector = Collector()
    collector.feed(html)
    collector.close()
    return collector


def test_markdown_lists_every_layer_and_op(report: NetworkReport) -> None:
    md = render_report(report, "md")
    for row in report.layers:
        assert f"| {row.node_name} |" in md
        assert row.schedule_summary in md
    for un in report.unscheduled:
        assert f"| {un.node_name} | {un.op_type} |" in md
    assert "estimate" in md and "Whole model" in md


def test_markdown_escapes_table_cells(evil_report: NetworkReport) -> None:
    md = render_report(evil_report, "md")
    assert "<script>" not in md and "<img" not in md
    assert cell(EVIL) in md
    # every table row keeps its column count despite the pipe in the name
    layer_lines = [line for line in md.splitlines() if line.startswith("| 2 |")]
    assert layer_lines and all(line.replace("\\|", "").count("|") == 16 for line in layer_lines[:1])


def test_html_has_every_chart_and_table(report: NetworkReport) -> None:
    doc = parse(render_report(report, "html"))
    for chart_id in CHART_IDS:
        assert doc.ids.get(chart_id) == "svg", chart_id
    for table_id in TABLE_IDS:
        assert doc.ids.get(table_id) == "table", table_id
    layer_rows = doc.rows["table-layers"][1:]
    assert [r[1] for r in layer_rows] == [row.node_name for row in report.layers]
    assert [r[0] for r in doc.rows["table-unscheduled"][1:]] == [op.node_name for op in report.unscheduled]
    assert len(doc.rows["table-schedules"]) == len(report.layers) + 1
    assert doc.rows["table-shapes"][1][1:] == ["2", "conv2, conv3"]


def test_html_is_self_contained(report: NetworkReport) -> None:
    html = render_report(report, "html")
    doc = parse(html)
    assert "script" not in doc.tags and "link" not in doc.tags and "img" not in doc.tags
    urls = [v for k, v in doc.attrs if k in ("src", "href") and v]
    assert urls == []
    assert "https://" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_html_escapes_model_strings(evil_report: NetworkReport) -> None:
    html = render_report(evil_report, "html")
    doc = parse(html)
    assert "script" not in doc.tags and "img" not in doc.tags
    assert all(k != "onerror" for k, _ in doc.attrs)
    texts = "".join(doc.text)
    assert EVIL in texts  # shown verbatim as text
    assert [r[1] for r in doc.rows["table-layers"][1:]][-1] == EVIL
    assert doc.rows["table-unscheduled"][-1][1] == "Add</td>"


def test_write_html_and_md(report: NetworkReport, tmp_path: Path) -> None:
    for name in ("r.html", "r.md"):
        text = write_report(report, tmp_path / name).read_text(encoding="utf-8")
        assert all(row.node_name in text for row in report.layers)


def test_nice_ticks_cover_the_maximum() -> None:
    for maximum in (1.0, 7.3, 99.0, 1234.5, 5.2e6, 0.37):
        ticks = nice_ticks(maximum)
        assert ticks[0] == 0.0 and ticks[-1] >= maximum and len(ticks) <= 12
        assert ticks[-2] < maximum


def _png_facts(data: bytes) -> tuple[int, int, int]:
    """(width, height, distinct byte values of the decoded image data) of a PNG file."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return width, height, len(set(zlib.decompress(idat)))


CHROMIUM = next((p for n in ("chromium", "chromium-browser", "google-chrome") if (p := shutil.which(n))), None)


@pytest.mark.skipif(CHROMIUM is None, reason="headless chromium not installed (apt-get install -y chromium)")
def test_html_screenshot_is_not_blank(report: NetworkReport, tmp_path: Path) -> None:
    assert CHROMIUM is not None
    html_path = write_report(report, tmp_path / "report.html")
    png = tmp_path / "shot.png"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
           f"--screenshot={png}", "--window-size=1200,1600", html_path.as_uri()]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    width, height, distinct = _png_facts(png.read_bytes())
    assert (width, height) == (1200, 1600)
    assert png.stat().st_size > 20_000
    assert distinct > 50  # a blank or single-colour page decodes to a handful of byte values


def test_formatting_helpers() -> None:
    from cosa_onnx.render import _format as fmt

    assert fmt.energy(9.04e9) == "9.04 mJ" and fmt.energy(512.0) == "512 pJ" and fmt.energy(None) == "–"
    assert fmt.seconds(0.0) == "0 s" and fmt.seconds(2.5e-3) == "2.5 ms"
    assert fmt.shape({"R": 3, "S": 3, "P": 7, "Q": 7, "C": 512, "K": 512, "w_stride": 2, "h_stride": 2}) == \
        "R3 S3 P7 Q7 C512 K512 /2"
    assert fmt.solver_status({"status": "fallback", "method": "fallback", "flags": ["fallback"]}) == "fallback"
    assert fmt.solver_status({"status": "feasible", "method": "mip", "flags": ["time-limit-hit"]}) == \
        "feasible [time-limit-hit]"


def test_empty_report_renders(spec: HardwareSpec) -> None:
    empty = build_report([], [], spec, model_name="empty")
    assert empty.totals["cycles"] == 0 and empty.totals["latency_vs_bound"] is None
    for fmt in ("json", "md", "html"):
        assert "empty" in render_report(empty, fmt)
    assert all(chart_id in parse(render_report(empty, "html")).ids for chart_id in CHART_IDS)
