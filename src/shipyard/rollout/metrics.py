"""The metric values analysis checks read, per version, from a provider's windows and the prediction log.

- From ``MetricProvider.query`` (the interval): ``requests``, ``error_rate``, ``p50_latency_ms``,
  ``p99_latency_ms``, and for the candidate ``prediction_psi`` (PSI of its prediction histogram against
  stable's, same bins).
- ``input_drift``: the largest per-column PSI of the version's logged inputs (since the step started) against
  the profile of the dataset it was trained on (numeric columns on the profile's bin edges, categories on
  its shares; hashed, dropped or unprofiled columns are left out).
- From the prediction log joined with feedback by request id (since the step started, so evidence
  accumulates): ``accuracy`` (labels) or ``mae`` (numbers) per version; for a shadowed candidate,
  ``agreement`` (same answer as stable for the same request and row) and ``score_mad`` (mean absolute
  difference of the numeric answers).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shipyard.core.drift.binning import counts_on_edges
from shipyard.core.drift.psi import psi
from shipyard.rollout.providers.base import VersionMetrics

Values = dict[str, float | None]


def from_provider(m: VersionMetrics | None) -> Values:
    if m is None:
        return {"requests": 0.0, "error_rate": None, "p50_latency_ms": None, "p99_latency_ms": None}
    return {"requests": float(m.requests), "error_rate": m.error_rate, "p50_latency_ms": m.latency_ms(0.5),
            "p99_latency_ms": m.latency_ms(0.99)}


def prediction_shift(stable: Mapping[str, Any], candidate: Mapping[str, Any]) -> float | None:
    """PSI between two prediction histograms of the same kind (None when either is empty or they differ)."""
    if not stable or not candidate or stable.get("kind") != candidate.get("kind"):
        return None
    a, b = stable.get("counts"), candidate.get("counts")
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(set(a) | set(b))
        ref, cur = [int(a.get(k, 0)) for k in keys], [int(b.get(k, 0)) for k in keys]
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        ref, cur = [int(x) for x in a], [int(x) for x in b]
    else:
        return None
    if sum(ref) == 0 or sum(cur) == 0:
        return None
    return float(psi(ref, cur))


@dataclass(slots=True)
class LogRows:
    """The logged rows of a window as plain lists (small: one rollout step of one endpoint)."""

    request_id: list[str] = field(default_factory=list)
    row: list[int] = field(default_factory=list)
    version: list[int] = field(default_factory=list)
    shadow: list[bool] = field(default_factory=list)
    prediction: list[Any] = field(default_factory=list)

    @classmethod
    def from_table(cls, table: Any) -> LogRows:
        """From ``telemetry.prediction_log.read_log``'s Arrow table (or None)."""
        if table is None or table.num_rows == 0:
            return cls()
        n = table.num_rows
        cols = table.column_names

        def col(name: str, default: Any) -> list[Any]:
            return table[name].to_pylist() if name in cols else [default] * n

        return cls(col("request_id", ""), col("row", 0), col("version", 0), [bool(x) for x in col("shadow", False)],
                   col("output_predict", None))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return str(a) == str(b)


def live_quality(rows: LogRows, feedback: Mapping[tuple[str, int | None], Any]) -> dict[int, dict[str, Any]]:
    """Per answering version: labelled rows, hits (labels) or absolute errors (numbers), from feedback joined
    by (request id, row); a whole-request label labels a single-row request."""
    per_request: dict[str, int] = {}  # rows each answered request predicted (a shadow's copy is not one)
    for rid, sh in zip(rows.request_id, rows.shadow, strict=True):
        if not sh:
            per_request[rid] = per_request.get(rid, 0) + 1
    out: dict[int, dict[str, Any]] = {}
    for rid, r, v, sh, pred in zip(rows.request_id, rows.row, rows.version, rows.shadow, rows.prediction,
                                   strict=True):
        if sh:
            continue
        label = feedback.get((rid, r))
        if label is None and per_request.get(rid) == 1:
            label = feedback.get((rid, None))
        if label is None:
            continue
        acc = out.setdefault(int(v), {"n": 0, "hits": 0, "abs_errors": []})
        acc["n"] += 1
        if isinstance(pred, float):
            try:
                acc["abs_errors"].append(abs(pred - float(label)))
            except (TypeError, ValueError):
                continue
        else:
            acc["hits"] += int(str(pred) == str(label))
    return out


