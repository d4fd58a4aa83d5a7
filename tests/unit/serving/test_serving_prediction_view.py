"""The prediction-log view: per-version counts and latency, the feedback join (a whole request's label for
single-row requests, a row's label for its row), accuracy for labels and MAE for values, the newest rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from shipyard.telemetry.prediction_view import summarize

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _table(records: list[tuple[str, int, int, float, object]]) -> pa.Table:
    """(request_id, version, row, latency_ms, prediction) in time order, one second apart."""
    return pa.table({
        "request_id": pa.array([r[0] for r in records], pa.string()),
        "timestamp": pa.array([T0 + timedelta(seconds=i) for i in range(len(records))], pa.timestamp("us", tz="UTC")),
        "version": pa.array([r[1] for r in records], pa.int64()),
        "row": pa.array([r[2] for r in records], pa.int64()),
        "latency_ms": pa.array([r[3] for r in records], pa.float64()),
        "output_predict": pa.array([r[4] for r in records]),
    })


def test_counts_latency_and_accuracy_per_version_join_single_row_requests_only() -> None:
    table = _table([
        ("a", 1, 0, 1.0, "good"), ("b", 1, 0, 2.0, "bad"), ("c", 1, 0, 3.0, "good"),
        ("m", 1, 0, 4.0, "good"), ("m", 1, 1, 4.0, "bad"),  # one request, two rows: its label is ambiguous
        ("d", 2, 0, 10.0, "bad"), ("shadow", 3, 0, 0.0, "good"),
    ])
    feedback = {(r, None): lbl for r, lbl in {"a": "good", "b": "good", "m": "good", "d": "bad", "zz": "bad"}.items()}
    view = summarize("ep", None, table, feedback, limit=3)
    assert (view.rows, view.requests) == (7, 6)
    v1, v2, v3 = view.versions
    assert (v1["version"], v1["requests"], v1["rows"], v1["labelled"]) == (1, 4, 5, 2)
    assert v1["accuracy"] == pytest.approx(0.5) and v1["mae"] is None  # a right, b wrong; m not joined
    assert v1["latency_p50_ms"] == pytest.approx(2.5)  # per request: 1, 2, 3, 4
    assert v1["first"] == T0.isoformat() and v1["last"] == (T0 + timedelta(seconds=4)).isoformat()
    assert (v2["labelled"], v2["accuracy"]) == (1, 1.0)
    assert (v3["labelled"], v3["accuracy"]) == (0, None)
    assert [r["request_id"] for r in view.recent] == ["m", "d", "shadow"]
    assert [r["label"] for r in view.recent] == [None, "bad", None]
    assert view.recent[1] == {"time": (T0 + timedelta(seconds=5)).isoformat(), "request_id": "d", "version": 2,
                              "row": 0, "prediction": "bad", "label": "bad", "latency_ms": 10.0}
    # "zz" was never logged and "m" is ambiguous (a whole-request label on a two-row request)
    assert (view.feedback, view.feedback_unmatched) == (5, 2)


def test_integer_classes_compare_with_their_labels_and_values_give_mae() -> None:
    ints = summarize("ep", None, _table([("a", 1, 0, 1.0, 1), ("b", 1, 0, 1.0, 0)]), {("a", None): 1, ("b", None): "1"})
    assert ints.versions[0]["accuracy"] == 0.5
    values = summarize("ep", None, _table([("a", 1, 0, 1.0, 2.5), ("b", 1, 0, 1.0, 4.0), ("c", 1, 0, 1.0, 1.0)]),
                       {("a", None): 3.0, ("b", None): 3, ("c", None): "not a number"})
    assert values.versions[0]["mae"] == pytest.approx(0.75) and values.versions[0]["accuracy"] is None


def test_an_empty_log_and_the_recent_limit() -> None:
    assert summarize("ep", "2026-11-29T00:00:00+00:00", None, {}).to_dict() == {
        "endpoint": "ep", "since": "2026-11-29T00:00:00+00:00", "rows": 0, "requests": 0, "versions": [],
        "recent": [], "skipped_files": [], "feedback": 0, "feedback_unmatched": 0}
    lost = summarize("ep", None, None, {("x", None): 1, ("y", 0): 0})
    assert (lost.feedback, lost.feedback_unmatched) == (2, 2)  # nothing logged: every label is unmatched
    table = _table([(f"r{i}", 1, 0, 1.0, 0) for i in range(20)])
    assert len(summarize("ep", None, table, {}, limit=0).recent) == 0
    assert [r["request_id"] for r in summarize("ep", None, table, {}, limit=2).recent] == ["r18", "r19"]


def test_row_feedback_labels_its_row_of_a_multi_row_request() -> None:
    table = _table([("m", 1, 0, 4.0, "good"), ("m", 1, 1, 4.0, "bad"), ("m", 1, 2, 4.0, "bad"),
                    ("s", 1, 0, 2.0, "good")])
    feedback = {("m", 1): "bad", ("m", 2): "good", ("m", None): "good",  # the whole-request label is ambiguous
                ("s", 0): "good"}  # row 0 of a single-row request: the same as its whole-request label
    view = summarize("ep", None, table, feedback, limit=4)
    assert (view.versions[0]["labelled"], view.versions[0]["accuracy"]) == (3, pytest.approx(2 / 3))
    assert [r["label"] for r in view.recent] == [None, "bad", "good", "good"]
    assert (view.feedback, view.feedback_unmatched) == (4, 1)  # only ("m", None): rows m/1, m/2, s/0 match
