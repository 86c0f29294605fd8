"""Render a network report to HTML and take a headless-Chromium screenshot of it.

    python benchmarks/report_screenshot.py --model models/resnet50.onnx --arch simba --out docs/report-screenshot.png
    python benchmarks/report_screenshot.py --report report.json --out shot.png

With ``--model`` the model is compiled first (``cosa_onnx.compile``); with ``--report`` an existing
JSON report is re-rendered. Needs Debian's ``chromium`` (``apt-get install -y chromium``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cosa_onnx.report import NetworkReport, render_report

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars")


def find_chromium() -> str | None:
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


def screenshot(html_path: Path, png_path: Path, *, width: int = 1400, height: int = 2400, timeout_s: float = 120.0) -> None:
    """Screenshot ``html_path`` into ``png_path`` with headless Chromium (raises if it fails)."""
    binary = find_chromium()
    if binary is None:
        raise RuntimeError("chromium not found: apt-get install -y chromium")
    with tempfile.TemporaryDirectory(prefix="cosa-chromium-") as profile:
        cmd = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={png_path}",
               f"--window-size={width},{height}", html_path.resolve().as_uri()]
        subprocess.run(cmd, check=True, capture_output=True, timeout=timeout_s)
    if not png_path.exists():
        raise RuntimeError(f"chromium wrote no screenshot to {png_path}")


def shrink_png(path: Path) -> None:
    """Re-encode as a 256-colour palette PNG when Pillow is installed (3-4x smaller); else leave it."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def load_or_compile(args: argparse.Namespace) -> NetworkReport:
    if args.report:
        return NetworkReport.from_dict(json.loads(Path(args.report).read_text()))
    import cosa_onnx

    start = time.perf_counter()
    result = cosa_onnx.compile(args.model, arch=args.arch)
    print(f"compiled {args.model} on {args.arch} in {time.perf_counter() - start:.1f} s")
    report: NetworkReport = result.report
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="ONNX model to compile")
    source.add_argument("--report", help="existing JSON report")
    parser.add_argument("--arch", default="simba")
    parser.add_argument("--out", type=Path, default=Path("report-screenshot.png"))
    parser.add_argument("--html", type=Path, help="also keep the HTML here")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=2400)
    parser.add_argument("--shrink", action="store_true", help="palette-compress the PNG (needs Pillow)")
    args = parser.parse_args()
    report = load_or_compile(args)
    html = render_report(report, "html")
    with tempfile.TemporaryDirectory() as tmp:
        html_path = args.html or Path(tmp) / "report.html"
        html_path.write_text(html, encoding="utf-8")
        start = time.perf_counter()
        screenshot(html_path, args.out, width=args.width, height=args.height)
    if args.shrink:
        shrink_png(args.out)
    print(f"html {len(html):,} bytes; screenshot {args.out} ({args.out.stat().st_size:,} bytes) "
          f"in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
