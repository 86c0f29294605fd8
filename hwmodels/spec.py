"""The declarative hardware spec: memory levels innermost to outermost, MACs, energies.

Units are in the field names. A level's *fan-out* is how many instances of the next level down
(the MACs, for the innermost level) each of its instances feeds: spatial loops placed at a level
spread over that fan-out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cosa_onnx.problem import ALL_OPERANDS, Operand

TimeloopValue = int | float | str | bool


@dataclass(frozen=True, kw_only=True)
class MemoryLevel:
    """One memory level; all sizes are per instance."""

    name: str
    capacity_words: int | None  # None = unbounded (DRAM)
    word_bits: int
    instances: int
    keeps: frozenset[Operand]
    block_words: int = 1
    read_bandwidth_words_per_cycle: float | None = None  # per instance; None = unlimited
    write_bandwidth_words_per_cycle: float | None = None
    read_energy_pj_per_word: float = 0.0
    write_energy_pj_per_word: float = 0.0
    # Optional fixed split of a shared level between tensors (fractions of capacity_words).
    partition: tuple[tuple[Operand, float], ...] | None = None
    # Extra Timeloop storage attributes (e.g. ``cluster-size``, ``num-ports``) that only matter to
    # Timeloop's own energy model; carried through import/export unchanged, unused by our model.
    timeloop_attributes: tuple[tuple[str, TimeloopValue], ...] = ()

    def capacity_for(self, operand: Operand) -> float | None:
        """Words available to ``operand`` if the level is partitioned, else its whole capacity."""
        if self.capacity_words is None:
            return None
        if self.partition is None:
            return float(self.capacity_words)
        return dict(self.partition).get(operand, 0.0) * self.capacity_words

    @property
    def unbounded(self) -> bool:
        return self.capacity_words is None

    @property
    def capacity_bits(self) -> int | None:
        return None if self.capacity_words is None else self.capacity_words * self.word_bits

    @property
    def capacity_kib(self) -> float | None:
        """Capacity of one instance in KiB (1024 bytes), None if unbounded."""
        bits = self.capacity_bits
        return None if bits is None else bits / 8 / 1024


@dataclass(frozen=True, kw_only=True)
class HardwareSpec:
    """A spatial accelerator: MAC array plus memory levels (innermost first)."""

    name: str
    description: str = ""
    source: str = ""
    mac_instances: int
    mac_energy_pj: float
    levels: tuple[MemoryLevel, ...]
    clock_ghz: float | None = None
    operand_bits: int = 8

    def level_index(self, name: str) -> int:
        for i, level in enumerate(self.levels):
            if level.name == name:
                return i
        raise KeyError(name)

    def fanout(self, index: int) -> int:
        """Instances of the level below (the MACs for level 0) fed by one instance of level ``index``."""
        below = self.mac_instances if index == 0 else self.levels[index - 1].instances
        return below // self.levels[index].instances

    @property
    def outermost(self) -> MemoryLevel:
        return self.levels[-1]

    def keeping_levels(self, operand: Operand) -> list[int]:
        return [i for i, level in enumerate(self.levels) if operand in level.keeps]

    def to_dict(self) -> dict[str, Any]:
        levels = []
        for lv in self.levels:
            entry: dict[str, Any] = {
                "name": lv.name,
                "capacity_words": lv.capacity_words,
                "word_bits": lv.word_bits,
                "instances": lv.instances,
                "keeps": [v.value for v in ALL_OPERANDS if v in lv.keeps],
                "block_words": lv.block_words,
                "read_bandwidth_words_per_cycle": lv.read_bandwidth_words_per_cycle,
                "write_bandwidth_words_per_cycle": lv.write_bandwidth_words_per_cycle,
                "read_energy_pj_per_word": lv.read_energy_pj_per_word,
                "write_energy_pj_per_word": lv.write_energy_pj_per_word,
            }
            if lv.partition is not None:
                entry["partition"] = {v.value: f for v, f in lv.partition}
            if lv.timeloop_attributes:
                entry["timeloop_attributes"] = dict(lv.timeloop_attributes)
            levels.append(entry)
        return {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "clock_ghz": self.clock_ghz,
            "operand_bits": self.operand_bits,
            "mac": {"instances": self.mac_instances, "energy_pj": self.mac_energy_pj},
            "levels": levels,
        }

    def content_hash(self) -> str:
        """SHA-256 of the canonical JSON of the spec (for cache keys and provenance)."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


def operand_map(data: Mapping[str, float]) -> tuple[tuple[Operand, float], ...]:
    return tuple((Operand(k), float(v)) for k, v in data.items())
