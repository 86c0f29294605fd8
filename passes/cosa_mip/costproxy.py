"""The spec-derived objective of the ``default``/``latency``/``energy``/``edp`` MIPs.

For every tensor v and every level m that keeps it, the fills of m are estimated as
``size(v) * 2**R[v, m]`` where ``R[v, m]`` is the log2 of the temporal (and spatial) loops above m
that do not index v: those re-fetch v's tile. Loops at the slot level count only outside the
innermost slot relevant to v (the y reuse flags); at other levels every such loop counts (the
loop order there is chosen afterwards by the refinement). ``2**R`` is convex, so its tangent lines
at integer points give an exact-at-breakpoints epigraph: the objective stays linear.

    energy ~ sum over (v, m) of fills * (write energy at m + read energy of v's next keeper above)
    cycles ~ max(2**Comp, DRAM reads / read bandwidth, DRAM writes / write bandwidth)

Both are normalised by the layer's bounds (cosa_onnx.bounds), so ``edp`` minimises their sum.
"""

from __future__ import annotations

import math

import mip

from cosa_onnx.bounds import layer_bounds
from cosa_onnx.passes.cosa_mip.layout import Layout, direct_dims
from cosa_onnx.passes.cosa_mip.variables import MipVars, int_binary_product
from cosa_onnx.problem import ALL_OPERANDS, Operand

MAX_TANGENT_LOG2 = 40


def _keepers(layout: Layout, v: Operand) -> list[int]:
    return [i for i, lv in enumerate(layout.spec.levels) if v in lv.keeps]


def refetch_expr(mv: MipVars, v: Operand, m: int) -> tuple[mip.LinExpr, float]:
    """R[v, m] and its largest possible value."""
    lay = mv.layout
    rel = direct_dims(v)
    terms: list[mip.LinExpr | mip.Var] = []
    top = 0.0
    gate = _slot_gates(mv, v, m)
    for k, var in mv.x.items():
        g = lay.groups[k.group]
        p = k.placement
        if g.dim in rel or p.level <= m or g.prime == 1:
            continue
        top += g.lg * g.mult
        if p.slot is not None:
            y = gate[p.slot]
            w = int_binary_product(mv.model, var, g.mult, y, f"r_{v.value}_{m}_{var.name}", lower_only=True)
            terms.append(g.lg * w)
        else:
            terms.append(g.lg * var)
    return mip.xsum(terms), top


def _slot_gates(mv: MipVars, v: Operand, m: int) -> dict[int, mip.Var]:
    """Per slot: 1 if a loop relevant to v is inside it above level m (then the slot's loops re-fetch
    v's tile at m): the slot's y flag, or any relevant temporal loop between m and the slot level."""
    lay = mv.layout
    rel = direct_dims(v)
    between = [(lay.groups[k.group].mult, var) for k, var in mv.x.items()
               if not k.spatial and m < k.placement.level < lay.slot_level and lay.groups[k.group].dim in rel
               and lay.groups[k.group].prime > 1]
    if not between:
        return {z: mv.y[(v, z)] for z in lay.slots}
    inner = mv.model.add_var(name=f"a_{v.value}_{m}", var_type=mip.BINARY)
    for mult, var in between:
        mv.model += mult * inner >= var
    gates = {}
    for z in lay.slots:
        gz = mv.model.add_var(name=f"gate_{v.value}_{m}_{z}", lb=0.0, ub=1.0)
        mv.model += gz >= mv.y[(v, z)]
        mv.model += gz >= inner
        gates[z] = gz
    return gates


def exp2_epigraph(model: mip.Model, expr: mip.LinExpr, top: float, scale: float, name: str,
                  bottom: float = 0.0) -> mip.Var:
    """A variable >= scale * 2**expr (tangents at the integers in [bottom, top])."""
    t = model.add_var(name=name, lb=0.0)
    lo = max(0, math.floor(bottom))
    hi = min(math.ceil(top), MAX_TANGENT_LOG2)
    for xk in range(lo, hi + 1):
        model += t >= scale * 2.0 ** xk * (1 - math.log(2) * xk) + scale * 2.0 ** xk * math.log(2) * expr
    return t


def cost_objective(mv: MipVars, metric: str, comp: mip.LinExpr) -> mip.LinExpr:
    """Normalised latency / energy / their sum (``edp``) of the spec-derived proxy."""
    lay = mv.layout
    spec, problem = lay.spec, lay.problem
    bounds = dict(lay.bounds)
    lb = layer_bounds(problem, spec)
    s0 = max(1.0, problem.macs / spec.mac_instances)
    model = mv.model
    energy_terms: list[mip.LinExpr | mip.Var] = []
    dram_read: list[mip.Var] = []
    dram_write: list[mip.Var] = []
    outer = spec.outermost
    for v in ALL_OPERANDS:
        size = problem.footprint(v, bounds)
        keepers = _keepers(lay, v)
        for pos, m in enumerate(keepers[:-1]):
            source = spec.levels[keepers[pos + 1]]
            expr, top = refetch_expr(mv, v, m)
            u = exp2_epigraph(model, expr, top, size / s0, f"u_{v.value}_{m}")
            per_word = spec.levels[m].write_energy_pj_per_word + source.read_energy_pj_per_word
            if v == Operand.OUTPUTS:
                per_word = spec.levels[m].read_energy_pj_per_word + source.write_energy_pj_per_word
            energy_terms.append(per_word * s0 / lb.energy_pj * u)
            if keepers[pos + 1] == lay.outer_level:
                (dram_write if v == Operand.OUTPUTS else dram_read).append(u)
    lat = model.add_var(name="latency", lb=0.0)
    cyc = exp2_epigraph(model, comp, sum(g.lg * g.mult for g in lay.groups), 1.0 / lb.latency_cycles, "cycles",
                        bottom=math.log2(s0))
    model += lat >= cyc
    for words, bw in ((dram_read, outer.read_bandwidth_words_per_cycle), (dram_write, outer.write_bandwidth_words_per_cycle)):
        if words and bw:
            model += lat >= (s0 / (bw * lb.latency_cycles)) * mip.xsum(words)
    energy = mip.xsum(energy_terms)
    if metric == "latency":
        return lat + 0.01 * energy
    if metric == "energy":
        return energy + 0.01 * lat
    return lat + energy
