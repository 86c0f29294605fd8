"""Persistent on-disk schedule cache: one JSON file per (shape, spec, scheduler options, version).

Location: ``cache_dir`` if given, else ``$COSA_ONNX_CACHE_DIR``, else
``platformdirs.user_cache_dir("cosa-onnx")``. Entries live under ``v<CACHE_SCHEMA_VERSION>/<aa>/<key>.json``
where ``key`` is the SHA-256 of the canonical JSON of everything that changes the result (see
:func:`cache_key_material`). Files are plain JSON (never pickle) and written atomically (temporary
file in the same directory, then ``os.replace``). An entry that is corrupt, truncated, of another
schema or tool version, for another key, or whose schedule fails :func:`cosa_onnx.schedule.check`
is ignored (logged) and rebuilt by the caller — it is never trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cosa_onnx import __version__
from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.problem import LoopProblem
from cosa_onnx.schedule import Schedule, check

logger = logging.getLogger(__name__)

CACHE_SCHEMA_VERSION = 1
CACHE_DIR_ENV = "COSA_ONNX_CACHE_DIR"
APP_NAME = "cosa-onnx"


def default_cache_dir() -> Path:
    """``$COSA_ONNX_CACHE_DIR`` if set (and non-empty), else the platform's user cache dir."""
    env = os.environ.get(CACHE_DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME))


def resolve_cache_dir(cache_dir: str | os.PathLike[str] | None) -> Path:
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def _jsonable(value: Any) -> Any:
    """Canonical JSON-able form of key material (tuples -> lists, enums -> values)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def cache_key_material(problem: LoopProblem, spec: HardwareSpec, scheduler: str,
                       options_token: Mapping[str, Any]) -> dict[str, Any]:
    """Everything a cached schedule depends on (the problem's name is deliberately left out)."""
    material: dict[str, Any] = _jsonable({
        "cache_schema": CACHE_SCHEMA_VERSION,
        "tool_version": __version__,
        "shape_key": problem.shape_key(),
        "spec_sha256": spec.content_hash(),
        "scheduler": scheduler,
        "options": dict(options_token),
    })
    return material


def cache_key(material: Mapping[str, Any]) -> str:
    text = json.dumps(material, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, kw_only=True)
class ScheduleCache:
    """A directory of cached schedules. Reading and writing never raise on cache trouble."""

    root: Path

    @classmethod
    def open(cls, cache_dir: str | os.PathLike[str] | None = None) -> ScheduleCache:
        return cls(root=resolve_cache_dir(cache_dir))

    def path_for(self, key: str) -> Path:
        return self.root / f"v{CACHE_SCHEMA_VERSION}" / key[:2] / f"{key}.json"

    def load(self, problem: LoopProblem, spec: HardwareSpec, scheduler: str,
             options_token: Mapping[str, Any]) -> Schedule | None:
        """The cached schedule for this key, or None (missing, unreadable or invalid entries)."""
        material = cache_key_material(problem, spec, scheduler, options_token)
        path = self.path_for(cache_key(material))
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            logger.warning("schedule cache: cannot read %s (%s); solving again", path, exc)
            return None
        schedule = _parse_entry(raw, material, path)
        if schedule is None:
            return None
        problems = check(problem, spec, schedule)
        if problems:
            logger.warning("schedule cache: %s holds an invalid schedule for %s (%s); solving again",
                           path, problem.name, problems[0])
            return None
        return schedule

    def store(self, problem: LoopProblem, spec: HardwareSpec, scheduler: str,
              options_token: Mapping[str, Any], schedule: Schedule) -> Path | None:
        """Write one entry atomically; returns its path, or None if the cache is not writable."""
        material = cache_key_material(problem, spec, scheduler, options_token)
        path = self.path_for(cache_key(material))
        entry = {
            "cache_schema": CACHE_SCHEMA_VERSION,
            "tool_version": __version__,
            "key_material": material,
            "problem": problem.to_dict(),
            "schedule": schedule.to_dict(),
        }
        try:
            _atomic_write(path, json.dumps(entry, sort_keys=True, indent=1))
        except OSError as exc:
            logger.warning("schedule cache: cannot write %s (%s); continuing without caching", path, exc)
            return None
        return path


def _parse_entry(raw: bytes, material: Mapping[str, Any], path: Path) -> Schedule | None:
    try:
        entry = json.loads(raw.decode("utf-8"))
    except ValueError:  # includes UnicodeDecodeError
        logger.warning("schedule cache: %s is corrupt or truncated; ignoring it", path)
        return None
    if not isinstance(entry, dict):
        logger.warning("schedule cache: %s is not a cache entry; ignoring it", path)
        return None
    if entry.get("cache_schema") != CACHE_SCHEMA_VERSION or entry.get("tool_version") != __version__:
        logger.info("schedule cache: %s is from another version (schema %r, tool %r); ignoring it",
                    path, entry.get("cache_schema"), entry.get("tool_version"))
        return None
    if entry.get("key_material") != material:
        logger.warning("schedule cache: %s belongs to another key; ignoring it", path)
        return None
    try:
        return Schedule.from_dict(entry["schedule"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        logger.warning("schedule cache: %s has an unreadable schedule (%s); ignoring it", path, exc)
        return None


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem[:16]}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
