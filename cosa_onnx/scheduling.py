"""The multi-layer scheduling driver: dedupe by shape, on-disk cache, parallel worker processes.

:func:`schedule_problems` solves each distinct loop-problem shape once, with the chosen scheduler
(``mip`` = :func:`cosa_onnx.passes.cosa_mip.schedule_problem`; ``random`` / ``exhaustive`` = the
search baselines), looks schedules up in / stores them into the persistent cache
(:mod:`cosa_onnx.cache`), and runs independent solves in ``jobs`` worker processes. Results do not
depend on ``jobs``: every solve is an independent, seeded computation on one problem. Ctrl-C
terminates the workers and re-raises :class:`KeyboardInterrupt` in the caller.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import signal
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.pool import Pool
from typing import Any, Literal, Protocol

from cosa_onnx.cache import ScheduleCache
from cosa_onnx.errors import ScheduleError, UserInputError
from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.problem import LoopProblem, prime_factors
from cosa_onnx.schedule import Schedule, check

logger = logging.getLogger(__name__)

ShapeKey = tuple[Any, ...]
SCHEDULERS: tuple[str, ...] = ("mip", "random", "exhaustive")
EventKind = Literal["cache_hit", "started", "finished", "failed"]


class SchedulerOptions(Protocol):
    """What the driver needs from an options object (MipOptions, SearchOptions)."""

    def cache_token(self) -> dict[str, object]: ...


@dataclass(frozen=True, kw_only=True)
class ScheduleOutcome:
    """The schedule of one distinct shape, whether it came from the cache, and the solve time."""

    schedule: Schedule
    cache_hit: bool
    solve_time_s: float          # the solve's wall time (0 for a cache hit; see lookup_time_s)
    lookup_time_s: float = 0.0   # time spent reading the cache entry
    layer_names: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ProgressEvent:
    """One per-layer progress event (sent in the calling process, in the order things happen)."""

    kind: EventKind
    shape_key: ShapeKey
    layer_names: tuple[str, ...]   # every layer with this shape (the first one was solved)
    index: int                     # 0-based position among the distinct shapes
    total: int                     # number of distinct shapes
    elapsed_s: float | None = None  # solve time (finished/failed) or lookup time (cache_hit)
    message: str = ""


@dataclass(frozen=True, kw_only=True)
class _Task:
    index: int
    problem: LoopProblem
    names: tuple[str, ...]


def default_jobs() -> int:
    """Cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def default_options(scheduler: str) -> SchedulerOptions:
    if scheduler == "mip":
        from cosa_onnx.passes.cosa_mip import MipOptions

        options: SchedulerOptions = MipOptions()
        return options
    from cosa_onnx.passes.baselines import SearchOptions

    return SearchOptions()


def solve_one(problem: LoopProblem, spec: HardwareSpec, scheduler: str, options: Any) -> Schedule:
    """Run one scheduler on one problem (in whatever process calls it)."""
    if scheduler == "mip":
        from cosa_onnx.passes.cosa_mip import schedule_problem

        return schedule_problem(problem, spec, options)
    from cosa_onnx.passes.baselines import exhaustive_search, random_search

    if scheduler == "random":
        return random_search(problem, spec, samples=options.samples, seed=options.seed, objective=options.objective)
    return exhaustive_search(problem, spec, objective=options.objective, limit=options.limit)


