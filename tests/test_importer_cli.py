"""``cosa-onnx layers`` through cosa_onnx.cli.main, and the shared --batch/--input-shape parsing."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import onnx
import pytest
from importer_helpers import fixture_model

from cosa_onnx.cli import main
from cosa_onnx.commands.common import add_shape_arguments, parse_input_shapes, shape_bindings
from cosa_onnx.errors import ShapeError


@pytest.fixture()
def mixed(tmp_path: Path) -> Path:
    path = tmp_path / "mixed.onnx"
    onnx.save(fixture_model("mixed_graph"), str(path))
    return path


@pytest.fixture()
def dynamic(tmp_path: Path) -> Path:
    path = tmp_path / "dyn.onnx"
    onnx.save(fixture_model("dynamic_batch"), str(path))
    return path


def test_layers_table(mixed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["layers", str(mixed)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("node"))
    assert header.split() == ["node", "op", "G", "R", "S", "P", "Q", "C", "K", "N", "stride", "dilation", "MACs", "same"]
    dup = next(line for line in lines if line.startswith("dup ")).split()
    assert dup[2:10] == ["1", "3", "3", "8", "8", "8", "8", "1"] and dup[-1] == "2"
    assert "Add x1" in out and "Conv x1" in out and "Relu x1" in out
    assert "3 layers, 2 distinct shapes" in out


def test_layers_json(mixed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["layers", str(mixed), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [row["node_name"] for row in doc["layers"]] == ["dup", "Conv_2", "Conv_4"]
    assert [row["same_shape_layers"] for row in doc["layers"]] == [2, 1, 2]
    assert doc["totals"]["macs"] == sum(row["macs"] for row in doc["layers"])
    assert doc["totals"]["distinct_shapes"] == 2
    assert doc["unscheduled_counts"] == {"Add": 1, "Conv": 1, "Relu": 1}
    assert ["dup", "Conv_4"] in doc["edges"]


def test_layers_batch_flags(dynamic: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["layers", str(dynamic), "--batch", "5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["layers"][0]["problem"]["n"] == 5
    assert main(["layers", str(dynamic), "--input-shape", "image=2x3x16x16", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["layers"][1]["problem"]["p"] == 2


@pytest.mark.parametrize("argv", [
    [],  # dynamic batch, nothing bound
    ["--input-shape", "image"],
    ["--input-shape", "image=1x3xAx16"],
    ["--input-shape", "=1x3"],
    ["--input-shape", "image=1x3x0x16"],
    ["--batch", "zero"],
    ["--batch", "-1"],
])
def test_layers_bad_input_is_one_line_exit_2(dynamic: Path, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["layers", str(dynamic), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_layers_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["layers", str(tmp_path / "nope.onnx")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_parse_input_shapes() -> None:
    assert parse_input_shapes(["a=1x3x224x224", "ids = 2,128", "x=y=4"]) == {
        "a": (1, 3, 224, 224), "ids": (2, 128), "x=y": (4,)}
    assert parse_input_shapes([]) == {}
    with pytest.raises(ShapeError, match="twice"):
        parse_input_shapes(["a=1", "a=2"])


def test_add_shape_arguments_round_trip() -> None:
    parser = argparse.ArgumentParser()
    add_shape_arguments(parser)
    args = parser.parse_args(["--batch", "8", "--input-shape", "x=8x3x4x4", "--input-shape", "m=8x4"])
    assert shape_bindings(args) == (8, {"x": (8, 3, 4, 4), "m": (8, 4)})
    assert shape_bindings(parser.parse_args([])) == (None, {})
