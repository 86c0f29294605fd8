"""TVM Relax integration: a module pass that schedules every conv2d / matmul call with CoSA.

Needs the optional extra ``cosa-onnx[tvm]`` (apache-tvm 0.27). Typical use::

    from tvm.relax.frontend.onnx import from_onnx
    from cosa_onnx.tvm_pass import cosa_schedule_pass, read_schedules

    mod = from_onnx(onnx_model)
    mod = cosa_schedule_pass(arch="simba")(mod)
    schedules = read_schedules(mod)          # {"main/lv": Schedule, ...}

The pass never rewrites the program. It attaches the results as JSON strings:

* module attribute ``cosa_onnx.schedules``: ``{"version", "arch", "arch_sha256", "calls": {key: entry},
  "skipped": {key: reason}}`` where ``key`` is ``"<function>/<bound var>"`` and ``entry`` holds
  ``op``, ``problem`` (LoopProblem dict), ``schedule`` (Schedule dict), ``cycles``, ``energy_pj``;
* function attribute ``cosa_onnx.schedules`` on every Relax function: the same ``calls`` entries of
  that function, keyed by bound-variable name.

Calls it cannot map (other ops, unknown symbolic dims, unusual layouts) are left alone, listed under
``skipped`` with the reason, and logged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx

from cosa_onnx.errors import ScheduleError, ShapeError
from cosa_onnx.hwmodels.loader import load_spec
from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.onnx_ops import NodeShapes, UnsupportedLayer, map_node
from cosa_onnx.problem import LoopProblem
from cosa_onnx.schedule import Schedule

logger = logging.getLogger(__name__)

SCHEDULES_ATTR = "cosa_onnx.schedules"
TVM_SCHEMA_VERSION = 1
CONV2D_OP = "relax.nn.conv2d"
CONV1D_OP = "relax.nn.conv1d"
MATMUL_OP = "relax.matmul"
SUPPORTED_OPS = (CONV2D_OP, CONV1D_OP, MATMUL_OP)


class UnsupportedCallError(Exception):
    """A call the pass leaves alone; the message is the logged reason."""


@dataclass(frozen=True, kw_only=True)
class RelaxLayer:
    """One conv2d / matmul call turned into a loop problem."""

    key: str          # "<function>/<bound var>"
    function: str
    var_name: str
    op_name: str
    problem: LoopProblem


@dataclass(frozen=True, kw_only=True)
class SkippedCall:
    """A conv2d / matmul call the pass could not map, with the reason."""

    key: str
    function: str
    var_name: str
    op_name: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class RelaxCalls:
    layers: tuple[RelaxLayer, ...]
    skipped: tuple[SkippedCall, ...]


# ---- shape helpers (pure integers; no TVM objects) -------------------------------------------
# The Relax call is restated as the equivalent ONNX node and mapped by the ONNX importer's
# ``map_node``, so both front ends produce identical loop problems for identical layers.

@dataclass(frozen=True, kw_only=True)
class OperandBits:
    """Element bits of a call's activation (x), weight (w) and output (y) tensors."""

    x: int = 8
    w: int = 8
    y: int = 8


def _mapped(node: onnx.NodeProto, name: str, x: Sequence[int], w: Sequence[int], y: Sequence[int] | None,
            bits: OperandBits) -> LoopProblem:
    if any(int(d) < 1 for d in (*x, *w, *(y or ()))):
        raise UnsupportedCallError(f"zero or negative dim in {list(x)} x {list(w)}")
    shapes = NodeShapes(name=name, x=tuple(int(d) for d in x), w=tuple(int(d) for d in w),
                        y=None if y is None else tuple(int(d) for d in y), x_bits=bits.x, w_bits=bits.w, y_bits=bits.y)
    try:
        return map_node(node, shapes)
    except (ShapeError, UnsupportedLayer, ValueError) as exc:
        raise UnsupportedCallError(str(exc)) from None


def _permuted(layout: str, canonical: str, shape: Sequence[int]) -> list[int]:
    if sorted(layout) != sorted(canonical) or len(shape) != len(layout):
        raise UnsupportedCallError(f"layout {layout!r} is not a permutation of {canonical}")
    by_axis = dict(zip(layout, shape, strict=True))
    return [int(by_axis[axis]) for axis in canonical]


