"""Search baselines for the CoSA MIP: best-of-N random search and exhaustive search (small problems).

Both rank schedules with the real cost model (:func:`cosa_onnx.cost.evaluate`) by ``objective``
(``latency`` = cycles, ``energy`` = pJ, ``edp`` = cycles x pJ) and return check()-valid schedules
whose ``solver.method`` is ``"random"`` or ``"exhaustive"``.
"""

from cosa_onnx.passes.baselines.common import OBJECTIVES, SearchOptions, SearchSpaceTooLargeError, objective_key
from cosa_onnx.passes.baselines.exhaustive import count_space, enumerate_schedules, exhaustive_search
from cosa_onnx.passes.baselines.random_search import random_search

__all__ = [
    "OBJECTIVES",
    "SearchOptions",
    "SearchSpaceTooLargeError",
    "count_space",
    "enumerate_schedules",
    "exhaustive_search",
    "objective_key",
    "random_search",
]
