"""A small graph builder on plain ``onnx.helper`` for the shipped models (used by generate.py).

Weight-free mode (``rng=None``): every weight is a ``ConstantOfShape`` fill with value 1/fan_in (so
activations stay finite when onnxruntime runs the model); nodes that need the same (shape, value)
share one fill. Files stay a few tens of KB yet pass ``onnx.checker`` with full shape inference.
With an ``rng`` the weights are real random initializers (for the tiny CNN).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
PRODUCER = "cosa-onnx models/generate.py"


class GraphBuilder:
    """Accumulates nodes and initializers; names are explicit and stable (torch-style module paths)."""

    def __init__(self, name: str, *, rng: np.random.Generator | None = None) -> None:
        self.name = name
        self.rng = rng
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._fills: dict[tuple[tuple[int, ...], float], str] = {}
        self._consts: dict[tuple[str, tuple[int, ...]], str] = {}

    # ---- tensors ---------------------------------------------------------------------------------
    def weight(self, name: str, shape: Sequence[int], fan_in: int) -> str:
        """A float weight of ``shape``: a random initializer, or a shared ConstantOfShape fill."""
        if self.rng is not None:
            bound = 1.0 / np.sqrt(fan_in)
            data = self.rng.uniform(-bound, bound, size=tuple(shape)).astype(np.float32)
            self.initializers.append(numpy_helper.from_array(data, name))
            return name
        value = round(1.0 / fan_in, 9)
        key = (tuple(int(d) for d in shape), value)
        if key not in self._fills:
            dims = "x".join(map(str, key[0]))
            shape_name = self.int64s(list(key[0]))
            out = f"fill_{dims}_{len(self._fills)}"
            self.nodes.append(helper.make_node(
                "ConstantOfShape", [shape_name], [out], name=f"{out}.fill",
                value=helper.make_tensor("value", TensorProto.FLOAT, [1], [value])))
            self._fills[key] = out
        return self._fills[key]

    def int64s(self, values: Sequence[int]) -> str:
        """A small int64 initializer (shapes, axes), shared by value."""
        key = ("i64", tuple(int(v) for v in values))
        if key not in self._consts:
            name = "const_i64_" + "_".join(str(v).replace("-", "m") for v in values)
            self.initializers.append(numpy_helper.from_array(np.array(values, dtype=np.int64), name))
            self._consts[key] = name
        return self._consts[key]

    def scalar(self, value: float) -> str:
        key = ("f32", (int(np.float32(value).view(np.int32)),))
        if key not in self._consts:
            name = f"const_f32_{len(self._consts)}"
            self.initializers.append(numpy_helper.from_array(np.array(value, dtype=np.float32), name))
            self._consts[key] = name
        return self._consts[key]

    # ---- ops -------------------------------------------------------------------------------------
    def op(self, op_type: str, inputs: Sequence[str], name: str, **attrs: object) -> str:
        """Append one node with a single output named after the node; return the output name."""
        self.nodes.append(helper.make_node(op_type, list(inputs), [name], name=name, **attrs))
        return name

    def conv(self, x: str, name: str, c_in: int, c_out: int, kernel: int, *, stride: int = 1,
             pad: int = 0, group: int = 1, bias: bool = False) -> str:
        w = self.weight(f"{name}.weight", [c_out, c_in // group, kernel, kernel], c_in // group * kernel * kernel)
        inputs = [x, w]
        if bias:
            inputs.append(self.weight(f"{name}.bias", [c_out], c_in // group * kernel * kernel))
        return self.op("Conv", inputs, name, kernel_shape=[kernel, kernel], strides=[stride, stride],
                       pads=[pad] * 4, dilations=[1, 1], group=group)

    def linear(self, x: str, name: str, c_in: int, c_out: int) -> str:
        """torch.nn.Linear as Gemm (weight [out, in], transB=1) on a 2-D input."""
        w = self.weight(f"{name}.weight", [c_out, c_in], c_in)
        b = self.weight(f"{name}.bias", [c_out], c_in)
        return self.op("Gemm", [x, w, b], name, transB=1)

    def matmul_linear(self, x: str, name: str, c_in: int, c_out: int) -> str:
        """torch.nn.Linear on a >2-D input: MatMul with weight [in, out], then Add bias."""
        w = self.weight(f"{name}.weight", [c_in, c_out], c_in)
        y = self.op("MatMul", [x, w], name)
        return self.op("Add", [y, self.weight(f"{name}.bias", [c_out], c_in)], f"{name}.add_bias")

    def relu(self, x: str, name: str) -> str:
        return self.op("Relu", [x], name)

    def relu6(self, x: str, name: str) -> str:
        return self.op("Clip", [x, self.scalar(0.0), self.scalar(6.0)], name)

    def maxpool(self, x: str, name: str, kernel: int, stride: int, pad: int = 0) -> str:
        return self.op("MaxPool", [x], name, kernel_shape=[kernel, kernel], strides=[stride, stride], pads=[pad] * 4)

    def flatten_pool(self, x: str, name: str) -> str:
        pooled = self.op("GlobalAveragePool", [x], f"{name}.avgpool")
        return self.op("Flatten", [pooled], f"{name}.flatten", axis=1)

    # ---- model -----------------------------------------------------------------------------------
    def model(self, inputs: Sequence[onnx.ValueInfoProto], output: str, out_shape: Sequence[int | str],
              doc: str) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, self.name, list(inputs),
                                  [helper.make_tensor_value_info(output, TensorProto.FLOAT, list(out_shape))],
                                  initializer=self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name=PRODUCER, doc_string=doc)
        model.ir_version = 8
        onnx.checker.check_model(model, full_check=True)
        return model
