"""``cosa-onnx compile / report / show / export-timeloop`` through the real CLI on the tiny CNN."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import yaml

from cosa_onnx.annotations import read_annotations
from cosa_onnx.cli import main
from cosa_onnx.importer import import_model
from cosa_onnx.report import without_timing

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "models" / "tiny_cnn.onnx"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli")


def shared_cache(workdir: Path) -> Path:
    """One schedule cache for this session's compile tests (each tiny-CNN shape is solved once)."""
    return workdir.parent / "tiny-cnn-schedule-cache"


def fast_flags(cache: Path) -> list[str]:
    return ["--arch", "simba", "--time-limit", "0.5", "--jobs", "1", "--cache-dir", str(cache)]


@pytest.fixture(scope="module")
def compiled(workdir: Path) -> tuple[Path, Path, subprocess.CompletedProcess[str]]:
    """One real subprocess compile (not a TTY: progress as plain lines on stderr)."""
    out, report = workdir / "tiny.cosa.onnx", workdir / "tiny.json"
    proc = subprocess.run([sys.executable, "-m", "cosa_onnx.cli", "compile", str(TINY), "-o", str(out),
                           "--report", str(report), *fast_flags(shared_cache(workdir))],
                          capture_output=True, text=True, timeout=300, check=False)
    return out, report, proc


def test_compile_writes_model_report_table_and_progress(compiled: tuple[Path, Path, subprocess.CompletedProcess[str]]) -> None:
    out, report, proc = compiled
    assert proc.returncode == 0, proc.stderr
    assert out.is_file() and report.is_file()
    layer_names = [layer.node_name for layer in import_model(TINY).layers]
    for name in layer_names:
        assert name in proc.stdout                       # the per-layer table
    assert "network (5 layers on simba)" in proc.stdout and "utilisation" in proc.stdout
    assert "x compute bound" in proc.stdout and "solver:" in proc.stdout
    progress = [line for line in proc.stderr.splitlines() if line.startswith("[")]
    assert len(progress) == 5 and progress[-1].startswith("[5/5]")
    data = json.loads(report.read_text())
    assert data["totals"]["cycles"] == sum(row["cycles"] for row in data["layers"])
    assert [a.node_name for a in read_annotations(onnx.load(str(out))).nodes] == layer_names


