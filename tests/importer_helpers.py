"""Shared helpers of the importer tests: load the ONNX text fixtures of tests/fixtures/importer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnx.parser
from onnx import helper

FIXTURES = Path(__file__).parent / "fixtures" / "importer"


def fixture_text(name: str) -> str:
    text = (FIXTURES / f"{name}.onnxtxt").read_text()
    text = text.replace("IRVERSION", str(onnx.IR_VERSION)).replace("OPSET", str(onnx.defs.onnx_opset_version()))
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def fixture_model(name: str) -> onnx.ModelProto:
    return onnx.parser.parse_model(fixture_text(name))


def zero_feeds(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """All-zero arrays for every run-time input (shapes must be static)."""
    inits = {i.name for i in model.graph.initializer}
    feeds = {}
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        dims = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        dtype = helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)
        feeds[vi.name] = np.zeros(dims, dtype=dtype)
    return feeds
