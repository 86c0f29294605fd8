"""Run the schedulers on a workload and measure every schedule with our cost model.

Methods: ``mip`` (the CoSA pass, default options), ``random5`` / ``random16k`` (best of 5 / 16,000
valid random schedules), ``exhaustive`` (only layers whose space fits ``--exhaustive-limit``) and
``long`` (the best schedule any long search found: random-16K, exhaustive where feasible, with
``--long`` the MIP with a 10x time and node limit and no gap tolerance, with ``--long-random`` 4x more
random samples under another seed). The default MIP run itself is never part of the long search.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_workloads import Workload

from cosa_onnx.bounds import layer_bounds
from cosa_onnx.cost import evaluate
from cosa_onnx.errors import CosaError
from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.passes.baselines import SearchOptions, SearchSpaceTooLargeError, count_space
from cosa_onnx.passes.baselines.exhaustive import dim_splits, slots_for
from cosa_onnx.problem import ALL_DIMS, LoopProblem
from cosa_onnx.schedule import Schedule
from cosa_onnx.scheduling import ScheduleOutcome, schedule_problems

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class BenchConfig:
    jobs: int
    random_samples: int = 16_000
    exhaustive_limit: int = 20_000
    long: bool = False           # long search adds the MIP with a 10x time limit and no gap tolerance
    long_random: bool = False    # long search adds random search with 4x the samples
    objective: str = "latency"
    warm_repeats: int = 3
    seed: int = 0
    main_scheduler: str = "mip"   # "random" only to dry-run the harness without the MIP


def main_options(cfg: BenchConfig) -> Any:
    """Default options of the scheduler under test (the MIP's defaults unless dry-running)."""
    if cfg.main_scheduler == "mip":
        from cosa_onnx.passes.cosa_mip import MipOptions

        return MipOptions()
    return SearchOptions(objective=cfg.objective, samples=50, seed=cfg.seed + 7)


@dataclass(kw_only=True)
class MethodResult:
    """One method on one distinct layer: our cost model's numbers for its schedule."""

    cycles: int
    energy_pj: float
    solve_time_s: float
    status: str = ""
    gap: float | None = None
    schedule: Schedule | None = field(default=None, repr=False)

    @property
    def edp(self) -> float:
        return self.cycles * self.energy_pj

    def to_dict(self) -> dict[str, Any]:
        return {"cycles": self.cycles, "energy_pj": self.energy_pj, "edp": self.edp,
                "solve_time_s": round(self.solve_time_s, 4), "status": self.status, "gap": self.gap}


def _measure(problem: LoopProblem, spec: HardwareSpec, outcome: ScheduleOutcome) -> MethodResult:
    cost = evaluate(problem, spec, outcome.schedule)
    info = outcome.schedule.solver
    return MethodResult(cycles=int(cost.cycles), energy_pj=float(cost.energy_pj), solve_time_s=outcome.solve_time_s,
                        status=info.status, gap=info.gap, schedule=outcome.schedule)


def run_method(workload: Workload, spec: HardwareSpec, scheduler: str, options: Any, jobs: int,
               *, cache_dir: str | None = None) -> tuple[list[MethodResult], float]:
    """(per distinct layer results, wall seconds) for one scheduler over the whole workload."""
    start = time.perf_counter()
    outcomes = schedule_problems(workload.all_layers, spec, options, scheduler=scheduler, jobs=jobs,
                                 cache_dir=cache_dir, use_cache=cache_dir is not None)
    wall_s = time.perf_counter() - start
    return [_measure(p, spec, outcomes[p.shape_key()]) for p in workload.layers], wall_s


def mip_cold_warm(workload: Workload, spec: HardwareSpec, cfg: BenchConfig,
                  ) -> tuple[list[MethodResult], float, list[float]]:
    """MIP results, cold wall (empty cache) and warm walls (same cache, repeated)."""
    with tempfile.TemporaryDirectory(prefix="cosa-bench-cache-") as cache_dir:
        opts = main_options(cfg)
        results, cold_s = run_method(workload, spec, cfg.main_scheduler, opts, cfg.jobs, cache_dir=cache_dir)
        warm = [run_method(workload, spec, cfg.main_scheduler, opts, cfg.jobs, cache_dir=cache_dir)[1]
                for _ in range(cfg.warm_repeats)]
    return results, cold_s, warm


def exhaustive_results(workload: Workload, spec: HardwareSpec, cfg: BenchConfig) -> list[MethodResult | None]:
    """Exhaustive search on the layers whose space fits the limit (None elsewhere)."""
    feasible = []
    for p in workload.layers:
        if raw_space(p, spec) > 1000 * cfg.exhaustive_limit:
            continue  # hopeless before pruning: not even counted
        try:
            count_space(p, spec, limit=cfg.exhaustive_limit)
            feasible.append(p)
        except SearchSpaceTooLargeError:
            continue
    if not feasible:
        return [None] * len(workload.layers)
    sub = Workload(network=workload.network, source=workload.source, layers=tuple(feasible),
                   multiplicity=(1,) * len(feasible), all_layers=tuple(feasible))
    opts = SearchOptions(objective=cfg.objective, limit=cfg.exhaustive_limit)
    results, _ = run_method(sub, spec, "exhaustive", opts, cfg.jobs)
    by_key = {p.shape_key(): r for p, r in zip(feasible, results, strict=True)}
    return [by_key.get(p.shape_key()) for p in workload.layers]


def raw_space(problem: LoopProblem, spec: HardwareSpec) -> int:
    """Factor assignments before any validity pruning (loop orders not counted)."""
    n_slots = len(slots_for(spec))
    return math.prod(len(dim_splits(problem.bound(d), n_slots)) for d in ALL_DIMS if problem.bound(d) > 1)


def _key(result: MethodResult, objective: str) -> float:
    if objective == "energy":
        return result.energy_pj
    if objective == "edp":
        return result.edp
    return float(result.cycles)


def long_search(workload: Workload, spec: HardwareSpec, cfg: BenchConfig, random_big: list[MethodResult],
                exhaustive: list[MethodResult | None], log: Callable[[str], None]) -> list[MethodResult]:
    """Best per layer over every long-search candidate (never the default MIP run itself)."""
    candidates: list[Sequence[MethodResult | None]] = [random_big, exhaustive]
    if cfg.long_random:
        log("long search: random with 4x samples (another seed)")
        more = SearchOptions(objective=cfg.objective, samples=4 * cfg.random_samples, seed=cfg.seed + 1)
        candidates.append(run_method(workload, spec, "random", more, cfg.jobs)[0])
    if cfg.long:
        log("long search: MIP with a 10x time limit, no gap tolerance")
        from cosa_onnx.passes.cosa_mip import MipOptions

        base = MipOptions()
        long_mip = dataclasses.replace(base, time_limit_s=10 * base.time_limit_s, rel_gap=0.0,
                                       max_nodes=10 * base.effective_max_nodes)
        try:
            candidates.append(run_method(workload, spec, "mip", long_mip, cfg.jobs)[0])
        except CosaError as exc:
            log(f"long MIP failed: {exc}")
    out: list[MethodResult] = []
    for i in range(len(workload.layers)):
        options = [r for c in candidates if (r := c[i]) is not None]
        out.append(min(options, key=lambda r: (_key(r, cfg.objective), r.energy_pj)))
    return out


def cli_compile_times(model: Path, arch: str, repeats: int) -> dict[str, Any]:
    """Wall time of the user-facing ``cosa-onnx compile`` (import + schedule + report + write), cold
    (empty cache) and warm (same cache, ``repeats`` times), each in a fresh process."""
    with tempfile.TemporaryDirectory(prefix="cosa-bench-cli-") as tmp:
        cmd = [sys.executable, "-m", "cosa_onnx.cli", "compile", str(model), "--arch", arch, "-o",
               str(Path(tmp) / "out.onnx"), "--cache-dir", str(Path(tmp) / "cache"), "--quiet"]
        walls = []
        for _ in range(1 + repeats):
            start = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            walls.append(time.perf_counter() - start)
            if proc.returncode != 0:
                tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                return {"error": f"exit {proc.returncode}: {tail}", "command": " ".join(cmd[1:])}
    return {"cold_s": walls[0], "warm_s": walls[1:], "warm_s_median": statistics.median(walls[1:]) if repeats else None,
            "command": "cosa-onnx " + " ".join(cmd[3:])}


def bounds_of(workload: Workload, spec: HardwareSpec) -> list[dict[str, float]]:
    out = []
    for p in workload.layers:
        b = layer_bounds(p, spec)
        out.append({"latency_cycles": float(b.latency_cycles), "compute_cycles": float(b.compute_cycles),
                    "energy_pj": float(b.energy_pj)})
    return out


def geomean(values: Sequence[float]) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values)) if values else float("nan")
