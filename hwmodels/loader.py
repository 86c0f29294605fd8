"""Load and validate hardware specs from YAML (safe loader only; never executes code).

Every problem is a one-line :class:`~cosa_onnx.errors.SpecError` naming the spec, the level and
the field, e.g. ``spec 'mine' level 'GlobalBuffer' capacity_words: must be a positive integer or
null (unbounded), got -4``. Structural checks across levels live in :mod:`.validate`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from cosa_onnx.errors import SpecError
from cosa_onnx.hwmodels.spec import HardwareSpec, MemoryLevel, TimeloopValue
from cosa_onnx.hwmodels.validate import validate_spec
from cosa_onnx.problem import ALL_OPERANDS, Operand

logger = logging.getLogger(__name__)

SPECS_DIR = Path(__file__).parent / "specs"

TOP_FIELDS = ("name", "description", "source", "clock_ghz", "operand_bits", "mac", "levels")
MAC_FIELDS = ("instances", "energy_pj")
LEVEL_FIELDS = (
    "name", "capacity_words", "word_bits", "instances", "fanout", "keeps", "block_words",
    "read_bandwidth_words_per_cycle", "write_bandwidth_words_per_cycle",
    "read_energy_pj_per_word", "write_energy_pj_per_word", "partition", "timeloop_attributes",
)

__all__ = ["SPECS_DIR", "builtin_names", "load_spec", "load_spec_file", "spec_from_dict", "validate_spec"]


def _require(data: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise SpecError(f"{where}: missing field '{key}'; add it (see `cosa-onnx archs` and the built-in specs)")
    return data[key]


def _reject_unknown(data: Mapping[Any, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = [str(k) for k in data if k not in allowed]
    if unknown:
        raise SpecError(f"{where}: unknown field(s) {', '.join(sorted(unknown))} "
                        f"(allowed: {', '.join(allowed)})")


def _positive_int(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise SpecError(f"{where}: must be a positive integer, got {value!r}")
    return value


def _nonneg_float(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or value != value:
        raise SpecError(f"{where}: must be a non-negative number, got {value!r}")
    return float(value)


def _positive_float(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0 or value == float("inf"):
        raise SpecError(f"{where}: must be a positive number, got {value!r}")
    return float(value)


def _optional_positive_float(data: Mapping[str, Any], key: str, where: str) -> float | None:
    value = data.get(key)
    return None if value is None else _positive_float(value, f"{where} {key}")


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"{where}: must be a non-empty string, got {value!r}")
    return value


def _operand(item: Any, where: str) -> Operand:
    try:
        return Operand(item)
    except ValueError:
        raise SpecError(f"{where}: unknown tensor {item!r} (use Weights, Inputs or Outputs)") from None


def _keeps(raw: Any, where: str) -> frozenset[Operand]:
    if not isinstance(raw, list):
        raise SpecError(f"{where} keeps: must be a list of tensor names (Weights, Inputs, Outputs), got {raw!r}")
    out: list[Operand] = [_operand(item, f"{where} keeps") for item in raw]
    if len(set(out)) != len(out):
        raise SpecError(f"{where} keeps: lists a tensor twice ({', '.join(v.value for v in out)})")
    return frozenset(out)


def _partition(raw: Any, keeps: frozenset[Operand], where: str) -> tuple[tuple[Operand, float], ...]:
    where = f"{where} partition"
    if not isinstance(raw, Mapping) or not raw:
        raise SpecError(f"{where}: must map tensor names to fractions of capacity_words, got {raw!r}")
    out: list[tuple[Operand, float]] = []
    for key, value in raw.items():
        operand = _operand(key, where)
        if operand not in keeps:
            raise SpecError(f"{where}: names {operand.value}, which the level does not keep (add it to keeps)")
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
            raise SpecError(f"{where} {operand.value}: fraction must be in (0, 1], got {value!r}")
        out.append((operand, float(value)))
    total = sum(f for _, f in out)
    if total > 1 + 1e-9:
        raise SpecError(f"{where}: fractions sum to {total:g} > 1 (they share one capacity)")
    return tuple(sorted(out, key=lambda item: ALL_OPERANDS.index(item[0])))  # canonical order


def _timeloop_attributes(raw: Any, where: str) -> tuple[tuple[str, TimeloopValue], ...]:
    where = f"{where} timeloop_attributes"
    if not isinstance(raw, Mapping):
        raise SpecError(f"{where}: must map Timeloop attribute names to scalars, got {raw!r}")
    out: list[tuple[str, TimeloopValue]] = []
    for key, value in raw.items():
        if not isinstance(key, str) or not isinstance(value, int | float | str | bool):
            raise SpecError(f"{where} {key}: must be a scalar (number, string or boolean), got {value!r}")
        out.append((key, value))
    return tuple(sorted(out))


def _capacity(data: Mapping[str, Any], where: str) -> int | None:
    value = _require(data, "capacity_words", where)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise SpecError(f"{where} capacity_words: must be a positive integer or null (unbounded), got {value!r}")
    return value


def _level_from_dict(data: Any, index: int, spec_name: str) -> MemoryLevel:
    where = f"spec '{spec_name}' levels[{index}]"
    if not isinstance(data, Mapping):
        raise SpecError(f"{where}: must be a mapping, got {type(data).__name__}")
    name = _text(_require(data, "name", where), f"{where} name")
    where = f"spec '{spec_name}' level '{name}'"
    _reject_unknown(data, LEVEL_FIELDS, where)
    keeps = _keeps(_require(data, "keeps", where), where)
    raw_partition = data.get("partition")
    return MemoryLevel(
        name=name,
        capacity_words=_capacity(data, where),
        word_bits=_positive_int(_require(data, "word_bits", where), f"{where} word_bits"),
        instances=_positive_int(_require(data, "instances", where), f"{where} instances"),
        keeps=keeps,
        block_words=_positive_int(data.get("block_words", 1), f"{where} block_words"),
        read_bandwidth_words_per_cycle=_optional_positive_float(data, "read_bandwidth_words_per_cycle", where),
        write_bandwidth_words_per_cycle=_optional_positive_float(data, "write_bandwidth_words_per_cycle", where),
        read_energy_pj_per_word=_nonneg_float(data.get("read_energy_pj_per_word", 0.0), f"{where} read_energy_pj_per_word"),
        write_energy_pj_per_word=_nonneg_float(data.get("write_energy_pj_per_word", 0.0), f"{where} write_energy_pj_per_word"),
        partition=None if raw_partition is None else _partition(raw_partition, keeps, where),
        timeloop_attributes=_timeloop_attributes(data.get("timeloop_attributes", {}), where),
    )


def _declared_fanouts(raw_levels: list[Any]) -> dict[int, Any]:
    """Optional ``fanout`` fields: a cross-check only (fan-out is derived from instances)."""
    return {i: item["fanout"] for i, item in enumerate(raw_levels)
            if isinstance(item, Mapping) and item.get("fanout") is not None}


def _check_declared_fanouts(spec: HardwareSpec, declared: Mapping[int, Any]) -> None:
    for i, value in declared.items():
        level = spec.levels[i]
        where = f"spec '{spec.name}' level '{level.name}' fanout"
        _positive_int(value, where)
        if value != spec.fanout(i):
            below = "MACs" if i == 0 else f"instances of '{spec.levels[i - 1].name}'"
            raise SpecError(f"{where}: declared {value} but {level.instances} instances feeding the "
                            f"{spec.mac_instances if i == 0 else spec.levels[i - 1].instances} {below} "
                            f"give {spec.fanout(i)} (fix instances or fanout)")


def spec_from_dict(data: Any) -> HardwareSpec:
    """Build and validate a spec from the YAML mapping (the format ``HardwareSpec.to_dict`` writes)."""
    if not isinstance(data, Mapping):
        raise SpecError(f"hardware spec: top level must be a mapping with name, mac and levels, "
                        f"got {type(data).__name__}")
    name = _text(_require(data, "name", "hardware spec"), "hardware spec name")
    where = f"spec '{name}'"
    _reject_unknown(data, TOP_FIELDS, where)
    mac = _require(data, "mac", where)
    if not isinstance(mac, Mapping):
        raise SpecError(f"{where} mac: must be a mapping with instances and energy_pj, got {mac!r}")
    _reject_unknown(mac, MAC_FIELDS, f"{where} mac")
    raw_levels = _require(data, "levels", where)
    if not isinstance(raw_levels, list) or not raw_levels:
        raise SpecError(f"{where} levels: must be a non-empty list of levels, innermost first, got {raw_levels!r}")
    levels = tuple(_level_from_dict(item, i, name) for i, item in enumerate(raw_levels))
    clock = data.get("clock_ghz")
    spec = HardwareSpec(
        name=name,
        description=str(data.get("description") or ""),
        source=str(data.get("source") or ""),
        mac_instances=_positive_int(_require(mac, "instances", f"{where} mac"), f"{where} mac instances"),
        mac_energy_pj=_nonneg_float(_require(mac, "energy_pj", f"{where} mac"), f"{where} mac energy_pj"),
        levels=levels,
        clock_ghz=None if clock is None else _positive_float(clock, f"{where} clock_ghz"),
        operand_bits=_positive_int(data.get("operand_bits", 8), f"{where} operand_bits"),
    )
    validate_spec(spec)
    _check_declared_fanouts(spec, _declared_fanouts(raw_levels))
    return spec


def parse_yaml_text(text: str, origin: str) -> Any:
    """``yaml.safe_load`` with a one-line SpecError naming ``origin`` on malformed YAML."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"{origin} is not valid YAML{at}: {problem}; fix the file") from None


def read_yaml_file(path: str | os.PathLike[str], what: str = "hardware spec") -> Any:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SpecError(f"cannot read {what} {path}: {reason}") from None
    return parse_yaml_text(text, f"{what} {path}")


def load_spec_file(path: str | os.PathLike[str]) -> HardwareSpec:
    """Load one spec YAML file (validated)."""
    data = read_yaml_file(path)
    if data is None:
        raise SpecError(f"hardware spec {path} is empty: it needs name, mac and levels")
    if not isinstance(data, Mapping):
        raise SpecError(f"hardware spec {path}: top level must be a mapping with name, mac and levels, "
                        f"got {type(data).__name__}")
    return spec_from_dict(data)


def builtin_names() -> list[str]:
    """Names of the specs shipped in ``hwmodels/specs``."""
    return sorted(p.stem for p in SPECS_DIR.glob("*.yaml"))


def load_spec(name_or_path: str | os.PathLike[str] | HardwareSpec) -> HardwareSpec:
    """A spec by name (built-in or entry point), a YAML file path or a spec; delegates to the registry."""
    from cosa_onnx.hwmodels.registry import get_spec

    return get_spec(name_or_path)
