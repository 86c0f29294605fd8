"""Which MIP objective predicts real cost best? Real EDP (cosa_onnx.cost) of the raw decoded MIP
solution, without refinement, for the paper-era ``cosa`` objective and the spec-derived proxies.

    python benchmarks/mip_objectives.py [--time-limit 1.0]
"""

from __future__ import annotations

import argparse
import math
import time

from bench_cosa_mip import WORKLOADS, load_layers

from cosa_onnx.bounds import layer_bounds
from cosa_onnx.cost import evaluate
from cosa_onnx.hwmodels.loader import load_spec
from cosa_onnx.passes.cosa_mip.constraints import DEFAULT_SPLIT
from cosa_onnx.passes.cosa_mip.layout import build_layout
from cosa_onnx.passes.cosa_mip.mipsolve import solve_layout
from cosa_onnx.passes.cosa_mip.options import MipOptions
from cosa_onnx.passes.cosa_mip.plan import to_schedule
from cosa_onnx.schedule import SolverInfo

VARIANTS = (("cosa", None, True), ("edp-proxy", "edp", False), ("latency-proxy", "latency", False),
            ("energy-proxy", "energy", False))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--time-limit", type=float, default=1.0)
    a = ap.parse_args()
    spec = load_spec("simba")
    options = MipOptions(time_limit_s=a.time_limit)
    logs: dict[str, list[float]] = {name: [] for name, _, _ in VARIANTS}
    print(f"{'layer':10} " + " ".join(f"{name + ' lat/en':>22}" for name, _, _ in VARIANTS))
    for problem, _ in load_layers(WORKLOADS / "resnet50.csv"):
        b = layer_bounds(problem, spec)
        cells = []
        for name, metric, paper in VARIANTS:
            layout = build_layout(problem, spec, problem.bounds, paper_units=paper)
            res = solve_layout(layout, options, split=DEFAULT_SPLIT, paper=paper,
                               deadline=time.perf_counter() + 3 * a.time_limit, metric=metric)
            if res.plan is None:
                cells.append(f"{'-':>22}")
                logs[name].append(math.nan)
                continue
            cost = evaluate(problem, spec, to_schedule(problem, spec, res.plan, SolverInfo()))
            lat, en = cost.cycles / b.latency_cycles, cost.energy_pj / b.energy_pj
            logs[name].append(math.log(lat * en))
            cells.append(f"{lat:10.3f} {en:11.3f}")
        print(f"{problem.name:10} " + " ".join(cells), flush=True)
    for name, values in logs.items():
        ok = [v for v in values if not math.isnan(v)]
        print(f"{name:14}: geomean EDP / EDP bound = {math.exp(sum(ok) / max(len(ok), 1)):.3f} "
              f"over {len(ok)} layers solved")


if __name__ == "__main__":
    main()
