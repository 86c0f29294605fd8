"""The compile pipeline through the Python API on the shipped tiny CNN (real importer, MIP, cost model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import cosa_onnx
from cosa_onnx.annotations import read_annotations
from cosa_onnx.errors import UserInputError
from cosa_onnx.hwmodels.loader import builtin_names
from cosa_onnx.importer import import_model
from cosa_onnx.pipeline import CompileResult, default_output_path, load_compiled, report_from_model
from cosa_onnx.report import without_timing
from cosa_onnx.schedule import check

MODELS = Path(__file__).resolve().parents[1] / "models"
TINY = MODELS / "tiny_cnn.onnx"
FAST = {"time_limit_s": 0.5, "jobs": 1}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One schedule cache for this session's compile tests (each tiny-CNN shape is solved once)."""
    return tmp_path_factory.getbasetemp() / "tiny-cnn-schedule-cache"


@pytest.fixture(scope="module")
def compiled(cache_dir: Path) -> CompileResult:
    return cosa_onnx.compile(TINY, arch="simba", cache_dir=cache_dir, **FAST)


def _outputs(model: onnx.ModelProto) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {}
    rng = np.random.default_rng(0)
    for inp in session.get_inputs():
        shape = [d if isinstance(d, int) else 1 for d in inp.shape]
        feeds[inp.name] = rng.standard_normal(shape).astype(np.float32)
    return [np.asarray(o) for o in session.run(None, feeds)]


def test_every_layer_gets_a_valid_schedule(compiled: CompileResult) -> None:
    layers = import_model(TINY).layers
    assert list(compiled.schedules) == [layer.node_name for layer in layers]
    for layer in layers:
        assert check(layer.problem, compiled.spec, compiled.schedules[layer.node_name]) == []
    assert [row.node_name for row in compiled.report.layers] == [layer.node_name for layer in layers]
    assert compiled.report.model_name == "tiny_cnn"


def test_report_totals_are_the_sums_of_the_rows(compiled: CompileResult) -> None:
    rows, totals = compiled.report.layers, compiled.report.totals
    assert totals["cycles"] == sum(r.cycles for r in rows)
    assert totals["macs"] == sum(r.macs for r in rows) == sum(layer.problem.macs for layer in compiled.layers)
    assert totals["energy_pj"] == pytest.approx(sum(r.energy_pj for r in rows), rel=1e-12)
    assert totals["edp"] == pytest.approx(totals["cycles"] * totals["energy_pj"], rel=1e-12)
    assert all(r.cycles >= r.bound_compute_cycles for r in rows)


def test_annotated_model_checks_and_runs_bit_identical(compiled: CompileResult) -> None:
    original = onnx.load(str(TINY))
    onnx.checker.check_model(compiled.model, full_check=True)
    before, after = _outputs(original), _outputs(compiled.model)
    assert [a.tobytes() for a in after] == [b.tobytes() for b in before]
    assert list(compiled.model.graph.initializer) == list(original.graph.initializer)


def test_annotations_round_trip_through_the_file(compiled: CompileResult, tmp_path: Path) -> None:
    path = compiled.save(tmp_path / "tiny.cosa.onnx")
    back = read_annotations(load_compiled(path))
    assert {n.node_name: n.schedule for n in back.nodes} == dict(compiled.schedules)
    assert [n.problem for n in back.nodes] == [r.problem for r in compiled.layers]
    assert [n.cycles for n in back.nodes] == [r.cycles for r in compiled.report.layers]
    assert back.network.spec == compiled.spec
    assert dict(back.network.totals) == compiled.report.totals


def test_report_from_annotations_equals_compile_report(compiled: CompileResult) -> None:
    rebuilt = report_from_model(compiled.model)
    assert without_timing(rebuilt.to_dict()) == without_timing(compiled.report.to_dict())


def test_input_model_is_not_modified(cache_dir: Path) -> None:
    model = onnx.load(str(TINY))
    before = model.SerializeToString()
    result = cosa_onnx.compile(model, arch="simba", cache_dir=cache_dir, **FAST)
    assert model.SerializeToString() == before
    assert len(result.schedules) == 5


def test_api_writes_outputs_and_rejects_unknown_options(compiled: CompileResult, cache_dir: Path,
                                                        tmp_path: Path) -> None:
    out, report = tmp_path / "m.cosa.onnx", tmp_path / "r.json"
    cosa_onnx.compile(TINY, arch="simba", cache_dir=cache_dir, output=out, report=report, **FAST)
    assert out.is_file() and report.is_file()
    with pytest.raises(UserInputError, match="time_limit"):
        cosa_onnx.compile(TINY, arch="simba", time_limt_s=3)


@pytest.mark.parametrize("model", ["cnn_dynamo.onnx", "transformer_torchscript.onnx"])
def test_torch_exported_models_run_bit_identical(model: str, cache_dir: Path) -> None:
    """Real torch exports (both exporters between them; conv and matmul layers) with real weights."""
    path = MODELS / "torch_exports" / model
    result = cosa_onnx.compile(path, arch="simba", cache_dir=cache_dir, time_limit_s=0.5, jobs=1)
    assert len(result.schedules) == len(import_model(path).layers) > 0
    onnx.checker.check_model(result.model, full_check=True)
    original = onnx.load(str(path))
    assert [a.tobytes() for a in _outputs(result.model)] == [b.tobytes() for b in _outputs(original)]


def test_default_output_path() -> None:
    assert default_output_path("a/b/resnet50.onnx") == Path("a/b/resnet50.cosa.onnx")
    assert default_output_path("model") == Path("model.cosa.onnx")


@pytest.mark.slow
@pytest.mark.parametrize("arch", builtin_names())
@pytest.mark.parametrize("model", sorted(p.name for p in MODELS.glob("*.onnx") if ".cosa." not in p.name))
def test_every_shipped_model_compiles_on_every_builtin_arch(model: str, arch: str, tmp_path: Path) -> None:
    result = cosa_onnx.compile(MODELS / model, arch=arch, time_limit_s=2.0, cache_dir=tmp_path / "cache")
    layers = import_model(MODELS / model).layers
    assert len(result.schedules) == len(layers) > 0
    for layer in layers:
        assert check(layer.problem, result.spec, result.schedules[layer.node_name]) == []
    assert result.report.totals["cycles"] == sum(r.cycles for r in result.report.layers)
    onnx.checker.check_model(result.model)
    assert without_timing(report_from_model(result.model).to_dict()) == without_timing(result.report.to_dict())
