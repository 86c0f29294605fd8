"""Same answer every time, and solver / cache faults never yield an invalid or silent result.

* cache off: two compiles give byte-identical annotated models and reports once timing fields
  (wall/solve/lookup times) are blanked;
* cache on: the second compile (all cache hits) gives the same schedules and costs;
* ``--time-limit 0.1``: complete, check()-valid schedules, flagged in the annotations;
* corrupt, truncated, tampered or other-version cache entries are ignored and rewritten.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import onnx
import pytest

from cosa_onnx.annotations import read_annotations
from cosa_onnx.cli import main
from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.schedule import check

MODELS = Path(__file__).resolve().parent.parent / "models"
TINY = MODELS / "tiny_cnn.onnx"
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


def compile_cli(capsys: pytest.CaptureFixture[str], model: Path, out: Path, *extra: str) -> None:
    code = main(["compile", str(model), "-o", str(out), "--quiet", *extra])
    _, err = capsys.readouterr()
    assert code == 0, err


def test_compile_twice_without_cache_is_byte_identical(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    runs = []
    for i in (1, 2):
        out, report = tmp_path / f"m{i}.onnx", tmp_path / f"r{i}.json"
        compile_cli(capsys, TINY, out, "--no-cache", "--report", str(report))
        runs.append((out, report))
    (m1, r1), (m2, r2) = runs
    assert normalized_model(m1) == normalized_model(m2)
    assert _scrub_text(r1.read_text(), ("time",)) == _scrub_text(r2.read_text(), ("time",))
    # the annotated model really carries schedules (the comparison is not vacuous)
    assert len(read_annotations(onnx.load(m1)).nodes) >= 3


def test_cache_hits_give_identical_results(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    compile_cli(capsys, TINY, tmp_path / "solved.onnx", "--cache-dir", str(cache))
    assert list(cache.rglob("*.json")), "the first compile stored nothing in the cache"
    compile_cli(capsys, TINY, tmp_path / "cached.onnx", "--cache-dir", str(cache))
    compile_cli(capsys, TINY, tmp_path / "nocache.onnx", "--no-cache")
    reference = normalized_model(tmp_path / "solved.onnx", VOLATILE)
    assert normalized_model(tmp_path / "cached.onnx", VOLATILE) == reference
    assert normalized_model(tmp_path / "nocache.onnx", VOLATILE) == reference


def _annotated_schedules(path: Path) -> tuple[HardwareSpec, list[tuple[Any, Any]]]:
    annotated = read_annotations(onnx.load(path))
    spec = annotated.network.spec
    return spec, [(node.problem, node.schedule) for node in annotated.nodes]


def test_tight_time_limit_gives_complete_valid_flagged_result(capsys: pytest.CaptureFixture[str],
                                                              tmp_path: Path) -> None:
    model = MODELS / "alexnet.onnx"
    out = tmp_path / "alexnet.cosa.onnx"
    compile_cli(capsys, model, out, "--no-cache", "--time-limit", "0.1")
    spec, layers = _annotated_schedules(out)
    scheduled_ops = [n for n in onnx.load(model).graph.node if n.op_type in ("Conv", "Gemm", "MatMul")]
    assert len(layers) == len(scheduled_ops) == 8
    for problem, schedule in layers:
        assert check(problem, spec, schedule) == [], problem.name
    infos = [schedule.solver for _, schedule in layers]
    assert all(info.status for info in infos)
    assert any(info.flags or info.status != "optimal" for info in infos), \
        "a 0.1 s limit on AlexNet's big layers should flag at least one layer as not proven optimal"


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other_version", "invalid_schedule", "empty"])
def test_damaged_cache_entries_are_ignored_and_rebuilt(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                        damage: str) -> None:
    cache = tmp_path / "cache"
    compile_cli(capsys, TINY, tmp_path / "first.onnx", "--cache-dir", str(cache))
    entries = sorted(cache.rglob("*.json"))
    assert entries
    for entry in entries:
        _damage(entry, damage)
    compile_cli(capsys, TINY, tmp_path / "second.onnx", "--cache-dir", str(cache))
    assert normalized_model(tmp_path / "second.onnx", VOLATILE) == normalized_model(tmp_path / "first.onnx", VOLATILE)
    for entry in entries:  # every damaged entry was rewritten with a valid one
        data = json.loads(entry.read_text())
        assert data["schedule"]["schema_version"] == 1 and data["tool_version"] != "0.0.0-other"


def _damage(path: Path, how: str) -> None:
    text = path.read_text()
    if how == "garbage":
        path.write_bytes(bytes(range(256)) * 4)
    elif how == "truncated":
        path.write_text(text[: len(text) // 2])
    elif how == "empty":
        path.write_text("")
    elif how == "other_version":
        data = json.loads(text)
        data["tool_version"] = "0.0.0-other"
        path.write_text(json.dumps(data))
    elif how == "invalid_schedule":
        data = json.loads(text)
        outer = data["schedule"]["levels"][-1]
        outer["temporal"] = {dim: factor * 2 for dim, factor in outer["temporal"].items()} or {"K": 2}
        path.write_text(json.dumps(data))
