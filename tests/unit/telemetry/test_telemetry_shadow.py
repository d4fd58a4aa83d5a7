"""Shadow comparison: records paired by request id and row, agreement, score difference, distribution distance."""

from __future__ import annotations

import io
import types
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shipyard.serving.signature import Rows
from shipyard.telemetry.prediction_log import PredictionLog
from shipyard.telemetry.shadow import compare, js_distance


def _lv(version: int):  # type: ignore[no-untyped-def]
    return types.SimpleNamespace(model="m", version=version, signature=types.SimpleNamespace(names=("a",)))


def _log_table(records):  # type: ignore[no-untyped-def]
    """records: (version, shadow, request_id, labels, proba | None) -> the flushed log as one Arrow table."""
    stored: dict[str, bytes] = {}

    def put(key: str, data: bytes) -> str:
        stored[key] = data
        return key

    log = PredictionLog(put)
    for version, shadow, rid, labels, proba in records:
        n = len(labels)
        out = {"predict": np.asarray(labels)}
        if proba is not None:
            out["predict_proba"] = np.asarray(proba, dtype=float)
        log.record("ep", _lv(version), rid, Rows(n, matrix=np.zeros((n, 1))), out, 1.0, shadow=shadow)
    log.flush()
    return pa.concat_tables([pq.read_table(io.BytesIO(b)) for b in stored.values()], promote_options="permissive")


def test_pairs_by_request_id_and_row_and_reports_agreement_score_diff_and_distance() -> None:
    recs = []
    for i in range(10):
        p = 0.9 if i < 8 else 0.3  # stable says 1 for 8 of 10
        q = 0.8 if i < 6 else 0.2  # the shadow for 6: they disagree on requests 6 and 7
        recs.append((1, False, f"r{i}", [int(p > 0.5)], [[1 - p, p]]))
        recs.append((2, True, f"r{i}", [int(q > 0.5)], [[1 - q, q]]))
    recs.append((1, False, "only-stable", [1], [[0.1, 0.9]]))
    recs.append((2, True, "only-shadow", [0], [[0.9, 0.1]]))
    recs.append((2, False, "r0", [0], [[0.9, 0.1]]))  # the candidate answering: not a shadow record
    got = compare(_log_table(recs), "ep", stable=1, candidate=2)
    assert got["pairs"] == 10 and got["stable_rows"] == 11 and got["candidate_rows"] == 11
    assert got["agreement"] == pytest.approx(0.8)
    diffs = [0.1] * 6 + [0.7] * 2 + [0.1] * 2
    assert got["mean_abs_score_diff"] == pytest.approx(np.mean(diffs), abs=1e-6)
    assert got["distance"] == pytest.approx(js_distance([2, 8], [4, 6]), abs=1e-6)
    assert 0 < got["distance"] < 1


def test_multi_row_requests_pair_row_by_row_and_identical_outputs_agree() -> None:
    recs = [(1, False, "a", ["x", "y", "z"], None), (2, True, "a", ["x", "y", "z"], None),
            (1, False, "b", ["x"], None), (2, True, "b", ["y"], None)]
    got = compare(_log_table(recs), "ep", 1, 2)
    assert got["pairs"] == 4 and got["agreement"] == 0.75 and got["mean_abs_score_diff"] is None
    same = compare(_log_table(recs[:2]), "ep", 1, 2)
    assert same["agreement"] == 1.0 and same["distance"] == 0.0


def test_regression_reports_mean_absolute_difference() -> None:
    recs = [(1, False, f"r{i}", [float(i)], None) for i in range(5)]
    recs += [(2, True, f"r{i}", [float(i) + 0.5], None) for i in range(5)]
    got = compare(_log_table(recs), "ep", 1, 2)
    assert got["pairs"] == 5 and got["agreement"] is None
    assert got["mean_abs_score_diff"] == pytest.approx(0.5)
    assert got["distance"] is not None and got["distance"] > 0


def test_no_shadow_records_no_pairs_and_since_filters() -> None:
    table = _log_table([(1, False, "r", [1], None), (2, True, "r", [1], None)])
    assert compare(table, "ep", 1, 3)["pairs"] == 0
    assert compare(None, "ep", 1, 2)["pairs"] == 0
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert compare(table, "ep", 1, 2, since=later)["pairs"] == 0
    assert compare(table, "other", 1, 2)["pairs"] == 0


def test_reads_the_log_from_an_artifact_store(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from shipyard.store.artifacts.fsspec import FsspecArtifactStore

    store = FsspecArtifactStore(f"file://{tmp_path}")
    log = PredictionLog(store.put_object)
    for version, shadow in ((1, False), (2, True)):
        log.record("ep", _lv(version), "rid-1", Rows(1, matrix=np.zeros((1, 1))), {"predict": np.array([7])}, 2.0,
                   shadow=shadow)
    log.flush()
    got = compare(store, "ep", 1, 2, since=datetime.now(UTC) - timedelta(hours=1))
    assert got["pairs"] == 1 and got["agreement"] == 1.0


def test_js_distance_bounds() -> None:
    assert js_distance([1, 0], [0, 1]) == pytest.approx(1.0)
    assert js_distance([3, 3], [1, 1]) == pytest.approx(0.0)
    assert js_distance([0, 0], [1, 1]) == 1.0
