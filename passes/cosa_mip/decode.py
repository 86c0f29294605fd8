"""Decode a solved MIP into a Plan: factors per level; slot order = the slot level's loop order."""

from __future__ import annotations

from collections import defaultdict

from cosa_onnx.passes.cosa_mip.layout import Layout
from cosa_onnx.passes.cosa_mip.plan import LevelPlan, Plan, level_plan
from cosa_onnx.passes.cosa_mip.variables import MipVars
from cosa_onnx.problem import Dim


def decode(mv: MipVars) -> Plan:
    """The incumbent of ``mv.model`` as a plan (call only when the model has a solution)."""
    lay: Layout = mv.layout
    n = len(lay.spec.levels)
    temporal: list[dict[Dim, int]] = [defaultdict(lambda: 1) for _ in range(n)]
    spatial: list[dict[Dim, int]] = [defaultdict(lambda: 1) for _ in range(n)]
    slot_of: dict[Dim, int] = {}
    for k, var in mv.x.items():
        value = var.x
        count = 0 if value is None else round(value)
        if count <= 0:
            continue
        g = lay.groups[k.group]
        target = spatial if k.spatial else temporal
        target[k.placement.level][g.dim] *= g.prime ** count
        if k.placement.slot is not None:
            slot_of[g.dim] = k.placement.slot
    slot_order = tuple(sorted(slot_of, key=lambda d: slot_of[d]))
    levels: list[LevelPlan] = []
    for i in range(n):
        preferred = slot_order if i == lay.slot_level else ()
        levels.append(level_plan(temporal[i], spatial[i], preferred))
    return Plan(levels=tuple(levels), bounds=lay.bounds)
