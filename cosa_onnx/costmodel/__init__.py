"""Internals of the analytical cost model (the public API is cosa_onnx.cost)."""
