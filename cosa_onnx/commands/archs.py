"""``cosa-onnx archs``: list the hardware models (built-ins, entry points) or describe given specs."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cosa_onnx.errors import CosaError
from cosa_onnx.hwmodels.registry import get_spec, list_specs
from cosa_onnx.hwmodels.spec import HardwareSpec

_TENSOR_ABBREV = {"Weights": "W", "Inputs": "I", "Outputs": "O"}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "archs", help="list the hardware models (name, MACs, levels, sizes, fan-outs, clock, source)",
        description="List the built-in and installed hardware models, or describe the given ones "
                    "(names or spec .yaml paths).")
    parser.add_argument("specs", nargs="*", metavar="ARCH", help="spec names or .yaml paths (default: all)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def spec_summary(spec: HardwareSpec, origin: str) -> dict[str, Any]:
    """The JSON row of one spec (also what the table shows)."""
    levels = []
    for i, lv in enumerate(spec.levels):
        levels.append({
            "name": lv.name, "capacity_words": lv.capacity_words, "capacity_kib": lv.capacity_kib,
            "word_bits": lv.word_bits, "instances": lv.instances, "fanout": spec.fanout(i),
            "keeps": sorted(v.value for v in lv.keeps),
            "read_energy_pj_per_word": lv.read_energy_pj_per_word,
            "write_energy_pj_per_word": lv.write_energy_pj_per_word,
        })
    return {"name": spec.name, "origin": origin, "macs": spec.mac_instances, "mac_energy_pj": spec.mac_energy_pj,
            "clock_ghz": spec.clock_ghz, "operand_bits": spec.operand_bits, "description": spec.description,
            "source": spec.source, "sha256": spec.content_hash(), "levels": levels}


def _size_text(kib: float | None) -> str:
    if kib is None:
        return "unbounded"
    if kib >= 1024:
        return f"{kib / 1024:g} MiB"
    if kib >= 1:
        return f"{kib:g} KiB"
    return f"{kib * 1024:g} B"


def _format_spec(row: dict[str, Any]) -> list[str]:
    clock = "-" if row["clock_ghz"] is None else f"{row['clock_ghz']:g} GHz"
    lines = [f"{row['name']}  ({row['macs']} MACs, clock {clock}, {row['origin']})",
             f"  {row['description']}" if row["description"] else "",
             f"  source: {row['source'] or '-'}",
             f"  {'level':<20} {'size':>11} {'word':>5} {'inst':>6} {'fan-out':>7}  keeps"]
    for lv in row["levels"]:
        keeps = ",".join(_TENSOR_ABBREV.get(k, k) for k in ("Weights", "Inputs", "Outputs") if k in lv["keeps"])
        lines.append(f"  {lv['name']:<20} {_size_text(lv['capacity_kib']):>11} {lv['word_bits']:>4}b "
                     f"{lv['instances']:>6} {lv['fanout']:>7}  {keeps}")
    return [line for line in lines if line]


def _rows(names: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    rows: list[dict[str, Any]] = []
    failures: list[str] = []
    if names:
        origins = {e.name: e.origin for e in list_specs()}
        for name in names:
            rows.append(spec_summary(get_spec(name), origins.get(name, "file")))
        return rows, failures
    for entry in list_specs():
        try:
            rows.append(spec_summary(entry.load(), entry.origin))
        except CosaError as exc:  # one broken third-party model must not hide the others
            failures.append(f"warning: {entry.name} ({entry.origin}) cannot be loaded: {exc}")
    return rows, failures


def run(args: argparse.Namespace) -> int:
    rows, failures = _rows(list(args.specs))
    for line in failures:
        print(line, file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    blocks = ["\n".join(_format_spec(row)) for row in rows]
    print("\n\n".join(blocks))
    return 0