def _worker_init() -> None:
    """Workers ignore Ctrl-C: the parent handles it and terminates them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _worker_solve(index: int, problem: LoopProblem, spec: HardwareSpec, scheduler: str,
                  options: Any) -> tuple[int, Schedule, float]:
    start = time.perf_counter()
    schedule = solve_one(problem, spec, scheduler, options)
    return index, schedule, time.perf_counter() - start


def _distinct(problems: Iterable[LoopProblem]) -> list[_Task]:
    first: dict[ShapeKey, LoopProblem] = {}
    names: dict[ShapeKey, list[str]] = {}
    for problem in problems:
        key = problem.shape_key()
        first.setdefault(key, problem)
        names.setdefault(key, []).append(problem.name)
    return [_Task(index=i, problem=p, names=tuple(names[k])) for i, (k, p) in enumerate(first.items())]


def _validated(task: _Task, spec: HardwareSpec, schedule: Schedule) -> Schedule:
    problems = check(task.problem, spec, schedule)
    if problems:
        raise ScheduleError(f"layer {task.problem.name}: the scheduler returned an invalid schedule "
                            f"({problems[0]}); please report this")
    return schedule


class _Run:
    """State of one schedule_problems call (keeps the public function short)."""

    def __init__(self, spec: HardwareSpec, scheduler: str, options: Any, tasks: Sequence[_Task],
                 cache: ScheduleCache | None, on_progress: Callable[[ProgressEvent], None] | None) -> None:
        self.spec, self.scheduler, self.options = spec, scheduler, options
        self.tasks, self.cache, self.on_progress = tasks, cache, on_progress
        self.token = options.cache_token()
        self.outcomes: dict[int, ScheduleOutcome] = {}

    def emit(self, kind: EventKind, task: _Task, elapsed_s: float | None = None, message: str = "") -> None:
        if self.on_progress is not None:
            self.on_progress(ProgressEvent(kind=kind, shape_key=task.problem.shape_key(), layer_names=task.names,
                                           index=task.index, total=len(self.tasks), elapsed_s=elapsed_s,
                                           message=message))

    def lookup(self) -> list[_Task]:
        """Fill outcomes from the cache; returns the tasks still to solve."""
        todo: list[_Task] = []
        for task in self.tasks:
            start = time.perf_counter()
            cached = None if self.cache is None else self.cache.load(task.problem, self.spec, self.scheduler,
                                                                      self.token)
            if cached is None:
                todo.append(task)
                continue
            lookup_s = time.perf_counter() - start
            self.outcomes[task.index] = ScheduleOutcome(schedule=cached, cache_hit=True, solve_time_s=0.0,
                                                        lookup_time_s=lookup_s, layer_names=task.names)
            self.emit("cache_hit", task, lookup_s)
        return todo

    def finish(self, task: _Task, schedule: Schedule, solve_s: float) -> None:
        schedule = _validated(task, self.spec, schedule)
        if self.cache is not None:
            self.cache.store(task.problem, self.spec, self.scheduler, self.token, schedule)
        self.outcomes[task.index] = ScheduleOutcome(schedule=schedule, cache_hit=False, solve_time_s=solve_s,
                                                    layer_names=task.names)
        self.emit("finished", task, solve_s)

    def solve_serial(self, todo: Sequence[_Task]) -> None:
        for task in todo:
            self.emit("started", task)
            start = time.perf_counter()
            try:
                schedule = solve_one(task.problem, self.spec, self.scheduler, self.options)
            except Exception as exc:
                self.emit("failed", task, time.perf_counter() - start, str(exc))
                raise
            self.finish(task, schedule, time.perf_counter() - start)

    def solve_parallel(self, todo: Sequence[_Task], workers: int) -> None:
        # Longest-looking solves first (most prime factors) for a shorter makespan.
        pending = sorted(todo, key=lambda t: (-_solve_weight(t.problem), t.index))
        by_index = {t.index: t for t in todo}
        done: queue.Queue[tuple[int, Schedule | None, float, BaseException | None]] = queue.Queue()
        ctx = multiprocessing.get_context("spawn")
        pool: Pool = ctx.Pool(processes=workers, initializer=_worker_init)
        try:
            in_flight = 0
            while pending or in_flight:
                while pending and in_flight < workers:
                    self._submit(pool, pending.pop(0), done)
                    in_flight += 1
                index, schedule, solve_s, error = _next_result(done)
                in_flight -= 1
                if error is not None:
                    self.emit("failed", by_index[index], solve_s, str(error))
                    raise error
                if schedule is None:  # pragma: no cover - a result always carries one or the other
                    raise ScheduleError(f"layer {by_index[index].problem.name}: worker returned nothing")
                self.finish(by_index[index], schedule, solve_s)
            pool.close()
        except BaseException:
            pool.terminate()
            raise
        finally:
            pool.join()

    def _submit(self, pool: Pool, task: _Task,
                done: queue.Queue[tuple[int, Schedule | None, float, BaseException | None]]) -> None:
        submitted = time.perf_counter()
        self.emit("started", task)

        def on_ok(result: tuple[int, Schedule, float]) -> None:
            done.put((result[0], result[1], result[2], None))

        def on_error(exc: BaseException) -> None:
            done.put((task.index, None, time.perf_counter() - submitted, exc))

        pool.apply_async(_worker_solve, (task.index, task.problem, self.spec, self.scheduler, self.options),
                         callback=on_ok, error_callback=on_error)


def _next_result(done: queue.Queue[tuple[int, Schedule | None, float, BaseException | None]],
                 ) -> tuple[int, Schedule | None, float, BaseException | None]:
    """Block for the next result in short slices, so Ctrl-C reaches the main thread promptly."""
    while True:
        try:
            return done.get(timeout=0.1)
        except queue.Empty:
            continue


def _solve_weight(problem: LoopProblem) -> int:
    return sum(len(prime_factors(b)) for b in problem.bounds.values() if b > 1)


def schedule_problems(problems: Iterable[LoopProblem], spec: HardwareSpec, options: SchedulerOptions | None = None,
                      *, scheduler: str = "mip", jobs: int | None = None,
                      cache_dir: str | os.PathLike[str] | None = None, use_cache: bool = True,
                      on_progress: Callable[[ProgressEvent], None] | None = None) -> dict[ShapeKey, ScheduleOutcome]:
    """Schedule every distinct shape among ``problems``; keys are ``problem.shape_key()`` in order of
    first appearance. ``jobs`` = worker processes (default: cores available; 1 = in this process).
    ``cache_dir`` overrides the cache location (else ``$COSA_ONNX_CACHE_DIR`` or the user cache dir)."""
    if scheduler not in SCHEDULERS:
        raise UserInputError(f"unknown scheduler {scheduler!r}: use one of {', '.join(SCHEDULERS)}")
    jobs = default_jobs() if jobs is None else jobs
    if jobs < 1:
        raise UserInputError(f"--jobs must be at least 1, got {jobs}")
    opts = default_options(scheduler) if options is None else options
    tasks = _distinct(problems)
    cache = ScheduleCache.open(cache_dir) if use_cache else None
    run = _Run(spec, scheduler, opts, tasks, cache, on_progress)
    todo = run.lookup()
    workers = min(jobs, len(todo))
    logger.info("scheduling %d distinct shapes (%d cached) with %s on %d process(es)", len(tasks),
                len(tasks) - len(todo), scheduler, max(workers, 1))
    if workers > 1:
        run.solve_parallel(todo, workers)
    else:
        run.solve_serial(todo)
    return {t.problem.shape_key(): run.outcomes[t.index] for t in tasks}


def outcomes_by_layer(problems: Iterable[LoopProblem],
                      outcomes: Mapping[ShapeKey, ScheduleOutcome]) -> dict[str, ScheduleOutcome]:
    """Convenience: the outcome of every layer, by layer name."""
    return {p.name: outcomes[p.shape_key()] for p in problems}


__all__ = ["SCHEDULERS", "ProgressEvent", "ScheduleOutcome", "SchedulerOptions", "default_jobs",
           "outcomes_by_layer", "schedule_problems", "solve_one"]