def test_default_output_next_to_input_quiet_and_cache_hits(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = workdir / "copy.onnx"
    model.write_bytes(TINY.read_bytes())
    assert main(["compile", str(model), "--quiet", *fast_flags(shared_cache(workdir))]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert (workdir / "copy.cosa.onnx").is_file()
    assert main(["compile", str(model), *fast_flags(shared_cache(workdir))]) == 0
    assert "5 cache hits" in capsys.readouterr().out


def test_external_data_model_compiles_into_another_folder(workdir: Path) -> None:
    src, dst = workdir / "ext-src", workdir / "ext-dst"
    src.mkdir()
    dst.mkdir()
    onnx.save_model(onnx.load(str(TINY)), str(src / "m.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="m.weights", size_threshold=0)
    assert main(["compile", str(src / "m.onnx"), "-o", str(dst / "m.cosa.onnx"), "--quiet",
                 *fast_flags(shared_cache(workdir))]) == 0
    assert (dst / "m.weights").read_bytes() == (src / "m.weights").read_bytes()
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    outputs = [ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
               for path in (TINY, src / "m.onnx", dst / "m.cosa.onnx")]
    assert outputs[2].tobytes() == outputs[1].tobytes() == outputs[0].tobytes()
    onnx.checker.check_model(str(dst / "m.cosa.onnx"), full_check=True)


def test_report_rerenders_the_compile_report(compiled: tuple[Path, Path, subprocess.CompletedProcess[str]],
                                             workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, report, _ = compiled
    again = workdir / "again.json"
    assert main(["report", str(out), "-o", str(again)]) == 0
    assert without_timing(json.loads(again.read_text())) == without_timing(json.loads(report.read_text()))
    assert main(["report", str(out), "--format", "json"]) == 0
    assert without_timing(json.loads(capsys.readouterr().out)) == without_timing(json.loads(report.read_text()))
    assert main(["report", str(out)]) == 0
    assert "conv1" in capsys.readouterr().out


def test_show_prints_the_loop_nest(compiled: tuple[Path, Path, subprocess.CompletedProcess[str]],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = compiled[0]
    assert main(["show", str(out), "--layer", "pw3"]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0].startswith("pw3 (Conv:")
    levels = ["DRAM", "GlobalBuffer", "InputBuffer", "WeightBuffer", "AccumulationBuffer", "Registers"]
    starts = [next(i for i, line in enumerate(lines) if line.strip().startswith(level + " [")) for level in levels]
    assert starts == sorted(starts)                      # outermost level first
    assert "parallel-for" in text and "for " in text and "occupancy" in text and "%" in text
    assert lines[-1].strip() == "MAC x1024"
    assert main(["show", str(out)]) == 0
    assert capsys.readouterr().out.count("MAC x1024") == 5


def test_export_timeloop_folders_parse(compiled: tuple[Path, Path, subprocess.CompletedProcess[str]],
                                       workdir: Path) -> None:
    out_dir = workdir / "timeloop"
    assert main(["export-timeloop", str(compiled[0]), str(out_dir)]) == 0
    folders = sorted(p for p in out_dir.iterdir() if p.is_dir())
    assert len(folders) == 5
    for folder in folders:
        arch = yaml.safe_load((folder / "arch.yaml").read_text())
        problem = yaml.safe_load((folder / "problem.yaml").read_text())
        mapping = yaml.safe_load((folder / "map.yaml").read_text())
        assert {"arithmetic", "storage"} <= set(arch["arch"])
        assert [s["name"] for s in arch["arch"]["storage"]][-1] == "DRAM"
        assert "shape" in problem["problem"]
        kinds = {(m["target"], m["type"]) for m in mapping["mapping"]}
        assert ("DRAM", "datatype") in kinds and ("DRAM", "temporal") in kinds
        for entry in mapping["mapping"]:
            if entry["type"] != "datatype":
                assert {"factors", "permutation"} <= set(entry)


@pytest.mark.parametrize(("argv", "message"), [
    (["compile", "missing.onnx"], "does not exist"),
    (["compile", "."], "is a directory"),
    (["report", str(TINY)], "no cosa_onnx annotations"),
    (["show", str(TINY)], "no cosa_onnx annotations"),
    (["compile", str(TINY), "--report", "r.txt"], "suffix"),
    (["compile", str(TINY), "-o", "/nonexistent-dir/x.onnx"], "does not exist"),
    (["compile", str(TINY), "--time-limit", "0"], "--time-limit"),
])
def test_bad_input_exits_2_with_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert main(argv) == 2
    finally:
        os.chdir(cwd)
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err
    assert list(tmp_path.iterdir()) == []


def test_show_unknown_layer(compiled: tuple[Path, Path, subprocess.CompletedProcess[str]],
                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(compiled[0]), "--layer", "nope"]) == 2
    assert "'nope'" in capsys.readouterr().err


@pytest.mark.slow
def test_resnet50_schedules_all_54_layers(tmp_path: Path) -> None:
    out, report = tmp_path / "resnet50.cosa.onnx", tmp_path / "resnet50.json"
    proc = subprocess.run([sys.executable, "-m", "cosa_onnx.cli", "compile", str(ROOT / "models" / "resnet50.onnx"),
                           "--arch", "simba", "-o", str(out), "--report", str(report),
                           "--cache-dir", str(tmp_path / "cache")],
                          capture_output=True, text=True, timeout=3600, check=False)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(report.read_text())
    assert len(data["layers"]) == 54 == len(read_annotations(onnx.load(str(out))).nodes)
    assert data["totals"]["cycles"] == sum(row["cycles"] for row in data["layers"])
    assert data["totals"]["energy_pj"] == pytest.approx(sum(row["energy_pj"] for row in data["layers"]), rel=1e-12)
