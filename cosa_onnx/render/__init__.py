"""Renderers of a :class:`cosa_onnx.report.NetworkReport`: JSON, Markdown, self-contained HTML."""
