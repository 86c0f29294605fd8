"""The on-disk schedule cache: keys, atomic JSON entries, and distrust of bad entries."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pytest

from cosa_onnx import cache as cache_mod
from cosa_onnx.cache import ScheduleCache, cache_key, cache_key_material, default_cache_dir
from cosa_onnx.hwmodels.loader import load_spec
from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.problem import Dim, LoopProblem
from cosa_onnx.schedule import LevelMapping, Schedule, check, make_factors, trivial_schedule

TOKEN = {"objective": "latency", "seed": 0}


@pytest.fixture
def spec() -> HardwareSpec:
    return load_spec("simba")


@pytest.fixture
def problem() -> LoopProblem:
    return LoopProblem(name="conv_a", r=3, s=3, p=4, q=4, c=8, k=16)


def _entry_path(store: ScheduleCache, problem: LoopProblem, spec: HardwareSpec) -> Path:
    return store.path_for(cache_key(cache_key_material(problem, spec, "mip", TOKEN)))


def test_round_trip_and_name_independence(tmp_path: Path, spec: HardwareSpec, problem: LoopProblem) -> None:
    store = ScheduleCache.open(tmp_path)
    schedule = trivial_schedule(problem, spec)
    assert store.load(problem, spec, "mip", TOKEN) is None
    path = store.store(problem, spec, "mip", TOKEN, schedule)
    assert path is not None and path.exists() and path.suffix == ".json"
    json.loads(path.read_text())  # plain JSON
    assert store.load(problem, spec, "mip", TOKEN) == schedule
    # Same shape under another name: same entry.
    assert store.load(problem.with_name("other"), spec, "mip", TOKEN) == schedule
    assert not list(path.parent.glob("*.tmp"))


def test_key_depends_on_everything_that_changes_the_result(tmp_path: Path, spec: HardwareSpec,
                                                           problem: LoopProblem) -> None:
    store = ScheduleCache.open(tmp_path)
    store.store(problem, spec, "mip", TOKEN, trivial_schedule(problem, spec))
    other_shape = dataclasses.replace(problem, k=32)
    other_spec = dataclasses.replace(spec, mac_energy_pj=spec.mac_energy_pj * 2)
    assert store.load(other_shape, spec, "mip", TOKEN) is None
    assert store.load(problem, other_spec, "mip", TOKEN) is None
    assert store.load(problem, spec, "random", TOKEN) is None
    assert store.load(problem, spec, "mip", {**TOKEN, "seed": 1}) is None
    assert store.load(problem, spec, "mip", TOKEN) is not None


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "not-a-dict", "bad-schedule"])
def test_corrupt_entries_are_ignored_and_rebuilt(tmp_path: Path, spec: HardwareSpec, problem: LoopProblem,
                                                 damage: str, caplog: pytest.LogCaptureFixture) -> None:
    store = ScheduleCache.open(tmp_path)
    schedule = trivial_schedule(problem, spec)
    path = store.store(problem, spec, "mip", TOKEN, schedule)
    assert path is not None
    text = path.read_text()
    if damage == "truncate":
        path.write_text(text[: len(text) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00\xff not json")
    elif damage == "empty":
        path.write_text("")
    elif damage == "not-a-dict":
        path.write_text("[1, 2, 3]")
    else:
        entry = json.loads(text)
        entry["schedule"]["levels"] = "nope"
        path.write_text(json.dumps(entry))
    with caplog.at_level(logging.WARNING, logger="cosa_onnx.cache"):
        assert store.load(problem, spec, "mip", TOKEN) is None
    assert str(path) in caplog.text
    store.store(problem, spec, "mip", TOKEN, schedule)
    assert store.load(problem, spec, "mip", TOKEN) == schedule


@pytest.mark.parametrize("field", ["cache_schema", "tool_version"])
def test_other_version_entries_are_ignored(tmp_path: Path, spec: HardwareSpec, problem: LoopProblem,
                                           field: str) -> None:
    store = ScheduleCache.open(tmp_path)
    path = store.store(problem, spec, "mip", TOKEN, trivial_schedule(problem, spec))
    assert path is not None
    entry = json.loads(path.read_text())
    entry[field] = 999 if field == "cache_schema" else "0.0.0-other"
    path.write_text(json.dumps(entry))
    assert store.load(problem, spec, "mip", TOKEN) is None


def test_cached_schedule_that_fails_check_is_not_trusted(tmp_path: Path, spec: HardwareSpec,
                                                         problem: LoopProblem) -> None:
    store = ScheduleCache.open(tmp_path)
    good = trivial_schedule(problem, spec)
    # Break it: DRAM K factor doubled, so the factor product no longer equals the bound.
    outer = good.levels[-1]
    bad_outer = LevelMapping(level=outer.level, temporal=make_factors({**dict(outer.temporal), Dim.K: 32}),
                             order=outer.order, keeps=outer.keeps)
    bad = Schedule(levels=(*good.levels[:-1], bad_outer), solver=good.solver)
    assert check(problem, spec, bad)
    store.store(problem, spec, "mip", TOKEN, bad)
    assert store.load(problem, spec, "mip", TOKEN) is None


def test_entry_for_another_key_is_ignored(tmp_path: Path, spec: HardwareSpec, problem: LoopProblem) -> None:
    store = ScheduleCache.open(tmp_path)
    other = dataclasses.replace(problem, c=4)
    src = store.store(other, spec, "mip", TOKEN, trivial_schedule(other, spec))
    assert src is not None
    dst = _entry_path(store, problem, spec)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(src.read_text())  # a valid entry, copied under the wrong name
    assert store.load(problem, spec, "mip", TOKEN) is None


def test_cache_dir_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache_mod.CACHE_DIR_ENV, str(tmp_path / "env"))
    assert default_cache_dir() == tmp_path / "env"
    assert ScheduleCache.open().root == tmp_path / "env"
    assert ScheduleCache.open(tmp_path / "explicit").root == tmp_path / "explicit"
    monkeypatch.delenv(cache_mod.CACHE_DIR_ENV)
    assert "cosa-onnx" in str(default_cache_dir())


def test_unwritable_cache_is_not_fatal(tmp_path: Path, spec: HardwareSpec, problem: LoopProblem) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    store = ScheduleCache.open(blocker)  # a file, so no directory can be made under it
    assert store.store(problem, spec, "mip", TOKEN, trivial_schedule(problem, spec)) is None
    assert store.load(problem, spec, "mip", TOKEN) is None
