"""Timeloop interoperability: export (arch, problem, mapping YAML), stats parsing, arch import.

The export follows shared/design/timeloop-format.md (Timeloop 3.0.x, ``timeloop-model ARCH PROB MAP``):

- ``arch.yaml``: the older ``arch:`` form (:func:`cosa_onnx.hwmodels.timeloop_arch.timeloop_arch_dict`),
  by default with each level's ``vector-access-energy`` so Timeloop charges our storage energies
  (the MAC energy is always Timeloop's own; ``energies="timeloop"`` omits the overrides).
- ``problem.yaml``: the built-in ``cnn-layer`` shape when G = 1. A matmul ``[M x Kd] x [Kd x Nd]`` is
  exactly a 1x1 convolution (P = M, C = Kd, K = Nd, R = S = Q = 1), so it uses ``cnn-layer`` too.
  With G > 1 (grouped convs, batched matmuls) the file carries its own problem shape
  ``grouped-cnn-layer``: the cnn-layer dimensions plus G, which indexes all three tensors, written
  from the same projection table (:data:`cosa_onnx.problem.PROJECTION`) the cost model uses.
  Bounds are the schedule's padded bounds (Timeloop requires factor products equal to the bounds;
  padding is wasted work in both models).
- ``map.yaml``: a ``datatype`` keep/bypass entry per level (the schedule's keeps), then per level,
  innermost first, a ``spatial`` entry (levels with fan-out > 1) and a ``temporal`` entry. Factors
  list every dimension; permutations list loops innermost first (the schedule's order, then the
  rest in canonical order; spatial: non-unit dims first); ``split`` = the number of dimensions, so
  every spatial factor is on mesh X (our arch export gives no ``meshX``, so X holds all instances).
"""

from __future__ import annotations

import logging
import math
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from cosa_onnx.errors import ScheduleError, UserInputError
from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.hwmodels.timeloop_arch import (
    energy_table,
    energy_table_from_ert,
    spec_from_timeloop_arch,
    timeloop_arch_dict,
)
from cosa_onnx.problem import ALL_DIMS, ALL_OPERANDS, PROJECTION, Dim, LoopProblem, Operand
from cosa_onnx.schedule import LevelMapping, Schedule, SolverInfo, check, make_factors

logger = logging.getLogger(__name__)

__all__ = [
    "TimeloopStats",
    "energy_table",
    "energy_table_from_ert",
    "export_timeloop",
    "parse_timeloop_stats",
    "problem_from_timeloop",
    "schedule_from_timeloop_mapping",
    "spec_from_timeloop_arch",
    "timeloop_arch_dict",
    "timeloop_mapping_dict",
    "timeloop_problem_dict",
]

_COEFFICIENT_NAMES = {"w_stride": "Wstride", "h_stride": "Hstride", "w_dilation": "Wdilation",
                      "h_dilation": "Hdilation"}
GROUPED_SHAPE_NAME = "grouped-cnn-layer"


def problem_dims(problem: LoopProblem, schedule: Schedule | None = None) -> tuple[Dim, ...]:
    """The dimensions the exported problem has: cnn-layer's seven, plus G when G > 1."""
    g = problem.g if schedule is None else schedule.bound(Dim.G, problem)
    return ALL_DIMS if g > 1 else tuple(d for d in ALL_DIMS if d != Dim.G)


def _grouped_shape() -> dict[str, Any]:
    spaces: list[dict[str, Any]] = []
    for operand in ALL_OPERANDS:
        projection = [[[t.dim.value] if t.coefficient is None else [t.dim.value, _COEFFICIENT_NAMES[t.coefficient]]
                       for t in axis] for axis in PROJECTION[operand]]
        space: dict[str, Any] = {"name": operand.value, "projection": projection}
        if operand.value == "Outputs":
            space["read-write"] = True
        spaces.append(space)
    return {
        "name": GROUPED_SHAPE_NAME,
        "dimensions": [d.value for d in ALL_DIMS],
        "coefficients": [{"name": n, "default": 1} for n in _COEFFICIENT_NAMES.values()],
        "data-spaces": spaces,
    }


