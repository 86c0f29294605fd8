"""The shipped models (models/): exact layer shapes against ../shared/workloads, torch exports, regeneration."""

from __future__ import annotations

import csv
import importlib.util
from collections import Counter
from pathlib import Path
from types import ModuleType

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from cosa_onnx.importer import ImportedModel, import_model
from cosa_onnx.problem import LoopProblem

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "models"
WORKLOADS = REPO.parent / "shared" / "workloads"
CSV_KEY = ("R", "S", "P", "Q", "C", "K", "N", "Wstride", "Hstride", "Wdilation", "Hdilation")

needs_workloads = pytest.mark.skipif(not WORKLOADS.is_dir(), reason=f"reference workloads folder {WORKLOADS} is absent")

_cache: dict[str, ImportedModel] = {}


def _imported(name: str) -> ImportedModel:
    if name not in _cache:
        _cache[name] = import_model(MODELS / f"{name}.onnx")
    return _cache[name]


def _csv_rows(name: str) -> list[dict[str, str]]:
    with open(WORKLOADS / f"{name}.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _row_key(p: LoopProblem) -> tuple[int, ...]:
    """A layer as a CSV row; the CSV lists grouped convs with C per group and K over all groups."""
    return (p.r, p.s, p.p, p.q, p.c, p.k * p.g, p.n, p.w_stride, p.h_stride, p.w_dilation, p.h_dilation)


@needs_workloads
@pytest.mark.parametrize(("name", "count", "distinct", "macs"), [
    ("resnet50", 54, 24, 4_089_184_256),
    ("alexnet", 8, 8, 714_188_480),
    ("vgg16", 16, 12, 15_470_264_320),
])
def test_model_matches_reference_workload(name: str, count: int, distinct: int, macs: int) -> None:
    rows = _csv_rows(name)
    layers = _imported(name).layers
    want = Counter(tuple(int(r[k]) for k in CSV_KEY) for r in rows)
    got = Counter(_row_key(layer.problem) for layer in layers)
    assert got == want
    assert len(layers) == len(rows) == count
    assert len({layer.problem.shape_key() for layer in layers}) == distinct
    assert sum(layer.problem.macs for layer in layers) == sum(int(r["MACs"]) for r in rows) == macs
    assert all(layer.problem.g == 1 for layer in layers)


@needs_workloads
def test_resnext_grouped_layers() -> None:
    rows = _csv_rows("resnext50_32x4d")
    layers = _imported("resnext50_32x4d").layers
    assert Counter(_row_key(layer.problem) for layer in layers) == Counter(
        tuple(int(r[k]) for k in CSV_KEY) for r in rows)
    grouped = [layer.problem for layer in layers if layer.problem.g > 1]
    assert len(grouped) == 16 and {p.g for p in grouped} == {32}
    assert Counter(p.macs for p in grouped) == Counter(
        int(r["MACs"]) for r in rows if r["R"] == "3" and int(r["C"]) < 64)
    assert sum(p.macs for p in (layer.problem for layer in layers)) == sum(int(r["MACs"]) for r in rows)


def test_mobilenet_v2_depthwise() -> None:
    layers = _imported("mobilenet_v2").layers
    depthwise = [lay.problem for lay in layers if lay.problem.g > 1]
    assert len(layers) == 53 and len(depthwise) == 17
    assert all(p.c == 1 and p.k == 1 and (p.r, p.s) == (3, 3) for p in depthwise)
    assert depthwise[0].g == 32 and depthwise[-1].g == 960 and (depthwise[-1].p, depthwise[-1].q) == (7, 7)
    assert sum(lay.problem.macs for lay in layers) == 300_774_272  # torchvision: 300.8 M MACs


def test_bert_base_layers_and_attention() -> None:
    imported = _imported("bert_base")
    layers = [lay.problem for lay in imported.layers]
    assert len(layers) == 12 * 8
    attention = [p for p in layers if p.g > 1]
    assert len(attention) == 24 and {p.g for p in attention} == {12}
    assert Counter((p.p, p.c, p.k) for p in attention) == {(128, 64, 128): 12, (128, 128, 64): 12}
    dense = Counter((p.p, p.c, p.k) for p in layers if p.g == 1)
    assert dense == {(128, 768, 768): 48, (128, 768, 3072): 12, (128, 3072, 768): 12}
    assert "Softmax" in {op.op_type for op in imported.unscheduled}
    att = "encoder.layer.3.attention.self"
    assert set(imported.graph.predecessors(f"{att}.scores")) == {f"{att}.query", f"{att}.key"}
    assert set(imported.graph.predecessors(f"{att}.context")) == {f"{att}.scores", f"{att}.value"}
    # the residual stream reaches back through Add/LayerNorm (unscheduled) to every earlier block output
    block_outputs = {f"encoder.layer.{i}.{part}.dense" for i in range(3) for part in ("output", "attention.output")}
    assert set(imported.graph.predecessors(f"{att}.query")) == block_outputs


def test_bert_base_batch_binding() -> None:
    layers = import_model(MODELS / "bert_base.onnx", batch=2).layers
    assert {lay.problem.g for lay in layers if lay.problem.g > 1} == {24}
    assert {lay.problem.p for lay in layers if lay.problem.g == 1} == {256}


def test_layer_graph_is_a_topologically_ordered_dag() -> None:
    import networkx as nx

    imported = _imported("resnet50")
    graph = imported.graph
    assert list(graph.nodes) == [layer.node_name for layer in imported.layers]
    assert nx.is_directed_acyclic_graph(graph)
    position = {name: i for i, name in enumerate(graph.nodes)}
    assert all(position[a] < position[b] for a, b in graph.edges)
    assert set(graph.predecessors("layer1.0.conv3")) == {"layer1.0.conv2"}
    assert set(graph.predecessors("layer1.1.conv1")) == {"layer1.0.conv3", "layer1.0.downsample.0"}
    assert set(graph.predecessors("fc")) == {"layer4.2.conv3", "layer4.1.conv3", "layer4.0.conv3",
                                             "layer4.0.downsample.0"}


def test_tiny_cnn_runs_in_onnxruntime_and_imports() -> None:
    path = MODELS / "tiny_cnn.onnx"
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    (y,) = session.run(None, {"input": x})
    assert y.shape == (1, 10) and np.isfinite(y).all() and np.ptp(y) > 0  # real, non-constant weights
    layers = import_model(path).layers
    assert [lay.op_type for lay in layers] == ["Conv", "Conv", "Conv", "Conv", "Gemm"]


TORCH_EXPORTS = {"cnn": (5, 2_220_672), "transformer": (8, 819_200)}


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
@pytest.mark.parametrize("model", sorted(TORCH_EXPORTS))
def test_torch_exports_import(model: str, exporter: str) -> None:
    path = MODELS / "torch_exports" / f"{model}_{exporter}.onnx"
    count, macs = TORCH_EXPORTS[model]
    layers = import_model(path).layers
    assert len(layers) == count and sum(lay.problem.macs for lay in layers) == macs
    if model == "transformer":  # QK^T and AV per head: G = 4 heads
        assert sorted((p.g, p.p, p.c, p.k) for p in (lay.problem for lay in layers) if p.g > 1) == [
            (4, 16, 16, 16), (4, 16, 16, 16)]
    else:
        assert [lay.problem.g for lay in layers] == [1, 1, 32, 1, 1]


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_torch_dynamic_batch_export(exporter: str) -> None:
    path = MODELS / "torch_exports" / f"cnn_dynamic_batch_{exporter}.onnx"
    layers = import_model(path, batch=3).layers
    assert [lay.problem.n for lay in layers[:4]] == [3, 3, 3, 3] and layers[4].problem.p == 3
    assert sum(lay.problem.macs for lay in layers) == 3 * TORCH_EXPORTS["cnn"][1]


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cosa_models_generate", MODELS / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _shipped_models() -> list[Path]:
    """The generated models (not `cosa-onnx compile` outputs a user may have written beside them)."""
    return sorted(p for p in MODELS.glob("*.onnx") if not p.name.endswith(".cosa.onnx"))


def test_generator_reproduces_committed_files(tmp_path: Path) -> None:
    paths = _generator().generate(tmp_path)
    assert {p.name for p in paths} == {p.name for p in _shipped_models()}
    for path in paths:
        assert path.read_bytes() == (MODELS / path.name).read_bytes(), path.name


def test_shipped_models_pass_the_checker() -> None:
    for path in _shipped_models():
        onnx.checker.check_model(str(path), full_check=True)
