"""Rollout analysis: checks written like gates, judged per version over one interval of live metrics.

``parse_checks`` reads ``error_rate < 0.01``, ``p99_latency_ms < 1.5 x stable``, ``prediction_psi < 0.2
(dry_run)`` through ``core.gates`` (same lexer and parser). ``evaluate`` judges every check for the stable
and the candidate version and returns one verdict for the interval:

- ``inconclusive`` while the candidate has fewer than ``min_requests`` requests (too little data holds the
  step, it never passes it), or while a deciding check has no value (e.g. no labels yet for ``accuracy``);
- ``fail`` when a deciding check fails for the candidate;
- ``pass`` otherwise. ``dry_run`` checks are measured and shown but never decide; the stable version's
  values are shown beside the candidate's and never decide either.

Pure: no I/O. The metric values per version are computed by ``rollout.metrics`` from a ``MetricProvider``,
the prediction log and feedback.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shipyard.core.gates import OPS, Gate, parse_check
from shipyard.errors import InvalidInputError

# The metrics a check may name (rollout.metrics computes them; absent data is None).
METRICS: dict[str, str] = {
    "requests": "requests served in the interval",
    "error_rate": "share of requests answered 5xx or failed by the model",
    "p50_latency_ms": "median latency (ms)",
    "p99_latency_ms": "99th percentile latency (ms)",
    "prediction_psi": "PSI between the candidate's and stable's prediction histograms",
    "input_drift": "largest per-column PSI of logged inputs against the training profile",
    "accuracy": "share of labelled predictions that were right (feedback)",
    "mae": "mean absolute error of labelled predictions (feedback)",
    "agreement": "share of shadow answers equal to stable's for the same request",
    "score_mad": "mean absolute difference of shadow and stable scores for the same request",
}


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check for one version: ``value`` compared with ``threshold``."""

    check: str
    metric: str
    version: int
    role: str  # stable | candidate
    value: float | None
    threshold: float | None
    verdict: Verdict
    dry_run: bool

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "metric": self.metric, "version": self.version, "role": self.role,
                "value": self.value, "threshold": self.threshold, "verdict": self.verdict.value,
                "dry_run": self.dry_run}


@dataclass(frozen=True, slots=True)
class Analysis:
    """The verdict of one interval and every check behind it."""

    verdict: Verdict
    results: tuple[CheckResult, ...]
    candidate_requests: int
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict.value, "candidate_requests": self.candidate_requests, "note": self.note,
                "checks": [r.to_dict() for r in self.results]}


def parse_checks(texts: Sequence[str], field: str = "deploy.analysis") -> tuple[Gate, ...]:
    """Parse every check; an unknown metric or a malformed check names its index and the known metrics.

    Raises:
        InvalidInputError: e.g. ``deploy.analysis[1]: got 'p99 < x', expected ...``.
    """
    checks = []
    for i, text in enumerate(texts):
        check = parse_check(text, f"{field}[{i}]")
        if check.metric not in METRICS:
            raise InvalidInputError(
                f"{field}[{i}]: unknown metric '{check.metric}' in '{text}'; known: {', '.join(METRICS)}",
                field=f"{field}[{i}]", value=check.metric, expected="one of " + ", ".join(METRICS))
        checks.append(check)
    return tuple(checks)


def judge(check: Gate, value: float | None, stable_value: float | None) -> tuple[float | None, Verdict]:
    """The threshold and verdict of one check for one value (None or NaN value: inconclusive)."""
    threshold: float | None = check.bound
    if check.x_stable:
        threshold = None if stable_value is None or math.isnan(stable_value) else check.bound * stable_value
    if value is None or math.isnan(value) or threshold is None:
        return threshold, Verdict.INCONCLUSIVE
    return threshold, Verdict.PASS if OPS[check.op](value, threshold) else Verdict.FAIL


def evaluate(checks: Sequence[Gate], metrics: Mapping[int, Mapping[str, float | None]], stable: int,
             candidate: int, min_requests: int) -> Analysis:
    """Judge one interval.

    Args:
        checks: parsed checks (``parse_checks``).
        metrics: per version, metric name -> value (None: no data); ``requests`` must be present.
        stable: the version serving before the rollout.
        candidate: the version being rolled out.
        min_requests: the candidate needs at least this many requests for the interval to count.

    Returns:
        The verdict with each check per version (stable shown, candidate deciding unless dry_run).
    """
    results: list[CheckResult] = []
    stable_m = metrics.get(stable, {})
    cand_m = metrics.get(candidate, {})
    for check in checks:
        for version, role, m in ((stable, "stable", stable_m), (candidate, "candidate", cand_m)):
            threshold, verdict = judge(check, m.get(check.metric), stable_m.get(check.metric))
            results.append(CheckResult(check.text, check.metric, version, role, m.get(check.metric), threshold,
                                       verdict, check.dry_run))
    n = int(cand_m.get("requests") or 0)
    deciding = [r for r in results if r.role == "candidate" and not r.dry_run]
    if n < min_requests:
        return Analysis(Verdict.INCONCLUSIVE, tuple(results), n,
                        f"candidate served {n} request(s), fewer than min_requests {min_requests}")
    failed = [r.check for r in deciding if r.verdict is Verdict.FAIL]
    if failed:
        return Analysis(Verdict.FAIL, tuple(results), n, "failed: " + "; ".join(failed))
    missing = [r.check for r in deciding if r.verdict is Verdict.INCONCLUSIVE]
    if missing:
        return Analysis(Verdict.INCONCLUSIVE, tuple(results), n, "no data for: " + "; ".join(missing))
    return Analysis(Verdict.PASS, tuple(results), n)


def _wilson(k: int, n: int, z: float) -> tuple[float, float]:
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return centre - half, centre + half


def proportion_difference(k_stable: int, n_stable: int, k_cand: int, n_cand: int,
                          confidence: float = 0.95) -> tuple[float, float, float] | None:
    """Candidate minus stable proportion with Newcombe's hybrid score interval (method 10, from two Wilson
    intervals; good coverage at small n and near 0 or 1, unlike Wald's).

    Returns:
        ``(difference, low, high)``, or None when either side has no observations.
    """
    if n_stable <= 0 or n_cand <= 0:
        return None
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p1, p2 = k_stable / n_stable, k_cand / n_cand
    l1, u1 = _wilson(k_stable, n_stable, z)
    l2, u2 = _wilson(k_cand, n_cand, z)
    d = p2 - p1
    low = d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    high = d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    return d, low, high


def mean_difference(stable: Sequence[float], candidate: Sequence[float],
                    confidence: float = 0.95) -> tuple[float, float, float] | None:
    """Candidate minus stable mean with a Welch normal-approximation interval (None with < 2 values a side)."""
    if len(stable) < 2 or len(candidate) < 2:
        return None
    from statistics import NormalDist, fmean, variance

    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    d = fmean(candidate) - fmean(stable)
    se = math.sqrt(variance(stable) / len(stable) + variance(candidate) / len(candidate))
    return d, d - z * se, d + z * se
