"""Time ZigZag 3.9.1 (LOMA temporal mapper) on an ONNX model with the Simba-like hardware file.

Run by run_benchmark.py in its own process (ZigZag configures logging and prints progress bars);
prints one JSON line: wall seconds, total latency (cycles) and energy (pJ) as ZigZag reports them.
Needs the optional extra: ``pip install -e .[bench]`` (zigzag-dse==3.9.1, six).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _weights_as_inputs(model: Any) -> None:
    """Weight-free models make weights with ConstantOfShape nodes, which ZigZag counts as layer
    predecessors; turn each into a graph input of the same name and shape (ZigZag needs no values)."""
    from onnx import TensorProto, helper, numpy_helper

    inits = {init.name: init for init in model.graph.initializer}
    keep = []
    for node in model.graph.node:
        shape_init = inits.get(node.input[0]) if node.op_type == "ConstantOfShape" and node.input else None
        if shape_init is None:
            keep.append(node)
            continue
        dims = [int(d) for d in numpy_helper.to_array(shape_init).tolist()]
        model.graph.input.append(helper.make_tensor_value_info(node.output[0], TensorProto.FLOAT, dims))
    del model.graph.node[:]
    model.graph.node.extend(keep)


def prepare_model(src: str, dst: Path) -> str:
    """A copy ZigZag's ONNX parser accepts: shapes inferred, Conv ``kernel_shape`` made explicit."""
    import onnx
    from onnx import helper

    model = onnx.load(src)
    _weights_as_inputs(model)
    weights = {init.name: tuple(init.dims) for init in model.graph.initializer}
    weights.update({i.name: tuple(d.dim_value for d in i.type.tensor_type.shape.dim) for i in model.graph.input})
    for node in model.graph.node:
        if node.op_type == "Conv" and not any(a.name == "kernel_shape" for a in node.attribute):
            dims = weights.get(node.input[1])
            if dims is not None:
                node.attribute.append(helper.make_attribute("kernel_shape", list(dims[2:])))
    onnx.save(onnx.shape_inference.infer_shapes(model), str(dst))
    return str(dst)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("model", help="ONNX model path")
    ap.add_argument("--quick", action="store_true", help="lpf_limit 4 and 1 spatial mapping (faster, coarser)")
    ap.add_argument("--opt", default="latency", choices=("latency", "energy", "EDP"))
    args = ap.parse_args(argv)
    try:
        from zigzag.api import get_hardware_performance_zigzag
    except ImportError:
        print(json.dumps({"error": "zigzag-dse not installed (pip install -e .[bench])"}))
        return 0
    lpf_limit = 4 if args.quick else 6
    spatial = 1 if args.quick else 3
    with tempfile.TemporaryDirectory(prefix="zigzag-") as dump:
        model = prepare_model(args.model, Path(dump) / "model.onnx")
        start = time.perf_counter()
        energy_pj, latency_cycles, cmes = get_hardware_performance_zigzag(  # type: ignore[misc]
            workload=model, accelerator=str(HERE / "zigzag" / "simba_like.yaml"),
            mapping=str(HERE / "zigzag" / "mapping.yaml"), opt=args.opt, dump_folder=dump,
            lpf_limit=lpf_limit, nb_spatial_mappings_generated=spatial, loma_show_progress_bar=False)
        wall_s = time.perf_counter() - start
    layers = len(cmes[0][1]) if cmes and len(cmes[0]) > 1 else None
    logging.getLogger(__name__).info("zigzag done in %.1f s", wall_s)
    print(json.dumps({"wall_s": wall_s, "latency_cycles": float(latency_cycles), "energy_pj": float(energy_pj),
                      "layers": layers,
                      "settings": f"LOMA lpf_limit={lpf_limit}, {spatial} spatial mapping(s), opt={args.opt}"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
