"""What the search baselines share: objectives, options (with a cache token), errors, result info."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cosa_onnx.errors import UserInputError
from cosa_onnx.schedule import Schedule, SolverInfo

if TYPE_CHECKING:
    from cosa_onnx.cost import LayerCost

logger = logging.getLogger(__name__)

OBJECTIVES: tuple[str, ...] = ("latency", "energy", "edp")


class SearchSpaceTooLargeError(UserInputError):
    """The exhaustive search space exceeds the caller's limit (use random search or the MIP)."""


def validate_objective(objective: str) -> str:
    if objective not in OBJECTIVES:
        raise UserInputError(f"unknown search objective {objective!r}: use one of {', '.join(OBJECTIVES)}")
    return objective


def objective_key(cost: LayerCost, objective: str) -> tuple[float, float]:
    """Sort key, smaller is better: the objective's metric, then a deterministic tie-breaker."""
    if objective == "latency":
        return (float(cost.cycles), float(cost.energy_pj))
    if objective == "energy":
        return (float(cost.energy_pj), float(cost.cycles))
    return (float(cost.cycles) * float(cost.energy_pj), float(cost.cycles))


@dataclass(frozen=True, kw_only=True)
class SearchOptions:
    """Options of the search schedulers (``random`` and ``exhaustive``) for the multi-layer driver."""

    objective: str = "latency"
    samples: int = 16_000     # random: valid schedules drawn per layer
    seed: int = 0             # random: RNG seed
    limit: int = 1_000_000    # exhaustive: the largest space (schedules) it will enumerate

    def __post_init__(self) -> None:
        validate_objective(self.objective)
        if self.samples < 1 or self.limit < 1:
            raise UserInputError(f"search options: samples ({self.samples}) and limit ({self.limit}) "
                                 "must be positive")

    def cache_token(self) -> dict[str, object]:
        return {"objective": self.objective, "samples": self.samples, "seed": self.seed, "limit": self.limit}


def with_info(schedule: Schedule, info: SolverInfo) -> Schedule:
    return Schedule(levels=schedule.levels, padded_bounds=schedule.padded_bounds, solver=info)
