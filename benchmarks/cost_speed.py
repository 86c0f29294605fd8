"""Speed of the cost model and the random schedule sampler (target: evaluate < 1 ms per call).

Run: python benchmarks/cost_speed.py [--samples N] [--arch simba]
Samples N random valid schedules per layer for a few ResNet-50 shapes, then times
``random_schedule`` and ``evaluate`` per call (mean and p95 of CPU thread time, in ms: the
machine may be shared, and wall time would measure the neighbours).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from cosa_onnx.cost import evaluate
from cosa_onnx.hwmodels.loader import load_spec
from cosa_onnx.mapspace import random_schedule
from cosa_onnx.problem import LoopProblem
from cosa_onnx.schedule import Schedule

LAYERS = [
    LoopProblem(name="conv1", r=7, s=7, p=112, q=112, c=3, k=64, w_stride=2, h_stride=2),
    LoopProblem(name="3x3_56", r=3, s=3, p=56, q=56, c=64, k=64),
    LoopProblem(name="1x1_28_s2", p=28, q=28, c=256, k=512, w_stride=2, h_stride=2),
    LoopProblem(name="3x3_14", r=3, s=3, p=14, q=14, c=256, k=256),
    LoopProblem(name="fc", c=2048, k=1000),
]


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return f"mean {statistics.fmean(values) * 1e3:.3f} ms, p95 {p95 * 1e3:.3f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--arch", default="simba")
    args = parser.parse_args()
    spec = load_spec(args.arch)
    rng = random.Random(0)
    for problem in LAYERS:
        gen_s: list[float] = []
        eval_s: list[float] = []
        schedules: list[Schedule] = []
        for _ in range(args.samples):
            t0 = time.thread_time()
            schedule = random_schedule(problem, spec, rng)
            gen_s.append(time.thread_time() - t0)
            if schedule is not None:
                schedules.append(schedule)
        for schedule in schedules:
            t0 = time.thread_time()
            evaluate(problem, spec, schedule)
            eval_s.append(time.thread_time() - t0)
        print(f"{problem.name:10s} random_schedule {_ms(gen_s)} | evaluate {_ms(eval_s)} ({len(schedules)} schedules)")


if __name__ == "__main__":
    main()
