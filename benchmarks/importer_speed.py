"""Importer speed: wall time and peak RSS of ``import_model`` on the shipped models and on big files.

    python benchmarks/importer_speed.py            # shipped models + ResNet-50 with real weights (100 MB)
    python benchmarks/importer_speed.py --big      # also a 4 GiB-weight model in external data (sparse file)

Targets (2-core machine): every shipped model < 0.5 s; a 100 MB inline-weight ResNet-50 < 2 s; the
4 GiB external-data model < 1 s and without reading the weights (RSS far below the file size).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "models"))

from cosa_onnx.importer import import_model  # noqa: E402


def _timed(path: Path, repeats: int) -> tuple[float, int]:
    times = []
    layers = 0
    for _ in range(repeats):
        start = time.perf_counter()
        layers = len(import_model(path).layers)
        times.append(time.perf_counter() - start)
    return statistics.median(times), layers


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _resnet_with_weights(folder: Path) -> Path:
    import generate
    from onnx_builder import GraphBuilder

    original = GraphBuilder.__init__

    def seeded(self: GraphBuilder, name: str, *, rng: np.random.Generator | None = None) -> None:
        original(self, name, rng=np.random.default_rng(0))

    GraphBuilder.__init__ = seeded  # type: ignore[method-assign]
    try:
        model = generate.resnet("resnet50_weights")
    finally:
        GraphBuilder.__init__ = original  # type: ignore[method-assign]
    path = folder / "resnet50_weights.onnx"
    onnx.save(model, str(path))
    return path


def _big_external(folder: Path) -> Path:
    side = 32768
    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[side, side], data_location=TensorProto.EXTERNAL)
    for key, value in (("location", "big.bin"), ("offset", "0"), ("length", str(4 * side * side))):
        weight.external_data.add(key=key, value=value)
    with open(folder / "big.bin", "wb") as handle:
        handle.truncate(4 * side * side)
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="fc")], "big",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, side])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, side])], initializer=[weight])
    path = folder / "big.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    return path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--big", action="store_true", help="also time a 4 GiB external-data model")
    args = parser.parse_args(argv)
    import_model(REPO / "models" / "tiny_cnn.onnx")  # warm imports
    print(f"{'model':40} {'layers':>6} {'median s':>9} {'peak RSS so far MB':>19}")
    paths = sorted((REPO / "models").glob("*.onnx")) + sorted((REPO / "models" / "torch_exports").glob("*.onnx"))
    with tempfile.TemporaryDirectory() as tmp:
        paths.append(_resnet_with_weights(Path(tmp)))
        if args.big:
            paths.append(_big_external(Path(tmp)))
        for path in paths:
            if "dynamic" in path.name:
                continue
            seconds, layers = _timed(path, args.repeats)
            size = f"{path.name} ({path.stat().st_size / 1e6:.1f} MB)"
            print(f"{size:40} {layers:6d} {seconds:9.3f} {_rss_mb():19.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
