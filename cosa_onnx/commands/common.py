"""Flags shared by commands that import a model (``layers``, ``compile``): ``--batch`` and ``--input-shape``."""

from __future__ import annotations

import argparse
import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cosa_onnx.errors import ShapeError, UserInputError

if TYPE_CHECKING:
    from cosa_onnx.annotations import AnnotatedModel, NodeAnnotation

logger = logging.getLogger(__name__)

__all__ = ["add_shape_arguments", "parse_batch", "parse_input_shapes", "shape_bindings"]

_DIMS = re.compile(r"^\d+([x,]\d+)*$")


def add_shape_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--batch N`` and repeatable ``--input-shape NAME=DIMS`` (validated by :func:`shape_bindings`)."""
    parser.add_argument("--batch", metavar="N", default=None,
                        help="bind the batch (first) dim of the model inputs to N")
    parser.add_argument("--input-shape", metavar="NAME=DIMS", action="append", default=[], dest="input_shape",
                        help="bind a model input's whole shape, e.g. input=1x3x224x224 (repeatable)")


def parse_batch(text: str | int | None) -> int | None:
    """``--batch`` as a positive int (None when absent); ShapeError otherwise."""
    if text is None:
        return None
    value = str(text).strip()
    if not value.isdigit() or int(value) < 1:
        raise ShapeError(f"--batch {text}: expected a positive integer, e.g. --batch 1")
    return int(value)


def parse_input_shapes(specs: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """``["name=1x3x224x224", ...]`` -> ``{"name": (1, 3, 224, 224)}``; ShapeError on malformed items."""
    out: dict[str, tuple[int, ...]] = {}
    for spec in specs:
        name, sep, dims_text = spec.strip().rpartition("=")
        dims_text = dims_text.strip().lower()
        if not sep or not name.strip() or not _DIMS.match(dims_text):
            raise ShapeError(f"--input-shape '{spec}': expected NAME=DIMS with positive integer dims, "
                             "e.g. --input-shape input=1x3x224x224")
        dims = tuple(int(d) for d in re.split(r"[x,]", dims_text))
        if any(d < 1 for d in dims):
            raise ShapeError(f"--input-shape '{spec}': dims must be positive, e.g. input=1x3x224x224")
        name = name.strip()
        if name in out:
            raise ShapeError(f"--input-shape: input '{name}' is given twice; pass each input once")
        out[name] = dims
    return out


def shape_bindings(args: argparse.Namespace) -> tuple[int | None, dict[str, tuple[int, ...]]]:
    """The validated ``(batch, input_shapes)`` of a namespace built with :func:`add_shape_arguments`."""
    return parse_batch(getattr(args, "batch", None)), parse_input_shapes(getattr(args, "input_shape", None) or [])


def load_annotated_layers(model_path: str, layer: str | None) -> tuple[AnnotatedModel, tuple[NodeAnnotation, ...]]:
    """The annotations of a compiled model and its scheduled layers (only ``layer`` if given)."""
    from cosa_onnx.annotations import read_annotations
    from cosa_onnx.pipeline import load_compiled

    annotated = read_annotations(load_compiled(model_path))
    nodes = annotated.nodes
    if layer is not None:
        nodes = tuple(n for n in nodes if n.node_name == layer)
        if not nodes:
            names = ", ".join(n.node_name for n in annotated.nodes[:8])
            raise UserInputError(f"layer {layer!r} is not a scheduled layer of {model_path}; "
                                 f"scheduled layers include {names} (`cosa-onnx show` lists them all)")
    return annotated, nodes
