"""The JSON report: ``NetworkReport.to_dict()`` (schema-versioned, see docs/report-schema.md)."""

from __future__ import annotations

import json
import logging

from cosa_onnx.report import NetworkReport

logger = logging.getLogger(__name__)


def render_json(report: NetworkReport) -> str:
    """Indented JSON, keys in the model's order, strict (no NaN/Infinity), newline-terminated."""
    return json.dumps(report.to_dict(), indent=2, allow_nan=False, ensure_ascii=False) + "\n"