def conv2d_problem(name: str, *, data_shape: Sequence[int], weight_shape: Sequence[int],
                   out_shape: Sequence[int] | None, strides: Sequence[int], padding: Sequence[int],
                   dilation: Sequence[int], groups: int, data_layout: str = "NCHW",
                   kernel_layout: str = "OIHW", out_layout: str = "NCHW",
                   bits: OperandBits | None = None) -> LoopProblem:
    """The loop problem of a 2-D convolution given shapes in the named layouts.

    ``padding`` is Relax's (top, left, bottom, right) or (vertical, horizontal) or one value.
    """
    x = _permuted(data_layout, "NCHW", data_shape)
    w = _permuted(kernel_layout, "OIHW", weight_shape)
    y = None if out_shape is None else _permuted(out_layout, "NCHW", out_shape)
    top, left, bottom, right = _four_pads(padding)
    node = onnx.helper.make_node("Conv", ["x", "w"], ["y"], name=name, group=int(groups),
                                 strides=[int(v) for v in strides], dilations=[int(v) for v in dilation],
                                 pads=[top, left, bottom, right])
    return _mapped(node, name, x, w, y, bits or OperandBits())


def _four_pads(padding: Sequence[int]) -> tuple[int, int, int, int]:
    pads = [int(x) for x in padding]
    if len(pads) == 1:
        pads = pads * 4
    elif len(pads) == 2:
        pads = [pads[0], pads[1], pads[0], pads[1]]
    if len(pads) != 4:
        raise UnsupportedCallError(f"padding {pads} is not 1, 2 or 4 values")
    return pads[0], pads[1], pads[2], pads[3]


def matmul_problem(name: str, *, a_shape: Sequence[int], b_shape: Sequence[int],
                   bits: OperandBits | None = None) -> LoopProblem:
    """The loop problem of ``A[..., M, Kd] @ B[..., Kd, Nd]``, mapped as ONNX MatMul (see ``onnx_ops``)."""
    node = onnx.helper.make_node("MatMul", ["a", "b"], ["y"], name=name)
    return _mapped(node, name, a_shape, b_shape, None, bits or OperandBits())


def dtype_bits(dtype: str) -> int:
    """Bits per element of a TVM dtype string (``float32`` -> 32, ``int8`` -> 8, ``int4`` -> 4)."""
    digits = "".join(ch for ch in dtype.split("x")[0] if ch.isdigit())
    if not digits:
        raise UnsupportedCallError(f"dtype {dtype!r} has no bit width")
    return int(digits)


# ---- walking a Relax module ------------------------------------------------------------------

def _type_of(expr: Any) -> Any:
    """The tensor type of an expression: ``.ty`` (TVM 0.27) or ``.struct_info`` (older)."""
    for attr in ("ty", "struct_info"):
        try:
            value = getattr(expr, attr)
        except (AttributeError, ValueError):
            continue
        if value is not None:
            return value
    raise UnsupportedCallError("expression has no type information")


def _var_name(var: Any) -> str:
    name = getattr(var, "name", None)
    if name is None:
        name = getattr(var, "name_hint", None)
    return str(name) if name is not None else "var"


def static_shape(expr: Any, bind: Mapping[str, int]) -> list[int]:
    """The integer shape of a tensor expression; symbolic dims are looked up in ``bind`` by name."""
    shape = getattr(_type_of(expr), "shape", None)
    values = getattr(shape, "values", shape)
    if values is None:
        raise UnsupportedCallError("tensor rank / shape is unknown")
    dims: list[int] = []
    for dim in values:
        value = getattr(dim, "value", None)
        if isinstance(value, int):
            dims.append(value)
            continue
        symbol = str(getattr(dim, "name", None) or getattr(dim, "name_hint", None) or dim)
        if symbol not in bind:
            raise UnsupportedCallError(f"dimension {symbol!r} is symbolic; bind it, e.g. bind={{'{symbol}': 1}}")
        dims.append(int(bind[symbol]))
    return dims


def _op_name(call: Any) -> str | None:
    op = getattr(call, "op", None)
    name = getattr(op, "name", None)
    return str(name) if isinstance(name, str) or (name is not None and not callable(name)) else None


def _iter_calls(func: Any) -> Iterator[tuple[str, Any]]:
    """(bound var name, call) for every call bound in a Relax function's body."""
    for block in getattr(func.body, "blocks", ()):
        for binding in block.bindings:
            value = getattr(binding, "value", None)
            if value is not None and hasattr(value, "op") and hasattr(value, "args"):
                yield _var_name(binding.var), value


def _with_unit_height(layout: str, shape: Sequence[int]) -> tuple[str, list[int]]:
    """A 1-D conv layout/shape (``NCW``, ``OIW``) as its 2-D form with H = 1."""
    at = layout.index("W")
    return layout[:at] + "H" + layout[at:], [*shape[:at], 1, *shape[at:]]


