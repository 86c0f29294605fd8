"""Map one ONNX Conv/Gemm/MatMul node (or a quantised form) onto a :class:`LoopProblem`.

Conventions (see :mod:`cosa_onnx.problem`): R pairs with P (width), S with Q (height).
Conv: G = group, C = in-channels per group, K = out-channels per group.
Gemm/MatMul ``[M x Kd] x [Kd x Nd]``: P = M, C = Kd, K = Nd. MatMul batch dims:
only the left operand has them (right one shared, like a weight) -> folded into P; only the right
one has them -> the product is transposed (left operand acts as the weight, K = M, P = batch*Nd);
both have them (activation x activation, e.g. attention) -> G = product of the broadcast batch dims.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import onnx
from onnx import helper

from cosa_onnx.errors import ShapeError
from cosa_onnx.problem import LoopProblem

logger = logging.getLogger(__name__)

__all__ = ["OPERAND_INPUTS", "NodeShapes", "UnsupportedLayer", "map_node"]

# op type -> (index of the activation input, index of the weight input)
OPERAND_INPUTS: dict[str, tuple[int, int]] = {
    "Conv": (0, 1), "ConvInteger": (0, 1), "QLinearConv": (0, 3),
    "Gemm": (0, 1), "MatMul": (0, 1), "MatMulInteger": (0, 1), "QLinearMatMul": (0, 3),
}
_CONV_OPS = frozenset({"Conv", "ConvInteger", "QLinearConv"})
_MATMUL_OPS = frozenset({"MatMul", "MatMulInteger", "QLinearMatMul"})


class UnsupportedLayer(Exception):
    """A conv/matmul variant this tool does not schedule (e.g. 3-D conv); reported as unscheduled."""


@dataclass(frozen=True, kw_only=True)
class NodeShapes:
    """Known shapes and element bits of one node's operands (dims all concrete and >= 1)."""

    name: str
    x: tuple[int, ...]
    w: tuple[int, ...]
    y: tuple[int, ...] | None
    x_bits: int
    w_bits: int
    y_bits: int


def map_node(node: onnx.NodeProto, shapes: NodeShapes) -> LoopProblem:
    """The loop problem of ``node``; ShapeError on inconsistent shapes, UnsupportedLayer otherwise."""
    if node.op_type in _CONV_OPS:
        return _conv(node, shapes)
    if node.op_type == "Gemm":
        return _gemm(node, shapes)
    if node.op_type in _MATMUL_OPS:
        return _matmul(node, shapes)
    raise UnsupportedLayer(f"op {node.op_type} is not a conv/matmul")


def _attr(node: onnx.NodeProto, name: str, default: object) -> object:
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _ints(node: onnx.NodeProto, name: str, default: Sequence[int]) -> list[int]:
    value = _attr(node, name, None)
    if value is None or (isinstance(value, list) and not value):
        return list(default)
    assert isinstance(value, list)
    return [int(v) for v in value]


def _matrix(shapes: NodeShapes, op_type: str, *, g: int = 1, p: int, c: int, k: int,
            swap: bool = False) -> LoopProblem:
    """A matrix-multiply problem; ``swap`` when the left operand plays the weight."""
    w_bits, x_bits = (shapes.x_bits, shapes.w_bits) if swap else (shapes.w_bits, shapes.x_bits)
    return LoopProblem(name=shapes.name, op_type=op_type, g=g, p=p, c=c, k=k,
                       weight_bits=w_bits, input_bits=x_bits, output_bits=shapes.y_bits)


# ---- convolution ---------------------------------------------------------------------------------

def _conv(node: onnx.NodeProto, shapes: NodeShapes) -> LoopProblem:
    x, w = shapes.x, shapes.w
    spatial = len(w) - 2
    if spatial not in (1, 2):
        raise UnsupportedLayer(f"{spatial}-D convolution (only 1-D and 2-D are scheduled)")
    if len(x) != len(w):
        raise ShapeError(f"layer '{shapes.name}' ({node.op_type}): input rank {len(x)} does not match "
                         f"weight rank {len(w)}; check the model")
    group = int(_attr(node, "group", 1))  # type: ignore[call-overload]
    strides = _ints(node, "strides", [1] * spatial)
    dilations = _ints(node, "dilations", [1] * spatial)
    kernel = list(w[2:])
    _check_attr_lengths(node, shapes.name, spatial, strides=strides, dilations=dilations)
    begin, end = _conv_pads(node, shapes.name, list(x[2:]), kernel, strides, dilations)
    _check_attr_lengths(node, shapes.name, spatial, pads=begin + end)
    out = [_conv_out(n, b + e, k, s, d) for n, b, e, k, s, d in zip(x[2:], begin, end, kernel, strides, dilations,
                                                                       strict=True)]
    _check_conv(node, shapes, group, out)
    if spatial == 1:  # 1-D: width only
        kernel, out, strides, dilations = [1, *kernel], [1, *out], [1, *strides], [1, *dilations]
        begin, end = [0, *begin], [0, *end]
    return LoopProblem(name=shapes.name, op_type=node.op_type, g=group, c=w[1], k=w[0] // group, n=x[0],
                       r=kernel[1], s=kernel[0], p=out[1], q=out[0],
                       w_stride=strides[1], h_stride=strides[0], w_dilation=dilations[1], h_dilation=dilations[0],
                       w_pad=(begin[1], end[1]), h_pad=(begin[0], end[0]),
                       weight_bits=shapes.w_bits, input_bits=shapes.x_bits, output_bits=shapes.y_bits)