def timeloop_problem_dict(problem: LoopProblem, schedule: Schedule | None = None) -> dict[str, Any]:
    """``{"problem": ...}`` for Timeloop: cnn-layer (G = 1) or the grouped shape (G > 1)."""
    dims = problem_dims(problem, schedule)
    bounds = {d: (problem.bound(d) if schedule is None else schedule.bound(d, problem)) for d in dims}
    instance: dict[str, Any] = {d.value: bounds[d] for d in dims}
    instance.update({tl: int(getattr(problem, ours)) for ours, tl in _COEFFICIENT_NAMES.items()})
    if Dim.G in dims:
        return {"problem": {"shape": _grouped_shape(), "instance": instance}}
    return {"problem": {"shape": "cnn-layer", **instance}}


def _factors_text(factors: Mapping[Dim, int], dims: tuple[Dim, ...]) -> str:
    return " ".join(f"{d.value}{factors.get(d, 1)}" for d in dims)


def _temporal_permutation(lm: LevelMapping, dims: tuple[Dim, ...]) -> str:
    return "".join(d.value for d in lm.full_order() if d in dims)


def _spatial_permutation(lm: LevelMapping, dims: tuple[Dim, ...]) -> str:
    active = [d for d in dims if lm.spatial_factor(d) > 1]
    return "".join(d.value for d in (*active, *(d for d in dims if d not in active)))


def timeloop_mapping_dict(problem: LoopProblem, spec: HardwareSpec, schedule: Schedule) -> dict[str, Any]:
    """``{"mapping": [...]}``: datatype entries, then spatial/temporal entries per level, innermost first."""
    dims = problem_dims(problem, schedule)
    entries: list[dict[str, Any]] = []
    for lm in schedule.levels:
        entries.append({"target": lm.level, "type": "datatype",
                        "keep": [v.value for v in ALL_OPERANDS if v in lm.keeps],
                        "bypass": [v.value for v in ALL_OPERANDS if v not in lm.keeps]})
    for i, lm in enumerate(schedule.levels):
        if spec.fanout(i) > 1:
            entries.append({"target": lm.level, "type": "spatial",
                            "factors": _factors_text(dict(lm.spatial), dims),
                            "permutation": _spatial_permutation(lm, dims), "split": len(dims)})
        elif lm.spatial:
            raise ScheduleError(f"level {lm.level}: spatial factors at a level with fan-out 1")
        entries.append({"target": lm.level, "type": "temporal",
                        "factors": _factors_text(dict(lm.temporal), dims),
                        "permutation": _temporal_permutation(lm, dims)})
    return {"mapping": entries}


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _dump(data: Mapping[str, Any], header: str) -> str:
    """YAML text with a comment header; a mapping list is written one flow-style entry per line."""
    if list(data) == ["mapping"]:
        lines = [yaml.safe_dump(entry, sort_keys=False, default_flow_style=True, width=10_000).strip()
                 for entry in data["mapping"]]
        return f"# {header}\nmapping:\n" + "".join(f"- {line}\n" for line in lines)
    return f"# {header}\n" + yaml.safe_dump(dict(data), sort_keys=False, default_flow_style=None, width=120)


def export_timeloop(problem: LoopProblem, spec: HardwareSpec, schedule: Schedule,
                    out_dir: str | os.PathLike[str], *,
                    energies: Literal["spec", "timeloop"] = "spec") -> dict[str, Path]:
    """Write arch.yaml, problem.yaml and map.yaml (each atomically) into ``out_dir``; return their paths.

    ``energies``: see :func:`~cosa_onnx.hwmodels.timeloop_arch.timeloop_arch_dict` ("spec" makes
    Timeloop use our per-access storage energies; "timeloop" keeps its built-in model).

    Raises ScheduleError if ``schedule`` fails :func:`cosa_onnx.schedule.check` (Timeloop would
    reject it) and UserInputError if ``out_dir`` cannot be written.
    """
    problems = check(problem, spec, schedule)
    if problems:
        raise ScheduleError(f"layer {problem.name}: schedule is invalid for spec '{spec.name}' "
                            f"({len(problems)} problem(s), first: {problems[0]}); not exported")
    out = Path(out_dir)
    header = f"cosa-onnx export for layer {problem.name!r} on spec {spec.name!r} (sha256 {spec.content_hash()[:12]})"
    files = {
        "arch": (out / "arch.yaml", timeloop_arch_dict(spec, energies=energies)),
        "problem": (out / "problem.yaml", timeloop_problem_dict(problem, schedule)),
        "mapping": (out / "map.yaml", timeloop_mapping_dict(problem, spec, schedule)),
    }
    try:
        out.mkdir(parents=True, exist_ok=True)
        for path, data in files.values():
            _atomic_write(path, _dump(data, header))
    except OSError as exc:
        raise UserInputError(f"cannot write Timeloop files to {out}: {exc.strerror or exc}; "
                             "choose a writable folder") from None
    logger.debug("exported %s to %s", problem.name, out)
    return {key: path for key, (path, _) in files.items()}


