"""Export the small torch models with BOTH exporters: ``python models/export_torch.py [OUT_DIR]``.

Needs ``torch==2.13.0`` (CPU) and ``onnxscript``; the exported files are committed under
models/torch_exports/ so tests never need torch. Weights are seeded (torch.manual_seed(0)).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

SEED = 0


class SmallCNN(nn.Module):
    """Conv-BN-ReLU, a strided conv, a depthwise + pointwise pair, global pool, Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1, groups=32), nn.ReLU(),
            nn.Conv2d(32, 64, 1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.fc = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.features(x), 1))


class TransformerBlock(nn.Module):
    """Pre-LN encoder block with explicit attention matmuls (QK^T and AV per head)."""

    def __init__(self, dim: int = 64, heads: int = 4, ffn: int = 256) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
        self.ff1, self.ff2 = nn.Linear(dim, ffn), nn.Linear(ffn, dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        return x.reshape(b, n, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln1(x)
        q, k, v = self._split(self.q(h)), self._split(self.k(h)), self._split(self.v(h))
        att = torch.softmax(q @ k.transpose(-2, -1) / self.head_dim**0.5, dim=-1)
        ctx = (att @ v).transpose(1, 2).reshape(x.shape)
        x = x + self.o(ctx)
        return x + self.ff2(torch.nn.functional.gelu(self.ff1(self.ln2(x))))


def export(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(SEED)
    cases = {"cnn": (SmallCNN().eval(), torch.randn(1, 3, 32, 32)),
             "transformer": (TransformerBlock().eval(), torch.randn(1, 16, 64))}
    paths = []
    for name, (module, example) in cases.items():
        for exporter, dynamo in (("torchscript", False), ("dynamo", True)):
            path = out_dir / f"{name}_{exporter}.onnx"
            torch.onnx.export(module, (example,), str(path), dynamo=dynamo, input_names=["x"], output_names=["y"],
                              opset_version=18, external_data=False)
            paths.append(path)
    paths.extend(_export_dynamic_batch(cases["cnn"][0], cases["cnn"][1], out_dir))
    return paths


def _export_dynamic_batch(module: nn.Module, example: torch.Tensor, out_dir: Path) -> list[Path]:
    """The CNN with a symbolic batch dim (users must pass --batch), from both exporters."""
    ts_path, dy_path = out_dir / "cnn_dynamic_batch_torchscript.onnx", out_dir / "cnn_dynamic_batch_dynamo.onnx"
    torch.onnx.export(module, (example,), str(ts_path), dynamo=False, input_names=["x"], output_names=["y"],
                      opset_version=18, dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    torch.onnx.export(module, (example,), str(dy_path), dynamo=True, input_names=["x"], output_names=["y"],
                      opset_version=18, external_data=False,
                      dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1, max=1024)}})
    return [ts_path, dy_path]


def main(argv: list[str]) -> int:
    out_dir = Path(argv[0]) if argv else Path(__file__).resolve().parent / "torch_exports"
    for path in export(out_dir):
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    print(f"torch {torch.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