def _call_bits(call: Any) -> OperandBits:
    """Element bits from the dtypes of the call's two operands and its result."""
    x, w = (dtype_bits(str(getattr(_type_of(arg), "dtype", ""))) for arg in list(call.args)[:2])
    return OperandBits(x=x, w=w, y=dtype_bits(str(getattr(_type_of(call), "dtype", ""))))


def _conv1d_problem(name: str, call: Any, bind: Mapping[str, int]) -> LoopProblem:
    attrs = call.attrs
    args = list(call.args)
    try:
        data_layout, data_shape = _with_unit_height(str(attrs.data_layout), static_shape(args[0], bind))
        kernel_layout, weight_shape = _with_unit_height(str(attrs.kernel_layout), static_shape(args[1], bind))
        out_layout, out_shape = _with_unit_height(str(attrs.out_layout or attrs.data_layout), static_shape(call, bind))
    except ValueError:
        raise UnsupportedCallError(f"conv1d layouts {attrs.data_layout}/{attrs.kernel_layout} have no W axis") from None
    left, right = (int(x) for x in (list(attrs.padding) * 2)[:2])
    return conv2d_problem(
        name, data_shape=data_shape, weight_shape=weight_shape, out_shape=out_shape,
        strides=[1, int(attrs.strides[0])], padding=[0, left, 0, right], dilation=[1, int(attrs.dilation[0])],
        groups=int(attrs.groups), data_layout=data_layout, kernel_layout=kernel_layout, out_layout=out_layout,
        bits=_call_bits(call),
    )


def _call_problem(name: str, op_name: str, call: Any, bind: Mapping[str, int]) -> LoopProblem:
    args = list(call.args)
    if op_name == CONV1D_OP:
        return _conv1d_problem(name, call, bind)
    if op_name == CONV2D_OP:
        attrs = call.attrs
        return conv2d_problem(
            name, data_shape=static_shape(args[0], bind), weight_shape=static_shape(args[1], bind),
            out_shape=static_shape(call, bind), strides=[int(x) for x in attrs.strides],
            padding=[int(x) for x in attrs.padding], dilation=[int(x) for x in attrs.dilation],
            groups=int(attrs.groups), data_layout=str(attrs.data_layout),
            kernel_layout=str(attrs.kernel_layout), out_layout=str(attrs.out_layout or attrs.data_layout),
            bits=_call_bits(call),
        )
    return matmul_problem(name, a_shape=static_shape(args[0], bind), b_shape=static_shape(args[1], bind),
                          bits=_call_bits(call))


def extract_calls(mod: Any, *, bind: Mapping[str, int] | None = None) -> RelaxCalls:
    """Every conv2d / matmul call of every Relax function, as loop problems or skip reasons."""
    bind = dict(bind or {})
    layers: list[RelaxLayer] = []
    skipped: list[SkippedCall] = []
    for gvar, func in sorted(mod.functions_items(), key=lambda item: str(item[0].name_hint)):
        if not hasattr(func, "body") or not hasattr(func.body, "blocks"):
            continue  # PrimFuncs and externs: nothing to schedule here
        fname = str(gvar.name_hint)
        seen: dict[str, int] = {}
        for var_name, call in _iter_calls(func):
            op_name = _op_name(call)
            if op_name is None or not op_name.startswith(("relax.nn.conv", "relax.matmul")):
                continue
            count = seen.get(var_name, 0)
            seen[var_name] = count + 1
            unique = var_name if count == 0 else f"{var_name}#{count}"
            key = f"{fname}/{unique}"
            try:
                if op_name not in SUPPORTED_OPS:
                    raise UnsupportedCallError(f"operator {op_name} is not scheduled (only conv1d, conv2d and matmul)")
                problem = _call_problem(key, op_name, call, bind)
            except UnsupportedCallError as exc:
                logger.info("cosa_onnx tvm pass: leaving %s (%s) unchanged: %s", key, op_name, exc)
                skipped.append(SkippedCall(key=key, function=fname, var_name=unique, op_name=op_name,
                                           reason=str(exc)))
                continue
            layers.append(RelaxLayer(key=key, function=fname, var_name=unique, op_name=op_name, problem=problem))
    return RelaxCalls(layers=tuple(layers), skipped=tuple(skipped))


# ---- scheduling and annotation ---------------------------------------------------------------

ScheduleFn = Callable[[Sequence[LoopProblem], HardwareSpec], Mapping[Any, Schedule]]