# ---- timeloop-model.stats.txt ------------------------------------------------------------------------
_ENERGY_UNITS_TO_PJ = {"pJ": 1.0, "nJ": 1e3, "uJ": 1e6, "mJ": 1e9, "J": 1e12}
_PER_COMPUTE_UNITS_TO_PJ = {"fJ/Compute": 1e-3, "pJ/Compute": 1.0}


@dataclass(frozen=True, kw_only=True)
class TimeloopStats:
    """The summary of a ``timeloop-model.stats.txt``."""

    cycles: int
    energy_uj: float
    utilization: float | None = None
    computes: int | None = None
    per_compute_pj: dict[str, float] = field(default_factory=dict)   # component -> pJ per compute

    @property
    def energy_pj(self) -> float:
        return self.energy_uj * 1e6


def _summary_text(text: str) -> str:
    marker = text.rfind("Summary Stats")
    return text if marker < 0 else text[marker:]


def _per_compute_table(summary: str) -> dict[str, float]:
    out: dict[str, float] = {}
    unit = re.search(r"^\s*(fJ/Compute|pJ/Compute)\s*$", summary, re.MULTILINE)
    if unit is None:
        return out
    scale = _PER_COMPUTE_UNITS_TO_PJ[unit.group(1)]
    for line in summary[unit.end():].splitlines()[1:]:
        match = re.match(r"^\s+(\S[^=]*?)\s*=\s*([-+0-9.eE]+)\s*$", line)
        if match is None:
            if line.strip():
                break
            continue
        out[match.group(1)] = float(match.group(2)) * scale
    return out


def parse_timeloop_stats(source: str | os.PathLike[str]) -> TimeloopStats:
    """Parse the summary of ``timeloop-model.stats.txt`` (a path, or the file's text)."""
    text = str(source)
    if isinstance(source, os.PathLike) or "\n" not in text:  # stats text always has several lines
        try:
            text = Path(source).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise UserInputError(f"cannot read Timeloop stats {source}: {exc.strerror or exc}") from None
    summary = _summary_text(text)
    cycles = re.search(r"^Cycles:\s*(\d+)\s*$", summary, re.MULTILINE)
    energy = re.search(r"^Energy:\s*([-+0-9.eE]+)\s*(pJ|nJ|uJ|mJ|J)\s*$", summary, re.MULTILINE)
    if cycles is None or energy is None:
        raise UserInputError("Timeloop stats: no 'Cycles:' / 'Energy: ... uJ' summary found; "
                        "give the timeloop-model.stats.txt of a successful run")
    utilization = re.search(r"^Utilization:\s*([0-9.eE+-]+)\s*(%?)", summary, re.MULTILINE)
    computes = re.search(r"^Computes\s*=\s*(\d+)", summary, re.MULTILINE)
    energy_pj = float(energy.group(1)) * _ENERGY_UNITS_TO_PJ[energy.group(2)]
    return TimeloopStats(
        cycles=int(cycles.group(1)), energy_uj=energy_pj / 1e6,
        utilization=None if utilization is None else float(utilization.group(1)) / (100.0 if utilization.group(2) else 1.0),
        computes=None if computes is None else int(computes.group(1)),
        per_compute_pj=_per_compute_table(summary),
    )


# ---- import of Timeloop problems and mappings ------------------------------------------------------
def _timeloop_error(message: str) -> UserInputError:
    return UserInputError(f"Timeloop {message}")


