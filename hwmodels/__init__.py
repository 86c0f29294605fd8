"""Hardware models: the spec schema, the loader/registry and the built-in specs."""

from cosa_onnx.hwmodels.spec import HardwareSpec, MemoryLevel

__all__ = ["HardwareSpec", "MemoryLevel"]