def default_schedule_fn(*, options: Any = None, use_cache: bool = True, cache_dir: Path | None = None,
                        jobs: int | None = None) -> ScheduleFn:
    """The team scheduler (``cosa_onnx.scheduling.schedule_problems`` with the CoSA MIP)."""

    def run(problems: Sequence[LoopProblem], spec: HardwareSpec) -> dict[Any, Schedule]:
        from cosa_onnx.passes.cosa_mip import MipOptions
        from cosa_onnx.scheduling import schedule_problems

        kwargs: dict[str, Any] = {"jobs": jobs, "use_cache": use_cache}
        if cache_dir is not None:
            kwargs["cache_dir"] = cache_dir
        outcomes = schedule_problems(list(problems), spec, options or MipOptions(), **kwargs)
        return {key: outcome.schedule for key, outcome in outcomes.items()}

    return run


def _entry(layer: RelaxLayer, schedule: Schedule, spec: HardwareSpec) -> dict[str, Any]:
    from cosa_onnx.cost import evaluate

    cost = evaluate(layer.problem, spec, schedule)
    return {"op": layer.op_name, "problem": layer.problem.to_dict(), "schedule": schedule.to_dict(),
            "cycles": int(cost.cycles), "energy_pj": float(cost.energy_pj)}


def schedule_module(mod: Any, arch: str | Path | HardwareSpec = "simba", *, bind: Mapping[str, int] | None = None,
                    schedule_fn: ScheduleFn | None = None) -> Any:
    """A copy of ``mod`` with the CoSA schedules of its conv2d / matmul calls attached (see module doc)."""
    from cosa_onnx import __version__

    spec = arch if isinstance(arch, HardwareSpec) else load_spec(arch)
    found = extract_calls(mod, bind=bind)
    schedules = (schedule_fn or default_schedule_fn())([lay.problem for lay in found.layers], spec)
    calls: dict[str, dict[str, Any]] = {}
    for layer in found.layers:
        schedule = schedules.get(layer.problem.shape_key())
        if schedule is None:
            raise ScheduleError(f"call {layer.key}: the scheduler returned no schedule for its shape (internal error)")
        calls[layer.key] = _entry(layer, schedule, spec)
    document = {"version": TVM_SCHEMA_VERSION, "tool_version": __version__, "arch": spec.name,
                "arch_sha256": spec.content_hash(), "calls": calls,
                "skipped": {s.key: s.reason for s in found.skipped}}
    logger.info("cosa_onnx tvm pass: scheduled %d calls (%d distinct shapes), skipped %d",
                len(found.layers), len(schedules), len(found.skipped))
    return _annotate(mod, document, found.layers)


def _annotate(mod: Any, document: Mapping[str, Any], layers: Sequence[RelaxLayer]) -> Any:
    out = mod.with_attr(SCHEDULES_ATTR, json.dumps(document, sort_keys=True))
    by_function: dict[str, dict[str, Any]] = {}
    for layer in layers:
        by_function.setdefault(layer.function, {})[layer.var_name] = document["calls"][layer.key]
    for fname, entries in sorted(by_function.items()):
        gvar = out.get_global_var(fname)
        out.update_func(gvar, out[gvar].with_attr(SCHEDULES_ATTR, json.dumps(entries, sort_keys=True)))
    return out


def cosa_schedule_pass(arch: str | Path | HardwareSpec = "simba", *, bind: Mapping[str, int] | None = None,
                       options: Any = None, use_cache: bool = True, cache_dir: Path | None = None,
                       jobs: int | None = None, schedule_fn: ScheduleFn | None = None) -> Any:
    """A ``tvm.transform.ModulePass`` (name ``cosa_onnx.CosaSchedule``) running :func:`schedule_module`.

    ``options`` is a ``MipOptions``; ``bind`` maps symbolic dim names (e.g. ``{"N": 1}``) to sizes.
    """
    import tvm

    spec = arch if isinstance(arch, HardwareSpec) else load_spec(arch)
    fn = schedule_fn or default_schedule_fn(options=options, use_cache=use_cache, cache_dir=cache_dir, jobs=jobs)

    def transform(mod: Any, _ctx: Any) -> Any:
        return schedule_module(mod, spec, bind=bind, schedule_fn=fn)

    return tvm.transform.module_pass(transform, opt_level=0, name="cosa_onnx.CosaSchedule")


def read_document(mod: Any) -> dict[str, Any]:
    """The JSON document the pass attached to ``mod`` ({} if the pass has not run)."""
    attrs = getattr(mod, "attrs", None)
    text = mod.get_attr(SCHEDULES_ATTR) if attrs is not None else None
    return dict(json.loads(str(text))) if text is not None else {}


def read_schedules(mod: Any) -> dict[str, Schedule]:
    """``{"<function>/<var>": Schedule}`` for every call the pass scheduled."""
    calls = read_document(mod).get("calls", {})
    return {key: Schedule.from_dict(entry["schedule"]) for key, entry in calls.items()}
