"""Structural checks across the levels of a spec (what the MIP and the cost model rely on).

Field-level checks (types, signs, tensor names, partitions) happen while loading, in
:mod:`.loader`; these checks also run on specs built in Python (registry entry points, Timeloop
import), so they repeat what cannot be taken for granted there.
"""

from __future__ import annotations

import logging

from cosa_onnx.errors import SpecError
from cosa_onnx.hwmodels.spec import HardwareSpec, MemoryLevel
from cosa_onnx.problem import ALL_OPERANDS

logger = logging.getLogger(__name__)


def _check_names(spec: HardwareSpec) -> None:
    seen: set[str] = set()
    for lv in spec.levels:
        if lv.name in seen:
            raise SpecError(f"spec '{spec.name}' level '{lv.name}' name: duplicate level name "
                            "(level names must be unique)")
        seen.add(lv.name)


def _check_level_fields(spec: HardwareSpec, lv: MemoryLevel) -> None:
    where = f"spec '{spec.name}' level '{lv.name}'"
    for field in ("word_bits", "instances", "block_words"):
        value = getattr(lv, field)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise SpecError(f"{where} {field}: must be a positive integer, got {value!r}")
    if lv.capacity_words is not None and (not isinstance(lv.capacity_words, int) or lv.capacity_words < 1):
        raise SpecError(f"{where} capacity_words: must be a positive integer or null, got {lv.capacity_words!r}")
    for field in ("read_energy_pj_per_word", "write_energy_pj_per_word"):
        if not getattr(lv, field) >= 0:
            raise SpecError(f"{where} {field}: must be >= 0, got {getattr(lv, field)!r}")
    for field in ("read_bandwidth_words_per_cycle", "write_bandwidth_words_per_cycle"):
        value = getattr(lv, field)
        if value is not None and not value > 0:
            raise SpecError(f"{where} {field}: must be > 0 or null (unlimited), got {value!r}")
    if lv.partition is not None:
        for operand, fraction in lv.partition:
            if operand not in lv.keeps:
                raise SpecError(f"{where} partition: names {operand.value}, which the level does not keep")
            if not 0 < fraction <= 1:
                raise SpecError(f"{where} partition {operand.value}: fraction must be in (0, 1], got {fraction!r}")
        total = sum(f for _, f in lv.partition)
        if total > 1 + 1e-9:
            raise SpecError(f"{where} partition: fractions sum to {total:g} > 1")
        unlisted = sorted(v.value for v in lv.keeps - {operand for operand, _ in lv.partition})
        if unlisted:
            raise SpecError(f"{where} partition: gives {unlisted[0]}, which the level keeps, no words, so no "
                            f"{unlisted[0]} tile fits; give it a share or remove it from keeps")
    _check_room(where, lv)


def _check_room(where: str, lv: MemoryLevel) -> None:
    """Every kept tensor needs room for one element (schedules keep what the spec keeps), or nothing maps."""
    if lv.capacity_words is None:
        return
    if lv.partition is not None:
        for operand, fraction in lv.partition:
            if fraction * lv.capacity_words < 1:
                raise SpecError(f"{where} partition {operand.value}: {fraction:g} of {lv.capacity_words} words is "
                                "less than one word (no tile fits; raise the fraction or capacity_words)")
    elif lv.capacity_words < len(lv.keeps):
        raise SpecError(f"{where} capacity_words: {lv.capacity_words} word(s) cannot hold one element of each of "
                        f"the {len(lv.keeps)} kept tensors, so no layer fits (raise capacity_words or keep fewer tensors)")


def _check_keeps(spec: HardwareSpec) -> None:
    first, last = spec.levels[0], spec.outermost
    if len(spec.levels) > 1 and first.unbounded and not last.unbounded:
        raise SpecError(f"spec '{spec.name}' levels: the first level '{first.name}' is unbounded and the last "
                        f"'{last.name}' is not; list the levels innermost first (DRAM last)")
    for operand in ALL_OPERANDS:
        if not spec.keeping_levels(operand):
            raise SpecError(f"spec '{spec.name}' levels keeps: no level keeps {operand.value} "
                            "(the outermost level must keep every tensor)")
    outer = spec.outermost
    missing = [v.value for v in ALL_OPERANDS if v not in outer.keeps]
    if missing:
        raise SpecError(f"spec '{spec.name}' level '{outer.name}' keeps: the outermost level must keep every "
                        f"tensor (missing {', '.join(missing)})")
    if not outer.unbounded:
        raise SpecError(f"spec '{spec.name}' level '{outer.name}' capacity_words: the outermost level must be "
                        "unbounded (capacity_words: null)")
    for lv in spec.levels[:-1]:
        if lv.unbounded:
            raise SpecError(f"spec '{spec.name}' level '{lv.name}' capacity_words: only the outermost level may "
                            "be unbounded (give its size)")


def _check_fanouts(spec: HardwareSpec) -> None:
    if not isinstance(spec.mac_instances, int) or spec.mac_instances < 1:
        raise SpecError(f"spec '{spec.name}' mac instances: must be a positive integer, got {spec.mac_instances!r}")
    inner = spec.levels[0]
    if spec.mac_instances % inner.instances != 0:
        raise SpecError(f"spec '{spec.name}' mac instances: {spec.mac_instances} MACs are not a whole multiple of "
                        f"the {inner.instances} instances of innermost level '{inner.name}' "
                        "(MACs = innermost instances x its fan-out)")
    for below, lv in zip(spec.levels, spec.levels[1:], strict=False):
        if below.instances % lv.instances != 0:
            raise SpecError(f"spec '{spec.name}' level '{lv.name}' instances: {lv.instances} does not divide the "
                            f"{below.instances} instances of '{below.name}' below it (fan-out must be a whole number)")
    if spec.outermost.instances != 1:
        logger.debug("spec %s: outermost level has %d instances", spec.name, spec.outermost.instances)


def validate_spec(spec: HardwareSpec) -> None:
    """Raise a one-line SpecError for the first structural problem of ``spec``."""
    if not spec.levels:
        raise SpecError(f"spec '{spec.name}' levels: must be a non-empty list, innermost level first")
    _check_names(spec)
    for lv in spec.levels:
        _check_level_fields(spec, lv)
    _check_keeps(spec)
    _check_fanouts(spec)
    if not spec.mac_energy_pj >= 0:
        raise SpecError(f"spec '{spec.name}' mac energy_pj: must be >= 0, got {spec.mac_energy_pj!r}")
