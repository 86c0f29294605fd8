"""Measure the CoSA MIP pass on ResNet-50's distinct layers (simba): solve time, MIP gap, cost vs bounds.

    python benchmarks/bench_cosa_mip.py [--objective default] [--time-limit 1.5] [--jobs 1] [--csv PATH]

Prints one row per distinct layer and the network totals (each layer weighted by its repeat count).
"""

from __future__ import annotations

import argparse
import csv
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from cosa_onnx.bounds import layer_bounds
from cosa_onnx.cost import evaluate
from cosa_onnx.hwmodels.loader import load_spec
from cosa_onnx.passes.cosa_mip import MipOptions, schedule_problem
from cosa_onnx.problem import LoopProblem

WORKLOADS = Path(__file__).resolve().parents[2] / "shared" / "workloads"  # ../shared beside the repo


def load_layers(path: Path) -> list[tuple[LoopProblem, int]]:
    """Distinct layers and how often each occurs."""
    counts: dict[tuple[int, ...], int] = {}
    first: dict[tuple[int, ...], LoopProblem] = {}
    with path.open() as fh:
        for row in csv.DictReader(fh):
            key = tuple(int(row[k]) for k in ("R", "S", "P", "Q", "C", "K", "N", "Wstride", "Hstride", "Wdilation", "Hdilation"))
            counts[key] = counts.get(key, 0) + 1
            if key not in first:
                r, s, p, q, c, k, n, ws, hs, wd, hd = key
                first[key] = LoopProblem(name=f"layer{row['index']}", r=r, s=s, p=p, q=q, c=c, k=k, n=n,
                                         w_stride=ws, h_stride=hs, w_dilation=wd, h_dilation=hd)
    return [(first[k], counts[k]) for k in first]


def run_one(args: tuple[LoopProblem, str, MipOptions]) -> dict[str, object]:
    problem, arch, options = args
    spec = load_spec(arch)
    t, cpu = time.perf_counter(), time.process_time()
    sched = schedule_problem(problem, spec, options)
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    cost = evaluate(problem, spec, sched)
    b = layer_bounds(problem, spec)
    return {"name": problem.name, "shape": problem.describe(), "wall_s": wall, "cpu_s": cpu, "status": sched.solver.status,
            "gap": sched.solver.gap, "objective": sched.solver.objective, "flags": sched.solver.flags,
            "cycles": cost.cycles, "energy_pj": cost.energy_pj, "lat_bound": b.latency_cycles, "en_bound": b.energy_pj}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--objective", default="default")
    ap.add_argument("--time-limit", type=float, default=MipOptions().time_limit_s)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--arch", default="simba")
    ap.add_argument("--csv", type=Path, default=WORKLOADS / "resnet50.csv")
    ap.add_argument("--no-refine", action="store_true")
    ap.add_argument("--max-nodes", type=int, default=MipOptions().max_nodes)
    a = ap.parse_args()
    options = MipOptions(objective=a.objective, time_limit_s=a.time_limit, refine=not a.no_refine,
                         max_nodes=a.max_nodes)
    layers = load_layers(a.csv)
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=a.jobs) as pool:
        rows = list(pool.map(run_one, [(p, a.arch, options) for p, _ in layers]))
    total_wall = time.perf_counter() - t0
    print(f"{'layer':10} {'R S P Q C K stride':24} {'x':>2} {'lat/bound':>9} {'en/bound':>9} {'solve s':>8} {'cpu s':>6} {'gap':>7} status")
    worst = 0.0
    tot = {"cyc": 0.0, "lb": 0.0, "en": 0.0, "eb": 0.0, "cpu": 0.0}
    for (p, n), row in zip(layers, rows, strict=True):
        lat = float(row["cycles"]) / float(row["lat_bound"])  # type: ignore[arg-type]
        en = float(row["energy_pj"]) / float(row["en_bound"])  # type: ignore[arg-type]
        gap = row["gap"]
        shape = f"{p.r} {p.s} {p.p} {p.q} {p.c} {p.k} s{p.w_stride}"
        gap_s = "-" if gap is None else f"{float(gap):.3f}"  # type: ignore[arg-type]
        times = f"{float(row['wall_s']):8.2f} {float(row['cpu_s']):6.2f}"  # type: ignore[arg-type]
        print(f"{row['name']!s:10} {shape:24} {n:>2} {lat:9.3f} {en:9.3f} {times} {gap_s:>7} "
              f"{row['status']} {','.join(row['flags'])}")  # type: ignore[arg-type]
        tot["cyc"] += n * float(row["cycles"])  # type: ignore[arg-type]
        tot["cpu"] += float(row["cpu_s"])  # type: ignore[arg-type]
        worst = max(worst, lat)
        tot["lb"] += n * float(row["lat_bound"])  # type: ignore[arg-type]
        tot["en"] += n * float(row["energy_pj"])  # type: ignore[arg-type]
        tot["eb"] += n * float(row["en_bound"])  # type: ignore[arg-type]
    print(f"worst layer {worst:.3f} x its latency bound; total CPU {tot['cpu']:.1f} s")
    print(f"network: {tot['cyc']:.0f} cycles = {tot['cyc'] / tot['lb']:.3f} x latency bound; "
          f"{tot['en'] / 1e9:.3f} mJ = {tot['en'] / tot['eb']:.3f} x energy bound; "
          f"wall {total_wall:.1f} s with {a.jobs} job(s), objective {a.objective}, time limit {a.time_limit} s")


if __name__ == "__main__":
    main()
