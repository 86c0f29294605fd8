"""Timeloop architecture files <-> HardwareSpec (the older ``arch:`` form, levels innermost first).

The v0.3 ``architecture:`` tree form is flattened first (:mod:`.timeloop_tree`).

Import (:func:`spec_from_timeloop_arch`) follows Timeloop 3.0's reading of a storage entry:

- capacity: ``entries``; else ``depth``/``memory_depth`` x block size; else ``sizeKB`` x 8192 /
  word bits (integer division); divided by ``multiple-buffering`` when given (Timeloop's effective
  size). ``technology: DRAM`` or ``class: DRAM`` (or no size on the outermost level) = unbounded.
- ``word-bits`` (or ``word_width``/``datawidth``) is required; ``block-size`` (or ``n_words``)
  defaults to 1; ``cluster-size`` (or ``width`` / (word bits x block size)) is kept as a Timeloop
  attribute; ``instances`` or ``meshX`` x ``meshY`` (the mesh shape itself is dropped: our spec
  has one fan-out per level, and the export puts every spatial factor on mesh X).
- bandwidth: ``bandwidth`` B means ``B/2`` read + ``B/2`` write (Timeloop's rule);
  ``read_bandwidth`` / ``write_bandwidth`` override it.

Timeloop files do not say which tensors each level keeps (that is the mapping's ``datatype``
constraints). Pass ``keeps={level: [tensors]}``; for a level not in it the default is inferred
from its name: names containing weight/filter/wgt keep Weights, input/ifmap/activation keep Inputs,
accum/output/psum/ofmap keep Outputs (a name may hint several); a name with no hint keeps every
tensor (Timeloop's own default without datatype constraints). The outermost level keeps all.

Energies come from Accelergy's ERT in Timeloop setups, so they are taken from an optional table
(:func:`energy_table_from_ert`): ``{component: {action: pJ}}`` with actions ``read``, ``write``
(``update`` if no write) and, for the arithmetic, ``compute``/``mac_random``/``mac``. An energy
is per access of one instance's block, so the per-word energy is it / ``block-size``. A Timeloop
``vector-access-energy`` attribute is read the same way. Missing energies default to 0 with one
logged warning.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from cosa_onnx.errors import SpecError
from cosa_onnx.hwmodels.spec import HardwareSpec, MemoryLevel, TimeloopValue
from cosa_onnx.hwmodels.timeloop_tree import flatten_architecture
from cosa_onnx.hwmodels.validate import validate_spec
from cosa_onnx.problem import ALL_OPERANDS, Operand

logger = logging.getLogger(__name__)

EnergyTable = Mapping[str, Mapping[str, float]]

# Keys we translate into spec fields; every other scalar key is kept as a Timeloop attribute.
_CONSUMED = frozenset({
    "name", "entries", "depth", "memory_depth", "sizeKB", "word-bits", "word_width", "datawidth",
    "block-size", "n_words", "width", "memory_width", "instances", "bandwidth", "read_bandwidth", "write_bandwidth",
    "multiple-buffering", "technology", "class", "vector-access-energy", "meshX", "meshY",
})
_NAME_HINTS: tuple[tuple[Operand, tuple[str, ...]], ...] = (
    (Operand.WEIGHTS, ("weight", "filter", "wgt")),
    (Operand.INPUTS, ("input", "ifmap", "activation")),
    (Operand.OUTPUTS, ("accum", "output", "psum", "ofmap")),
)
_MAC_ACTIONS = ("compute", "mac_random", "mac", "multiply_accumulate")


def default_keeps(level_name: str) -> frozenset[Operand]:
    """Tensors a level keeps when the caller does not say (see the module docstring)."""
    lowered = level_name.lower()
    hinted = {v for v, words in _NAME_HINTS if any(w in lowered for w in words)}
    return frozenset(hinted) if hinted else frozenset(ALL_OPERANDS)


def _int_attr(entry: Mapping[str, Any], keys: Iterable[str], where: str) -> int | None:
    for key in keys:
        if key in entry and entry[key] is not None:
            value = entry[key]
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SpecError(f"{where} {key}: must be a positive integer, got {value!r}")
            return value
    return None


def _float_attr(entry: Mapping[str, Any], key: str, where: str) -> float | None:
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise SpecError(f"{where} {key}: must be a positive number, got {value!r}")
    return float(value)


def _energy_attr(entry: Mapping[str, Any], key: str, where: str) -> float | None:
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise SpecError(f"{where} {key}: must be a non-negative number (pJ per access), got {value!r}")
    return float(value)


def _capacity_words(entry: Mapping[str, Any], word_bits: int, block: int, where: str) -> int | None:
    if entry.get("technology") == "DRAM" or entry.get("class") == "DRAM":
        return None
    entries = _int_attr(entry, ("entries",), where)
    if entries is None:
        depth = _int_attr(entry, ("depth", "memory_depth"), where)
        size_kb = _int_attr(entry, ("sizeKB",), where)
        if depth is not None:
            entries = depth * block
        elif size_kb is not None:
            entries = size_kb * 1024 * 8 // word_bits
    if entries is None:
        return None
    buffering = _float_attr(entry, "multiple-buffering", where)
    if buffering is not None:
        entries = int(entries // buffering)
    if entries < 1:
        raise SpecError(f"{where}: capacity is below one word after multiple-buffering; fix entries/sizeKB")
    return entries


def _bandwidths(entry: Mapping[str, Any], where: str) -> tuple[float | None, float | None]:
    total = _float_attr(entry, "bandwidth", where)
    read = write = None if total is None else total / 2
    read = _float_attr(entry, "read_bandwidth", where) or read
    write = _float_attr(entry, "write_bandwidth", where) or write
    return read, write


def _instances(entry: Mapping[str, Any], where: str) -> int:
    instances = _int_attr(entry, ("instances",), where)
    mesh_x = _int_attr(entry, ("meshX",), where)
    mesh_y = _int_attr(entry, ("meshY",), where)
    if instances is None:
        if mesh_x is None or mesh_y is None:
            raise SpecError(f"{where} instances: missing (give instances, or meshX and meshY)")
        return mesh_x * mesh_y
    if mesh_x is not None and mesh_y is not None and mesh_x * mesh_y != instances:
        raise SpecError(f"{where} instances: {instances} != meshX {mesh_x} x meshY {mesh_y}")
    return instances


def _attributes(entry: Mapping[str, Any], cluster: int | None) -> tuple[tuple[str, TimeloopValue], ...]:
    out: dict[str, TimeloopValue] = {k: v for k, v in entry.items()
                                     if k not in _CONSUMED and isinstance(v, int | float | str | bool)}
    if cluster is not None and cluster != 1:
        out["cluster-size"] = cluster
    return tuple(sorted(out.items()))


def _cluster(entry: Mapping[str, Any], word_bits: int, block: int, where: str) -> int | None:
    cluster = _int_attr(entry, ("cluster-size",), where)
    width = _int_attr(entry, ("width", "memory_width"), where)
    if cluster is None and width is not None:
        if width % (word_bits * block):
            raise SpecError(f"{where} width: {width} bits is not a multiple of word-bits x block-size")
        cluster = width // (word_bits * block)
    return cluster


def _component_energy(table: EnergyTable, name: str, actions: Iterable[str]) -> float | None:
    row = {k.lower(): v for k, v in table.get(name, table.get(name.lower(), {})).items()}
    for action in actions:
        if action in row:
            return float(row[action])
    return None


def _level(entry: Any, index: int, keeps: Mapping[str, Iterable[str]], energies: EnergyTable,
           outermost: bool) -> tuple[MemoryLevel, list[str]]:
    where = f"Timeloop arch storage[{index}]"
    if not isinstance(entry, Mapping):
        raise SpecError(f"{where}: must be a mapping, got {type(entry).__name__}")
    if isinstance(entry.get("attributes"), Mapping):
        entry = {**entry["attributes"], "name": entry.get("name"), "class": entry.get("class")}
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise SpecError(f"{where} name: missing (every storage level needs a name)")
    where = f"Timeloop arch level '{name}'"
    word_bits = _int_attr(entry, ("word-bits", "word_width", "datawidth"), where)
    if word_bits is None:
        raise SpecError(f"{where} word-bits: missing (give word-bits)")
    block = _int_attr(entry, ("block-size", "n_words"), where) or 1
    capacity = _capacity_words(entry, word_bits, block, where)
    if capacity is None and not outermost:
        raise SpecError(f"{where} entries: missing (only the outermost level may be unbounded; give entries or sizeKB)")
    read_bw, write_bw = _bandwidths(entry, where)
    kept = _keeps_for(name, keeps, outermost)
    missing: list[str] = []
    read_pj = _component_energy(energies, name, ("read",))
    write_pj = _component_energy(energies, name, ("write", "update"))
    vector = _energy_attr(entry, "vector-access-energy", where)
    read_pj = vector if read_pj is None else read_pj
    write_pj = vector if write_pj is None else write_pj
    if read_pj is None or write_pj is None:
        missing.append(name)
    level = MemoryLevel(
        name=name, capacity_words=capacity, word_bits=word_bits, instances=_instances(entry, where), keeps=kept,
        block_words=block, read_bandwidth_words_per_cycle=read_bw, write_bandwidth_words_per_cycle=write_bw,
        read_energy_pj_per_word=(read_pj or 0.0) / block, write_energy_pj_per_word=(write_pj or 0.0) / block,
        timeloop_attributes=_attributes(entry, _cluster(entry, word_bits, block, where)),
    )
    return level, missing


def _keeps_for(name: str, keeps: Mapping[str, Iterable[str]], outermost: bool) -> frozenset[Operand]:
    if outermost:
        return frozenset(ALL_OPERANDS)
    if name not in keeps:
        inferred = default_keeps(name)
        logger.info("Timeloop level %s: keeps not given, assuming %s", name, sorted(v.value for v in inferred))
        return inferred
    out: set[Operand] = set()
    for item in keeps[name]:
        try:
            out.add(Operand(item))
        except ValueError:
            raise SpecError(f"Timeloop arch level '{name}' keeps: unknown tensor {item!r} "
                            "(use Weights, Inputs or Outputs)") from None
    return frozenset(out)


def _arch_body(data: Any) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise SpecError(f"Timeloop arch: top level must be a mapping with 'arch', got {type(data).__name__}")
    if "architecture" in data and "arch" not in data:
        return flatten_architecture(data["architecture"])
    body = data.get("arch", data)
    if not isinstance(body, Mapping) or not isinstance(body.get("storage"), list) or not body["storage"]:
        raise SpecError("Timeloop arch storage: missing or empty (need a list of storage levels, innermost first)")
    if not isinstance(body.get("arithmetic"), Mapping):
        raise SpecError("Timeloop arch arithmetic: missing (need {instances, word-bits})")
    return body


def spec_from_timeloop_arch(data: Any, *, name: str = "timeloop-import",
                            keeps: Mapping[str, Iterable[str]] | None = None,
                            energies: EnergyTable | None = None, source: str = "Timeloop arch import",
                            clock_ghz: float | None = None) -> HardwareSpec:
    """A validated HardwareSpec from a parsed Timeloop ``arch:`` document (see module docstring)."""
    body = _arch_body(data)
    table = energies or {}
    arith = body["arithmetic"]
    if isinstance(arith.get("attributes"), Mapping):
        arith = {**arith["attributes"], **{k: v for k, v in arith.items() if k in ("name", "instances")}}
    arith_name = str(arith.get("name", "MACs"))
    mac_instances = _instances(arith, "Timeloop arch arithmetic")
    operand_bits = _int_attr(arith, ("word-bits", "word_width", "datawidth"), "Timeloop arch arithmetic") or 8
    mac_pj = _component_energy(table, arith_name, _MAC_ACTIONS)
    if mac_pj is None:
        mac_pj = _component_energy(table, "mac", _MAC_ACTIONS)
    storage = body["storage"]
    levels: list[MemoryLevel] = []
    missing: list[str] = [] if mac_pj is not None else [arith_name]
    for i, entry in enumerate(storage):
        level, absent = _level(entry, i, keeps or {}, table, outermost=i == len(storage) - 1)
        levels.append(level)
        missing.extend(absent)
    if missing:
        logger.warning("Timeloop arch %s: no energy for %s; using 0 pJ (pass an ERT energy table)",
                       name, ", ".join(missing))
    spec = HardwareSpec(name=name, description=f"imported from a Timeloop arch ({len(levels)} levels)",
                        source=source, mac_instances=mac_instances, mac_energy_pj=mac_pj or 0.0,
                        levels=tuple(levels), clock_ghz=clock_ghz, operand_bits=operand_bits)
    validate_spec(spec)
    return spec


_ERT_INDEX = re.compile(r"\[[^\]]*\]")


def energy_table_from_ert(data: Any) -> dict[str, dict[str, float]]:
    """``{component: {action: pJ}}`` from an Accelergy ERT (``ERT: {tables: [...]}``) or that form itself.

    A table's component is the last dotted part of its name with ``[..]`` ranges removed. When an
    action is listed several times (different arguments), the largest energy is taken.
    """
    if isinstance(data, Mapping) and "ERT" in data:
        data = data["ERT"]
    if isinstance(data, Mapping) and isinstance(data.get("tables"), list):
        out: dict[str, dict[str, float]] = {}
        for table in data["tables"]:
            component = _ERT_INDEX.sub("", str(table.get("name", ""))).split(".")[-1]
            row = out.setdefault(component, {})
            for action in table.get("actions", []) or []:
                energy = action.get("energy")
                if isinstance(energy, int | float) and not isinstance(energy, bool):
                    key = str(action.get("name", "")).lower()
                    row[key] = max(row.get(key, 0.0), float(energy))
        return out
    if isinstance(data, Mapping):
        try:
            return {str(c): {str(a).lower(): float(e) for a, e in row.items()} for c, row in data.items()}
        except (AttributeError, TypeError, ValueError):
            pass
    raise SpecError("energy table: expected an Accelergy ERT (ERT: {tables: [...]}) or {component: {action: pJ}}")


def timeloop_arch_dict(spec: HardwareSpec, *, energies: Literal["spec", "timeloop"] = "spec") -> dict[str, Any]:
    """The spec in Timeloop's older ``arch:`` form (partitions are not expressible and are dropped).

    ``energies="spec"`` writes each level's ``vector-access-energy`` (our pJ per word x block words,
    Timeloop's per-access energy), so Timeloop charges our storage energies; ``"timeloop"`` leaves
    Timeloop's built-in energy model in charge (the arch of timeloop-format.md). Timeloop has a single
    access energy per level (the read energy is used) and always computes the MAC energy itself.
    """
    storage: list[dict[str, Any]] = []
    for lv in spec.levels:
        entry: dict[str, Any] = {"name": lv.name}
        if lv.capacity_words is None:
            entry["technology"] = "DRAM"
        else:
            entry["entries"] = lv.capacity_words
        entry.update({"instances": lv.instances, "word-bits": lv.word_bits, "block-size": lv.block_words})
        if lv.read_bandwidth_words_per_cycle is not None:
            entry["read_bandwidth"] = lv.read_bandwidth_words_per_cycle
        if lv.write_bandwidth_words_per_cycle is not None:
            entry["write_bandwidth"] = lv.write_bandwidth_words_per_cycle
        entry.update(dict(lv.timeloop_attributes))
        if energies == "spec":
            if lv.read_energy_pj_per_word != lv.write_energy_pj_per_word:
                logger.warning("spec %s level %s: Timeloop has one access energy per level; exporting the read "
                               "energy", spec.name, lv.name)
            entry["vector-access-energy"] = lv.read_energy_pj_per_word * lv.block_words
        if lv.partition is not None:
            logger.info("spec %s level %s: Timeloop has no per-tensor partitions; exported as one shared buffer",
                        spec.name, lv.name)
        storage.append(entry)
    arithmetic = {"name": "MACs", "instances": spec.mac_instances, "word-bits": spec.operand_bits}
    return {"arch": {"arithmetic": arithmetic, "storage": storage}}


def energy_table(spec: HardwareSpec) -> dict[str, dict[str, float]]:
    """The spec's energies as ``{component: {action: pJ per block access}}`` (inverse of the import)."""
    out = {lv.name: {"read": lv.read_energy_pj_per_word * lv.block_words,
                     "write": lv.write_energy_pj_per_word * lv.block_words} for lv in spec.levels}
    out["MACs"] = {"compute": spec.mac_energy_pj}
    return out
