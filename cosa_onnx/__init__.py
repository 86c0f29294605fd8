"""cosa-onnx: schedule every conv/matmul of an ONNX model onto a spatial accelerator with a MIP."""

__version__ = "0.1.0"