def problem_from_timeloop(data: Mapping[str, Any], *, name: str = "timeloop-layer") -> LoopProblem:
    """A LoopProblem from a ``problem:`` document: cnn-layer (flat or ``instance:``) or our grouped shape."""
    body = data.get("problem", data) if isinstance(data, Mapping) else None
    if not isinstance(body, Mapping):
        raise _timeloop_error("problem: expected a mapping with 'problem'")
    shape = body.get("shape")
    shape_name = shape.get("name") if isinstance(shape, Mapping) else shape
    if shape_name not in ("cnn-layer", GROUPED_SHAPE_NAME):
        raise _timeloop_error(f"problem shape: {shape_name!r} is not supported (use cnn-layer or {GROUPED_SHAPE_NAME})")
    instance = body.get("instance", body)
    if not isinstance(instance, Mapping):
        raise _timeloop_error("problem instance: expected a mapping of dimension sizes")
    fields: dict[str, Any] = {d.lower(): instance.get(d.value, 1) for d in ALL_DIMS}
    fields.update({ours: instance.get(tl, 1) for ours, tl in _COEFFICIENT_NAMES.items()})
    try:
        return LoopProblem(name=name, **fields)
    except (ValueError, TypeError) as exc:
        raise _timeloop_error(f"problem: {exc}") from None


def _parse_factor_text(text: Any, where: str) -> dict[Dim, int]:
    if not isinstance(text, str):
        raise _timeloop_error(f"mapping {where} factors: expected a string like 'R1 S3 C8', got {text!r}")
    out: dict[Dim, int] = {}
    for token in text.split():
        match = re.fullmatch(r"([A-Z])(\d+)", token)
        if match is None or match.group(1) not in Dim.__members__ or int(match.group(2)) < 1:
            raise _timeloop_error(f"mapping {where} factors: bad factor {token!r} (need a dimension letter and "
                                  "a positive size)")
        out[Dim(match.group(1))] = int(match.group(2))
    return out


def _mapping_entries(data: Any) -> list[Mapping[str, Any]]:
    entries = data.get("mapping") if isinstance(data, Mapping) else data
    if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
        raise _timeloop_error("mapping: expected a list of {target, type, ...} entries")
    return list(entries)


def _level_mapping(level_name: str, entries: list[Mapping[str, Any]], default_keeps: frozenset[Operand]) -> LevelMapping:
    temporal: dict[Dim, int] = {}
    spatial: dict[Dim, int] = {}
    order: tuple[Dim, ...] = ()
    keeps = default_keeps
    for entry in entries:
        kind = entry.get("type")
        where = f"{level_name} {kind}"
        if kind in ("datatype", "bypass"):
            keeps = frozenset(_operands(entry.get("keep", []), where))
        elif kind == "temporal":
            temporal = _parse_factor_text(entry.get("factors"), where)
            permutation = str(entry.get("permutation", ""))
            order = tuple(Dim(c) for c in permutation if c in Dim.__members__ and temporal.get(Dim(c), 1) > 1)
        elif kind == "spatial":
            spatial = _parse_factor_text(entry.get("factors"), where)
        else:
            raise _timeloop_error(f"mapping {level_name}: unknown entry type {kind!r}")
    missing = [d for d, f in temporal.items() if f > 1 and d not in order]
    if missing:
        order = (*order, *missing)
    return LevelMapping(level=level_name, temporal=make_factors(temporal), spatial=make_factors(spatial),
                        order=order, keeps=keeps)


def _operands(names: Any, where: str) -> list[Operand]:
    try:
        return [Operand(n) for n in names]
    except (ValueError, TypeError):
        raise _timeloop_error(f"mapping {where} keep: unknown tensor in {names!r}") from None


def schedule_from_timeloop_mapping(data: Any, problem: LoopProblem, spec: HardwareSpec) -> Schedule:
    """A Schedule from a Timeloop ``mapping:`` (the export's format); levels without a datatype entry keep
    what the spec says they keep. Factor products above a bound become padded bounds."""
    entries = _mapping_entries(data)
    names = [lv.name for lv in spec.levels]
    unknown = sorted({str(e.get("target")) for e in entries} - set(names))
    if unknown:
        raise _timeloop_error(f"mapping: targets {unknown} are not levels of spec '{spec.name}' ({', '.join(names)})")
    levels = tuple(_level_mapping(lv.name, [e for e in entries if e.get("target") == lv.name], lv.keeps)
                   for lv in spec.levels)
    totals = {d: math.prod(lm.temporal_factor(d) * lm.spatial_factor(d) for lm in levels) for d in ALL_DIMS}
    padded = tuple((d, totals[d]) for d in ALL_DIMS if totals[d] > problem.bound(d))
    return Schedule(levels=levels, padded_bounds=padded, solver=SolverInfo(method="timeloop-import", status="imported"))
