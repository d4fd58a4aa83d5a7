"""report.json: everything a run decided, in one JSON document."""

from __future__ import annotations

import json
import math
from typing import Any

SCHEMA_VERSION = 1


def build_report(*, model: str, run_id: str, stage: str, passed: bool, validation: dict[str, Any],
                 evaluation: dict[str, Any], gates: list[dict[str, Any]], provenance: dict[str, Any],
                 config: dict[str, Any]) -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "model": model, "run_id": run_id, "stage": stage, "passed": passed,
            "gates": gates, "validation": validation, "evaluation": evaluation, "provenance": provenance,
            "config": config}


def _clean(o: Any) -> Any:
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    return o


def dumps(report: dict[str, Any]) -> str:
    """Strict JSON (NaN and infinities become null)."""
    return json.dumps(_clean(report), indent=2, sort_keys=True, default=str)
