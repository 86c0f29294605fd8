"""Regenerate every shipped model deterministically: ``python models/generate.py [OUT_DIR]``.

Layer shapes follow the torchvision / Hugging Face definitions at 224x224 (sequence 128), batch 1;
see models/README.md for the provenance and what is simplified (BatchNorm folded, no dropout).
Only plain ``onnx.helper`` is used; torch is not needed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
from onnx_builder import GraphBuilder

IMAGE = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 224, 224])


# ---- ResNet-50 / ResNeXt-50 (torchvision resnet.py, Bottleneck v1.5: stride on the 3x3) ------------

def _bottleneck(b: GraphBuilder, x: str, name: str, c_in: int, planes: int, stride: int, groups: int,
                base_width: int) -> str:
    width = planes * base_width // 64 * groups
    out = planes * 4
    y = b.relu(b.conv(x, f"{name}.conv1", c_in, width, 1, bias=True), f"{name}.relu1")
    y = b.relu(b.conv(y, f"{name}.conv2", width, width, 3, stride=stride, pad=1, group=groups, bias=True),
               f"{name}.relu2")
    y = b.conv(y, f"{name}.conv3", width, out, 1, bias=True)
    shortcut = x
    if stride != 1 or c_in != out:
        shortcut = b.conv(x, f"{name}.downsample.0", c_in, out, 1, stride=stride, bias=True)
    return b.relu(b.op("Add", [y, shortcut], f"{name}.add"), f"{name}.relu3")


def resnet(name: str, *, groups: int = 1, base_width: int = 64) -> onnx.ModelProto:
    b = GraphBuilder(name)
    x = b.relu(b.conv("input", "conv1", 3, 64, 7, stride=2, pad=3, bias=True), "relu")
    x = b.maxpool(x, "maxpool", 3, 2, 1)
    c_in = 64
    for stage, (planes, blocks, stride) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3), (1, 2, 2, 2),
                                                         strict=True), start=1):
        for i in range(blocks):
            x = _bottleneck(b, x, f"layer{stage}.{i}", c_in, planes, stride if i == 0 else 1, groups, base_width)
            c_in = planes * 4
    y = b.linear(b.flatten_pool(x, "head"), "fc", 2048, 1000)
    return b.model([IMAGE], y, [1, 1000], f"{name} (torchvision), batch 1, 224x224, weight-free")


# ---- AlexNet and VGG-16 (torchvision alexnet.py / vgg.py) -----------------------------------------

def alexnet() -> onnx.ModelProto:
    b = GraphBuilder("alexnet")
    x = b.relu(b.conv("input", "features.0", 3, 64, 11, stride=4, pad=2, bias=True), "features.1")
    x = b.maxpool(x, "features.2", 3, 2)
    x = b.relu(b.conv(x, "features.3", 64, 192, 5, pad=2, bias=True), "features.4")
    x = b.maxpool(x, "features.5", 3, 2)
    x = b.relu(b.conv(x, "features.6", 192, 384, 3, pad=1, bias=True), "features.7")
    x = b.relu(b.conv(x, "features.8", 384, 256, 3, pad=1, bias=True), "features.9")
    x = b.relu(b.conv(x, "features.10", 256, 256, 3, pad=1, bias=True), "features.11")
    x = b.maxpool(x, "features.12", 3, 2)  # 6x6: AdaptiveAvgPool2d(6) is the identity here
    x = b.op("Flatten", [x], "flatten", axis=1)
    x = b.relu(b.linear(x, "classifier.1", 9216, 4096), "classifier.2")
    x = b.relu(b.linear(x, "classifier.4", 4096, 4096), "classifier.5")
    y = b.linear(x, "classifier.6", 4096, 1000)
    return b.model([IMAGE], y, [1, 1000], "AlexNet (torchvision), batch 1, 224x224, weight-free")


VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def vgg16() -> onnx.ModelProto:
    b = GraphBuilder("vgg16")
    x, c_in = "input", 3
    for i, item in enumerate(VGG16_CFG):
        if item == "M":
            x = b.maxpool(x, f"features.{i}.pool", 2, 2)
        else:
            assert isinstance(item, int)
            x = b.relu(b.conv(x, f"features.{i}", c_in, item, 3, pad=1, bias=True), f"features.{i}.relu")
            c_in = item
    x = b.op("Flatten", [x], "flatten", axis=1)  # 7x7: AdaptiveAvgPool2d(7) is the identity here
    x = b.relu(b.linear(x, "classifier.0", 25088, 4096), "classifier.1")
    x = b.relu(b.linear(x, "classifier.3", 4096, 4096), "classifier.4")
    y = b.linear(x, "classifier.6", 4096, 1000)
    return b.model([IMAGE], y, [1, 1000], "VGG-16 (torchvision, config D), batch 1, 224x224, weight-free")


# ---- MobileNetV2 (torchvision mobilenetv2.py, width 1.0) --------------------------------------------

MOBILENET_V2_CFG = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                    (6, 320, 1, 1))


def _inverted_residual(b: GraphBuilder, x: str, name: str, c_in: int, c_out: int, stride: int, t: int) -> str:
    hidden = c_in * t
    y = x
    if t != 1:
        y = b.relu6(b.conv(y, f"{name}.expand", c_in, hidden, 1, bias=True), f"{name}.expand.relu6")
    y = b.relu6(b.conv(y, f"{name}.dw", hidden, hidden, 3, stride=stride, pad=1, group=hidden, bias=True),
                f"{name}.dw.relu6")
    y = b.conv(y, f"{name}.project", hidden, c_out, 1, bias=True)
    if stride == 1 and c_in == c_out:
        y = b.op("Add", [x, y], f"{name}.add")
    return y


def mobilenet_v2() -> onnx.ModelProto:
    b = GraphBuilder("mobilenet_v2")
    x = b.relu6(b.conv("input", "features.0", 3, 32, 3, stride=2, pad=1, bias=True), "features.0.relu6")
    c_in, index = 32, 1
    for t, c, n, s in MOBILENET_V2_CFG:
        for i in range(n):
            x = _inverted_residual(b, x, f"features.{index}", c_in, c, s if i == 0 else 1, t)
            c_in, index = c, index + 1
    x = b.relu6(b.conv(x, f"features.{index}", 320, 1280, 1, bias=True), f"features.{index}.relu6")
    y = b.linear(b.flatten_pool(x, "head"), "classifier.1", 1280, 1000)
    return b.model([IMAGE], y, [1, 1000], "MobileNetV2 (torchvision), batch 1, 224x224, weight-free")


# ---- BERT-base encoder (Hugging Face BertModel, bert-base-uncased sizes) ----------------------------

BERT_HIDDEN, BERT_HEADS, BERT_FFN, BERT_LAYERS, BERT_SEQ, BERT_VOCAB = 768, 12, 3072, 12, 128, 30522


def _layer_norm(b: GraphBuilder, x: str, name: str) -> str:
    scale = b.weight(f"{name}.weight", [BERT_HIDDEN], 1)
    bias = b.weight(f"{name}.bias", [BERT_HIDDEN], BERT_HIDDEN)
    return b.op("LayerNormalization", [x, scale, bias], name, axis=-1, epsilon=1e-12)


def _heads(b: GraphBuilder, x: str, name: str, perm: list[int]) -> str:
    """[B, L, 768] -> [B, 12, L, 64] (perm 0213) or the keys' [B, 12, 64, L] (perm 0231)."""
    y = b.op("Reshape", [x, b.int64s([0, 0, BERT_HEADS, BERT_HIDDEN // BERT_HEADS])], f"{name}.split_heads")
    return b.op("Transpose", [y], f"{name}.transpose", perm=perm)


def _gelu(b: GraphBuilder, x: str, name: str) -> str:
    """Exact (erf) GELU: 0.5 * x * (1 + erf(x / sqrt(2)))."""
    e = b.op("Erf", [b.op("Div", [x, b.scalar(float(np.sqrt(2.0)))], f"{name}.div")], f"{name}.erf")
    e = b.op("Add", [e, b.scalar(1.0)], f"{name}.add_one")
    return b.op("Mul", [b.op("Mul", [x, e], f"{name}.mul"), b.scalar(0.5)], f"{name}.half")


def _bert_layer(b: GraphBuilder, h: str, name: str) -> str:
    att = f"{name}.attention"
    q = _heads(b, b.matmul_linear(h, f"{att}.self.query", BERT_HIDDEN, BERT_HIDDEN), f"{att}.self.q", [0, 2, 1, 3])
    k = _heads(b, b.matmul_linear(h, f"{att}.self.key", BERT_HIDDEN, BERT_HIDDEN), f"{att}.self.k", [0, 2, 3, 1])
    v = _heads(b, b.matmul_linear(h, f"{att}.self.value", BERT_HIDDEN, BERT_HIDDEN), f"{att}.self.v", [0, 2, 1, 3])
    scores = b.op("MatMul", [q, k], f"{att}.self.scores")  # QK^T: [B, 12, L, L]
    scores = b.op("Div", [scores, b.scalar(float(np.sqrt(BERT_HIDDEN // BERT_HEADS)))], f"{att}.self.scale")
    probs = b.op("Softmax", [scores], f"{att}.self.softmax", axis=-1)
    ctx = b.op("MatMul", [probs, v], f"{att}.self.context")  # AV: [B, 12, L, 64]
    ctx = b.op("Transpose", [ctx], f"{att}.self.merge_transpose", perm=[0, 2, 1, 3])
    ctx = b.op("Reshape", [ctx, b.int64s([0, 0, BERT_HIDDEN])], f"{att}.self.merge_heads")
    out = b.matmul_linear(ctx, f"{att}.output.dense", BERT_HIDDEN, BERT_HIDDEN)
    h1 = _layer_norm(b, b.op("Add", [out, h], f"{att}.output.residual"), f"{att}.output.LayerNorm")
    ff = _gelu(b, b.matmul_linear(h1, f"{name}.intermediate.dense", BERT_HIDDEN, BERT_FFN), f"{name}.gelu")
    ff = b.matmul_linear(ff, f"{name}.output.dense", BERT_FFN, BERT_HIDDEN)
    return _layer_norm(b, b.op("Add", [ff, h1], f"{name}.output.residual"), f"{name}.output.LayerNorm")


def bert_base() -> onnx.ModelProto:
    b = GraphBuilder("bert_base")
    words = b.weight("embeddings.word_embeddings.weight", [BERT_VOCAB, BERT_HIDDEN], BERT_HIDDEN)
    h = b.op("Gather", [words, "input_ids"], "embeddings.word_embeddings", axis=0)
    # position + token-type embeddings for positions 0..L-1, token type 0: one constant [1, L, 768]
    pos = b.weight("embeddings.position_and_token_type", [1, BERT_SEQ, BERT_HIDDEN], BERT_HIDDEN)
    h = _layer_norm(b, b.op("Add", [h, pos], "embeddings.add"), "embeddings.LayerNorm")
    for i in range(BERT_LAYERS):
        h = _bert_layer(b, h, f"encoder.layer.{i}")
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, BERT_SEQ])
    return b.model([ids], h, [1, BERT_SEQ, BERT_HIDDEN],
                   "BERT-base encoder (12 layers, 12 heads, hidden 768), batch 1, sequence 128, weight-free")


# ---- tiny CNN with real (seeded random) weights ----------------------------------------------------

def tiny_cnn() -> onnx.ModelProto:
    b = GraphBuilder("tiny_cnn", rng=np.random.default_rng(20240601))
    x = b.relu(b.conv("input", "conv1", 3, 8, 3, pad=1, bias=True), "relu1")
    x = b.maxpool(x, "pool1", 2, 2)
    x = b.relu(b.conv(x, "conv2", 8, 16, 3, stride=2, pad=1, bias=True), "relu2")
    x = b.relu(b.conv(x, "dw3", 16, 16, 3, pad=1, group=16, bias=True), "relu3")
    x = b.relu(b.conv(x, "pw3", 16, 32, 1, bias=True), "relu4")
    y = b.linear(b.flatten_pool(x, "head"), "fc", 32, 10)
    image = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 32, 32])
    return b.model([image], y, [1, 10], "tiny CNN, 3x32x32 -> 10 classes, seeded random weights")


MODELS: dict[str, Callable[[], onnx.ModelProto]] = {
    "resnet50": lambda: resnet("resnet50"),
    "resnext50_32x4d": lambda: resnet("resnext50_32x4d", groups=32, base_width=4),
    "alexnet": alexnet,
    "vgg16": vgg16,
    "mobilenet_v2": mobilenet_v2,
    "bert_base": bert_base,
    "tiny_cnn": tiny_cnn,
}


def generate(out_dir: Path) -> list[Path]:
    """Write every model to ``out_dir/<name>.onnx``; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, build in MODELS.items():
        path = out_dir / f"{name}.onnx"
        path.write_bytes(build().SerializeToString(deterministic=True))
        paths.append(path)
    return paths


def main(argv: list[str]) -> int:
    out_dir = Path(argv[0]) if argv else Path(__file__).resolve().parent
    for path in generate(out_dir):
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
