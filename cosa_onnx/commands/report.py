"""``cosa-onnx report MODEL.cosa.onnx``: re-render the report from a compiled model's annotations.

The problems, schedules and the spec are read from the file; cycles and energy are recomputed with
the embedded spec by the cost model. No solver runs.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

FORMATS = ("md", "json", "html")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("report", help="re-render the report of a compiled model",
                              description="Re-render the network report of a model written by `cosa-onnx "
                                          "compile` from its annotations alone (no solving).")
    p.add_argument("model", help="a .cosa.onnx model written by `cosa-onnx compile`")
    p.add_argument("--format", choices=FORMATS,
                   help="output format (default: by the -o suffix, else md)")
    p.add_argument("-o", "--output", metavar="PATH", help="write here (atomically) instead of stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cosa_onnx.pipeline import load_compiled, report_from_model, write_atomic
    from cosa_onnx.report import format_for_path, render_report

    fmt = args.format
    if fmt is None:
        fmt = format_for_path(args.output) if args.output else "md"
    report = report_from_model(load_compiled(args.model))
    text = render_report(report, fmt)
    if args.output:
        write_atomic(Path(args.output), text.encode("utf-8"))
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0
