"""Same answer every time, and solver / cache faults never yield an invalid or silent result.

* cache off: two compiles give byte-identical annotated models and reports once timing fields
  (wall/solve/lookup times) are blanked. The model's layers are solved to proven optimality, well
  inside the time limit: a solve cut short by the (wall-clock) time limit returns whatever incumbent
  CBC held at that moment, which can differ between runs on a loaded machine;
* cache on: the second compile (all cache hits) gives the same schedules and costs;
* ``--time-limit 0.1``: complete, check()-valid schedules, flagged in the annotations;
* corrupt, truncated, tampered or other-version cache entries are ignored and rewritten.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import onnx
import pytest
from bad_inputs import builders

from cosa_onnx.annotations import read_annotations
from cosa_onnx.cli import main
from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.schedule import check

MODELS = Path(__file__).resolve().parent.parent / "models"
SOLVE = ("--time-limit", "30")  # never reached by these layers: every stop is deterministic (gap / nodes)
VOLATILE = ("time", "cache_hit")  # key fragments whose values may differ between runs


def _scrub(value: Any, volatile: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        return {k: (None if any(v in k for v in volatile) else _scrub(x, volatile)) for k, x in value.items()}
    if isinstance(value, list):
        return [_scrub(x, volatile) for x in value]
    return value


def _scrub_text(text: str, volatile: tuple[str, ...]) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return text
    return json.dumps(_scrub(data, volatile), sort_keys=True)


def normalized_model(path: Path, volatile: tuple[str, ...] = ("time",)) -> bytes:
    """The model's bytes with the volatile fields of every JSON metadata value blanked."""
    model = onnx.load(path)
    entries = [*model.metadata_props]
    for node in model.graph.node:
        entries.extend(node.metadata_props)
    for entry in entries:
        entry.value = _scrub_text(entry.value, volatile)
    return model.SerializeToString(deterministic=True)


def compile_cli(model: Path, out: Path, *extra: str) -> None:
    code = main(["compile", str(model), "-o", str(out), "--quiet", *extra])
    assert code == 0, f"compile {model.name} {' '.join(extra)} failed"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small model compiled twice without cache, then twice with one cache (solve, then hits)."""
    root = tmp_path_factory.mktemp("determinism")
    model = builders.save(builders.small_mlp(), root / "mlp.onnx")
    paths = {"root": root, "model": model, "cache": root / "cache"}
    for name in ("a", "b"):
        paths[name], paths[f"report_{name}"] = root / f"{name}.onnx", root / f"{name}.json"
        compile_cli(model, paths[name], "--no-cache", "--report", str(paths[f"report_{name}"]), *SOLVE)
    for name in ("solved", "cached"):
        paths[name] = root / f"{name}.onnx"
        compile_cli(model, paths[name], "--cache-dir", str(paths["cache"]), *SOLVE)
    return paths


def test_compile_twice_without_cache_is_byte_identical(runs: dict[str, Path]) -> None:
    assert normalized_model(runs["a"]) == normalized_model(runs["b"])
    report_a, report_b = runs["report_a"].read_text(), runs["report_b"].read_text()
    assert _scrub_text(report_a, ("time",)) == _scrub_text(report_b, ("time",))
    # the annotated model really carries schedules (the comparison is not vacuous), all proven optimal
    nodes = read_annotations(onnx.load(runs["a"])).nodes
    assert len(nodes) == 4
    assert [n.schedule.solver.status for n in nodes] == ["optimal"] * 4


def test_cache_hits_give_identical_results(runs: dict[str, Path]) -> None:
    assert list(runs["cache"].rglob("*.json")), "the first compile stored nothing in the cache"
    reference = normalized_model(runs["solved"], VOLATILE)
    assert normalized_model(runs["cached"], VOLATILE) == reference
    assert normalized_model(runs["a"], VOLATILE) == reference


def _annotated_schedules(path: Path) -> tuple[HardwareSpec, list[tuple[Any, Any]]]:
    annotated = read_annotations(onnx.load(path))
    spec = annotated.network.spec
    return spec, [(node.problem, node.schedule) for node in annotated.nodes]


def test_tight_time_limit_gives_complete_valid_flagged_result(tmp_path: Path) -> None:
    model = MODELS / "tiny_cnn.onnx"
    out = tmp_path / "tiny.cosa.onnx"
    compile_cli(model, out, "--no-cache", "--time-limit", "0.1")
    spec, layers = _annotated_schedules(out)
    scheduled_ops = [n for n in onnx.load(model).graph.node if n.op_type in ("Conv", "Gemm", "MatMul")]
    assert len(layers) == len(scheduled_ops) == 5
    for problem, schedule in layers:
        assert check(problem, spec, schedule) == [], problem.name
    infos = [schedule.solver for _, schedule in layers]
    assert all(info.status for info in infos)
    assert any(info.flags or info.status != "optimal" for info in infos), \
        "a 0.1 s limit should flag at least one layer as not proven optimal (they take seconds to prove)"


DAMAGES = ("garbage", "truncated", "other_version", "invalid_schedule")


def test_damaged_cache_entries_are_ignored_and_rebuilt(runs: dict[str, Path], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(runs["cache"], cache)
    entries = sorted(cache.rglob("*.json"))
    assert len(entries) == 4
    for entry, damage in zip(entries, DAMAGES, strict=False):  # each entry damaged a different way
        _damage(entry, damage)
    compile_cli(runs["model"], tmp_path / "again.onnx", "--cache-dir", str(cache), *SOLVE)
    assert normalized_model(tmp_path / "again.onnx", VOLATILE) == normalized_model(runs["solved"], VOLATILE)
    for entry in entries:  # every damaged entry was rewritten with a valid one
        data = json.loads(entry.read_text())
        assert data["schedule"]["schema_version"] == 1 and data["tool_version"] != "0.0.0-other"


def _damage(path: Path, how: str) -> None:
    text = path.read_text()
    if how == "garbage":
        path.write_bytes(bytes(range(256)) * 4)
    elif how == "truncated":
        path.write_text(text[: len(text) // 2])
    elif how == "other_version":
        data = json.loads(text)
        data["tool_version"] = "0.0.0-other"
        path.write_text(json.dumps(data))
    elif how == "invalid_schedule":
        data = json.loads(text)
        outer = data["schedule"]["levels"][-1]
        outer["temporal"] = {dim: factor * 2 for dim, factor in outer["temporal"].items()} or {"K": 2}
        path.write_text(json.dumps(data))
