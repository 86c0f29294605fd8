"""load_model: bad files give one-line ModelLoadErrors; external data is checked but never read."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from importer_helpers import fixture_model
from onnx import TensorProto, helper, numpy_helper

from cosa_onnx.errors import ModelLoadError
from cosa_onnx.importer import import_model, load_model
from cosa_onnx.problem import Operand


def _saved(tmp_path: Path, name: str = "conv_grouped") -> Path:
    path = tmp_path / "model.onnx"
    onnx.save(fixture_model(name), str(path))
    return path


@pytest.mark.parametrize(("make", "needle"), [
    (lambda d: d / "missing.onnx", "does not exist"),
    (lambda d: d, "is a directory"),
    (lambda d: _write(d / "empty.onnx", b""), "is empty"),
    (lambda d: _write(d / "text.onnx", b"this is not a protobuf at all \xff\xfe"), "not"),
    (lambda d: _write(d / "json.onnx", b'{"graph": {}}'), "not"),
])
def test_bad_paths_are_one_line_errors(tmp_path: Path, make: object, needle: str) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(ModelLoadError, match=needle) as info:
        load_model(path)
    assert "\n" not in str(info.value)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_truncated_model_is_refused(tmp_path: Path) -> None:
    data = _saved(tmp_path).read_bytes()
    for cut in (len(data) // 3, len(data) - 7):
        path = _write(tmp_path / f"cut{cut}.onnx", data[:cut])
        with pytest.raises(ModelLoadError) as info:
            load_model(path)
        assert "\n" not in str(info.value)


def test_valid_file_loads_and_imports(tmp_path: Path) -> None:
    path = _saved(tmp_path)
    assert load_model(path).graph.node[0].op_type == "Conv"
    imported = import_model(path)
    assert imported.model_name == "model" and imported.layers[0].problem.g == 4


def _external_model(tmp_path: Path, location: str) -> Path:
    """A conv whose weight lives in external data at ``location`` (written only if inside tmp_path)."""
    model = fixture_model("conv_grouped")
    weight = numpy_helper.from_array(np.arange(32 * 4 * 9, dtype=np.float32).reshape(32, 4, 3, 3), "w")
    model.graph.initializer.append(weight)
    onnx.external_data_helper.convert_model_to_external_data(model, all_tensors_to_one_file=True,
                                                             location="weights.bin", size_threshold=0)
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    if location != "weights.bin":
        for tensor in model.graph.initializer:
            for entry in tensor.external_data:
                if entry.key == "location":
                    entry.value = location
        path.write_bytes(model.SerializeToString())
    return path


def test_external_data_is_not_read_unless_asked(tmp_path: Path) -> None:
    path = _external_model(tmp_path, "weights.bin")
    model = load_model(path)
    assert model.graph.initializer[0].data_location == TensorProto.EXTERNAL
    assert import_model(path).layers[0].problem.c == 4
    (tmp_path / "weights.bin").unlink()  # weights gone: shapes still import
    assert import_model(path).layers[0].problem.k == 8
    with pytest.raises(ModelLoadError, match="external data"):
        load_model(path, load_external_data=True)


def test_external_data_loaded_on_request(tmp_path: Path) -> None:
    model = load_model(_external_model(tmp_path, "weights.bin"), load_external_data=True)
    values = numpy_helper.to_array(model.graph.initializer[0])
    assert values.shape == (32, 4, 3, 3) and values[1, 0, 0, 0] == 36.0


@pytest.mark.parametrize("location", ["../outside.bin", "sub/../../outside.bin", "/etc/passwd"])
def test_external_data_outside_the_folder_is_refused(tmp_path: Path, location: str) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    path = _external_model(folder, location)
    with pytest.raises(ModelLoadError, match=r"outside|absolute"):
        load_model(path)
    with pytest.raises(ModelLoadError):
        import_model(path)


def test_external_data_symlink_escaping_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (tmp_path / "secret.bin").write_bytes(b"\0" * 16)
    os.symlink(tmp_path / "secret.bin", folder / "link.bin")
    with pytest.raises(ModelLoadError, match="outside"):
        load_model(_external_model(folder, "link.bin"))


def test_model_over_2gb_imports_without_reading_weights(tmp_path: Path) -> None:
    """A 4 GiB weight in a sparse external file: nothing is read, the layer imports."""
    k, c = 32768, 32768
    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[c, k])
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "big.bin"), ("offset", "0"), ("length", str(4 * k * c))):
        weight.external_data.add(key=key, value=value)
    with open(tmp_path / "big.bin", "wb") as handle:
        handle.truncate(4 * k * c)  # sparse: no disk blocks used
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="fc")], "big",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, k])], initializer=[weight])
    path = tmp_path / "big.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    (layer,) = import_model(path).layers
    assert (layer.problem.p, layer.problem.c, layer.problem.k) == (1, c, k)
    assert layer.problem.tensor_words(Operand.WEIGHTS) * 4 > 2**31
