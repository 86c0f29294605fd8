"""The MIP against a brute force over its own decision space, on a tiny problem and spec.

Every placement of every prime-factor group is enumerated; for each, the placement variables are
fixed and CBC settles the auxiliary variables (slots, reuse flags, epigraphs). The MIP's optimum
must be within its reported gap of the best enumerated value — for the spec-derived ``edp`` proxy
(the default objective's MIP) and the paper-era objective.
"""

from __future__ import annotations

import itertools
import time

import mip
import pytest

from cosa_onnx.hwmodels.loader import spec_from_dict
from cosa_onnx.passes.cosa_mip.build import build_model
from cosa_onnx.passes.cosa_mip.constraints import DEFAULT_SPLIT
from cosa_onnx.passes.cosa_mip.layout import build_layout
from cosa_onnx.passes.cosa_mip.mipsolve import solve_layout
from cosa_onnx.passes.cosa_mip.options import MipOptions
from cosa_onnx.passes.cosa_mip.variables import XKey
from cosa_onnx.problem import LoopProblem

TINY = spec_from_dict({"name": "tiny", "mac": {"instances": 4, "energy_pj": 1.0}, "levels": [
    {"name": "L0", "capacity_words": 4, "word_bits": 8, "instances": 2, "keeps": ["Weights"],
     "read_energy_pj_per_word": 0.5, "write_energy_pj_per_word": 0.5},
    {"name": "L1", "capacity_words": 32, "word_bits": 8, "instances": 1, "keeps": ["Inputs", "Outputs"],
     "read_energy_pj_per_word": 2.0, "write_energy_pj_per_word": 2.0},
    {"name": "DRAM", "capacity_words": None, "word_bits": 8, "instances": 1,
     "keeps": ["Weights", "Inputs", "Outputs"], "read_energy_pj_per_word": 100.0,
     "write_energy_pj_per_word": 100.0, "read_bandwidth_words_per_cycle": 1.0,
     "write_bandwidth_words_per_cycle": 1.0}]})
PROBLEM = LoopProblem(name="tiny", p=3, c=2, k=2)


def brute_force(metric: str | None) -> float:
    layout = build_layout(PROBLEM, TINY, PROBLEM.bounds, paper_units=metric is None)
    bm = build_model(layout, split=DEFAULT_SPLIT, paper_halo=metric is None, threads=1, seed=0, metric=metric)
    model = bm.model
    keys = sorted(bm.vars.x, key=lambda k: (k.group, k.placement.level, k.placement.slot or -1, k.spatial))
    by_group: dict[int, list[XKey]] = {}
    for k in keys:
        by_group.setdefault(k.group, []).append(k)
    assert all(g.mult == 1 for g in layout.groups), "the enumeration assumes one factor per group"
    best = float("inf")
    for choice in itertools.product(*(by_group[g.gid] for g in layout.groups)):
        chosen = set(choice)
        for k in keys:
            value = 1.0 if k in chosen else 0.0
            bm.vars.x[k].lb = value
            bm.vars.x[k].ub = value
        status = model.optimize()
        if status == mip.OptimizationStatus.OPTIMAL:
            best = min(best, float(model.objective_value))
    return best


@pytest.mark.parametrize("metric", ["edp", None])
def test_mip_matches_brute_force(metric: str | None) -> None:
    start = time.perf_counter()
    layout = build_layout(PROBLEM, TINY, PROBLEM.bounds, paper_units=metric is None)
    result = solve_layout(layout, MipOptions(rel_gap=0.0, time_limit_s=30.0), split=DEFAULT_SPLIT,
                          paper=metric is None, deadline=start + 30.0, metric=metric)
    assert result.plan is not None and result.objective is not None
    exhaustive = brute_force(metric)
    assert exhaustive < float("inf"), "the enumeration found no feasible placement"
    gap = result.gap or 0.0
    assert result.objective <= exhaustive + gap * abs(exhaustive) + 1e-6
    assert result.objective >= exhaustive - 1e-6  # the MIP cannot beat its own decision space
