"""The analysts' outputs on the command line: the one model of rows (``projections/outputs.py``:
the same rows Python gets, the same columns in every format), and each output's JSON Schema,
shipped in ``schemas/`` (package data): :func:`schema`.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from engagement_tracker.projections.outputs import (
    DIMENSIONS,
    PLAN_COLUMNS,
    TREND_COLUMNS,
    columns,
    columns_of,
    dp_rows,
    policy_line,
    release_rows,
    rows_of,
    trend_rows,
)

#: The outputs whose schema ships with the package.
OUTPUTS = ("signals-summary", "signals-summary-dp", "signals-trends", "activity", "testimonials-ratings")


def schema(output: str) -> dict[str, Any]:
    """The JSON Schema of one row of ``output`` (one of :data:`OUTPUTS`), as shipped in the package."""
    if output not in OUTPUTS:
        raise KeyError(output)
    text = resources.files("engagement_tracker.adapters.cli").joinpath(f"schemas/{output}.schema.json").read_text(
        encoding="utf-8")
    doc: dict[str, Any] = json.loads(text)
    return doc


__all__ = ["DIMENSIONS", "OUTPUTS", "PLAN_COLUMNS", "TREND_COLUMNS",
           "columns", "columns_of", "dp_rows", "policy_line", "release_rows",
           "rows_of", "schema", "trend_rows"]
