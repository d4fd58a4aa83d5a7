"""Metric windows: counting per endpoint x version, closing, flushing, merging and summing across gateways."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from shipyard.core.windows import LATENCY_EDGES_MS, N_LATENCY_BUCKETS, bucket_of, quantile
from shipyard.rollout.providers.builtin import sum_windows
from shipyard.telemetry import windows as w
from shipyard.telemetry.windows import MetricWindows, merge_predictions


class FakeClock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _windows(sink=None, interval=5.0, t=1000.0):  # type: ignore[no-untyped-def]
    clock = FakeClock(t)
    return MetricWindows(sink, interval, gateway="h:1", clock=clock), clock


def test_counts_requests_rows_errors_latency_and_binary_scores() -> None:
    mw, clock = _windows()
    proba = np.array([[0.9, 0.1]])
    mw.record("ep", 1, False, 0.7, 1, {"predict": np.array([0]), "predict_proba": proba})
    mw.record("ep", 1, False, 12.0, 3, {"predict": np.array([1, 1, 0]),
                                        "predict_proba": np.array([[0.2, 0.8], [0.0, 1.0], [0.6, 0.4]])})
    mw.record_error("ep", 1, False, 3.0, 2)
    clock.t = 1004.9
    assert mw.take() == []  # the window [1000, 1005) is still open
    clock.t = 1005.0 + w.GRACE_S
    [rec] = mw.take()
    assert (rec.endpoint, rec.version, rec.shadow, rec.gateway) == ("ep", 1, False, "h:1")
    assert rec.start == datetime.fromtimestamp(1000, UTC) and rec.end == datetime.fromtimestamp(1005, UTC)
    assert (rec.requests, rec.rows, rec.errors) == (3, 4, 1)  # a failed request predicted no rows
    assert rec.latency_sum_ms == pytest.approx(15.7)
    expected = [0] * N_LATENCY_BUCKETS
    for ms in (0.7, 12.0, 3.0):
        expected[bucket_of(ms)] += 1
    assert rec.latency_buckets == expected
    pred = rec.predictions
    assert pred["kind"] == "score" and pred["edges"] == list(w.SCORE_EDGES) and len(pred["counts"]) == 20
    # positive-class probabilities 0.1, 0.8, 1.0, 0.4 -> bins 2, 16, 19 (1.0 is in the last bin), 8
    assert [i for i, c in enumerate(pred["counts"]) for _ in range(c)] == [2, 8, 16, 19]
    assert pred["labels"] == {"0": 2, "1": 2}
    assert mw.take() == []


def test_multiclass_uses_the_top_probability_labels_and_values_their_kinds() -> None:
    mw, clock = _windows()
    mw.record("ep", 2, False, 1.0, 2, {"predict": np.array(["a", "c"]),
                                       "predict_proba": np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])})
    mw.record("ep", 3, True, 1.0, 2, {"predict": np.array(["x", "y"])})
    mw.record("ep", 4, False, 1.0, 3, {"predict": np.array([0.0, 2.5, -1e9])})
    mw.record("ep", 4, False, 1.0, 1, {"predict": np.array([2.5])})
    clock.t = 2000
    got = {(r.version, r.shadow): r.predictions for r in mw.take()}
    score = got[(2, False)]
    assert [i for i, c in enumerate(score["counts"]) for _ in range(c)] == [10, 16]
    assert got[(3, True)] == {"kind": "label", "counts": {"x": 1, "y": 1}}
    value = got[(4, False)]
    assert value["kind"] == "value" and len(value["counts"]) == len(value["edges"]) + 1 == len(w.VALUE_EDGES) + 1
    i25 = int(np.searchsorted(w.VALUE_EDGES, 2.5))
    assert value["counts"][i25] == 2 and value["counts"][0] == 1 and sum(value["counts"]) == 4
    assert value["counts"][int(np.searchsorted(w.VALUE_EDGES, 0.0))] == 1


def test_windows_align_to_the_interval_and_split_by_time() -> None:
    mw, clock = _windows(interval=1.0, t=10.2)
    mw.record("ep", 1, False, 1.0, 1, {})
    clock.t = 11.7
    mw.record("ep", 1, False, 1.0, 1, {})
    clock.t = 12.0 + w.GRACE_S
    recs = sorted(mw.take(), key=lambda r: r.start)
    assert [(r.start.timestamp(), r.end.timestamp(), r.requests) for r in recs] == [(10, 11, 1), (11, 12, 1)]
    assert recs[0].predictions == {}


def test_an_output_that_cannot_be_histogrammed_still_counts_the_request() -> None:
    mw, clock = _windows()
    mw.record("ep", 1, False, 1.0, 1, {"predict_proba": "not an array", "predict": object()})
    clock.t = 9999
    [rec] = mw.take()
    assert rec.requests == 1


def test_a_failed_flush_keeps_the_windows_for_the_next_one(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[dict]] = []
    fail = [True]

    def sink(rows):  # type: ignore[no-untyped-def]
        if fail[0]:
            raise ConnectionError("store down")
        calls.append(rows)
        return len(rows)

    mw, clock = _windows(sink)
    mw.record("ep", 1, False, 1.0, 1, {})
    clock.t = 1010
    with pytest.raises(ConnectionError):
        mw.flush()
    mw.record("ep", 1, False, 1.0, 1, {})  # a second window
    clock.t = 1020
    fail[0] = False
    assert mw.flush() == 2
    assert [r["requests"] for r in calls[0]] == [1, 1] and calls[0][0]["start"] < calls[0][1]["start"]
    # bounded: past MAX_PENDING the oldest go
    monkeypatch.setattr(w, "MAX_PENDING", 3)
    fail[0] = True
    for i in range(5):
        clock.t = 2000 + 10 * i
        mw.record("ep", 1, False, 1.0, 1, {})
    clock.t = 3000
    with pytest.raises(ConnectionError):
        mw.flush()
    assert len(mw._pending) == 3 and mw.dropped == 2
    assert mw._pending[0].start == datetime.fromtimestamp(2020, UTC)


def test_flush_everything_takes_the_open_window_at_shutdown() -> None:
    got: list[dict] = []
    mw, _ = _windows(got.extend)
    mw.record("ep", 1, False, 1.0, 1, {})
    assert mw.flush() == 0 and got == []
    assert mw.flush(everything=True) == 1 and got[0]["requests"] == 1


def test_merge_predictions_adds_counts_of_one_kind() -> None:
    a = {"kind": "score", "edges": list(w.SCORE_EDGES), "counts": [1] * 20, "labels": {"0": 1}}
    b = {"kind": "score", "edges": list(w.SCORE_EDGES), "counts": [2] * 20, "labels": {"0": 2, "1": 1}}
    m = merge_predictions(a, b)
    assert m["counts"] == [3] * 20 and m["labels"] == {"0": 3, "1": 1}
    assert merge_predictions({}, b) == b and merge_predictions(a, {}) == a
    assert merge_predictions({"kind": "label", "counts": {"x": 1}}, {"kind": "label", "counts": {"x": 2, "y": 1}}
                             ) == {"kind": "label", "counts": {"x": 3, "y": 1}}
    assert merge_predictions(a, {"kind": "label", "counts": {"x": 1}}) == a  # kinds that do not add up


def test_windows_of_two_gateways_sum_per_version() -> None:
    rows = []
    for gw, n in (("a:1", 3), ("b:2", 5)):
        mw, clock = _windows(rows.extend, t=100.0)
        mw.gateway = gw
        for i in range(n):
            mw.record("ep", 1, False, float(i + 1), 1, {"predict": np.array(["x"])})
            mw.record("ep", 2, False, 40.0, 1, {"predict": np.array(["y"])})
        mw.record_error("ep", 2, False, 40.0, 1)
        mw.record("ep", 3, True, 2.0, 1, {"predict": np.array(["x"])})
        clock.t = 200
        mw.flush()
    got = sum_windows(rows)
    assert set(got) == {1, 2, 3}
    v1, v2, v3 = got[1], got[2], got[3]
    assert (v1.requests, v1.errors, v1.shadow) == (8, 0, False)
    assert (v2.requests, v2.errors, v2.error_rate) == (10, 2, 0.2)
    assert v3.shadow and v3.requests == 2
    assert v1.predictions == {"kind": "label", "counts": {"x": 8}}
    assert sum(v1.latency_buckets) == 8 and v1.latency_sum_ms == pytest.approx(6 + 15)
    assert v2.latency_ms(0.5) == quantile(v2.latency_buckets, 0.5)
    assert LATENCY_EDGES_MS[bucket_of(40.0) - 1] < v2.latency_ms(0.99) <= LATENCY_EDGES_MS[bucket_of(40.0)]


def test_an_answering_version_wins_over_its_shadow_past() -> None:
    rows = []
    mw, clock = _windows(rows.extend)
    mw.record("ep", 2, True, 1.0, 1, {})
    mw.record("ep", 2, False, 1.0, 1, {})
    mw.record("ep", 2, False, 1.0, 1, {})
    clock.t = 5000
    mw.flush()
    assert sum_windows(rows)[2].shadow is False and sum_windows(rows)[2].requests == 2


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="metrics_interval"):
        MetricWindows(None, 0)


@pytest.mark.parametrize("interval", [0.25, 0.5, 1.0, 5.0])
def test_the_controller_lag_covers_the_latest_flush_of_a_window(interval: float) -> None:
    """A flush tick that just misses a window's grace takes it one interval later; the rollout controller's lag
    (``complete_after``) leaves at least ``FLUSH_SLACK_S`` after that tick for the write (issue 19: with
    2 x interval, a 0.5 s window reached the store after the analysis had summed the others)."""
    mw, clock = _windows(interval=interval, t=1000.0)
    mw.record("ep", 1, False, 1.0, 1, {})
    end = 1000.0 + interval
    clock.t = end + w.GRACE_S - 1e-6  # a tick just before the window may be taken
    assert mw.take() == []
    clock.t += interval  # the next tick takes it
    assert len(mw.take()) == 1
    taken_after = clock.t - end
    assert taken_after + w.FLUSH_SLACK_S <= w.complete_after(interval)
    assert w.complete_after(interval) >= 2 * interval  # never shorter than the lag it replaced


def test_each_flush_marks_how_far_the_gateway_has_written_and_a_failed_one_does_not() -> None:
    marks: list[tuple[str, datetime, datetime]] = []
    written: list[dict] = []  # type: ignore[type-arg]
    fail = [False]

    def sink(rows):  # type: ignore[no-untyped-def]
        if fail[0]:
            raise OSError("store down")
        written.extend(rows)

    clock = FakeClock(1000.0)
    mw = MetricWindows(sink, 5.0, gateway="h:1", clock=clock, watermark=lambda *a: marks.append(a))
    mw.record("ep", 1, False, 1.0, 1, {"predict": np.array([1])})
    clock.t = 1003.0
    assert mw.flush() == 0  # nothing closed yet; still a mark: everything up to 995 (-> 1000) is written
    assert marks[-1][:2] == ("h:1", datetime.fromtimestamp(1000, UTC))
    clock.t = 1005.0 + w.GRACE_S
    assert mw.flush() == 1 and marks[-1][1] == datetime.fromtimestamp(1005, UTC)
    mw.record("ep", 1, False, 1.0, 1, {"predict": np.array([1])})
    clock.t = 1010.0 + w.GRACE_S
    fail[0] = True
    with pytest.raises(OSError):
        mw.flush()
    assert marks[-1][1] == datetime.fromtimestamp(1005, UTC) and len(marks) == 2  # not past what is unwritten
    fail[0] = False
    clock.t = 1012.0
    mw.record("ep", 1, False, 1.0, 1, {"predict": np.array([1])})
    assert mw.flush(everything=True) == 2  # the kept window and, at shutdown, the open one
    assert marks[-1][1] == w.FINAL  # a stopped gateway has written all it ever will: nobody waits for it


def test_gateways_in_one_process_have_their_own_ids() -> None:
    assert w.gateway_id() != w.gateway_id()
