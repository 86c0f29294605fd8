"""Large-input benchmark: a synthetic model with 2,000 conv/matmul layers of a few distinct shapes.

Builds the model (shared weights, so the file stays small), compiles it with the Python API
(cache off), and reports wall time, peak RSS (``resource.getrusage``, this process and its
children), how many solves ran (must equal the distinct shapes: the driver dedupes) and that every
layer got a schedule. Writes a Markdown table (``--table``) next to this script.

    python benchmarks/large_model.py                      # 200, 1,000, 2,000 layers -> benchmarks/large_model.md
    python benchmarks/large_model.py --layers 200 --table -
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

logger = logging.getLogger(__name__)

CHANNELS, SIZE = 64, 14
# (name, weight shape, conv attributes): every block keeps the activation at [1, 64, 14, 14].
CONV_SHAPES: tuple[tuple[str, tuple[int, ...], dict[str, Any]], ...] = (
    ("c3x3", (CHANNELS, CHANNELS, 3, 3), {"pads": [1, 1, 1, 1]}),
    ("c1x1", (CHANNELS, CHANNELS, 1, 1), {}),
    ("dw3x3", (CHANNELS, 1, 3, 3), {"pads": [1, 1, 1, 1], "group": CHANNELS}),
    ("c5x5", (CHANNELS, CHANNELS, 5, 5), {"pads": [2, 2, 2, 2]}),
)
MATMUL_EVERY = 50  # one [64 x 196] @ [196 x 196] matmul (with reshapes around it) per this many layers


def _init(name: str, shape: tuple[int, ...], seed: int) -> onnx.TensorProto:
    data = np.random.default_rng(seed).standard_normal(shape).astype(np.float32) * 0.01
    return numpy_helper.from_array(data, name)


def build_model(layers: int) -> onnx.ModelProto:
    """``layers`` conv/matmul nodes in one chain; weights shared per distinct shape."""
    inits = [_init(f"w_{name}", shape, i) for i, (name, shape, _) in enumerate(CONV_SHAPES)]
    inits += [_init("w_mm", (SIZE * SIZE, SIZE * SIZE), 9),
              numpy_helper.from_array(np.array([CHANNELS, SIZE * SIZE], np.int64), "flat_shape"),
              numpy_helper.from_array(np.array([1, CHANNELS, SIZE, SIZE], np.int64), "nchw_shape")]
    nodes: list[onnx.NodeProto] = []
    prev = "x"
    for i in range(layers):
        out = f"t{i}"
        if i % MATMUL_EVERY == MATMUL_EVERY - 1:
            nodes.append(helper.make_node("Reshape", [prev, "flat_shape"], [f"{out}_flat"], name=f"flat{i}"))
            nodes.append(helper.make_node("MatMul", [f"{out}_flat", "w_mm"], [f"{out}_mm"], name=f"mm{i}"))
            nodes.append(helper.make_node("Reshape", [f"{out}_mm", "nchw_shape"], [out], name=f"unflat{i}"))
        else:
            name, _, attrs = CONV_SHAPES[i % len(CONV_SHAPES)]
            nodes.append(helper.make_node("Conv", [prev, f"w_{name}"], [out], name=f"{name}_{i}", **attrs))
        prev = out
    shape = [1, CHANNELS, SIZE, SIZE]
    graph = helper.make_graph(nodes, f"synthetic_{layers}", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info(prev, TensorProto.FLOAT, shape)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def peak_rss_mib() -> tuple[float, float]:
    """Peak resident set size so far (MiB) of this process and of its waited-for children."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    return own, children


