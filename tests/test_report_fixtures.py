"""Small inputs for the report tests: real problems, spec, schedules, cost model and bounds."""

from __future__ import annotations

from cosa_onnx.bounds import layer_bounds
from cosa_onnx.cost import evaluate
from cosa_onnx.hwmodels.loader import load_spec
from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.importer import UnscheduledOp
from cosa_onnx.problem import LoopProblem
from cosa_onnx.report import LayerResult
from cosa_onnx.schedule import Schedule, SolverInfo, trivial_schedule

PROBLEMS = (
    LoopProblem(name="conv1", op_type="Conv", r=3, s=3, p=8, q=8, c=3, k=16, w_stride=2, h_stride=2),
    LoopProblem(name="conv2", op_type="Conv", r=3, s=3, p=4, q=4, c=16, k=32),
    LoopProblem(name="conv3", op_type="Conv", r=3, s=3, p=4, q=4, c=16, k=32),   # same shape as conv2
    LoopProblem(name="fc", op_type="Gemm", c=512, k=10),
)

UNSCHEDULED = (
    UnscheduledOp(node_name="relu_1", op_type="Relu", node_index=1, input_words=1024, output_words=1024),
    UnscheduledOp(node_name="pool_2", op_type="MaxPool", node_index=3, input_words=4096, output_words=1023),
    UnscheduledOp(node_name="flat", op_type="Flatten", node_index=5, input_words=512, output_words=512),
    UnscheduledOp(node_name="dyn", op_type="Softmax", node_index=7, input_words=None, output_words=None),
)


def op(name: str, op_type: str, input_words: int | None, output_words: int | None) -> UnscheduledOp:
    return UnscheduledOp(node_name=name, op_type=op_type, node_index=0, input_words=input_words,
                         output_words=output_words)


def make_results(spec: HardwareSpec | None = None, problems: tuple[LoopProblem, ...] = PROBLEMS) -> list[LayerResult]:
    """One result per problem: the trivial schedule (valid on every spec), real cost and bounds."""
    spec = spec or load_spec("simba")
    out = []
    for i, problem in enumerate(problems):
        base = trivial_schedule(problem, spec)
        solver = SolverInfo(method="mip", objective_name="latency", status="optimal", objective=1.0 + i,
                            gap=0.001 * i, wall_time_s=0.25 * (i + 1))
        schedule = Schedule(levels=base.levels, padded_bounds=base.padded_bounds, solver=solver)
        out.append(LayerResult(node_name=problem.name, op_type=problem.op_type, problem=problem, schedule=schedule,
                               cost=evaluate(problem, spec, schedule), bounds=layer_bounds(problem, spec),
                               solve_time_s=0.5 * (i + 1), cache_hit=i % 2 == 1))
    return out
