"""Tensor shapes and element types of an ONNX graph: bind user dims, infer, look up.

Order of work: copy the graph without its big tensor payloads (:func:`light_copy`), bind the
user's ``--batch`` / ``--input-shape`` values into the graph inputs (:func:`bind_inputs`), run ONNX
shape inference with data propagation (:func:`infer_onnx`), and, only if a layer's shape is still
unknown, onnxruntime's symbolic shape inference (:func:`infer_symbolic`). :class:`ShapeTable`
answers "what are the dims / bits of tensor X".
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import shape_inference

from cosa_onnx.errors import ShapeError

logger = logging.getLogger(__name__)

__all__ = ["ShapeTable", "TensorInfo", "bind_inputs", "infer_onnx", "infer_symbolic", "light_copy",
           "runtime_inputs"]

Dims = tuple[int | str | None, ...]
"""Per axis: a concrete size, a symbol (``dim_param``) or None (unknown)."""

_STRIP_BYTES = 4096
_STRIPPED_LOCATION = "__cosa_onnx_stripped_payload__"
# Packed types whose numpy stand-in is a whole byte (names absent from older onnx are skipped).
_SUB_BYTE_BITS: dict[int, int] = {
    int(getattr(onnx.TensorProto, name)): bits
    for name, bits in (("INT4", 4), ("UINT4", 4), ("FLOAT4E2M1", 4), ("INT2", 2), ("UINT2", 2))
    if hasattr(onnx.TensorProto, name)
}


@dataclass(frozen=True, kw_only=True)
class TensorInfo:
    """What is known about one tensor: dims (None = rank unknown) and ONNX element type (0 = unknown)."""

    dims: Dims | None
    elem_type: int = 0

    @property
    def concrete(self) -> tuple[int, ...] | None:
        """The dims as ints when every one is known, else None."""
        if self.dims is None or not all(isinstance(d, int) for d in self.dims):
            return None
        return tuple(int(d) for d in self.dims if isinstance(d, int))

    @property
    def elements(self) -> int | None:
        dims = self.concrete
        return None if dims is None else int(np.prod(dims, dtype=np.int64))


def element_bits(elem_type: int) -> int | None:
    """Bits of one element of ONNX type ``elem_type`` (None when unknown)."""
    if elem_type in _SUB_BYTE_BITS:
        return _SUB_BYTE_BITS[elem_type]
    if elem_type in (onnx.TensorProto.STRING, onnx.TensorProto.UNDEFINED):
        return None
    try:
        return int(onnx.helper.tensor_dtype_to_np_dtype(elem_type).itemsize * 8)
    except (KeyError, TypeError, ValueError):
        return None


def _type_info(type_proto: onnx.TypeProto) -> TensorInfo:
    if not type_proto.HasField("tensor_type"):
        return TensorInfo(dims=None)
    tensor = type_proto.tensor_type
    if not tensor.HasField("shape"):
        return TensorInfo(dims=None, elem_type=tensor.elem_type)
    dims: list[int | str | None] = []
    for d in tensor.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param"):
            dims.append(d.dim_param)
        else:
            dims.append(None)
    return TensorInfo(dims=tuple(dims), elem_type=tensor.elem_type)


class ShapeTable:
    """Dims and element types of every named tensor of a (shape-inferred) graph."""

    def __init__(self, graph: onnx.GraphProto) -> None:
        self._info: dict[str, TensorInfo] = {}
        for vi in (*graph.input, *graph.value_info, *graph.output):
            self._merge(vi.name, _type_info(vi.type))
        for init in graph.initializer:
            self._info[init.name] = TensorInfo(dims=tuple(int(d) for d in init.dims), elem_type=init.data_type)

    def _merge(self, name: str, info: TensorInfo) -> None:
        old = self._info.get(name)
        if old is None or _known_dims(info) > _known_dims(old):
            self._info[name] = info

    def update(self, graph: onnx.GraphProto) -> None:
        """Fill what this table does not know from another inference result of the same graph."""
        for vi in (*graph.input, *graph.value_info, *graph.output):
            self._merge(vi.name, _type_info(vi.type))

    def get(self, name: str) -> TensorInfo:
        return self._info.get(name, TensorInfo(dims=None))

    def elements(self, names: Iterable[str]) -> int | None:
        """Total element count of the named tensors (empty names skipped); None if any is unknown."""
        total = 0
        for name in names:
            if not name:
                continue
            count = self.get(name).elements
            if count is None:
                return None
            total += count
        return total

    def bits(self, name: str) -> int | None:
        return element_bits(self.get(name).elem_type)


def _known_dims(info: TensorInfo) -> int:
    if info.dims is None:
        return -1
    return sum(isinstance(d, int) for d in info.dims)


def light_copy(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy whose large initializers lose their payload (dims kept): inference reads no weights.

    Stripped tensors are marked external (to a location that does not exist), which both ONNX and
    onnxruntime inference treat as "dims only". Tensor attributes of Constant nodes are kept:
    onnxruntime's symbolic inference reads every Constant's value.
    """
    light = onnx.ModelProto()
    light.CopyFrom(model)
    for tensor in light.graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL or tensor.ByteSize() <= _STRIP_BYTES:
            continue
        for field in ("raw_data", "float_data", "int32_data", "int64_data", "double_data", "uint64_data",
                      "string_data"):
            tensor.ClearField(field)
        tensor.data_location = onnx.TensorProto.EXTERNAL
        del tensor.external_data[:]
        tensor.external_data.add(key="location", value=_STRIPPED_LOCATION)
    return light


