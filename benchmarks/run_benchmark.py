"""Benchmark: the CoSA MIP against random-5, random-16K and exhaustive/long search, the bounds, and
ZigZag's LOMA mapper — ResNet-50 on simba plus a second network/arch.

One command (a few minutes with ``--quick``)::

    python benchmarks/run_benchmark.py                 # full: resnet50/simba + alexnet/eyeriss-like, ZigZag
    python benchmarks/run_benchmark.py --quick         # 1,000 random samples, no warm repeats, short ZigZag
    python benchmarks/run_benchmark.py --layers 0,5,23 --no-zigzag --networks resnet50:simba

Writes ``benchmarks/results/benchmark.md`` and ``.json`` (+ ``latency_vs_bound_<net>_<arch>.png`` if
matplotlib is importable) and prints the tables. All costs come from our cost model
(``cosa_onnx.cost.evaluate``); ZigZag's numbers come from its own cost model.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_methods import (
    BenchConfig,
    MethodResult,
    bounds_of,
    cli_compile_times,
    exhaustive_results,
    geomean,
    long_search,
    main_options,
    mip_cold_warm,
    run_method,
)
from bench_render import plot_latency, render_markdown
from bench_workloads import Workload, load_workload, onnx_path, select

from cosa_onnx import __version__
from cosa_onnx.hwmodels.loader import load_spec
from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.passes.baselines import SearchOptions
from cosa_onnx.scheduling import default_jobs

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DEFAULT_NETWORKS = ("resnet50:simba", "alexnet:eyeriss-like")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--networks", default=",".join(DEFAULT_NETWORKS),
                    help="comma-separated net:arch pairs (net = models/<net>.onnx or shared CSV)")
    ap.add_argument("--layers", default="", help="comma-separated distinct-layer indices (first network only)")
    ap.add_argument("--quick", action="store_true", help="1,000 random samples, 1 warm repeat, quick ZigZag")
    ap.add_argument("--long", action="store_true", help="long search adds the MIP with 10x time/node limits, gap 0")
    ap.add_argument("--long-random", action="store_true", help="long search adds random search with 4x samples")
    ap.add_argument("--samples", type=int, default=None, help="random-search samples (default 16000)")
    ap.add_argument("--jobs", type=int, default=None, help="worker processes (default: cores available)")
    ap.add_argument("--exhaustive-limit", type=int, default=20_000)
    ap.add_argument("--objective", default="latency", choices=("latency", "energy", "edp"),
                    help="objective of the search baselines")
    ap.add_argument("--no-zigzag", action="store_true")
    ap.add_argument("--no-cli", action="store_true", help="skip the end-to-end `cosa-onnx compile` timing")
    ap.add_argument("--zigzag-full", action="store_true",
                    help="ZigZag's default LOMA settings (lpf_limit 6, 3 spatial mappings: ~30 s per layer "
                         "here); default is the faster lpf_limit 4, 1 spatial mapping")
    ap.add_argument("--zigzag-timeout", type=float, default=3600.0)
    ap.add_argument("--csv", action="store_true", help="read layers from the shared CSV even if the ONNX exists")
    ap.add_argument("--main-scheduler", default="mip", choices=("mip", "random"),
                    help="scheduler under test (random = dry run of the harness without the MIP)")
    ap.add_argument("--baselines-from", metavar="JSON",
                    help="reuse random-5/random-N/exhaustive results of an earlier run (same layers, samples, "
                         "seed, objective: the searches are deterministic) and rerun only the MIP parts")
    ap.add_argument("--render-only", metavar="JSON", help="re-render the .md/.png of an earlier run's .json")
    ap.add_argument("--out", default=str(RESULTS / "benchmark"), help="output path stem (.md/.json)")
    return ap.parse_args(argv)


def layer_rows(workload: Workload, results: dict[str, list[MethodResult | None]],
               bounds: list[dict[str, float]]) -> list[dict[str, Any]]:
    rows = []
    for i, p in enumerate(workload.layers):
        rows.append({"index": i, "name": p.name, "shape": p.describe(), "multiplicity": workload.multiplicity[i],
                     "macs": p.macs, "bounds": bounds[i],
                     "methods": {m: (None if (res := r[i]) is None else res.to_dict()) for m, r in results.items()}})
    return rows


def totals(workload: Workload, results: dict[str, list[MethodResult | None]],
           bounds: list[dict[str, float]]) -> dict[str, Any]:
    mult = workload.multiplicity
    out: dict[str, Any] = {
        "bound_latency_cycles": sum(m * b["latency_cycles"] for m, b in zip(mult, bounds, strict=True)),
        "bound_compute_cycles": sum(m * b["compute_cycles"] for m, b in zip(mult, bounds, strict=True)),
        "bound_energy_pj": sum(m * b["energy_pj"] for m, b in zip(mult, bounds, strict=True)),
    }
    for method, res in results.items():
        if any(r is None for r in res):
            continue
        cycles = sum(m * r.cycles for m, r in zip(mult, res, strict=True) if r is not None)
        energy = sum(m * r.energy_pj for m, r in zip(mult, res, strict=True) if r is not None)
        out[method] = {"cycles": cycles, "energy_pj": energy, "edp": cycles * energy,
                       "solve_time_s_sum": sum(r.solve_time_s for r in res if r is not None)}
    return out


def goals(workload: Workload, results: dict[str, list[MethodResult | None]], bounds: list[dict[str, float]],
          tot: dict[str, Any], timing: dict[str, Any]) -> dict[str, Any]:
    mip = [r for r in results["mip"] if r is not None]
    rnd = results.get("random16k")
    lng = results.get("long")
    ratios = [r.cycles / b["latency_cycles"] for r, b in zip(mip, bounds, strict=True)]
    out: dict[str, Any] = {
        "latency_vs_bound": tot["mip"]["cycles"] / tot["bound_latency_cycles"],
        "energy_vs_bound": tot["mip"]["energy_pj"] / tot["bound_energy_pj"],
        "worst_layer_latency_vs_bound": max(ratios),
        "worst_layer": workload.layers[ratios.index(max(ratios))].name,
    }
    if rnd is not None:
        pairs = [(r, m) for r, m in zip(rnd, mip, strict=True) if r is not None]
        out["geomean_speedup_vs_random16k"] = geomean([r.cycles / m.cycles for r, m in pairs])
        out["geomean_energy_gain_vs_random16k"] = geomean([r.energy_pj / m.energy_pj for r, m in pairs])
        out["geomean_edp_gain_vs_random16k"] = geomean([r.edp / m.edp for r, m in pairs])
        out["random16k_latency_vs_bound"] = tot["random16k"]["cycles"] / tot["bound_latency_cycles"]
    if lng is not None:
        within = [m.cycles <= 1.05 * r.cycles for m, r in zip(mip, lng, strict=True) if r is not None]
        out["layers_within_5pct_of_long_search"] = sum(within) / len(within)
    out.update({k: timing[k] for k in ("mip_cold_wall_s", "mip_warm_wall_s_median") if k in timing})
    cli = timing.get("cli_compile") or {}
    cold_s = cli.get("cold_s", timing.get("mip_cold_wall_s", 1e9))
    warm_s = cli.get("warm_s_median") or timing.get("mip_warm_wall_s_median") or 1e9
    out["timing_basis"] = "CLI compile, fresh process" if "cold_s" in cli else "scheduling driver"
    checks = {
        "latency within 3% of bound": out["latency_vs_bound"] <= 1.03,
        "energy within 1.25x of bound": out["energy_vs_bound"] <= 1.25,
        "no layer > 1.2x its latency bound": out["worst_layer_latency_vs_bound"] <= 1.2,
        f"cold <= 60 s ({out['timing_basis']})": cold_s <= 60.0,
        f"warm <= 3 s ({out['timing_basis']})": warm_s <= 3.0,
    }
    if "geomean_speedup_vs_random16k" in out:
        checks[">= 1.5x vs random-16K (geomean)"] = out["geomean_speedup_vs_random16k"] >= 1.5
    if "layers_within_5pct_of_long_search" in out:
        checks[">= 95% of layers within 5% of long search"] = out["layers_within_5pct_of_long_search"] >= 0.95
    if timing.get("zigzag_wall_s") is not None:
        checks["faster than ZigZag LOMA"] = timing["mip_cold_wall_s"] < timing["zigzag_wall_s"]
    out["checks"] = checks
    return out


def run_zigzag(network: str, quick: bool, timeout_s: float) -> dict[str, Any] | None:
    model = onnx_path(network)
    if model is None:
        log(f"zigzag: no models/{network}.onnx; skipped")
        return {"error": f"models/{network}.onnx not found"}
    cmd = [sys.executable, str(HERE / "zigzag_runner.py"), str(model)] + (["--quick"] if quick else [])
    log(f"zigzag: {' '.join(cmd)}")
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout_s:.0f} s", "wall_s": timeout_s}
    wall_s = time.perf_counter() - start
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {proc.returncode}: {tail}", "wall_s": wall_s}
    result: dict[str, Any] = json.loads(lines[-1])
    result["process_wall_s"] = wall_s
    return result


def search_baselines(workload: Workload, spec: HardwareSpec, cfg: BenchConfig,
                     ) -> tuple[dict[str, list[MethodResult | None]], dict[str, Any]]:
    results: dict[str, list[MethodResult | None]] = {}
    timing: dict[str, Any] = {}
    for label, samples in (("random5", 5), ("random16k", cfg.random_samples)):
        log(f"{label}: {samples} samples per layer")
        res, wall_s = run_method(workload, spec, "random",
                                 SearchOptions(objective=cfg.objective, samples=samples, seed=cfg.seed), cfg.jobs)
        results[label] = list(res)
        timing[f"{label}_wall_s"] = wall_s
        per_layer = [r.solve_time_s for r in res]
        timing[f"{label}_per_layer_s_median"] = statistics.median(per_layer)
        timing[f"{label}_per_sample_us_median"] = 1e6 * statistics.median(per_layer) / samples
    log(f"exhaustive: layers with <= {cfg.exhaustive_limit} schedules")
    results["exhaustive"] = list(exhaustive_results(workload, spec, cfg))
    return results, timing


def _prior_run(args: argparse.Namespace, network: str, arch: str, workload: Workload, cfg: BenchConfig,
               ) -> tuple[dict[str, list[MethodResult | None]], dict[str, Any]] | None:
    """Search-baseline results of an earlier run with the same layers, samples, seed and objective."""
    if not args.baselines_from:
        return None
    doc = json.loads(Path(args.baselines_from).read_text())
    same_cfg = all(doc["config"].get(k) == v for k, v in (("random_samples", cfg.random_samples),
                                                          ("objective", cfg.objective),
                                                          ("exhaustive_limit", cfg.exhaustive_limit)))
    for run in doc["runs"] if same_cfg else []:
        by_shape = {row["shape"]: row for row in run["layers"]}
        if (run["network"], run["arch"]) != (network, arch) or any(p.describe() not in by_shape
                                                                    for p in workload.layers):
            continue
        rows = [by_shape[p.describe()] for p in workload.layers]
        results: dict[str, list[MethodResult | None]] = {}
        for key in ("random5", "random16k", "exhaustive"):
            results[key] = [None if (m := row["methods"].get(key)) is None else
                            MethodResult(cycles=int(m["cycles"]), energy_pj=float(m["energy_pj"]),
                                         solve_time_s=float(m["solve_time_s"]), status=str(m.get("status", "")),
                                         gap=m.get("gap")) for row in rows]
        timing = {k: v for k, v in run["timing"].items() if k.startswith(("random5_", "random16k_"))}
        timing["baselines_reused_from"] = f"{args.baselines_from} ({doc.get('date_utc')} UTC)"
        return results, timing
    return None


def run_network(network: str, arch: str, layers: list[int] | None, cfg: BenchConfig, args: argparse.Namespace,
                *, first: bool) -> dict[str, Any]:
    with_zigzag = first and not args.no_zigzag
    spec = load_spec(arch)
    workload = select(load_workload(network, prefer_onnx=not args.csv), layers)
    log(f"{network}/{arch}: {len(workload.layers)} distinct of {workload.total_layers} layers from {workload.source}")
    results: dict[str, list[MethodResult | None]] = {}
    timing: dict[str, Any] = {}
    log("mip: cold (empty cache) then warm")
    mip, cold_s, warm = mip_cold_warm(workload, spec, cfg)
    results["mip"] = list(mip)
    timing.update(mip_cold_wall_s=cold_s, mip_warm_walls_s=warm,
                  mip_warm_wall_s_median=statistics.median(warm) if warm else None)
    prior = _prior_run(args, network, arch, workload, cfg)
    if prior is not None:
        log(f"random5 / random16k / exhaustive: reused from {args.baselines_from} (deterministic: same seed)")
        reused_results, reused_timing = prior
        results.update(reused_results)
        timing.update(reused_timing)
    else:
        searched, search_timing = search_baselines(workload, spec, cfg)
        results.update(searched)
        timing.update(search_timing)
    random_big = [r for r in results["random16k"] if r is not None]
    results["long"] = list(long_search(workload, spec, cfg, random_big, results["exhaustive"], log))
    model = onnx_path(network)
    if first and not args.no_cli and model is not None and not args.quick and cfg.main_scheduler == "mip":
        log("cosa-onnx compile (CLI, fresh process): cold, then warm")
        timing["cli_compile"] = cli_compile_times(model, arch, cfg.warm_repeats)
    if with_zigzag:
        zz = run_zigzag(network, not args.zigzag_full, args.zigzag_timeout)
        timing["zigzag"] = zz
        if zz and "error" not in zz:
            timing["zigzag_wall_s"] = zz.get("wall_s")
    bounds = bounds_of(workload, spec)
    tot = totals(workload, results, bounds)
    return {"network": network, "arch": arch, "source": workload.source, "distinct_layers": len(workload.layers),
            "total_layers": workload.total_layers, "layers": layer_rows(workload, results, bounds), "totals": tot,
            "timing": timing, "goals": goals(workload, results, bounds, tot, timing)}


def write_outputs(doc: dict[str, Any], out: Path) -> str:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(doc, indent=1, sort_keys=True, default=str))
    text = render_markdown(doc)
    out.with_suffix(".md").write_text(text)
    for run in doc["runs"]:
        png = plot_latency(run, out.parent / f"latency_vs_bound_{run['network']}_{run['arch']}.png",
                           int(doc["config"]["random_samples"]))
        if png:
            log(f"plot: {png}")
    return text


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render_only:
        print(write_outputs(json.loads(Path(args.render_only).read_text()), Path(args.out)))
        return 0
    logging.basicConfig(level=logging.WARNING)
    samples = args.samples or (1000 if args.quick else 16_000)
    cfg = BenchConfig(jobs=args.jobs or default_jobs(), random_samples=samples, exhaustive_limit=args.exhaustive_limit,
                      long=args.long, long_random=args.long_random, objective=args.objective, warm_repeats=1 if args.quick else 3,
                      main_scheduler=args.main_scheduler)
    layers = [int(x) for x in args.layers.split(",") if x.strip()] or None
    load_start = os.getloadavg()[0]
    runs = []
    for i, pair in enumerate(p for p in args.networks.split(",") if p.strip()):
        network, _, arch = pair.partition(":")
        runs.append(run_network(network, arch or "simba", layers if i == 0 else None, cfg, args, first=i == 0))
    doc = {"tool_version": __version__, "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
           "machine": {"python": platform.python_version(), "cores_available": len(os.sched_getaffinity(0)),
                       "jobs": cfg.jobs, "load_avg_1min_start": load_start, "load_avg_1min_end": os.getloadavg()[0]},
           "config": {"random_samples": samples, "exhaustive_limit": cfg.exhaustive_limit, "long": cfg.long, "long_random": cfg.long_random,
                      "objective": cfg.objective, "quick": args.quick, "layers": layers,
                      "main_scheduler": cfg.main_scheduler,
                      "mip_options": main_options(cfg).cache_token()},
           "command": " ".join(["python", "benchmarks/run_benchmark.py", *(argv or sys.argv[1:])]),
           "runs": runs}
    text = write_outputs(doc, Path(args.out))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
