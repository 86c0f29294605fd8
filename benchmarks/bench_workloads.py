"""Benchmark workloads: distinct layers of a network with their multiplicity.

From ``models/<net>.onnx`` through the importer when the model is there, else from the reference
table ``../shared/workloads/<net>.csv`` (CoSA's extraction: R S P Q C K N, strides, dilations).
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

from cosa_onnx.problem import LoopProblem

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
MODELS_DIR = REPO / "models"
CSV_DIR = Path(__file__).resolve().parents[2] / "shared" / "workloads"  # ../shared beside the repo


@dataclass(frozen=True, kw_only=True)
class Workload:
    """A network's distinct layers (first occurrence of each shape) and how often each occurs."""

    network: str
    source: str                           # the file the layers came from
    layers: tuple[LoopProblem, ...]       # distinct shapes, in network order
    multiplicity: tuple[int, ...]         # occurrences of each distinct shape
    all_layers: tuple[LoopProblem, ...]   # every layer, in network order

    @property
    def total_layers(self) -> int:
        return len(self.all_layers)


def _distinct(network: str, source: str, problems: list[LoopProblem]) -> Workload:
    first: dict[object, LoopProblem] = {}
    count: dict[object, int] = {}
    for p in problems:
        key = p.shape_key()
        first.setdefault(key, p)
        count[key] = count.get(key, 0) + 1
    return Workload(network=network, source=source, layers=tuple(first.values()),
                    multiplicity=tuple(count[k] for k in first), all_layers=tuple(problems))


def from_csv(network: str, path: Path) -> Workload:
    problems = []
    with path.open() as handle:
        for row in csv.DictReader(handle):
            dims = {k.lower(): int(row[k]) for k in ("R", "S", "P", "Q", "C", "K", "N")}
            is_fc = all(dims[d] == 1 for d in ("r", "s", "p", "q"))
            problems.append(LoopProblem(
                name=f"{network}_{row['index']}", op_type="Gemm" if is_fc else "Conv", **dims,
                w_stride=int(row["Wstride"]), h_stride=int(row["Hstride"]),
                w_dilation=int(row["Wdilation"]), h_dilation=int(row["Hdilation"])))
    return _distinct(network, str(path), problems)


def from_onnx(network: str, path: Path) -> Workload:
    from cosa_onnx.importer import import_model

    imported = import_model(path)
    return _distinct(network, str(path), [layer.problem for layer in imported.layers])


def onnx_path(network: str) -> Path | None:
    path = MODELS_DIR / f"{network}.onnx"
    return path if path.exists() else None


def load_workload(network: str, *, prefer_onnx: bool = True) -> Workload:
    """The network's layers from models/<network>.onnx (if present and preferred) or the CSV table."""
    path = onnx_path(network)
    if prefer_onnx and path is not None:
        return from_onnx(network, path)
    csv_path = CSV_DIR / f"{network}.csv"
    if not csv_path.exists():
        raise FileNotFoundError(f"no models/{network}.onnx and no {csv_path}")
    return from_csv(network, csv_path)


def select(workload: Workload, indices: list[int] | None) -> Workload:
    """A subset of the distinct layers (by 0-based index), for quick runs."""
    if not indices:
        return workload
    keep = [i for i in indices if 0 <= i < len(workload.layers)]
    keys = {workload.layers[i].shape_key() for i in keep}
    return Workload(network=workload.network, source=workload.source,
                    layers=tuple(workload.layers[i] for i in keep),
                    multiplicity=tuple(workload.multiplicity[i] for i in keep),
                    all_layers=tuple(p for p in workload.all_layers if p.shape_key() in keys))
