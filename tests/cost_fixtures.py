"""Shared helpers for the cost-model tests: small hand-made specs and schedule builders."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cosa_onnx.hwmodels.loader import spec_from_dict
from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.problem import Dim, Operand
from cosa_onnx.schedule import LevelMapping, Schedule, make_factors

W, I, O = Operand.WEIGHTS, Operand.INPUTS, Operand.OUTPUTS  # noqa: E741


def level_dict(name: str, capacity: int | None, instances: int, keeps: Iterable[str], **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "capacity_words": capacity, "word_bits": 8, "instances": instances,
                           "keeps": list(keeps), "read_energy_pj_per_word": 1.0, "write_energy_pj_per_word": 2.0}
    out.update(extra)
    return out


def one_level_spec() -> HardwareSpec:
    return spec_from_dict({"name": "one-level", "mac": {"instances": 1, "energy_pj": 0.5},
                           "levels": [level_dict("DRAM", None, 1, ["Weights", "Inputs", "Outputs"])]})


def two_level_spec() -> HardwareSpec:
    return spec_from_dict({"name": "two-level", "mac": {"instances": 2, "energy_pj": 0.5},
                           "levels": [level_dict("Buffer", 64, 1, ["Weights", "Inputs", "Outputs"]),
                                      level_dict("DRAM", None, 1, ["Weights", "Inputs", "Outputs"],
                                                 read_bandwidth_words_per_cycle=1.0)]})


def small_array_spec() -> HardwareSpec:
    """A 4 x 4 x 2 array with bypassing, a partitioned shared level and wide fan-outs (test-only)."""
    return spec_from_dict({"name": "small-array", "mac": {"instances": 32, "energy_pj": 0.25},
                           "levels": [
                               level_dict("Reg", 2, 32, ["Weights"]),
                               level_dict("PEBuf", 24, 8, ["Inputs", "Outputs"]),
                               level_dict("Shared", 96, 2, ["Weights", "Inputs"], partition={"Weights": 0.5, "Inputs": 0.5}),
                               level_dict("GLB", 512, 1, ["Inputs", "Outputs"]),
                               level_dict("DRAM", None, 1, ["Weights", "Inputs", "Outputs"],
                                          read_bandwidth_words_per_cycle=4.0, write_bandwidth_words_per_cycle=2.0)]})


def mapping(name: str, temporal: Mapping[str, int] | None = None, spatial: Mapping[str, int] | None = None,
            order: str = "", keeps: Iterable[Operand] = ()) -> LevelMapping:
    return LevelMapping(level=name, temporal=make_factors(temporal or {}), spatial=make_factors(spatial or {}),
                        order=tuple(Dim(c) for c in order), keeps=frozenset(keeps))


def doc_mapping() -> Schedule:
    """The ResNet-50 3x3 layer mapping of shared/design/timeloop-format.md on simba."""
    return Schedule(levels=(
        mapping("Registers", keeps=[W]),
        mapping("AccumulationBuffer", {"P": 7, "Q": 7}, {"C": 8}, "QP", [O]),
        mapping("WeightBuffer", {"R": 3, "S": 3, "C": 4}, {}, "RSC", [W]),
        mapping("InputBuffer", {}, {"K": 8}, "", [I]),
        mapping("GlobalBuffer", {"P": 2, "Q": 2}, {"K": 16}, "QP", [I, O]),
        mapping("DRAM", {"C": 8, "K": 2}, {}, "CK", [W, I, O]),
    ))
