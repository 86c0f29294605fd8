"""The multi-layer driver: dedupe, determinism across jobs, cache hits and rebuilds, progress, Ctrl-C."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

pytest.importorskip("cosa_onnx.cost")
pytest.importorskip("cosa_onnx.mapspace")

from cosa_onnx.errors import ScheduleError, UserInputError
from cosa_onnx.hwmodels.loader import load_spec
from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.passes.baselines import SearchOptions
from cosa_onnx.problem import LoopProblem
from cosa_onnx.schedule import Schedule, check
from cosa_onnx.scheduling import ProgressEvent, ScheduleOutcome, outcomes_by_layer, schedule_problems

OPTS = SearchOptions(objective="latency", samples=12, seed=4)


@pytest.fixture(scope="module")
def spec() -> HardwareSpec:
    return load_spec("simba")


def _layers() -> list[LoopProblem]:
    a = LoopProblem(name="a", r=3, s=3, p=14, q=14, c=32, k=32)
    b = LoopProblem(name="b", p=28, q=28, c=64, k=16)
    c = LoopProblem(name="c", op_type="Gemm", c=256, k=10)
    return [a, b, a.with_name("a2"), c, b.with_name("b2"), a.with_name("a3")]


def _essence(outcomes: dict[object, ScheduleOutcome]) -> list[tuple[object, ...]]:
    """What must not depend on jobs: the schedules and the solver's result (not its timing)."""
    out = []
    for key, o in outcomes.items():
        info = o.schedule.solver
        out.append((key, o.schedule.levels, o.schedule.padded_bounds, info.method, info.status, info.objective))
    return out


def test_identical_shapes_are_solved_once(spec: HardwareSpec, tmp_path: Path) -> None:
    events: list[ProgressEvent] = []
    problems = [LoopProblem(name=f"same{i}", p=14, q=14, c=64, k=64) for i in range(5)]
    out = schedule_problems(problems, spec, OPTS, scheduler="random", jobs=2, cache_dir=tmp_path,
                            on_progress=events.append)
    assert len(out) == 1
    (outcome,) = out.values()
    assert outcome.layer_names == tuple(p.name for p in problems)
    assert [e.kind for e in events] == ["started", "finished"]
    assert events[-1].total == 1 and events[-1].elapsed_s is not None
    by_layer = outcomes_by_layer(problems, out)
    assert {id(o) for o in by_layer.values()} == {id(outcome)}
    assert check(problems[3], spec, outcome.schedule) == []


def test_jobs_do_not_change_results(spec: HardwareSpec, tmp_path: Path) -> None:
    serial = schedule_problems(_layers(), spec, OPTS, scheduler="random", jobs=1, use_cache=False)
    events: list[ProgressEvent] = []
    parallel = schedule_problems(_layers(), spec, OPTS, scheduler="random", jobs=2, use_cache=False,
                                 on_progress=events.append)
    assert list(serial) == list(parallel) == [p.shape_key() for p in _layers()[:2]] + [_layers()[3].shape_key()]
    assert _essence(serial) == _essence(parallel)
    kinds = [e.kind for e in events]
    assert kinds.count("started") == kinds.count("finished") == 3
    for problem in _layers():
        assert check(problem, spec, parallel[problem.shape_key()].schedule) == []
    assert not multiprocessing.active_children()


def test_second_call_hits_the_cache(spec: HardwareSpec, tmp_path: Path) -> None:
    first = schedule_problems(_layers(), spec, OPTS, scheduler="random", jobs=1, cache_dir=tmp_path)
    assert not any(o.cache_hit for o in first.values())
    events: list[ProgressEvent] = []
    second = schedule_problems(_layers(), spec, OPTS, scheduler="random", jobs=2, cache_dir=tmp_path,
                               on_progress=events.append)
    assert all(o.cache_hit for o in second.values())
    assert [e.kind for e in events] == ["cache_hit"] * 3
    assert _essence(first) == _essence(second)
    # Other options: a different key, so no hit.
    other = schedule_problems(_layers()[:1], spec, SearchOptions(samples=12, seed=5), scheduler="random",
                              jobs=1, cache_dir=tmp_path)
    assert not any(o.cache_hit for o in other.values())
    # use_cache=False neither reads nor writes.
    fresh = schedule_problems(_layers(), spec, OPTS, scheduler="random", jobs=1, cache_dir=tmp_path, use_cache=False)
    assert not any(o.cache_hit for o in fresh.values())


