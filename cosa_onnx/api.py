"""The Python API: ``cosa_onnx.compile(model_or_path, arch="simba", **options)``.

Example::

    import cosa_onnx
    result = cosa_onnx.compile("resnet50.onnx", arch="simba", objective="edp", time_limit_s=5)
    result.save("resnet50.cosa.onnx")
    print(result.report.totals["cycles"], result.schedules["conv1"].compute_cycles)
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

from cosa_onnx.errors import UserInputError
from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.pipeline import CompileOptions, CompileResult, ModelInput, ProgressCallback, compile_model

logger = logging.getLogger(__name__)

OPTION_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(CompileOptions))


def make_options(**options: Any) -> CompileOptions:
    """CompileOptions from keyword arguments; an unknown name is a UserInputError naming it."""
    unknown = sorted(set(options) - set(OPTION_NAMES))
    if unknown:
        raise UserInputError(f"unknown compile option(s) {', '.join(unknown)}: use {', '.join(OPTION_NAMES)}")
    if options.get("cache_dir") is not None:
        options["cache_dir"] = Path(options["cache_dir"])
    return CompileOptions(**options)


def compile(model_or_path: ModelInput, arch: str | os.PathLike[str] | HardwareSpec = "simba", *,
            output: str | os.PathLike[str] | None = None, report: str | os.PathLike[str] | None = None,
            on_progress: ProgressCallback | None = None, **options: Any) -> CompileResult:
    """Schedule every Conv/Gemm/MatMul of a model onto ``arch`` and annotate a copy of the model.

    ``options`` are the fields of :class:`~cosa_onnx.pipeline.CompileOptions` (``objective``,
    ``time_limit_s``, ``rel_gap``, ``jobs``, ``batch``, ``input_shapes``, ``use_cache``,
    ``cache_dir``, ``scheduler``). If ``output`` / ``report`` are given, the annotated model / the
    report (format by suffix) are written there atomically.
    """
    result = compile_model(model_or_path, arch, make_options(**options), on_progress=on_progress)
    if report is not None:
        from cosa_onnx.report import write_report

        write_report(result.report, report)
    if output is not None:
        result.save(output)
    return result
