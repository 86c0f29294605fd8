"""cosa-onnx: schedule every conv/matmul of an ONNX model onto a spatial accelerator with a MIP."""

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # imported lazily at run time so `import cosa_onnx` stays cheap
    from cosa_onnx.api import compile as compile


def __getattr__(name: str) -> Any:
    if name == "compile":
        from cosa_onnx.api import compile

        return compile
    raise AttributeError(f"module 'cosa_onnx' has no attribute {name!r}")
