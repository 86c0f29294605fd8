"""The compile pipeline: import -> schedule (CoSA MIP) -> cost -> report -> annotate -> save.

This module decides the order of the steps, the caching and the parallelism (through
:func:`cosa_onnx.scheduling.schedule_problems`); each step is a small function the onnx-ir passes
in ``cosa_onnx.passes`` reuse. The annotated model is the input ``ModelProto`` with metadata added
and nothing else changed (see :mod:`cosa_onnx.annotations`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx

from cosa_onnx import __version__
from cosa_onnx.annotations import AnnotatedModel, NetworkAnnotation, NodeAnnotation, annotate_proto, read_annotations
from cosa_onnx.bounds import layer_bounds
from cosa_onnx.cost import evaluate
from cosa_onnx.errors import ModelLoadError, UserInputError
from cosa_onnx.hwmodels.loader import load_spec
from cosa_onnx.hwmodels.spec import HardwareSpec
from cosa_onnx.importer import ImportedModel, Layer, UnscheduledOp, import_model, load_model
from cosa_onnx.report import LayerResult, NetworkReport, build_report
from cosa_onnx.schedule import Schedule
from cosa_onnx.scheduling import schedule_problems

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[Any], None]
ModelInput = str | os.PathLike[str] | onnx.ModelProto


class OutputError(UserInputError):
    """An output file cannot be written (exit code 2)."""


@dataclass(frozen=True, kw_only=True)
class CompileOptions:
    """Everything a compile can be told (``None`` = the MIP's / driver's default)."""

    objective: str = "default"
    time_limit_s: float | None = None
    rel_gap: float | None = None
    jobs: int | None = None
    batch: int | None = None
    input_shapes: Mapping[str, Sequence[int]] | None = None
    use_cache: bool = True
    cache_dir: Path | None = None
    scheduler: str = "mip"

    def scheduler_options(self) -> Any:
        """The :class:`~cosa_onnx.passes.cosa_mip.MipOptions` these options select (None: the
        driver's defaults for a non-MIP scheduler)."""
        if self.scheduler != "mip":
            return None
        from cosa_onnx.passes.cosa_mip import MipOptions

        kwargs: dict[str, Any] = {"objective": self.objective}
        if self.time_limit_s is not None:
            kwargs["time_limit_s"] = float(self.time_limit_s)
        if self.rel_gap is not None:
            kwargs["rel_gap"] = float(self.rel_gap)
        return MipOptions(**kwargs)


@dataclass(frozen=True, kw_only=True)
class CompileResult:
    """What a compile produces: the annotated model, the report and the schedule of every node."""

    model: onnx.ModelProto
    report: NetworkReport
    schedules: Mapping[str, Schedule]
    layers: tuple[LayerResult, ...]
    spec: HardwareSpec
    source_dir: Path | None = field(default=None)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the annotated model atomically (external data files follow it if it moves)."""
        return save_model(self.model, path, source_dir=self.source_dir)


# ---- steps -----------------------------------------------------------------------------------------
def resolve_spec(arch: str | os.PathLike[str] | HardwareSpec) -> HardwareSpec:
    return arch if isinstance(arch, HardwareSpec) else load_spec(arch)


def load_input(model_or_path: ModelInput) -> tuple[onnx.ModelProto, Path | None]:
    """The model (external data left on disk) and the folder its external data lives in."""
    if isinstance(model_or_path, onnx.ModelProto):
        return model_or_path, None
    path = Path(model_or_path)
    return load_model(path, load_external_data=False), path.resolve().parent


def import_layers(model: onnx.ModelProto, options: CompileOptions, *, model_name: str | None = None) -> ImportedModel:
    imported = import_model(model, batch=options.batch, input_shapes=options.input_shapes)
    return dataclasses.replace(imported, model_name=model_name) if model_name else imported


def schedule_layers(layers: Sequence[Layer], spec: HardwareSpec, options: CompileOptions,
                    on_progress: ProgressCallback | None = None) -> tuple[LayerResult, ...]:
    """Schedule every layer (one solve per distinct shape) and cost each one."""
    problems = [layer.problem for layer in layers]
    outcomes = schedule_problems(problems, spec, options.scheduler_options(), scheduler=options.scheduler,
                                 jobs=options.jobs, cache_dir=options.cache_dir, use_cache=options.use_cache,
                                 on_progress=on_progress)
    return cost_layers(layers, {key: (o.schedule, o.solve_time_s, o.cache_hit) for key, o in outcomes.items()}, spec)


def cost_layers(layers: Sequence[Layer], solved: Mapping[Any, tuple[Schedule, float, bool]],
                spec: HardwareSpec) -> tuple[LayerResult, ...]:
    """A LayerResult per layer; cost and bounds computed once per shape, solve time booked once."""
    costed: dict[Any, tuple[Any, Any]] = {}
    results: list[LayerResult] = []
    for layer in layers:
        key = layer.problem.shape_key()
        schedule, solve_time_s, cache_hit = solved[key]
        first = key not in costed
        if first:
            costed[key] = (evaluate(layer.problem, spec, schedule), layer_bounds(layer.problem, spec))
        cost, bounds = costed[key]
        results.append(LayerResult(node_name=layer.node_name, op_type=layer.op_type, problem=layer.problem,
                                   schedule=schedule, cost=cost, bounds=bounds,
                                   solve_time_s=float(solve_time_s) if first else 0.0, cache_hit=bool(cache_hit)))
    return tuple(results)


def unscheduled_to_dict(op: UnscheduledOp) -> dict[str, Any]:
    return {"node_name": op.node_name, "op_type": op.op_type, "node_index": op.node_index,
            "input_words": op.input_words, "output_words": op.output_words, "constant": op.constant}


def annotations_for(layers: Sequence[Layer], results: Sequence[LayerResult], report: NetworkReport,
                    spec: HardwareSpec, unscheduled: Sequence[UnscheduledOp]) -> tuple[list[NodeAnnotation], NetworkAnnotation]:
    nodes = [NodeAnnotation(node_index=layer.node_index, problem=res.problem, schedule=res.schedule,
                            cycles=int(res.cost.cycles), energy_pj=float(res.cost.energy_pj), op_type=layer.op_type)
             for layer, res in zip(layers, results, strict=True)]
    return nodes, network_annotation(report, spec, unscheduled)


def network_annotation(report: NetworkReport, spec: HardwareSpec,
                       unscheduled: Sequence[UnscheduledOp]) -> NetworkAnnotation:
    return NetworkAnnotation(version=__version__, spec=spec, totals=report.totals, model_name=report.model_name,
                             unscheduled=tuple(unscheduled_to_dict(op) for op in unscheduled))


def compile_model(model_or_path: ModelInput, arch: str | os.PathLike[str] | HardwareSpec = "simba",
                  options: CompileOptions | None = None, *,
                  on_progress: ProgressCallback | None = None) -> CompileResult:
    """Compile a model: the input is never modified; the result holds an annotated copy."""
    options = options or CompileOptions()
    spec = resolve_spec(arch)
    source, source_dir = load_input(model_or_path)
    name = None if isinstance(model_or_path, onnx.ModelProto) else default_model_name(model_or_path)
    imported = import_layers(source, options, model_name=name)
    logger.info("%s: %d layers to schedule, %d unscheduled ops", imported.model_name, len(imported.layers),
                len(imported.unscheduled))
    if not imported.layers:
        where = imported.model_name if isinstance(model_or_path, onnx.ModelProto) else os.fspath(model_or_path)
        raise ModelLoadError(f"{where}: no Conv, Gemm or MatMul layer to schedule (found only "
                             f"{len(imported.unscheduled)} other ops); give a model with conv/matmul layers")
    results = schedule_layers(imported.layers, spec, options, on_progress)
    report = build_report(results, imported.unscheduled, spec, model_name=imported.model_name)
    annotated = onnx.ModelProto()
    annotated.CopyFrom(source)
    nodes, network = annotations_for(imported.layers, results, report, spec, imported.unscheduled)
    annotate_proto(annotated, nodes, network)
    schedules = {res.node_name: res.schedule for res in results}
    return CompileResult(model=annotated, report=report, schedules=schedules, layers=results, spec=spec,
                         source_dir=source_dir)


# ---- reading a compiled model back -----------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class _StoredUnscheduled:
    node_name: str
    op_type: str
    input_words: int | None
    output_words: int | None
    constant: bool = False


def results_from_annotations(annotated: AnnotatedModel) -> tuple[LayerResult, ...]:
    """LayerResults recomputed from the saved problems and schedules with the embedded spec."""
    spec = annotated.network.spec
    out = []
    seen: set[Any] = set()
    for ann in annotated.nodes:
        key = ann.problem.shape_key()
        solve_time_s = 0.0 if key in seen else float(ann.schedule.solver.wall_time_s or 0.0)  # booked once per shape
        seen.add(key)
        out.append(LayerResult(node_name=ann.node_name, op_type=ann.problem.op_type, problem=ann.problem,
                               schedule=ann.schedule, cost=evaluate(ann.problem, spec, ann.schedule),
                               bounds=layer_bounds(ann.problem, spec), solve_time_s=solve_time_s, cache_hit=False))
    return tuple(out)


def report_from_model(model: onnx.ModelProto) -> NetworkReport:
    """Re-build the network report from a compiled model's annotations alone."""
    annotated = read_annotations(model)
    unscheduled = [_StoredUnscheduled(node_name=str(u["node_name"]), op_type=str(u["op_type"]),
                                      input_words=u.get("input_words"), output_words=u.get("output_words"),
                                      constant=bool(u.get("constant", False)))
                   for u in annotated.network.unscheduled]
    return build_report(results_from_annotations(annotated), unscheduled, annotated.network.spec,
                        model_name=annotated.network.model_name)


def load_compiled(path: str | os.PathLike[str]) -> onnx.ModelProto:
    """A compiled (annotated) model from disk, external data left on disk."""
    return load_model(Path(path), load_external_data=False)


# ---- writing -----------------------------------------------------------------------------------------
def default_model_name(model_path: str | os.PathLike[str]) -> str:
    """``dir/resnet50.onnx`` -> ``resnet50``."""
    name = Path(model_path).name
    return name[: -len(".onnx")] if name.endswith(".onnx") else Path(name).stem


def default_output_path(model_path: str | os.PathLike[str]) -> Path:
    """``model.onnx`` -> ``model.cosa.onnx`` next to the input."""
    return Path(model_path).with_name(f"{default_model_name(model_path)}.cosa.onnx")


def write_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temp file in the same folder and ``os.replace``."""
    target = Path(path)
    folder = target.parent
    tmp_name: str | None = None
    try:
        with tempfile.NamedTemporaryFile("wb", dir=folder, prefix=f".{target.name}.", suffix=".tmp",
                                         delete=False) as handle:
            tmp_name = handle.name
            handle.write(data)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp_name, 0o666 & ~mask)
        os.replace(tmp_name, target)
        tmp_name = None
    except OSError as exc:
        raise OutputError(f"cannot write {os.fspath(target)!r}: {exc.strerror or exc}; choose a writable "
                          "path with -o") from None
    finally:  # also on Ctrl-C: never leave the temporary file behind
        if tmp_name is not None and os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return target


def external_locations(model: onnx.ModelProto) -> list[str]:
    """Relative file names the model's initializers keep their data in (main graph)."""
    out: list[str] = []
    for tensor in model.graph.initializer:
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = next((e.value for e in tensor.external_data if e.key == "location"), None)
        if location and location not in out:
            out.append(location)
    return out


def _copy_external(location: str, source_dir: Path, target_dir: Path) -> None:
    rel = Path(location)
    if rel.is_absolute() or ".." in rel.parts:
        raise ModelLoadError(f"external data location {location!r} leaves the model's folder; "
                             "keep the data file next to the model")
    src, dst = source_dir / rel, target_dir / rel
    if dst.exists() and dst.resolve() == src.resolve():
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot copy external data {location!r} to {target_dir}: {exc.strerror or exc}") from None


def save_model(model: onnx.ModelProto, path: str | os.PathLike[str], *, source_dir: Path | None = None) -> Path:
    """Save ``model`` atomically; external data files are copied beside it if it lands elsewhere."""
    target = Path(path)
    locations = external_locations(model)
    if locations and source_dir is not None and target.resolve().parent != source_dir.resolve():
        for location in locations:
            _copy_external(location, source_dir, target.resolve().parent)
    elif locations and source_dir is None:
        logger.warning("model keeps data in %s but its source folder is unknown: copy those files next to %s",
                       ", ".join(locations), target)
    return write_atomic(target, model.SerializeToString())
