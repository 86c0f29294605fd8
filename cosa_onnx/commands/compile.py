"""``cosa-onnx compile MODEL.onnx --arch simba``: schedule every layer, annotate, report."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from cosa_onnx.commands.common import add_shape_arguments, shape_bindings
from cosa_onnx.errors import UserInputError

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from cosa_onnx.report import NetworkReport

OBJECTIVES = ("default", "latency", "energy", "edp", "cosa")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("compile", help="schedule every Conv/Gemm/MatMul and write an annotated model",
                              description="Schedule every Conv/Gemm/MatMul of MODEL onto an accelerator with "
                                          "the CoSA MIP, write MODEL.cosa.onnx with the schedules in its "
                                          "metadata, and print the per-layer table and network totals.")
    p.add_argument("model", help="the .onnx model to compile")
    p.add_argument("--arch", default="simba", help="built-in architecture name or spec .yaml (default: simba)")
    p.add_argument("-o", "--output", help="annotated model path (default: MODEL.cosa.onnx next to MODEL)")
    p.add_argument("--report", metavar="PATH", help="also write the report (.json, .md or .html by suffix)")
    p.add_argument("--objective", choices=OBJECTIVES, default="default",
                   help="what the scheduler minimises (default: the MIP's default)")
    p.add_argument("--time-limit", type=float, metavar="S",
                   help="wall-clock safety net per CBC run, seconds (default 10); solves normally stop on "
                        "a deterministic node limit, and a run the clock cuts short is flagged time-limit-hit")
    p.add_argument("--gap", type=float, metavar="REL", help="relative MIP gap at which a solve stops")
    p.add_argument("--jobs", type=int, metavar="N", help="parallel solver processes (default: driver's choice)")
    add_shape_arguments(p)
    p.add_argument("--no-cache", action="store_true", help="do not read or write the schedule cache")
    p.add_argument("--cache-dir", metavar="DIR", help="schedule cache folder (default: the user cache dir)")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=run)


def _check_writable(path: Path, what: str) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        state = "is not a folder" if folder.exists() else "does not exist"
        raise UserInputError(f"{what} {os.fspath(path)!r}: {os.fspath(folder)!r} {state}; create the folder "
                             "or choose another path")
    if path.is_dir():
        raise UserInputError(f"{what} {os.fspath(path)!r} is a directory; give a file path")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UserInputError(f"{what} {os.fspath(path)!r} is not writable; choose another path")


def _options(args: argparse.Namespace) -> Any:
    from cosa_onnx.pipeline import CompileOptions

    if args.jobs is not None and args.jobs < 1:
        raise UserInputError(f"--jobs must be at least 1, got {args.jobs}")
    if args.time_limit is not None and args.time_limit <= 0:
        raise UserInputError(f"--time-limit must be positive seconds, got {args.time_limit}")
    if args.gap is not None and not 0 <= args.gap < 1:
        raise UserInputError(f"--gap must be a relative gap in [0, 1), got {args.gap}")
    batch, input_shapes = shape_bindings(args)
    return CompileOptions(objective=args.objective, time_limit_s=args.time_limit, rel_gap=args.gap, jobs=args.jobs,
                          batch=batch, input_shapes=input_shapes or None,
                          use_cache=not args.no_cache,
                          cache_dir=Path(args.cache_dir) if args.cache_dir else None)


def run(args: argparse.Namespace) -> int:
    from cosa_onnx.pipeline import compile_model, default_output_path

    model = Path(args.model)
    if not model.is_file():
        state = "is a directory" if model.is_dir() else "does not exist"
        raise UserInputError(f"model {args.model!r} {state}; give the path of an .onnx model file")
    output = Path(args.output) if args.output else default_output_path(args.model)
    _check_writable(output, "output")
    report_path = Path(args.report) if args.report else None
    if report_path is not None:
        from cosa_onnx.report import format_for_path

        format_for_path(report_path)
        _check_writable(report_path, "report")
    options = _options(args)
    progress = None if args.quiet else ProgressPrinter(sys.stderr)
    try:
        result = compile_model(args.model, args.arch, options, on_progress=progress)
    finally:
        if progress is not None:
            progress.close()
    if report_path is not None:
        from cosa_onnx.report import write_report

        write_report(result.report, report_path)
    result.save(output)
    if not args.quiet:
        print(format_summary(result.report))
        print(f"wrote {output}" + (f" and {report_path}" if report_path else ""))
    return 0


# ---- progress ------------------------------------------------------------------------------------
class ProgressPrinter:
    """Progress over the distinct shapes being solved: a bar redrawn in place on a TTY, plain lines
    otherwise. Takes :class:`cosa_onnx.scheduling.ProgressEvent` objects."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.done = 0
        self.hits = 0
        self._drawn = False

    def __call__(self, event: Any) -> None:
        names = tuple(event.layer_names)
        label = names[0] + (f" (+{len(names) - 1} same shape)" if len(names) > 1 else "")
        if event.kind in ("cache_hit", "finished", "failed"):
            self.done += 1
            self.hits += event.kind == "cache_hit"
        if event.kind == "started":
            status = "solving"
        elif event.kind == "cache_hit":
            status = "cache hit"
        elif event.kind == "failed":
            status = f"failed: {event.message}"
        else:
            status = f"solved in {float(event.elapsed_s or 0.0):.2f} s"
        if self.tty:
            self._draw(event.total, f"{label}: {status}")
        elif event.kind != "started":
            self.stream.write(f"[{self.done}/{event.total}] {label}: {status}\n")
        self.stream.flush()

    def _draw(self, total: int, text: str) -> None:
        width = 24
        filled = width * self.done // total if total else width
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"\r\x1b[2K[{bar}] {self.done}/{total} shapes, {self.hits} cached  {text[:60]}")
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


