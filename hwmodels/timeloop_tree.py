"""Flatten Timeloop's v0.3 ``architecture:`` tree into the older ``arch:`` form.

A tree node has a ``name`` (``PE[0..167]`` = 168 copies of everything below it), ``local``
components (``class`` + ``attributes``; listed outermost first) and at most one ``subtree`` child
list. The component whose class names a MAC (``intmac``, ``fpmac``, ``mac``, ...) is the
arithmetic; every other component is a storage level. A component's instances are its own name
range times the ranges of every enclosing node. v0.4 files (YAML tags such as ``!Component``) are
not readable by a safe loader and are not supported.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from cosa_onnx.errors import SpecError

logger = logging.getLogger(__name__)

_RANGE = re.compile(r"^(?P<base>[^\[]+)\[(?P<lo>\d+)\.\.(?P<hi>\d+)\]$")
_COMPUTE_HINTS = ("mac", "compute", "alu", "multiplier")


def _split_name(name: Any, where: str) -> tuple[str, int]:
    if not isinstance(name, str) or not name:
        raise SpecError(f"{where} name: missing")
    match = _RANGE.match(name.strip())
    if match is None:
        return name.strip(), 1
    count = int(match.group("hi")) - int(match.group("lo")) + 1
    if count < 1:
        raise SpecError(f"{where} name: empty range in {name!r}")
    return match.group("base"), count


def _is_compute(component: Mapping[str, Any]) -> bool:
    cls = str(component.get("class", "")).lower()
    return any(hint in cls for hint in _COMPUTE_HINTS)


def _walk(node: Any, multiplier: int, storage: list[dict[str, Any]], compute: list[dict[str, Any]]) -> None:
    if not isinstance(node, Mapping):
        raise SpecError(f"Timeloop architecture tree: a node must be a mapping, got {node!r}")
    _, count = _split_name(node.get("name"), "Timeloop architecture node")
    inside = multiplier * count
    for component in node.get("local", []) or []:
        if not isinstance(component, Mapping):
            raise SpecError(f"Timeloop architecture tree: a local component must be a mapping, got {component!r}")
        base, copies = _split_name(component.get("name"), "Timeloop architecture component")
        attributes = component.get("attributes") or {}
        if not isinstance(attributes, Mapping):
            raise SpecError(f"Timeloop architecture component '{base}' attributes: must be a mapping")
        entry = {**attributes, "name": base, "class": component.get("class", ""), "instances": inside * copies}
        (compute if _is_compute(component) else storage).append(entry)
    children = node.get("subtree", []) or []
    if len(children) > 1:
        raise SpecError(f"Timeloop architecture node '{node.get('name')}': {len(children)} subtrees; only a single "
                        "chain of nodes (one subtree per node) can be imported")
    for child in children:
        _walk(child, inside, storage, compute)


def flatten_architecture(tree: Any) -> dict[str, Any]:
    """``{"arithmetic": {...}, "storage": [innermost first]}`` from a v0.3 ``architecture:`` mapping."""
    if not isinstance(tree, Mapping) or not isinstance(tree.get("subtree"), list):
        raise SpecError("Timeloop architecture: expected the v0.3 tree form (version, subtree: [...]); "
                        "v0.4 files with !Component tags are not supported")
    storage: list[dict[str, Any]] = []
    compute: list[dict[str, Any]] = []
    for node in tree["subtree"]:
        _walk(node, 1, storage, compute)
    if len(compute) != 1:
        raise SpecError(f"Timeloop architecture: found {len(compute)} compute components (classes containing "
                        "'mac'); need exactly one")
    logger.debug("flattened Timeloop tree: %s", [s["name"] for s in storage])
    return {"arithmetic": compute[0], "storage": list(reversed(storage))}
