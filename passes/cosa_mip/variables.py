"""Decision variables of the CoSA MIP: placement counts X, slot labels, halo indicators zz, reuse y."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import mip

from cosa_onnx.passes.cosa_mip.layout import Layout, Placement
from cosa_onnx.problem import Dim, Operand


class XKey(NamedTuple):
    """X[placement, group, spatial]: how many factors of ``group`` are loops at ``placement``."""

    placement: Placement
    group: int
    spatial: bool


@dataclass(kw_only=True)
class MipVars:
    """The variables of one model (mutable: filled in by the add_* functions)."""

    model: mip.Model
    layout: Layout
    x: dict[XKey, mip.Var] = field(default_factory=dict)
    slot_dim: dict[tuple[int, Dim], mip.Var] = field(default_factory=dict)  # slot z holds dim d
    zz: dict[tuple[int, Dim], mip.Var] = field(default_factory=dict)        # (level, primary dim)
    y: dict[tuple[Operand, int], mip.Var] = field(default_factory=dict)     # (operand, slot)

    def x_at(self, placement: Placement, *, spatial: bool | None = None) -> list[tuple[XKey, mip.Var]]:
        return [(k, v) for k, v in self.x.items()
                if k.placement == placement and (spatial is None or k.spatial == spatial)]


def add_placement_vars(model: mip.Model, layout: Layout) -> MipVars:
    """One integer (0..count; binary for a single factor) per group x allowed placement x kind."""
    mv = MipVars(model=model, layout=layout)
    for p in layout.placements():
        for g in layout.groups:
            for spatial in (False, True):
                if not layout.allowed(p, g, spatial):
                    continue
                name = f"x_l{p.level}_z{-1 if p.slot is None else p.slot}_g{g.gid}_{'s' if spatial else 't'}"
                var_type = mip.BINARY if g.mult == 1 else mip.INTEGER
                mv.x[XKey(p, g.gid, spatial)] = model.add_var(name=name, var_type=var_type, lb=0, ub=g.mult)
    for z in layout.slots:
        for d in layout.slot_dims:
            mv.slot_dim[(z, d)] = model.add_var(name=f"slot_{z}_{d.value}", var_type=mip.BINARY)
    return mv


def int_binary_product(model: mip.Model, a: mip.Var, a_max: int, b: mip.Var, name: str, *,
                       lower_only: bool = False) -> mip.Var:
    """w = a * b for integer a in [0, a_max] and binary b (McCormick, exact). ``lower_only`` keeps
    only w >= a - a_max (1 - b), enough when w only has positive cost in a minimised objective."""
    w = model.add_var(name=name, lb=0.0, ub=float(a_max))
    model += w >= a - a_max * (1 - b)
    if not lower_only:
        model += w <= a
        model += w <= a_max * b
    return w