def _conv_pads(node: onnx.NodeProto, name: str, size: list[int], kernel: list[int], strides: list[int],
               dilations: list[int]) -> tuple[list[int], list[int]]:
    auto_pad = _attr(node, "auto_pad", b"NOTSET")
    mode = auto_pad.decode() if isinstance(auto_pad, bytes) else str(auto_pad)
    n = len(size)
    if mode not in ("NOTSET", "", "VALID", "SAME_UPPER", "SAME_LOWER"):
        raise ShapeError(f"layer '{name}' ({node.op_type}): unknown auto_pad '{mode}'; expected NOTSET, VALID, "
                         "SAME_UPPER or SAME_LOWER")
    if mode in ("NOTSET", ""):
        pads = _ints(node, "pads", [0] * (2 * n))
        return pads[:n], pads[n:]
    if mode == "VALID":
        return [0] * n, [0] * n
    begin, end = [], []
    for i in range(n):
        out = -(-size[i] // strides[i])
        total = max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - size[i])
        small, big = total // 2, total - total // 2
        begin.append(small if mode == "SAME_UPPER" else big)
        end.append(big if mode == "SAME_UPPER" else small)
    return begin, end


def _check_attr_lengths(node: onnx.NodeProto, name: str, spatial: int, **values: list[int]) -> None:
    for attr, items in values.items():
        want = 2 * spatial if attr == "pads" else spatial
        if len(items) != want:
            raise ShapeError(f"layer '{name}' ({node.op_type}): attribute '{attr}' has {len(items)} values, "
                             f"expected {want} for a {spatial}-D convolution; fix the model")
        if attr != "pads" and any(v < 1 for v in items):
            raise ShapeError(f"layer '{name}' ({node.op_type}): attribute '{attr}' must be positive, got {items}")
        if attr == "pads" and any(v < 0 for v in items):
            raise ShapeError(f"layer '{name}' ({node.op_type}): negative pads {items} are not supported")


def _conv_out(size: int, pad: int, kernel: int, stride: int, dilation: int) -> int:
    return (size + pad - ((kernel - 1) * dilation + 1)) // stride + 1


def _check_conv(node: onnx.NodeProto, shapes: NodeShapes, group: int, out: list[int]) -> None:
    where = f"layer '{shapes.name}' ({node.op_type})"
    if group < 1 or shapes.w[0] % group or shapes.x[1] != shapes.w[1] * group:
        raise ShapeError(f"{where}: group={group} does not fit input channels {shapes.x[1]}, weight "
                         f"{list(shapes.w)}; check the model")
    if any(o < 1 for o in out):
        raise ShapeError(f"{where}: output spatial size {out} is not positive (input {list(shapes.x)}, "
                         f"kernel {list(shapes.w[2:])}); check pads/strides or the input shape")
    if shapes.y is not None and list(shapes.y[2:]) != out:
        raise ShapeError(f"{where}: inferred output {list(shapes.y)} does not match the computed spatial "
                         f"size {out}; check the model's pads/strides")


# ---- matrix multiplies ---------------------------------------------------------------------------

def _gemm(node: onnx.NodeProto, shapes: NodeShapes) -> LoopProblem:
    a, b = shapes.x, shapes.w
    if len(a) != 2 or len(b) != 2:
        raise ShapeError(f"layer '{shapes.name}' (Gemm): operands must be 2-D, got {list(a)} and {list(b)}")
    m, ka = (a[1], a[0]) if _attr(node, "transA", 0) else (a[0], a[1])
    nd, kb = (b[0], b[1]) if _attr(node, "transB", 0) else (b[1], b[0])
    _check_inner(shapes, "Gemm", ka, kb)
    return _matrix(shapes, "Gemm", p=m, c=ka, k=nd)


def _check_inner(shapes: NodeShapes, op: str, ka: int, kb: int) -> None:
    if ka != kb:
        raise ShapeError(f"layer '{shapes.name}' ({op}): inner dims differ ({list(shapes.x)} x {list(shapes.w)}); "
                         "check the model or the bound input shapes")


def _matmul(node: onnx.NodeProto, shapes: NodeShapes) -> LoopProblem:
    if not shapes.x or not shapes.w:
        raise ShapeError(f"layer '{shapes.name}' ({node.op_type}): scalar operand ({list(shapes.x)} x "
                         f"{list(shapes.w)}); MatMul needs rank >= 1")
    a = list(shapes.x) if len(shapes.x) > 1 else [1, *shapes.x]
    b = list(shapes.w) if len(shapes.w) > 1 else [*shapes.w, 1]
    m, ka, kb, nd = a[-2], a[-1], b[-2], b[-1]
    _check_inner(shapes, node.op_type, ka, kb)
    batch_a, batch_b = a[:-2], b[:-2]
    batch = _broadcast(shapes.name, node.op_type, batch_a, batch_b)
    a_batched, b_batched = math.prod(batch_a) > 1, math.prod(batch_b) > 1
    if a_batched and b_batched:
        return _matrix(shapes, node.op_type, g=math.prod(batch), p=m, c=ka, k=nd)
    if b_batched:  # left operand shared across the batch: it plays the weight; transpose the product
        return _matrix(shapes, node.op_type, p=math.prod(batch) * nd, c=ka, k=m, swap=True)
    return _matrix(shapes, node.op_type, p=math.prod(batch) * m, c=ka, k=nd)


def _broadcast(name: str, op: str, a: list[int], b: list[int]) -> list[int]:
    width = max(len(a), len(b))
    a = [1] * (width - len(a)) + a
    b = [1] * (width - len(b)) + b
    out = []
    for x, y in zip(a, b, strict=True):
        if x != y and 1 not in (x, y):
            raise ShapeError(f"layer '{name}' ({op}): batch dims {a} and {b} do not broadcast; check the model")
        out.append(max(x, y))
    return out
