"""Time building and rendering a large network report (no solving: trivial schedules, real cost model).

    python benchmarks/report_render.py [--layers 2000] [--ops 2000]

Target: a 2,000-layer report builds and renders to every format in a few seconds.
"""

from __future__ import annotations

import argparse
import sys
import time

from cosa_onnx.bounds import layer_bounds
from cosa_onnx.cost import evaluate
from cosa_onnx.hwmodels.loader import load_spec
from cosa_onnx.importer import UnscheduledOp
from cosa_onnx.problem import LoopProblem
from cosa_onnx.report import LayerResult, build_report, render_report
from cosa_onnx.schedule import trivial_schedule

SHAPES = (
    LoopProblem(name="a", r=3, s=3, p=14, q=14, c=64, k=64),
    LoopProblem(name="b", p=28, q=28, c=128, k=256),
    LoopProblem(name="c", op_type="Gemm", c=512, k=1000),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=2000)
    parser.add_argument("--ops", type=int, default=2000)
    args = parser.parse_args()
    spec = load_spec("simba")
    per_shape = {}
    for problem in SHAPES:
        schedule = trivial_schedule(problem, spec)
        per_shape[problem.name] = (problem, schedule, evaluate(problem, spec, schedule), layer_bounds(problem, spec))
    results = []
    for i in range(args.layers):
        problem, schedule, cost, bounds = per_shape[SHAPES[i % len(SHAPES)].name]
        results.append(LayerResult(node_name=f"block{i // 3}.layer{i}", op_type=problem.op_type,
                                   problem=problem.with_name(f"block{i // 3}.layer{i}"), schedule=schedule,
                                   cost=cost, bounds=bounds, solve_time_s=0.0, cache_hit=False))
    ops = [UnscheduledOp(node_name=f"relu{i}", op_type="Relu", node_index=i, input_words=50_176, output_words=50_176)
           for i in range(args.ops)]
    start = time.perf_counter()
    report = build_report(results, ops, spec, model_name="synthetic")
    print(f"build_report: {args.layers} layers, {args.ops} ops: {time.perf_counter() - start:.2f} s")
    for fmt in ("json", "md", "html"):
        start = time.perf_counter()
        text = render_report(report, fmt)
        print(f"render {fmt:4s}: {time.perf_counter() - start:.2f} s, {len(text.encode()) / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
