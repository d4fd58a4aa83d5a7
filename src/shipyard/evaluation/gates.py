"""Apply the configured gates to an evaluation document (parsing and deciding live in ``core.gates``)."""

from __future__ import annotations

from dataclasses import replace
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
    return [_explain(g, core_gates.evaluate(g, {**nan_ok, **values}, champ_values, ci), evaluation)
            for g in core_gates.parse_all(gate_texts)]


def _explain(gate: core_gates.Gate, result: core_gates.GateResult,
             evaluation: dict[str, Any]) -> core_gates.GateResult:
    """A gate that failed on a metric without a value says why the metric has none (a refused perturbation,
    too few rows per group), from the evaluation's ``unavailable`` (and the champion's, for ``vs champion``)."""
    if result.passed:
        return result
    why = []
    if (evaluation.get("metrics") or {}).get(gate.metric, 0.0) is None:
        why.append((evaluation.get("unavailable") or {}).get(gate.metric)
                   or f"{gate.metric} has no value in this evaluation")
    champ = evaluation.get("champion") or {}
    if gate.vs_champion and (champ.get("metrics") or {}).get(gate.metric, 0.0) is None:
        why.append("champion: " + ((champ.get("unavailable") or {}).get(gate.metric)
                                   or f"{gate.metric} has no value in its evaluation"))
    if not why:
        return result
    return replace(result, note="; ".join([*why, result.note] if result.note else why))
