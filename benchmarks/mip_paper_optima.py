"""The paper-era objective (`cosa`) on simba, solved exactly: model size, optimum, time.

    python benchmarks/mip_paper_optima.py
"""

from __future__ import annotations

import time

from cosa_onnx.hwmodels.loader import load_spec
from cosa_onnx.passes.cosa_mip.build import build_model
from cosa_onnx.passes.cosa_mip.constraints import DEFAULT_SPLIT
from cosa_onnx.passes.cosa_mip.layout import build_layout
from cosa_onnx.problem import LoopProblem

LAYERS = (
    (LoopProblem(name="conv1", r=7, s=7, p=112, q=112, c=3, k=64, w_stride=2, h_stride=2), 219.9704),
    (LoopProblem(name="3x3", r=3, s=3, p=56, q=56, c=64, k=64), 217.3538),
    (LoopProblem(name="1x1", p=28, q=28, c=128, k=512), 206.5422),
    (LoopProblem(name="fc", c=2048, k=1000), 147.3395),
)


def main() -> None:
    spec = load_spec("simba")
    for problem, expected in LAYERS:
        t, cpu = time.perf_counter(), time.process_time()
        layout = build_layout(problem, spec, problem.bounds, paper_units=True)
        model = build_model(layout, split=DEFAULT_SPLIT, paper_halo=True, threads=1, seed=0).model
        status = model.optimize(max_seconds=300)
        print(f"{problem.name:6} {model.num_cols:4} cols {model.num_rows:4} rows  {status.name:8} "
              f"{model.objective_value:.4f} (paper optimum {expected})  wall {time.perf_counter() - t:.1f} s "
              f"cpu {time.process_time() - cpu:.1f} s", flush=True)


if __name__ == "__main__":
    main()
