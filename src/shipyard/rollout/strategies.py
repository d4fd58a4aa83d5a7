"""What each strategy measures beyond the analysis checks: blue-green's smoke test, shadow's agreement report,
A/B's per-variant comparison with a confidence interval. Each returns data; the controller decides with
``core.rollout``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.core.analysis import mean_difference, proportion_difference
from shipyard.rollout.metrics import LogRows, live_quality
from shipyard.rollout.providers.base import VersionMetrics

log = logging.getLogger("shipyard.rollout.strategies")


@dataclass(frozen=True, slots=True)
class SmokeResult:
    """``passed`` None: not decided yet (the candidate is not loaded, or too few answers so far)."""

    passed: bool | None
    detail: str
    sent: int = 0
    ok: int = 0


def smoke_from_metrics(candidate: VersionMetrics | None, needed: int) -> SmokeResult:
    """The check the gateways report: the shadowed candidate answered ``needed`` mirrored requests, none failing."""
    if candidate is None or candidate.requests == 0:
        return SmokeResult(None, "the candidate has answered no mirrored request yet")
    if candidate.errors:
        return SmokeResult(False, f"{candidate.errors} of {candidate.requests} mirrored request(s) failed",
                           candidate.requests, candidate.requests - candidate.errors)
    if candidate.requests < needed:
        return SmokeResult(None, f"{candidate.requests} of {needed} mirrored request(s) answered so far",
                           candidate.requests, candidate.requests)
    return SmokeResult(True, f"{candidate.requests} mirrored request(s) answered without error",
                       candidate.requests, candidate.requests)


def _tensor(name: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        dtype = "BOOL"
    elif isinstance(value, int):
        dtype = "INT64"
    elif isinstance(value, float) or value is None:
        dtype, value = "FP64", (math.nan if value is None else value)
    else:
        dtype, value = "BYTES", str(value)
    return {"name": name, "shape": [1], "datatype": dtype, "data": [value]}


def replay_requests(table: Any, stable: int, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` single-row requests stable answered, as OIP v2 bodies (one tensor per input).
    Rows whose inputs were dropped or hashed in the log cannot be replayed and are skipped."""
    if table is None or table.num_rows == 0:
        return []
    inputs = [c for c in table.column_names if c.startswith("input_")]
    if not inputs:
        return []
    data = table.select(["version", "row", *inputs]).to_pylist()
    bodies = []
    for rec in reversed(data):
        if rec["version"] != stable or rec["row"] != 0:
            continue
        bodies.append({"inputs": [_tensor(c[len("input_"):], rec[c]) for c in inputs]})
        if len(bodies) >= limit:
            break
    return bodies


def replay_through_endpoint(gateway_url: str, endpoint: str, bodies: list[dict[str, Any]],
                            timeout: float = 10.0) -> SmokeResult:
    """Replay logged requests to the endpoint, which mirrors each to the candidate loaded as a shadow. A shadow
    never answers a client — not even on its versioned path (issue 18) — so the candidate is judged on its
    mirrored answers as the gateways report them (``smoke_from_metrics``); this only drives them. ``passed`` is
    None unless the gateway cannot be used at all."""
    import httpx

    if not bodies:
        return SmokeResult(None, "no replayable logged request yet")
    url = f"{gateway_url.rstrip('/')}/v2/models/{endpoint}/infer"
    sent = ok = 0
    try:
        with httpx.Client(timeout=timeout) as client:
            for body in bodies:
                r = client.post(url, json=body)
                sent += 1
                ok += _valid(r)
    except httpx.HTTPError as exc:
        return SmokeResult(None, f"gateway {gateway_url} unreachable: {exc}")
    return SmokeResult(None, f"{sent} logged request(s) replayed through {endpoint} (mirrored to the candidate)",
                       sent, ok)


def _valid(r: Any) -> bool:
    if not 200 <= r.status_code < 300:
        return False
    try:
        outputs = {o["name"]: o for o in r.json()["outputs"]}
        return list(outputs["predict"]["shape"])[:1] == [1] and len(outputs["predict"]["data"]) >= 1
    except (ValueError, KeyError, TypeError):
        return False


def ab_comparison(rows: LogRows, feedback: Mapping[tuple[str, int | None], Any], stable: int, candidate: int,
                  metric: str, confidence: float) -> dict[str, Any]:
    """Per-variant live quality from feedback and the difference candidate - stable with its interval.

    ``winner`` is True when the interval excludes zero in the candidate's favour (accuracy: low > 0;
    mae: high < 0).
    """
    q = live_quality(rows, feedback)
    s, c = q.get(stable, {"n": 0, "hits": 0, "abs_errors": []}), q.get(candidate, {"n": 0, "hits": 0,
                                                                                    "abs_errors": []})
    out: dict[str, Any] = {"metric": metric, "confidence": confidence, "stable_n": s["n"], "candidate_n": c["n"],
                           "stable": None, "candidate": None, "difference": None, "low": None, "high": None,
                           "winner": False}
    if metric == "mae":
        if s["abs_errors"]:
            out["stable"] = sum(s["abs_errors"]) / len(s["abs_errors"])
        if c["abs_errors"]:
            out["candidate"] = sum(c["abs_errors"]) / len(c["abs_errors"])
        diff = mean_difference(s["abs_errors"], c["abs_errors"], confidence)
        if diff is not None:
            out["difference"], out["low"], out["high"] = diff
            out["winner"] = diff[2] < 0
        return out
    if s["n"]:
        out["stable"] = s["hits"] / s["n"]
    if c["n"]:
        out["candidate"] = c["hits"] / c["n"]
    pdiff = proportion_difference(s["hits"], s["n"], c["hits"], c["n"], confidence)
    if pdiff is not None:
        out["difference"], out["low"], out["high"] = pdiff
        out["winner"] = pdiff[1] > 0
    return out
