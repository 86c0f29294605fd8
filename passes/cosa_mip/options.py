"""Options of the CoSA MIP pass (objective choice and solver control)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from cosa_onnx.errors import UserInputError

OBJECTIVES: tuple[str, ...] = ("default", "cosa", "latency", "energy", "edp")

# Bumped whenever a change to the formulation or the search can change a returned schedule.
FORMULATION_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class MipOptions:
    """How one layer is scheduled.

    ``objective``: ``cosa`` is the paper-era proxy of the original, solved as is; ``latency``,
    ``energy`` and ``edp`` solve the same MIP and then pick / refine candidates by that metric of the
    real cost model; ``default`` ranks by EDP (see docs/mip.md for the measurement behind it).
    ``time_limit_s`` bounds each CBC run; ``max_nodes`` bounds it deterministically.
    """

    objective: str = "default"
    time_limit_s: float = 1.0
    rel_gap: float = 0.01
    threads: int = 1
    seed: int = 0
    allow_padding: bool = True
    max_nodes: int = 20000
    refine: bool = True

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise UserInputError(f"objective {self.objective!r} is unknown: use one of {', '.join(OBJECTIVES)}")
        if self.time_limit_s <= 0:
            raise UserInputError(f"time_limit_s must be positive, got {self.time_limit_s}")
        if not 0 <= self.rel_gap < 1:
            raise UserInputError(f"rel_gap must be in [0, 1), got {self.rel_gap}")
        if self.threads < 1:
            raise UserInputError(f"threads must be >= 1, got {self.threads}")
        if self.max_nodes < 1:
            raise UserInputError(f"max_nodes must be >= 1, got {self.max_nodes}")

    @property
    def ranking_metric(self) -> str:
        """The real-cost metric used to rank candidate schedules."""
        return "edp" if self.objective in ("default", "cosa") else self.objective

    def cache_token(self) -> dict[str, object]:
        """Everything that changes the returned schedule (for on-disk caches)."""
        token: dict[str, object] = dataclasses.asdict(self)
        token["formulation_version"] = FORMULATION_VERSION
        return token
