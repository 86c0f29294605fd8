"""Number formatting shared by the Markdown and HTML renderers (engineering units, ratios)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from cosa_onnx.problem import ALL_DIMS

logger = logging.getLogger(__name__)

_ENERGY_UNITS = ((1e12, "J"), (1e9, "mJ"), (1e6, "µJ"), (1e3, "nJ"), (1.0, "pJ"))
_TIME_UNITS = ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns"))


def count(value: int | float | None) -> str:
    """An integer count with thousands separators (``12,345``)."""
    return "–" if value is None else f"{round(value):,}"


def big_count(value: int | float | None) -> str:
    """A count short enough for a headline card: exact below 10^9, else ``11.2 G``."""
    if value is None:
        return "–"
    if abs(value) >= 1e12:
        return f"{value / 1e12:.3g} T"
    if abs(value) >= 1e9:
        return f"{value / 1e9:.3g} G"
    return count(value)


def energy(value_pj: float | None) -> str:
    """Energy in the largest unit that keeps the number >= 1 (``9.04 mJ``)."""
    if value_pj is None:
        return "–"
    for scale, unit in _ENERGY_UNITS:
        if abs(value_pj) >= scale:
            return f"{value_pj / scale:.3g} {unit}"
    return f"{value_pj:.3g} pJ"


def seconds(value_s: float | None) -> str:
    if value_s is None:
        return "–"
    if value_s == 0:
        return "0 s"
    if value_s >= 3600:
        return f"{value_s / 3600:.3g} h"
    if value_s >= 60:
        return f"{value_s / 60:.3g} min"
    for scale, unit in _TIME_UNITS:
        if abs(value_s) >= scale:
            return f"{value_s / scale:.3g} {unit}"
    return f"{value_s / 1e-9:.3g} ns"


def ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def percent(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100.0 * value:.{digits}f} %"


def edp(value: float | None) -> str:
    return "–" if value is None else f"{value:.3e} cycle·pJ"


def gap(value: float | None) -> str:
    return "–" if value is None else f"{100.0 * value:.2f} %"


def shape(shape_dict: Mapping[str, Any]) -> str:
    """Compact loop bounds, trivial dims left out: ``R3 S3 P56 Q56 C64 K64 /2``."""
    dims = " ".join(f"{d.value}{shape_dict[d.value]}" for d in ALL_DIMS if shape_dict.get(d.value, 1) != 1)
    text = dims or "1"
    ws, hs = shape_dict.get("w_stride", 1), shape_dict.get("h_stride", 1)
    if ws != 1 or hs != 1:
        text += f" /{ws}" if ws == hs else f" /{ws}x{hs}"
    wd, hd = shape_dict.get("w_dilation", 1), shape_dict.get("h_dilation", 1)
    if wd != 1 or hd != 1:
        text += f" d{wd}" if wd == hd else f" d{wd}x{hd}"
    return text


def words(value: int | None) -> str:
    return "unknown" if value is None else f"{value:,}"


def solver_status(solver: Mapping[str, Any]) -> str:
    """``status (method) [flags]``, leaving out the default method and repeats: ``feasible [time-limit-hit]``."""
    status = str(solver.get("status") or "")
    method = str(solver.get("method") or "")
    text = status or "–"
    if method and method not in ("mip", status):
        text = f"{text} ({method})"
    flags = [str(f) for f in solver.get("flags", ()) if str(f) not in (status, method)]
    if flags:
        text += " [" + ", ".join(flags) + "]"
    return text


_OPERAND_RANK = {"Weights": 0, "Inputs": 1, "Outputs": 2, "all": 3, "MAC": 5}


def operand_order(names: set[str] | list[str]) -> list[str]:
    """Tensor names in the order Weights, Inputs, Outputs, others, MAC."""
    return sorted(set(names), key=lambda v: (_OPERAND_RANK.get(v, 4), v))