# ---- the closing table ---------------------------------------------------------------------------
def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _ratio(value: float | None, bound: float | None) -> float | None:
    return float(value) / float(bound) if value is not None and bound else None


def _energy(value_pj: float) -> str:
    for scale, unit in ((1e12, "J"), (1e9, "mJ"), (1e6, "uJ"), (1e3, "nJ")):
        if abs(value_pj) >= scale:
            return f"{value_pj / scale:.3f} {unit}"
    return f"{value_pj:.3f} pJ"


def _seconds(value_s: float) -> str:
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us")):
        if value_s >= scale:
            return f"{value_s / scale:.3f} {unit}"
    return f"{value_s / 1e-9:.1f} ns"


def layer_table(report: NetworkReport) -> list[str]:
    header = ("layer", "op", "cycles", "x compute", "x traffic", "energy", "util", "status", "gap", "solve s")
    rows: list[tuple[str, ...]] = []
    seen: set[int] = set()
    for row in report.layers:
        gap = row.solver.get("gap")
        if row.timing.get("cache_hit"):
            solve = "hit"
        elif row.shape_group in seen:
            solve = "shared"  # same shape as an earlier layer: solved once
        else:
            solve = f"{float(row.timing.get('solve_time_s', 0.0)):.2f}"
        seen.add(row.shape_group)
        rows.append((row.node_name, row.op_type, f"{row.cycles:,}",
                     _num(_ratio(row.cycles, row.bound_compute_cycles), ".2f"),
                     _num(_ratio(row.cycles, row.bound_dram_cycles), ".2f"), _energy(row.energy_pj),
                     f"{100 * row.utilization:.1f}%", str(row.solver.get("status", "")),
                     "-" if gap is None else f"{100 * float(gap):.1f}%",
                     solve))
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) if i < 2 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths, strict=True)))]
    for r in rows:
        lines.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))))
    return lines


def totals_lines(report: NetworkReport) -> list[str]:
    t = report.totals
    cycles = int(t["cycles"])
    latency = f" = {_seconds(float(t['latency_s']))} at {report.arch.get('clock_ghz')} GHz" if t.get("latency_s") else ""
    gaps = [float(r.solver["gap"]) for r in report.layers if r.solver.get("gap") is not None]
    # "start:..." only says which candidate won; the other flags are warnings worth a look
    warnings = Counter(f for r in report.layers for f in r.solver.get("flags", ()) if not str(f).startswith("start:"))
    flagged = sum(1 for r in report.layers if any(not str(f).startswith("start:") for f in r.solver.get("flags", ())))
    flag_detail = f" ({', '.join(f'{name} {n}' for name, n in sorted(warnings.items()))})" if warnings else ""
    lines = [
        f"network ({t['layers']} layers on {report.arch.get('name')}): {cycles:,} cycles{latency}",
        f"  energy {_energy(float(t['energy_pj']))}, EDP {float(t['edp']):.4g} cycle*pJ, "
        f"utilisation {100 * float(t['utilization']):.1f}%",
        f"  vs bounds: {_num(_ratio(cycles, t.get('bound_latency_cycles')), '.3f')}x latency bound "
        f"(per layer the larger of compute and DRAM traffic), "
        f"{_num(_ratio(cycles, t.get('bound_compute_cycles')), '.2f')}x compute bound, "
        f"{_num(_ratio(cycles, t.get('bound_dram_cycles')), '.2f')}x traffic bound, "
        f"{_num(t.get('energy_vs_bound'), '.2f')}x energy bound",
        f"  solver: {float(report.timing.get('solve_time_s', 0.0)):.2f} s summed over layers, "
        f"{report.timing.get('cache_hits', 0)} cache hits, "
        f"max gap {'-' if not gaps else f'{100 * max(gaps):.1f}%'}, {flagged} layers flagged{flag_detail}",
    ]
    u = report.unscheduled_totals
    if u.get("ops"):
        w = report.whole_model
        lines.append(f"  + {u['ops']} unscheduled ops (bandwidth-bound estimate): {int(u['estimate_cycles']):,} cycles, "
                     f"{_energy(float(u['estimate_energy_pj']))}; whole model ~{int(w['cycles']):,} cycles")
    return lines


def format_summary(report: NetworkReport) -> str:
    return "\n".join([*layer_table(report), "", *totals_lines(report)])
