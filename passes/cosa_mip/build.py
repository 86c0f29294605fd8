"""Assemble one MIP (variables, constraints, objective) for a layout."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import mip

from cosa_onnx.passes.cosa_mip.constraints import (
    HaloMode,
    add_assignment_constraints,
    add_capacity_constraints,
    add_fanout_constraints,
    add_reuse_tracking,
    capacity_budgets,
    capacity_exprs,
)
from cosa_onnx.passes.cosa_mip.costproxy import cost_objective
from cosa_onnx.passes.cosa_mip.layout import Layout
from cosa_onnx.passes.cosa_mip.objectives import comp_expr, cosa_objective
from cosa_onnx.passes.cosa_mip.variables import MipVars, add_placement_vars
from cosa_onnx.problem import Operand


@dataclass(kw_only=True)
class BuiltModel:
    """A built model with handles to what the solver loop needs (capacity rows to tighten)."""

    vars: MipVars
    budgets: dict[tuple[int, Operand], float]
    capacity: dict[tuple[int, Operand], mip.LinExpr]

    @property
    def model(self) -> mip.Model:
        return self.vars.model


logger = logging.getLogger(__name__)

TIE_BREAK = 1e-3  # weight of the paper-era objective under the spec-derived one


def build_model(layout: Layout, *, split: Mapping[Operand, float], paper_halo: bool,
                threads: int, seed: int, metric: str | None = None, cuts: int = -1) -> BuiltModel:
    """The CoSA MIP for ``layout`` (CBC, silent, deterministic). ``metric`` None: the paper-era
    objective; else the spec-derived proxy of that metric plus the paper-era one as a tie-breaker.
    ``cuts``: CBC's cut level (-1 automatic, 0 off)."""
    model = mip.Model(sense=mip.MINIMIZE, solver_name=mip.CBC)
    model.verbose = 0
    # One thread means CBC's serial mode (python-mip's 0: the "threads" parameter is left unset).
    # CBC's "threads 1" runs the tree search in a helper thread, and a ResNet-50 x arch compile once
    # hung there for good (main thread waiting in CbcBaseModel::waitForThreadsInTree).
    model.threads = threads if threads > 1 else 0
    model.seed = seed
    model.cuts = cuts
    mv = add_placement_vars(model, layout)
    add_assignment_constraints(mv)
    add_fanout_constraints(mv)
    budgets = capacity_budgets(layout, split)
    exprs = capacity_exprs(mv, budgets, HaloMode(paper=paper_halo))
    add_capacity_constraints(mv, exprs, budgets)
    add_reuse_tracking(mv)
    paper_obj = cosa_objective(mv, exprs)
    if metric is None:
        model.objective = paper_obj
    else:
        model.objective = cost_objective(mv, metric, comp_expr(mv)) + TIE_BREAK * paper_obj
    logger.debug("layer %s: MIP (%s) with %d columns, %d rows", layout.problem.name, metric or "cosa",
                 model.num_cols, model.num_rows)
    return BuiltModel(vars=mv, budgets=budgets, capacity=exprs)
