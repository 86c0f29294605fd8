"""The hardware-model registry: built-in specs, spec files and third-party entry points.

Third-party packages register specs in the entry-point group ``cosa_onnx.hwmodels``::

    [project.entry-points."cosa_onnx.hwmodels"]
    my-npu = "my_pkg.hw:make_spec"             # a callable returning a HardwareSpec
    my-npu-v2 = "my_pkg:specs/npu_v2.yaml"      # a YAML spec shipped inside package my_pkg
    lab-npu = "/opt/specs/lab_npu.yaml"         # a YAML spec file path

Built-in names win over entry points of the same name (a warning is logged). A YAML file given
by path may be our spec format or a Timeloop ``arch:``/``architecture:`` file (imported with
the default keeps of :mod:`.timeloop_arch`).
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.resources
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cosa_onnx.errors import SpecError
from cosa_onnx.hwmodels.loader import SPECS_DIR, builtin_names, load_spec_file, read_yaml_file, spec_from_dict
from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.hwmodels.validate import validate_spec

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "cosa_onnx.hwmodels"


@dataclass(frozen=True, kw_only=True)
class SpecEntry:
    """One registered spec: its name, where it comes from, and how to load it."""

    name: str
    origin: str                       # "built-in" or "entry point <dist>: <value>"
    loader: Callable[[], HardwareSpec]

    def load(self) -> HardwareSpec:
        return self.loader()


@functools.cache
def _load_builtin(name: str) -> HardwareSpec:
    return load_spec_file(SPECS_DIR / f"{name}.yaml")


def _is_yaml_value(value: str) -> bool:
    return value.strip().lower().endswith((".yaml", ".yml"))


def _entry_point_yaml_path(value: str) -> Path:
    """``pkg:rel/path.yaml`` (a file inside an importable package) or a plain file path."""
    value = value.strip()
    if ":" in value and not Path(value).is_absolute():
        package, _, rel = value.partition(":")
        try:
            return Path(str(importlib.resources.files(package.strip()).joinpath(rel.strip())))
        except (ModuleNotFoundError, TypeError):
            pass
    return Path(value)


def _load_entry_point(ep: importlib.metadata.EntryPoint) -> HardwareSpec:
    where = f"hardware-model entry point '{ep.name}' ({ep.value})"
    if _is_yaml_value(ep.value):
        return load_spec_path(_entry_point_yaml_path(ep.value))
    try:
        target: Any = ep.load()
    except Exception as exc:  # third-party import failures of any kind
        raise SpecError(f"{where}: cannot import it: {type(exc).__name__}: {exc}") from None
    try:
        spec = target() if callable(target) and not isinstance(target, HardwareSpec) else target
    except Exception as exc:
        raise SpecError(f"{where}: calling it failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(spec, HardwareSpec):
        raise SpecError(f"{where}: must name a callable returning a HardwareSpec, got {type(spec).__name__}")
    validate_spec(spec)
    return spec


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    return sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)


def _origin(ep: importlib.metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    dist_name = getattr(dist, "name", None) if dist is not None else None
    return f"entry point {dist_name or '?'}: {ep.value}"


def list_specs() -> list[SpecEntry]:
    """Built-in specs, then third-party entry points (sorted by name); nothing is loaded yet."""
    entries = [SpecEntry(name=n, origin="built-in", loader=functools.partial(_load_builtin, n))
               for n in builtin_names()]
    taken = {e.name for e in entries}
    for ep in _entry_points():
        if ep.name in taken:
            logger.warning("hardware-model entry point %r (%s) is shadowed by a spec of the same name",
                           ep.name, ep.value)
            continue
        taken.add(ep.name)
        entries.append(SpecEntry(name=ep.name, origin=_origin(ep), loader=functools.partial(_load_entry_point, ep)))
    return entries


def spec_names() -> list[str]:
    return [e.name for e in list_specs()]


def load_spec_path(path: str | os.PathLike[str], *, keeps: Mapping[str, Iterable[str]] | None = None,
                   energies: Mapping[str, Mapping[str, float]] | None = None) -> HardwareSpec:
    """A spec YAML file in our format, or a Timeloop ``arch:``/``architecture:`` file.

    ``keeps`` and ``energies`` (``{component: {action: pJ}}``) only apply to Timeloop files; without
    them the defaults of :mod:`.timeloop_arch` are used (keeps inferred from level names, 0 pJ).
    """
    data = read_yaml_file(path)
    if isinstance(data, dict) and ("arch" in data or "architecture" in data) and "levels" not in data:
        from cosa_onnx.hwmodels.timeloop_arch import spec_from_timeloop_arch

        logger.info("%s is a Timeloop architecture; importing it", path)
        return spec_from_timeloop_arch(data, name=Path(path).stem, keeps=keeps, energies=energies,
                                       source=f"Timeloop architecture {Path(path).name}")
    if keeps or energies:
        raise SpecError(f"hardware spec {path}: keeps/energy tables only apply to Timeloop architecture files")
    if data is None:
        raise SpecError(f"hardware spec {path} is empty: it needs name, mac and levels")
    return spec_from_dict(data)


def _looks_like_path(text: str) -> bool:
    return text.lower().endswith((".yaml", ".yml")) or "/" in text or "\\" in text or Path(text).is_file()


def get_spec(name_or_path: str | os.PathLike[str] | HardwareSpec) -> HardwareSpec:
    """A spec by registered name (``simba``), a spec file path, or a HardwareSpec (returned as is)."""
    if isinstance(name_or_path, HardwareSpec):
        validate_spec(name_or_path)
        return name_or_path
    text = os.fspath(name_or_path)
    if text in builtin_names():
        return _load_builtin(text)
    if not isinstance(name_or_path, str) or _looks_like_path(text):
        if not Path(text).exists():
            raise SpecError(f"hardware spec file {text} does not exist; give a spec .yaml path or one of "
                            f"{', '.join(spec_names())}")
        return load_spec_path(text)
    for entry in list_specs():
        if entry.name == text:
            return entry.load()
    raise SpecError(f"unknown architecture '{text}': use one of {', '.join(spec_names())} "
                    "or a path to a spec .yaml file")
