"""The CoSA MIP scheduler (python-mip + CBC), built from the hardware spec.

``schedule_problem(problem, spec, options)`` returns a check()-valid Schedule for one layer.
"""

from cosa_onnx.passes.cosa_mip.options import OBJECTIVES, MipOptions
from cosa_onnx.passes.cosa_mip.solve import fallback_schedule, schedule_problem

__all__ = ["OBJECTIVES", "MipOptions", "fallback_schedule", "schedule_problem"]