def quality_values(q: Mapping[str, Any] | None) -> Values:
    if not q or not q["n"]:
        return {"accuracy": None, "mae": None}
    errors = q["abs_errors"]
    return {"accuracy": None if errors else q["hits"] / q["n"], "mae": sum(errors) / len(errors) if errors else None}


def shadow_agreement(rows: LogRows, stable: int, candidate: int) -> Values:
    """Agreement rate and mean absolute score difference of the candidate's shadow answers against stable's
    answers to the same request and row (None without pairs)."""
    answers: dict[tuple[str, int], Any] = {}
    for rid, r, v, sh, pred in zip(rows.request_id, rows.row, rows.version, rows.shadow, rows.prediction,
                                   strict=True):
        if v == stable and not sh:
            answers[(rid, r)] = pred
    pairs = [(answers[(rid, r)], pred) for rid, r, v, sh, pred in
             zip(rows.request_id, rows.row, rows.version, rows.shadow, rows.prediction, strict=True)
             if v == candidate and sh and (rid, r) in answers]
    if not pairs:
        return {"agreement": None, "score_mad": None, "pairs": 0.0}
    agree = sum(_same(a, b) for a, b in pairs) / len(pairs)
    numeric = [(float(a), float(b)) for a, b in pairs
               if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool)]
    mad = sum(abs(a - b) for a, b in numeric) / len(numeric) if numeric else None
    return {"agreement": agree, "score_mad": mad, "pairs": float(len(pairs))}


def input_drift(profile: Mapping[str, Any] | None, inputs: Mapping[str, list[Any]], min_rows: int = 20
                ) -> float | None:
    """Largest PSI over columns of ``inputs`` (column -> logged values) against ``profile["columns"]``."""
    import numpy as np

    if not profile or not isinstance(profile.get("columns"), dict):
        return None
    worst: float | None = None
    for name, values in inputs.items():
        col = profile["columns"].get(name)
        present = [v for v in values if v is not None]
        if not isinstance(col, dict) or len(present) < min_rows:
            continue
        score: float | None = None
        if col.get("bin_edges") and col.get("bin_counts"):
            try:
                cur = np.asarray(present, dtype=float)
            except (TypeError, ValueError):
                continue  # hashed or otherwise not numeric in the log
            cur = cur[np.isfinite(cur)]
            if cur.size:
                score = float(psi(col["bin_counts"], counts_on_edges(np.asarray(col["bin_edges"], float), cur)))
        elif col.get("category_freqs"):
            freqs = col["category_freqs"]
            seen: dict[str, int] = {}
            for v in present:
                seen[str(v)] = seen.get(str(v), 0) + 1
            labels = sorted(set(freqs) | set(seen))
            score = float(psi([float(freqs.get(k, 0.0)) * len(present) for k in labels],
                              [seen.get(k, 0) for k in labels]))
        if score is not None and (worst is None or score > worst):
            worst = score
    return worst


def measure(provided: Mapping[int, VersionMetrics], stable: int, candidate: int, rows: LogRows | None = None,
            feedback: Mapping[tuple[str, int | None], Any] | None = None,
            drift: Mapping[int, float | None] | None = None) -> dict[int, Values]:
    """Every metric a check may name, per version (None where there is no data)."""
    out = {v: from_provider(provided.get(v)) for v in (stable, candidate)}
    s, c = provided.get(stable), provided.get(candidate)
    out[candidate]["prediction_psi"] = (prediction_shift(s.predictions, c.predictions)
                                        if s is not None and c is not None else None)
    out[stable]["prediction_psi"] = None
    quality = live_quality(rows, feedback or {}) if rows is not None else {}
    for v in (stable, candidate):
        out[v].update(quality_values(quality.get(v)))
        out[v]["input_drift"] = (drift or {}).get(v)
    shadow = shadow_agreement(rows, stable, candidate) if rows is not None else {}
    out[candidate].update({"agreement": shadow.get("agreement"), "score_mad": shadow.get("score_mad")})
    out[stable].update({"agreement": None, "score_mad": None})
    return out
