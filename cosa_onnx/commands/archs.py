"""``cosa-onnx archs``: list the hardware models (built-ins, entry points) or describe given specs."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from cosa_onnx.errors import CosaError, UserInputError
from cosa_onnx.hwmodels.loader import read_yaml_file
from cosa_onnx.hwmodels.registry import get_spec, list_specs, load_spec_path
from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.hwmodels.timeloop_arch import energy_table_from_ert

_TENSOR_ABBREV = {"Weights": "W", "Inputs": "I", "Outputs": "O"}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "archs", help="list the hardware models (name, MACs, levels, sizes, fan-outs, clock, source)",
        description="List the built-in and installed hardware models, or describe the given ones "
                    "(names or spec .yaml paths).")
    parser.add_argument("specs", nargs="*", metavar="ARCH", help="spec names or .yaml paths (default: all)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    timeloop = parser.add_argument_group("Timeloop architecture files (given as ARCH paths)")
    timeloop.add_argument("--keeps", action="append", default=[], metavar="LEVEL=T1,T2",
                          help="tensors a level keeps (Weights, Inputs, Outputs; empty = none); repeatable. "
                               "Levels not named keep what their names suggest, else everything")
    timeloop.add_argument("--ert", metavar="ERT.yaml", help="Accelergy energy reference table for the energies "
                                                             "(default: 0 pJ, with a warning)")
    parser.add_argument("--write-spec", metavar="PATH",
                        help="write the one selected spec as a cosa-onnx spec YAML (e.g. to edit an imported "
                             "Timeloop architecture)")
    parser.set_defaults(func=run)


def parse_keeps(items: list[str]) -> dict[str, list[str]]:
    """``["GLB=Inputs,Outputs", "Dummy="]`` -> ``{"GLB": ["Inputs", "Outputs"], "Dummy": []}``."""
    out: dict[str, list[str]] = {}
    for item in items:
        level, sep, tensors = item.partition("=")
        if not sep or not level.strip():
            raise UserInputError(f"--keeps {item!r}: expected LEVEL=Tensor1,Tensor2 (e.g. GlobalBuffer=Inputs,Outputs)")
        out[level.strip()] = [t.strip() for t in tensors.split(",") if t.strip()]
    return out


def _load(name: str, args: argparse.Namespace) -> HardwareSpec:
    if not (args.keeps or args.ert):
        return get_spec(name)
    energies = energy_table_from_ert(read_yaml_file(args.ert, "energy table")) if args.ert else None
    return load_spec_path(name, keeps=parse_keeps(args.keeps), energies=energies)


def _write_spec(spec: HardwareSpec, path: Path) -> None:
    text = f"# written by cosa-onnx archs from {spec.source or spec.name}\n" + yaml.safe_dump(spec.to_dict(), sort_keys=False)
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise UserInputError(f"--write-spec {path}: cannot write it: {exc.strerror or exc}") from None


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


def _rows(names: list[str], args: argparse.Namespace) -> tuple[list[tuple[HardwareSpec, dict[str, Any]]], list[str]]:
    rows: list[tuple[HardwareSpec, dict[str, Any]]] = []
    failures: list[str] = []
    if names:
        origins = {e.name: e.origin for e in list_specs()}
        for name in names:
            spec = _load(name, args)
            rows.append((spec, spec_summary(spec, origins.get(name, "file"))))
        return rows, failures
    if args.keeps or args.ert or args.write_spec:
        raise UserInputError("--keeps, --ert and --write-spec need an ARCH (a name or a spec/Timeloop .yaml path)")
    for entry in list_specs():
        try:
            spec = entry.load()
            rows.append((spec, spec_summary(spec, entry.origin)))
        except CosaError as exc:  # one broken third-party model must not hide the others
            failures.append(f"warning: {entry.name} ({entry.origin}) cannot be loaded: {exc}")
    return rows, failures


def run(args: argparse.Namespace) -> int:
    loaded, failures = _rows(list(args.specs), args)
    for line in failures:
        print(line, file=sys.stderr)
    if args.write_spec:
        if len(loaded) != 1:
            raise UserInputError(f"--write-spec writes one spec; {len(loaded)} were given")
        _write_spec(loaded[0][0], Path(args.write_spec))
    rows = [row for _, row in loaded]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    blocks = ["\n".join(_format_spec(row)) for row in rows]
    print("\n\n".join(blocks))
    return 0
