"""Physical limits of one layer on one spec, independent of any schedule.

- compute bound: ``ceil(MACs / MAC instances)`` cycles;
- compulsory DRAM traffic: every weight read once, every input element the layer actually touches
  read once (padding excluded; strided windows that skip pixels counted exactly per axis), every
  output written once;
- DRAM-bound cycles: that traffic at the outermost level's read / write bandwidth;
- latency bound = max(compute, DRAM); energy bound = MACs x MAC energy + compulsory DRAM words x
  the outermost level's per-word read (weights, inputs) and write (outputs) energy.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.problem import ALL_OPERANDS, LoopProblem, Operand

logger = logging.getLogger(__name__)

BOUNDS_SCHEMA_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class LayerBounds:
    compute_cycles: int
    dram_words: tuple[tuple[Operand, int], ...]
    dram_cycles: int
    latency_cycles: int
    energy_pj: float

    def words(self, operand: Operand) -> int:
        return dict(self.dram_words)[operand]

    @property
    def dram_bound(self) -> bool:
        return self.dram_cycles > self.compute_cycles

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": BOUNDS_SCHEMA_VERSION, "compute_cycles": self.compute_cycles,
                "dram_words": {v.value: w for v, w in self.dram_words}, "dram_cycles": self.dram_cycles,
                "latency_cycles": self.latency_cycles, "energy_pj": self.energy_pj}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LayerBounds:
        version = data.get("schema_version")
        if version != BOUNDS_SCHEMA_VERSION:
            raise ValueError(f"layer bounds schema_version {version!r} is not supported (this tool reads {BOUNDS_SCHEMA_VERSION})")
        return cls(compute_cycles=int(data["compute_cycles"]),
                   dram_words=tuple((Operand(k), int(v)) for k, v in data["dram_words"].items()),
                   dram_cycles=int(data["dram_cycles"]), latency_cycles=int(data["latency_cycles"]),
                   energy_pj=float(data["energy_pj"]))


@lru_cache(maxsize=4096)
def touched_positions(outputs: int, window: int, stride: int, dilation: int, pad: tuple[int, int]) -> int:
    """Input positions along one axis that some (output, window tap) pair reads, padding excluded.

    Positions are ``o*stride + w*dilation`` in the padded input; the real input is the span minus
    ``pad[0]`` positions at the start and ``pad[1]`` at the end. Exact, in O(min(outputs, window))
    steps: the two terms are symmetric, so the shorter one is taken as the taps; each tap gives an
    arithmetic progression with the other term's step, and progressions on the same residue
    class are merged as intervals of lattice indices.
    """
    span = (outputs - 1) * stride + (window - 1) * dilation + 1
    lo, hi = max(pad[0], 0), span - pad[1]
    if hi <= lo:
        return 0
    if window > outputs:
        outputs, window, stride, dilation = window, outputs, dilation, stride
    classes: dict[int, list[tuple[int, int]]] = {}
    for w in range(window):
        offset = w * dilation
        first = offset // stride  # lattice index of the tap's first position within its class
        classes.setdefault(offset % stride, []).append((first, first + outputs))
    total = 0
    for residue, intervals in classes.items():
        k_lo = -((residue - lo) // stride)  # ceil((lo - residue) / stride)
        k_hi = -((residue - hi) // stride)
        for a, b in _merge(intervals):
            total += max(0, min(b, k_hi) - max(a, k_lo))
    return total


def _merge(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def compulsory_words(problem: LoopProblem) -> dict[Operand, int]:
    width = touched_positions(problem.p, problem.r, problem.w_stride, problem.w_dilation, problem.w_pad)
    height = touched_positions(problem.q, problem.s, problem.h_stride, problem.h_dilation, problem.h_pad)
    return {
        Operand.WEIGHTS: problem.tensor_words(Operand.WEIGHTS),
        Operand.INPUTS: problem.g * problem.n * problem.c * width * height,
        Operand.OUTPUTS: problem.tensor_words(Operand.OUTPUTS),
    }


def layer_bounds(problem: LoopProblem, spec: HardwareSpec) -> LayerBounds:
    words = compulsory_words(problem)
    dram = spec.outermost
    read_words = words[Operand.WEIGHTS] + words[Operand.INPUTS]
    write_words = words[Operand.OUTPUTS]
    dram_cycles = 0
    if dram.read_bandwidth_words_per_cycle:
        dram_cycles = max(dram_cycles, math.ceil(read_words / dram.read_bandwidth_words_per_cycle - 1e-9))
    if dram.write_bandwidth_words_per_cycle:
        dram_cycles = max(dram_cycles, math.ceil(write_words / dram.write_bandwidth_words_per_cycle - 1e-9))
    compute = math.ceil(problem.macs / spec.mac_instances)
    energy = (problem.macs * spec.mac_energy_pj + read_words * dram.read_energy_pj_per_word
              + write_words * dram.write_energy_pj_per_word)
    return LayerBounds(compute_cycles=compute, dram_words=tuple((v, words[v]) for v in ALL_OPERANDS),
                       dram_cycles=dram_cycles, latency_cycles=max(compute, dram_cycles), energy_pj=energy)