def test_env_var_sets_the_cache_dir(spec: HardwareSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSA_ONNX_CACHE_DIR", str(tmp_path / "envcache"))
    schedule_problems(_layers()[:1], spec, OPTS, scheduler="random", jobs=1)
    assert list((tmp_path / "envcache").rglob("*.json"))


@pytest.mark.parametrize("damage", ["corrupt", "other-version"])
def test_bad_cache_files_are_ignored_and_rebuilt(spec: HardwareSpec, tmp_path: Path, damage: str) -> None:
    first = schedule_problems(_layers(), spec, OPTS, scheduler="random", jobs=1, cache_dir=tmp_path)
    files = sorted(tmp_path.rglob("*.json"))
    assert len(files) == 3
    for f in files:
        text = f.read_text()
        f.write_text(text[:40] if damage == "corrupt" else text.replace('"cache_schema": 1', '"cache_schema": 0'))
    again = schedule_problems(_layers(), spec, OPTS, scheduler="random", jobs=1, cache_dir=tmp_path)
    assert not any(o.cache_hit for o in again.values())
    assert _essence(first) == _essence(again)
    third = schedule_problems(_layers(), spec, OPTS, scheduler="random", jobs=1, cache_dir=tmp_path)
    assert all(o.cache_hit for o in third.values())


def test_ctrl_c_terminates_workers_and_reraises(spec: HardwareSpec) -> None:
    def interrupt(event: ProgressEvent) -> None:
        if event.kind == "started" and event.index == 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        schedule_problems(_layers(), spec, SearchOptions(samples=2000, seed=0), scheduler="random", jobs=2,
                          use_cache=False, on_progress=interrupt)
    assert not multiprocessing.active_children()


def test_worker_errors_reach_the_caller(spec: HardwareSpec) -> None:
    too_big = LoopProblem(name="too_big", r=3, s=3, p=8, q=8, c=16, k=16)
    events: list[ProgressEvent] = []
    with pytest.raises(UserInputError, match="too_big"):
        schedule_problems([too_big, _layers()[1]], spec, SearchOptions(limit=10), scheduler="exhaustive", jobs=2,
                          use_cache=False, on_progress=events.append)
    assert any(e.kind == "failed" and "too_big" in e.message for e in events)
    assert not multiprocessing.active_children()


class _DyingOptions:
    """Search options whose ``samples`` kills the worker process that reads it."""

    objective = "latency"
    seed = 0

    def cache_token(self) -> dict[str, object]:
        return {"dying": True}

    @property
    def samples(self) -> int:
        import os

        os._exit(3)


def test_a_dying_worker_is_an_error_not_a_hang(spec: HardwareSpec) -> None:
    events: list[ProgressEvent] = []
    with pytest.raises(ScheduleError, match=r"exit code 3"):
        schedule_problems(_layers(), spec, _DyingOptions(), scheduler="random", jobs=2, use_cache=False,
                          on_progress=events.append)
    assert any(e.kind == "failed" for e in events)
    assert not multiprocessing.active_children()


def test_bad_arguments_are_user_errors(spec: HardwareSpec) -> None:
    with pytest.raises(UserInputError, match="scheduler"):
        schedule_problems(_layers(), spec, OPTS, scheduler="annealing")
    with pytest.raises(UserInputError, match="jobs"):
        schedule_problems(_layers(), spec, OPTS, scheduler="random", jobs=0)


def test_outcome_schedules_round_trip(spec: HardwareSpec, tmp_path: Path) -> None:
    out = schedule_problems(_layers()[:2], spec, OPTS, scheduler="random", jobs=1, cache_dir=tmp_path)
    for o in out.values():
        assert Schedule.from_json(o.schedule.to_json()) == o.schedule


_SIGINT_SCRIPT = """
import multiprocessing, sys
from cosa_onnx.hwmodels.loader import load_spec
from cosa_onnx.passes.baselines import SearchOptions
from cosa_onnx.problem import LoopProblem
from cosa_onnx.scheduling import schedule_problems

STARTED = []

def progress(event):
    if event.kind == "started":
        STARTED.append(event.index)
        if len(STARTED) == 2:
            print("PIDS", *[p.pid for p in multiprocessing.active_children()], flush=True)

if __name__ == "__main__":
    problems = [LoopProblem(name=f"l{i}", r=3, s=3, p=28, q=28, c=64 * (i + 1), k=64) for i in range(4)]
    try:
        schedule_problems(problems, load_spec("simba"), SearchOptions(samples=100000), scheduler="random",
                          jobs=2, use_cache=False, on_progress=progress)
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
        sys.exit(130)
"""


def test_real_sigint_stops_the_workers(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "run.py"
    script.write_text(_SIGINT_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("PIDS"), line
    pids = [int(x) for x in line.split()[1:]]
    assert pids
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole process group
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "INTERRUPTED" in out
    deadline = time.monotonic() + 5
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if _running(p)]
        time.sleep(0.05)
    assert not alive


def _running(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not running
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split()[2] != "Z"
    except OSError:
        return False


def test_mip_scheduler_through_the_driver(spec: HardwareSpec, tmp_path: Path) -> None:
    """The default scheduler (the CoSA MIP): dedupe, jobs-independence and cache on real CBC solves."""
    from cosa_onnx.passes.cosa_mip import MipOptions

    gemm = LoopProblem(name="g", op_type="Gemm", c=64, k=16)
    other = LoopProblem(name="h", op_type="Gemm", c=32, k=8)
    problems = [gemm, other, gemm.with_name("g2")]
    serial = schedule_problems(problems, spec, MipOptions(), jobs=1, cache_dir=tmp_path / "a")
    parallel = schedule_problems(problems, spec, MipOptions(), jobs=2, cache_dir=tmp_path / "b")
    assert len(serial) == 2 and _essence(serial) == _essence(parallel)
    assert all(o.schedule.solver.method == "mip" for o in serial.values())
    warm = schedule_problems(problems, spec, None, jobs=2, cache_dir=tmp_path / "a")  # None = MipOptions()
    assert all(o.cache_hit for o in warm.values()) and _essence(warm) == _essence(serial)


def test_hung_worker_is_stopped_and_gets_a_flagged_fallback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A worker past the watchdog (here 0.3 s, far below a real solve) is killed; its layer gets a
    valid fallback schedule flagged worker-stopped, which is not cached; the run never hangs."""
    import cosa_onnx.scheduling as scheduling
    from cosa_onnx.passes.cosa_mip import MipOptions

    monkeypatch.setattr(scheduling, "watchdog_s", lambda options: 0.3)
    spec = load_spec("simba")
    problems = [LoopProblem(name=f"w{i}", r=3, s=3, p=28, q=28, c=64 * (i + 1), k=128) for i in range(2)]
    out = scheduling.schedule_problems(problems, spec, MipOptions(), jobs=2, cache_dir=tmp_path)
    for problem in problems:
        schedule = out[problem.shape_key()].schedule
        assert "worker-stopped" in schedule.solver.flags and schedule.solver.status == "fallback"
        assert check(problem, spec, schedule) == []
    assert not list(tmp_path.rglob("*.json")), "a stopped worker's fallback must not be cached"
