"""Load and validate hardware specs from YAML (safe loader only; never executes code)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from cosa_onnx.errors import SpecError
from cosa_onnx.hwmodels.spec import HardwareSpec, MemoryLevel, operand_map
from cosa_onnx.problem import Operand

SPECS_DIR = Path(__file__).parent / "specs"


def _require(data: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise SpecError(f"{where}: missing field '{key}'")
    return data[key]


def _positive_int(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise SpecError(f"{where}: must be a positive integer, got {value!r}")
    return value


def _nonneg_float(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise SpecError(f"{where}: must be a non-negative number, got {value!r}")
    return float(value)


def _level_from_dict(data: Any, index: int, spec_name: str) -> MemoryLevel:
    where = f"spec '{spec_name}' levels[{index}]"
    if not isinstance(data, Mapping):
        raise SpecError(f"{where}: must be a mapping, got {type(data).__name__}")
    name = _require(data, "name", where)
    where = f"spec '{spec_name}' level '{name}'"
    capacity = data.get("capacity_words")
    if capacity is not None:
        capacity = _positive_int(capacity, f"{where} capacity_words")
    keeps_raw = _require(data, "keeps", where)
    if not isinstance(keeps_raw, list):
        raise SpecError(f"{where} keeps: must be a list of tensor names")
    keeps = set()
    for item in keeps_raw:
        try:
            keeps.add(Operand(item))
        except ValueError:
            raise SpecError(f"{where} keeps: unknown tensor {item!r} "
                            f"(use Weights, Inputs or Outputs)") from None
    partition = None
    if data.get("partition") is not None:
        raw = data["partition"]
        if not isinstance(raw, Mapping):
            raise SpecError(f"{where} partition: must map tensor name to a fraction")
        try:
            partition = operand_map(raw)
        except ValueError:
            raise SpecError(f"{where} partition: unknown tensor in {sorted(raw)}") from None
    bw_read = data.get("read_bandwidth_words_per_cycle")
    bw_write = data.get("write_bandwidth_words_per_cycle")
    return MemoryLevel(
        name=str(name),
        capacity_words=capacity,
        word_bits=_positive_int(_require(data, "word_bits", where), f"{where} word_bits"),
        instances=_positive_int(_require(data, "instances", where), f"{where} instances"),
        keeps=frozenset(keeps),
        block_words=_positive_int(data.get("block_words", 1), f"{where} block_words"),
        read_bandwidth_words_per_cycle=None if bw_read is None else _nonneg_float(bw_read, f"{where} read_bandwidth_words_per_cycle"),
        write_bandwidth_words_per_cycle=None if bw_write is None else _nonneg_float(bw_write, f"{where} write_bandwidth_words_per_cycle"),
        read_energy_pj_per_word=_nonneg_float(data.get("read_energy_pj_per_word", 0.0), f"{where} read_energy_pj_per_word"),
        write_energy_pj_per_word=_nonneg_float(data.get("write_energy_pj_per_word", 0.0), f"{where} write_energy_pj_per_word"),
        partition=partition,
    )


def spec_from_dict(data: Any) -> HardwareSpec:
    if not isinstance(data, Mapping):
        raise SpecError("hardware spec: top level must be a mapping with name, mac and levels")
    name = str(_require(data, "name", "hardware spec"))
    mac = _require(data, "mac", f"spec '{name}'")
    if not isinstance(mac, Mapping):
        raise SpecError(f"spec '{name}' mac: must be a mapping with instances and energy_pj")
    raw_levels = _require(data, "levels", f"spec '{name}'")
    if not isinstance(raw_levels, list) or not raw_levels:
        raise SpecError(f"spec '{name}' levels: must be a non-empty list, innermost level first")
    levels = tuple(_level_from_dict(item, i, name) for i, item in enumerate(raw_levels))
    spec = HardwareSpec(
        name=name,
        description=str(data.get("description", "")),
        source=str(data.get("source", "")),
        mac_instances=_positive_int(_require(mac, "instances", f"spec '{name}' mac"), f"spec '{name}' mac instances"),
        mac_energy_pj=_nonneg_float(_require(mac, "energy_pj", f"spec '{name}' mac"), f"spec '{name}' mac energy_pj"),
        levels=levels,
        clock_ghz=None if data.get("clock_ghz") is None else _nonneg_float(data["clock_ghz"], f"spec '{name}' clock_ghz"),
        operand_bits=_positive_int(data.get("operand_bits", 8), f"spec '{name}' operand_bits"),
    )
    validate_spec(spec)
    return spec


def validate_spec(spec: HardwareSpec) -> None:
    """Structural checks that the MIP and the cost model rely on."""
    where = f"spec '{spec.name}'"
    if not spec.outermost.unbounded:
        raise SpecError(f"{where} level '{spec.outermost.name}': the outermost level must be unbounded "
                        "(capacity_words: null)")
    missing = set(Operand) - spec.outermost.keeps
    if missing:
        raise SpecError(f"{where} level '{spec.outermost.name}': the outermost level must keep every tensor "
                        f"(missing {sorted(m.value for m in missing)})")
    below = spec.mac_instances
    for lv in spec.levels:
        if below % lv.instances != 0:
            raise SpecError(f"{where} level '{lv.name}' instances: {lv.instances} does not divide the "
                            f"{below} instances below it (fan-out must be a whole number)")
        below = lv.instances
    names = [lv.name for lv in spec.levels]
    if len(set(names)) != len(names):
        raise SpecError(f"{where} levels: level names must be unique, got {names}")


def load_spec_file(path: str | Path) -> HardwareSpec:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SpecError(f"cannot read hardware spec {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"hardware spec {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    return spec_from_dict(data)


def builtin_names() -> list[str]:
    return sorted(p.stem for p in SPECS_DIR.glob("*.yaml"))


def load_spec(name_or_path: str | Path) -> HardwareSpec:
    """A built-in spec by name (``simba``) or a YAML file path."""
    text = str(name_or_path)
    candidate = SPECS_DIR / f"{text}.yaml"
    if candidate.exists():
        return load_spec_file(candidate)
    if text.endswith((".yaml", ".yml")) or Path(text).exists():
        return load_spec_file(text)
    raise SpecError(f"unknown architecture '{text}': use one of {', '.join(builtin_names())} "
                    "or a path to a spec .yaml file")
