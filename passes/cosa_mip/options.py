"""Options of the CoSA MIP pass (objective choice and solver control)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from cosa_onnx.errors import UserInputError

OBJECTIVES: tuple[str, ...] = ("default", "cosa", "latency", "energy", "edp")

# Bumped whenever a change to the formulation or the search can change a returned schedule.
FORMULATION_VERSION = 3

# Deterministic work limits: CBC stops on its node count, not on the clock, so the same input gives
# the same schedule on an idle or a loaded machine. Measured on ResNet-50's layers (docs/mip.md):
# with cuts off, 50 nodes give incumbents as good as 1-2 s of default CBC in about the same time.
PROXY_MAX_NODES = 50
PAPER_MAX_NODES = 20000


@dataclass(frozen=True, kw_only=True)
class MipOptions:
    """How one layer is scheduled.

    ``objective``: ``cosa`` is the paper-era proxy of the original, solved as is; ``latency``,
    ``energy`` and ``edp`` solve the same MIP and then pick / refine candidates by that metric of the
    real cost model; ``default`` ranks by EDP (see docs/mip.md for the measurement behind it).
    ``max_nodes`` bounds each CBC run deterministically (None: 50 for the spec-derived proxy with
    cuts off, 20000 for ``cosa``, which is solved to proven optimality); ``time_limit_s`` is a
    wall-clock safety net per CBC run: a run it cuts short is flagged ``time-limit-hit``, and only
    such runs can make the result depend on the machine's load.
    """

    objective: str = "default"
    time_limit_s: float = 10.0
    rel_gap: float = 0.01
    threads: int = 1
    seed: int = 0
    allow_padding: bool = True
    max_nodes: int | None = None
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
        if self.max_nodes is not None and self.max_nodes < 1:
            raise UserInputError(f"max_nodes must be >= 1, got {self.max_nodes}")

    @property
    def effective_max_nodes(self) -> int:
        """The CBC node limit of one run (see ``max_nodes``)."""
        if self.max_nodes is not None:
            return self.max_nodes
        return PAPER_MAX_NODES if self.objective == "cosa" else PROXY_MAX_NODES

    @property
    def ranking_metric(self) -> str:
        """The real-cost metric used to rank candidate schedules."""
        return "edp" if self.objective in ("default", "cosa") else self.objective

    def cache_token(self) -> dict[str, object]:
        """Everything that changes the returned schedule (for on-disk caches)."""
        token: dict[str, object] = dataclasses.asdict(self)
        token["formulation_version"] = FORMULATION_VERSION
        return token