def run(layers: int, time_limit_s: float, jobs: int) -> dict[str, Any]:
    import cosa_onnx

    with tempfile.TemporaryDirectory() as tmp:
        warmup = Path(tmp) / "warmup.onnx"  # loads every library (CBC included) before the baseline
        onnx.save(build_model(1), warmup)
        cosa_onnx.compile(warmup, arch="simba", use_cache=False, time_limit_s=time_limit_s, jobs=1)
        path = Path(tmp) / f"synthetic_{layers}.onnx"
        onnx.save(build_model(layers), path)
        rss_before, _ = peak_rss_mib()
        events: Counter[str] = Counter()
        start = time.perf_counter()
        result = cosa_onnx.compile(path, arch="simba", output=Path(tmp) / "out.onnx", use_cache=False,
                                   time_limit_s=time_limit_s, jobs=jobs,
                                   on_progress=lambda event: events.update([str(getattr(event, "kind", "?"))]))
        wall_s = time.perf_counter() - start
        rss_after, rss_children = peak_rss_mib()
        distinct = len({r.problem.shape_key() for r in result.layers})
        return {
            "layers": layers, "scheduled": len(result.layers), "distinct_shapes": distinct,
            "solves": events["finished"], "cache_hits": events["cache_hit"], "wall_s": wall_s,
            "rss_before_mib": rss_before, "rss_peak_mib": rss_after, "rss_children_mib": rss_children,
            "model_mib": path.stat().st_size / 2**20, "out_mib": (Path(tmp) / "out.onnx").stat().st_size / 2**20,
            "time_limit_s": time_limit_s, "jobs": jobs,
        }


def table(rows: list[dict[str, Any]]) -> str:
    head = ("| layers | scheduled | distinct shapes | solves | wall (s) | baseline peak RSS (MiB) | "
            "peak RSS (MiB) | children peak RSS (MiB) | model (MiB) | annotated (MiB) | time limit (s) | jobs |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        lines.append(f"| {r['layers']} | {r['scheduled']} | {r['distinct_shapes']} | {r['solves']} | {r['wall_s']:.1f} | "
                     f"{r['rss_before_mib']:.0f} | {r['rss_peak_mib']:.0f} | {r['rss_children_mib']:.0f} | "
                     f"{r['model_mib']:.2f} | {r['out_mib']:.2f} | {r['time_limit_s']:g} | {r['jobs']} |")
    return "\n".join(lines)


def _run_isolated(layers: int, time_limit_s: float, jobs: int) -> dict[str, Any]:
    """One size in a fresh interpreter, so ru_maxrss is that size's peak and not an earlier one's."""
    cmd = [sys.executable, __file__, "--one", str(layers), "--time-limit", str(time_limit_s), "--jobs", str(jobs)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    row: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, nargs="+", default=[200, 1000, 2000])
    parser.add_argument("--time-limit", type=float, default=2.0)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: run one size, print JSON
    parser.add_argument("--table", default=str(Path(__file__).with_name("large_model.md")),
                        help="Markdown output ('-' = stdout only)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.one is not None:
        print(json.dumps(run(args.one, args.time_limit, args.jobs)))
        return 0
    rows = []
    for n in args.layers:
        row = _run_isolated(n, args.time_limit, args.jobs)
        print(f"{n} layers: {row['scheduled']} scheduled, {row['solves']} solves for {row['distinct_shapes']} "
              f"distinct shapes, {row['wall_s']:.1f} s, peak RSS {row['rss_peak_mib']:.0f} MiB", file=sys.stderr)
        assert row["scheduled"] == n, "every layer must get a schedule"
        assert row["solves"] == row["distinct_shapes"], "the driver must solve each distinct shape once"
        rows.append(row)
    text = table(rows)
    print(text)
    if args.table != "-":
        command = " ".join(["python benchmarks/large_model.py", *(argv if argv is not None else sys.argv[1:])])
        note = (f"\n\nMeasured with `{command}` on {platform.machine()} Python {platform.python_version()} "
                "(2 cores shared with other jobs, so wall times are loose). Each size runs in a fresh interpreter; "
                "peak RSS is `resource.getrusage(...).ru_maxrss`; the baseline is the peak after a 1-layer warm-up "
                "compile (every library, CBC included, loaded) and building the model. Cache off; the warm-up's "
                "solve is not counted in the solves column.\n")
        Path(args.table).write_text("# Large model: synthetic conv/matmul chains\n\n" + text + note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
