"""The multi-layer scheduling driver: dedupe by shape, on-disk cache, parallel worker processes.

:func:`schedule_problems` solves each distinct loop-problem shape once, with the chosen scheduler
(``mip`` = :func:`cosa_onnx.passes.cosa_mip.schedule_problem`; ``random`` / ``exhaustive`` = the
search baselines), looks schedules up in / stores them into the persistent cache
(:mod:`cosa_onnx.cache`), and runs independent solves in ``jobs`` worker processes. Results do not
depend on ``jobs``: every solve is an independent, seeded computation on one problem. Each solve runs
in its own worker process (forked where the platform allows); a worker that dies is reported as a
ScheduleError naming the layer, never a hang. Ctrl-C terminates the workers and re-raises
:class:`KeyboardInterrupt` in the caller.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import multiprocessing.connection as mp_connection
import os
import pickle  # only for the in-memory trip of results through the worker pipe, never to disk
import signal
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any, Literal, Protocol

from cosa_onnx.cache import ScheduleCache
from cosa_onnx.errors import ScheduleError, UserInputError
from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.problem import LoopProblem, prime_factors
from cosa_onnx.schedule import Schedule, check, trivial_schedule

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


# A worker still running this long after its solver's own limits (CBC's clock safety net, the refinement
# deadline) is stuck, not slow: it is stopped and the layer gets a flagged fallback schedule.
WATCHDOG_FLOOR_S = 120.0


def watchdog_s(options: Any) -> float:
    """Seconds after which a worker is presumed hung (well past every limit the solver sets itself)."""
    limit_s = float(getattr(options, "time_limit_s", 0.0) or 0.0)
    return WATCHDOG_FLOOR_S + 10.0 * limit_s


def fallback_one(problem: LoopProblem, spec: HardwareSpec, scheduler: str, options: Any) -> Schedule:
    """A valid, flagged schedule for a layer whose solve had to be stopped."""
    if scheduler == "mip":
        from cosa_onnx.passes.cosa_mip import fallback_schedule

        return fallback_schedule(problem, spec, options, "worker-stopped")
    trivial = trivial_schedule(problem, spec)
    return dataclasses.replace(trivial, solver=dataclasses.replace(trivial.solver, flags=("fallback", "worker-stopped")))


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
        self.watchdog_s = watchdog_s(options)

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

    def finish(self, task: _Task, schedule: Schedule, solve_s: float, *, cacheable: bool = True) -> None:
        schedule = _validated(task, self.spec, schedule)
        if self.cache is not None and cacheable:
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
        """One worker process per distinct shape, at most ``workers`` at a time."""
        # Longest-looking solves first (most prime factors) for a shorter makespan.
        pending = sorted(todo, key=lambda t: (-_solve_weight(t.problem), t.index))
        ctx = _mp_context()
        running: list[_Worker] = []
        try:
            while pending or running:
                while pending and len(running) < workers:
                    task = pending.pop(0)
                    running.append(_Worker.start(ctx, task, self.spec, self.scheduler, self.options))
                    self.emit("started", task)
                mp_connection.wait([w.conn for w in running] + [w.process.sentinel for w in running], timeout=0.2)
                for worker in [w for w in running if w.done()]:
                    running.remove(worker)
                    self._collect(worker)
                for worker in [w for w in running if time.perf_counter() - w.started_s > self.watchdog_s]:
                    running.remove(worker)
                    self._stop_hung(worker)
        except BaseException:
            for worker in running:
                worker.process.terminate()
            for worker in running:
                worker.close()
            raise

    def _stop_hung(self, worker: _Worker) -> None:
        """Stop a worker past the watchdog and schedule its layer with the fallback instead."""
        task = worker.task
        logger.warning("layer %s: the solver worker ran %.0f s, past every solver limit; stopped it and "
                       "used the fallback schedule (flag worker-stopped)", task.problem.name, self.watchdog_s)
        worker.process.kill()
        worker.close()
        start = time.perf_counter()
        self.finish(task, fallback_one(task.problem, self.spec, self.scheduler, self.options),
                    self.watchdog_s + time.perf_counter() - start, cacheable=False)  # solve it again next time

    def _collect(self, worker: _Worker) -> None:
        kind, payload, solve_s = worker.reply()
        task = worker.task
        if kind == "ok" and isinstance(payload, Schedule):
            self.finish(task, payload, solve_s)
            return
        error = payload if isinstance(payload, BaseException) else ScheduleError(
            f"layer {task.problem.name}: {payload}; rerun with --jobs 1 to see the failure in-process")
        self.emit("failed", task, solve_s, str(error))
        raise error


_Reply = tuple[str, object, float]   # ("ok", Schedule, s) | ("error", exception, s) | ("died", text, s)


@dataclass(kw_only=True)
class _Worker:
    """A child process solving one task and sending one reply through a pipe."""

    task: _Task
    process: BaseProcess
    conn: Connection
    started_s: float

    @classmethod
    def start(cls, ctx: BaseContext, task: _Task, spec: HardwareSpec, scheduler: str, options: Any) -> _Worker:
        reader, writer = ctx.Pipe(duplex=False)
        process: BaseProcess = ctx.Process(  # type: ignore[attr-defined]
            target=_child_main, args=(writer, task.problem, spec, scheduler, options),
            name=f"cosa-onnx-{task.problem.name}", daemon=True)
        process.start()
        writer.close()  # the child holds the only writer: EOF on the reader = the child is gone
        return cls(task=task, process=process, conn=reader, started_s=time.perf_counter())

    def done(self) -> bool:
        return self.conn.poll() or not self.process.is_alive()

    def reply(self) -> _Reply:
        try:
            kind, payload, solve_s = self.conn.recv()
        except (EOFError, OSError):
            self.process.join(timeout=5)
            code = self.process.exitcode
            kind, payload, solve_s = "died", f"the worker process died (exit code {code})", \
                time.perf_counter() - self.started_s
        self.close()
        return str(kind), payload, float(solve_s)

    def close(self) -> None:
        self.process.join(timeout=5)
        self.conn.close()


def _mp_context() -> BaseContext:
    """fork where available: no re-import of the caller's __main__ (works from notebooks, stdin and
    unguarded scripts) and no interpreter start-up per worker; spawn elsewhere."""
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    return multiprocessing.get_context(method)


def _child_main(conn: Connection, problem: LoopProblem, spec: HardwareSpec, scheduler: str, options: Any) -> None:
    """Worker entry point: ignore Ctrl-C (the parent handles it), solve, send one reply."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    start = time.perf_counter()
    reply: _Reply
    try:
        reply = ("ok", solve_one(problem, spec, scheduler, options), time.perf_counter() - start)
    except BaseException as exc:  # every failure goes back to the parent
        reply = ("error", _picklable(exc), time.perf_counter() - start)
    try:
        conn.send(reply)
    finally:
        conn.close()


def _picklable(exc: BaseException) -> BaseException:
    """The exception itself if it survives the trip through the pipe, else a ScheduleError saying what it was."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return ScheduleError(f"{type(exc).__name__}: {exc}")
    return exc


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
