"""Metric values for analysis (rollout/metrics.py) and strategy inputs (rollout/strategies.py) on fixed data."""

from __future__ import annotations

import pyarrow as pa
import pytest

from shipyard.rollout.metrics import LogRows, live_quality, measure, prediction_shift, shadow_agreement
from shipyard.rollout.providers.base import VersionMetrics
from shipyard.rollout.strategies import ab_comparison, replay_requests, smoke_from_metrics


def vm(version, requests, errors=0, shadow=False, predictions=None):
    buckets = [0] * 23
    buckets[5] = requests
    return VersionMetrics(version, shadow, requests, requests, errors, 4.0 * requests, tuple(buckets),
                          predictions or {})


def test_measure_from_provider_windows():
    labels = {"kind": "label", "counts": {"0": 50, "1": 50}}
    shifted = {"kind": "label", "counts": {"0": 90, "1": 10}}
    got = measure({1: vm(1, 100, 1, predictions=labels), 2: vm(2, 50, 5, predictions=shifted)}, 1, 2)
    assert got[1]["error_rate"] == pytest.approx(0.01) and got[2]["error_rate"] == pytest.approx(0.1)
    assert got[2]["requests"] == 50 and got[2]["p99_latency_ms"] is not None
    assert got[2]["prediction_psi"] > 0.3 and got[1]["prediction_psi"] is None
    assert measure({}, 1, 2)[2]["requests"] == 0.0


def test_prediction_shift_needs_the_same_kind():
    a = {"kind": "score", "edges": [0.5], "counts": [10, 10]}
    assert prediction_shift(a, a) == pytest.approx(0.0)
    assert prediction_shift(a, {"kind": "label", "counts": {"1": 3}}) is None
    assert prediction_shift({}, a) is None


ROWS = LogRows(request_id=["a", "a", "b", "c", "c", "d"], row=[0, 0, 0, 0, 0, 0], version=[1, 2, 1, 1, 2, 2],
               shadow=[False, True, False, False, True, False], prediction=[1, 1, 0, 1, 0, 1])


def test_shadow_pairs_by_request_id_and_row():
    got = shadow_agreement(ROWS, stable=1, candidate=2)
    assert got["pairs"] == 2 and got["agreement"] == 0.5  # a agrees, c does not; d is not a shadow record
    assert shadow_agreement(LogRows(), 1, 2)["agreement"] is None


def test_live_quality_joins_feedback_and_skips_shadows():
    q = live_quality(ROWS, {("a", None): 1, ("b", 0): 1, ("d", None): 1, ("zz", None): 0})
    assert q[1] == {"n": 2, "hits": 1, "abs_errors": []}  # a right, b wrong; the shadow answer to a not counted
    assert q[2]["n"] == 1 and q[2]["hits"] == 1


def test_ab_comparison_interval():
    n = 400
    rows = LogRows([f"r{i}" for i in range(n)], [0] * n, [1 + i % 2 for i in range(n)], [False] * n, [1] * n)
    labels = {(f"r{i}", None): (1 if i % 2 or i % 4 == 0 else 0) for i in range(n)}  # v1: 50% right, v2: 100%
    got = ab_comparison(rows, labels, 1, 2, "accuracy", 0.95)
    assert got["stable"] == 0.5 and got["candidate"] == 1.0 and got["winner"]
    assert 0 < got["low"] < got["difference"] < got["high"]


def test_smoke_from_metrics():
    assert smoke_from_metrics(None, 5).passed is None
    assert smoke_from_metrics(vm(2, 3, shadow=True), 5).passed is None
    assert smoke_from_metrics(vm(2, 5, shadow=True), 5).passed is True
    assert smoke_from_metrics(vm(2, 9, 1, shadow=True), 5).passed is False


def test_replay_requests_from_the_log():
    table = pa.table({"version": [1, 1, 2, 1], "row": [0, 1, 0, 0], "input_f0": [0.5, 0.1, 0.2, 0.7],
                      "input_city": ["x", "y", "z", "w"]})
    bodies = replay_requests(table, stable=1, limit=5)
    assert len(bodies) == 2  # stable's single-row requests only, newest first
    assert bodies[0]["inputs"] == [{"name": "f0", "shape": [1], "datatype": "FP64", "data": [0.7]},
                                   {"name": "city", "shape": [1], "datatype": "BYTES", "data": ["w"]}]
    assert replay_requests(None, 1, 5) == []


def test_input_drift_against_the_training_profile():
    import numpy as np

    from shipyard.rollout.metrics import input_drift

    profile = {"columns": {"x": {"bin_edges": [0.0, 0.25, 0.5, 0.75, 1.0], "bin_counts": [25, 25, 25, 25]},
                           "c": {"category_freqs": {"a": 0.5, "b": 0.5}}}}
    rng = np.random.default_rng(0)
    same = {"x": rng.uniform(0, 1, 400).tolist(), "c": ["a", "b"] * 200}
    moved = {"x": rng.uniform(0.6, 1.4, 400).tolist(), "c": ["a", "b"] * 200}
    assert input_drift(profile, same) < 0.05
    assert input_drift(profile, moved) > 1.0
    assert input_drift(profile, {"c": ["a"] * 300 + ["zz"] * 100}) > 0.2  # an unseen category counts
    assert input_drift(None, same) is None and input_drift(profile, {"x": [0.1] * 3}) is None