def runtime_inputs(graph: onnx.GraphProto) -> list[onnx.ValueInfoProto]:
    """Graph inputs that are fed at run time (not initializers)."""
    inits = {i.name for i in graph.initializer}
    return [vi for vi in graph.input if vi.name not in inits]


def bind_inputs(model: onnx.ModelProto, *, batch: int | None,
                input_shapes: Mapping[str, Sequence[int]] | None) -> bool:
    """Write the user's dims into ``model``'s graph inputs in place; True if anything changed.

    ``input_shapes`` replaces whole shapes. ``batch`` replaces axis 0 of every other run-time input
    where it is symbolic/unknown, or fixed to 1 on an input of rank >= 2 (a batch-1 export). A symbol
    bound on one input is bound to the same value wherever else it appears among the inputs.
    """
    inputs = {vi.name: vi for vi in runtime_inputs(model.graph)}
    symbols: dict[str, int] = {}
    changed = False
    for name, dims in (input_shapes or {}).items():
        if name not in inputs:
            raise ShapeError(f"--input-shape {name}=...: the model has no input '{name}'; "
                             f"its inputs are: {', '.join(inputs) or '(none)'}")
        changed |= _set_dims(inputs[name], _validated(name, dims), symbols)
    if batch is not None:
        if batch < 1:
            raise ShapeError(f"--batch {batch}: the batch size must be a positive integer")
        for name, vi in inputs.items():
            if name not in (input_shapes or {}):
                changed |= _bind_batch(vi, batch, symbols)
    for vi in inputs.values():
        changed |= _substitute_symbols(vi, symbols)
    if changed:
        _forget_stale_shapes(model.graph)
    return changed


def _validated(name: str, dims: Sequence[int]) -> tuple[int, ...]:
    if not dims or any((not isinstance(d, int)) or d < 1 for d in dims):
        raise ShapeError(f"--input-shape {name}={'x'.join(map(str, dims))}: every dim must be a positive integer")
    return tuple(int(d) for d in dims)


def _set_dims(vi: onnx.ValueInfoProto, dims: tuple[int, ...], symbols: dict[str, int]) -> bool:
    tensor = vi.type.tensor_type
    if not vi.type.HasField("tensor_type"):
        raise ShapeError(f"--input-shape {vi.name}=...: input '{vi.name}' is not a tensor")
    old = tensor.shape.dim if tensor.HasField("shape") else []
    if old and len(old) != len(dims):
        raise ShapeError(f"--input-shape {vi.name}={'x'.join(map(str, dims))}: input '{vi.name}' has rank "
                         f"{len(old)}, got {len(dims)} dims")
    for d, value in zip(old, dims, strict=False):
        if d.HasField("dim_param"):
            symbols.setdefault(d.dim_param, value)
    tensor.ClearField("shape")
    for value in dims:
        tensor.shape.dim.add(dim_value=value)
    return True


def _bind_batch(vi: onnx.ValueInfoProto, batch: int, symbols: dict[str, int]) -> bool:
    if not vi.type.HasField("tensor_type") or not vi.type.tensor_type.HasField("shape"):
        return False
    dims = vi.type.tensor_type.shape.dim
    if not dims:
        return False
    first = dims[0]
    if first.HasField("dim_value"):
        if first.dim_value == batch:
            return False
        if first.dim_value != 1 or len(dims) < 2:
            logger.warning("input '%s' has a fixed first dim %d; --batch %d leaves it unchanged (use "
                           "--input-shape %s=... to override it)", vi.name, first.dim_value, batch, vi.name)
            return False
    if first.HasField("dim_param"):
        symbols.setdefault(first.dim_param, batch)
    logger.debug("input %s: batch dim bound to %d", vi.name, batch)
    first.Clear()
    first.dim_value = batch
    return True


def _substitute_symbols(vi: onnx.ValueInfoProto, symbols: Mapping[str, int]) -> bool:
    if not symbols or not vi.type.HasField("tensor_type"):
        return False
    changed = False
    for d in vi.type.tensor_type.shape.dim:
        if d.HasField("dim_param") and d.dim_param in symbols:
            value = symbols[d.dim_param]
            d.Clear()
            d.dim_value = value
            changed = True
    return changed


def _forget_stale_shapes(graph: onnx.GraphProto) -> None:
    """Shapes recorded for node outputs under the old input dims would contradict the new ones."""
    produced = {t for node in graph.node for t in node.output}
    keep = [vi for vi in graph.value_info if vi.name not in produced]
    del graph.value_info[:]
    graph.value_info.extend(keep)
    for out in graph.output:
        if out.type.HasField("tensor_type"):
            out.type.tensor_type.ClearField("shape")


def infer_onnx(model: onnx.ModelProto) -> onnx.ModelProto:
    """ONNX shape inference (non-strict, with data propagation); the input model on failure."""
    try:
        return shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True)
    except (shape_inference.InferenceError, onnx.checker.ValidationError, RuntimeError, ValueError) as exc:
        logger.warning("ONNX shape inference failed (%s); continuing with the shapes in the file",
                       str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return model


def infer_symbolic(model: onnx.ModelProto) -> onnx.ModelProto | None:
    """onnxruntime's symbolic shape inference, or None when it is unavailable or fails."""
    try:
        from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference
    except ImportError:  # pragma: no cover - onnxruntime is a dependency
        logger.warning("onnxruntime symbolic shape inference is not available")
        return None
    try:
        result = SymbolicShapeInference.infer_shapes(model, auto_merge=True, guess_output_rank=False)
    except Exception as exc:  # third-party code: any failure just means "no extra shapes"
        logger.info("onnxruntime symbolic shape inference failed: %s: %s", type(exc).__name__, exc)
        return None
    return result if isinstance(result, onnx.ModelProto) else None
