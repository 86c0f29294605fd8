"""Read an ONNX file safely: clear one-line errors, and never read weights unless asked.

Only tensor *shapes* are needed to build loop problems, so by default external data (the
``.data``/``.bin`` files next to big models) is left on disk: the protobuf holds every tensor's dims
and the external-data reference, which is all shape inference needs. This is also what makes models
larger than 2 GB work — their weights must live in external files, and the weight-less protobuf is
small. References whose ``location`` escapes the model's folder are refused before anything is read.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError
from onnx.external_data_helper import load_external_data_for_model

from cosa_onnx.errors import ModelLoadError

logger = logging.getLogger(__name__)

__all__ = ["external_locations", "load_model", "model_tensors"]


def load_model(path: str | os.PathLike[str], *, load_external_data: bool = False) -> onnx.ModelProto:
    """Parse ``path`` into a ModelProto; ``ModelLoadError`` with a one-line reason otherwise.

    External data references are validated (they must stay inside the model's folder) and only
    read when ``load_external_data`` is true.
    """
    file = Path(path)
    _check_file(file)
    model = _parse(file)
    _check_structure(model, file)
    base_dir = file.resolve().parent
    for location in external_locations(model):
        _check_location(location, base_dir, file)
    if load_external_data:
        _load_weights(model, base_dir, file)
    return model


def _check_file(file: Path) -> None:
    if not file.exists():
        raise ModelLoadError(f"model file '{file}' does not exist; check the path")
    if file.is_dir():
        raise ModelLoadError(f"model path '{file}' is a directory; pass the .onnx file inside it")
    if not file.is_file():
        raise ModelLoadError(f"model path '{file}' is not a regular file; pass an .onnx file")
    if file.stat().st_size == 0:
        raise ModelLoadError(f"model file '{file}' is empty; re-export or re-download it")


def _parse(file: Path) -> onnx.ModelProto:
    try:
        return onnx.load(str(file), load_external_data=False)
    except (DecodeError, RuntimeError, ValueError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"model file '{file}' is not a valid ONNX protobuf (truncated or corrupt?): "
                             f"{_first_line(exc)}; re-export or re-download it") from exc
    except OSError as exc:
        raise ModelLoadError(f"model file '{file}' cannot be read: {exc.strerror or exc}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _check_structure(model: onnx.ModelProto, file: Path) -> None:
    """Protobuf parses many byte strings; require the fields every real ONNX model has."""
    if model.ir_version <= 0 or not model.HasField("graph"):
        raise ModelLoadError(f"model file '{file}' is not an ONNX model (no IR version or graph); "
                             "pass an .onnx file")
    if not model.opset_import:
        raise ModelLoadError(f"model file '{file}' has no opset_import; it is not a complete ONNX model")
    if not model.graph.node and not model.graph.output:
        raise ModelLoadError(f"model file '{file}' has an empty graph (no nodes, no outputs)")


def model_tensors(model: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    """Every TensorProto stored in the model: initializers and tensor attributes, incl. subgraphs."""
    yield from _graph_tensors(model.graph)
    for function in model.functions:
        for node in function.node:
            yield from _node_tensors(node)


def _graph_tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        yield from _node_tensors(node)


def _node_tensors(node: onnx.NodeProto) -> Iterator[onnx.TensorProto]:
    for attr in node.attribute:
        if attr.HasField("t"):
            yield attr.t
        yield from attr.tensors
        if attr.HasField("g"):
            yield from _graph_tensors(attr.g)
        for sub in attr.graphs:
            yield from _graph_tensors(sub)


def external_locations(model: onnx.ModelProto) -> list[str]:
    """The distinct ``location`` strings of all external-data tensors, in first-use order."""
    seen: dict[str, None] = {}
    for tensor in model_tensors(model):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        entries = {e.key: e.value for e in tensor.external_data}
        seen.setdefault(entries.get("location", ""), None)
    return list(seen)


def _check_location(location: str, base_dir: Path, file: Path) -> None:
    if not location:
        raise ModelLoadError(f"model file '{file}': an external-data tensor has no 'location'; re-export the model")
    if os.path.isabs(location) or Path(location).drive:
        raise ModelLoadError(f"model file '{file}': external data location '{location}' is an absolute path; "
                             "only files inside the model's folder are allowed")
    try:
        target = (base_dir / location).resolve()
    except (ValueError, OSError) as exc:
        raise ModelLoadError(f"model file '{file}': external data location {location!r} is not a valid path; "
                             "re-export the model") from exc
    if not target.is_relative_to(base_dir):
        raise ModelLoadError(f"model file '{file}': external data location '{location}' points outside the "
                             f"model's folder '{base_dir}'; refusing to read it")


def _load_weights(model: onnx.ModelProto, base_dir: Path, file: Path) -> None:
    try:
        load_external_data_for_model(model, str(base_dir))
    except (OSError, ValueError, onnx.checker.ValidationError) as exc:
        raise ModelLoadError(f"model file '{file}': cannot read its external data: {_first_line(exc)}") from exc
