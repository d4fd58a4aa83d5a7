"""Apply the configured gates to an evaluation document (parsing and deciding live in ``core.gates``)."""

from __future__ import annotations

from typing import Any

from shipyard.core import gates as core_gates


def ci_metrics(gate_texts: list[str]) -> list[str]:
    """Metrics that need a paired bootstrap interval because a ``(ci)`` gate names them."""
    return sorted({g.metric for g in core_gates.parse_all(gate_texts) if g.ci})


def run_gates(gate_texts: list[str], evaluation: dict[str, Any]) -> list[core_gates.GateResult]:
    values = {k: v for k, v in evaluation.get("metrics", {}).items() if v is not None}
    nan_ok = {k: float("nan") for k, v in evaluation.get("metrics", {}).items() if v is None}
    champ = evaluation.get("champion")
    champ_values = None
    ci: dict[str, tuple[float, float]] = {}
    if champ is not None:
        champ_values = {k: (float("nan") if v is None else v) for k, v in champ.get("metrics", {}).items()}
        ci = {k: (v[0], v[1]) for k, v in (champ.get("diff_ci") or {}).items()}
    return [core_gates.evaluate(g, {**nan_ok, **values}, champ_values, ci)
            for g in core_gates.parse_all(gate_texts)]
