"""Live quality per version: the prediction log (real artifact store) joined with feedback (real SQL store)."""

from __future__ import annotations

import types
from datetime import UTC, datetime, timedelta

import numpy as np

from shipyard.serving.signature import Rows
from shipyard.telemetry import feedback_store
from shipyard.telemetry.live import live_quality
from shipyard.telemetry.prediction_log import PredictionLog


def _lv(version: int):  # type: ignore[no-untyped-def]
    return types.SimpleNamespace(model="m", version=version, signature=types.SimpleNamespace(names=("a",)))


def test_accuracy_per_version_and_shadow_from_feedback(workspace) -> None:
    ws = workspace
    start = datetime.now(UTC) - timedelta(seconds=1)
    log = PredictionLog(ws.artifacts.put_object)
    one = Rows(1, matrix=np.zeros((1, 1)))
    for i in range(10):
        version = 1 if i < 6 else 2
        log.record("ep", _lv(version), f"r{i}", one, {"predict": np.array(["yes" if i % 2 else "no"])}, 1.0)
        log.record("ep", _lv(3), f"r{i}", one, {"predict": np.array(["yes"])}, 1.0, shadow=True)
    log.record("ep", _lv(1), "multi", Rows(2, matrix=np.zeros((2, 1))), {"predict": np.array(["no", "yes"])}, 1.0)
    log.flush()
    labels = [("ep", f"r{i}", None, "yes") for i in range(10)]  # 1,3,5 right on v1; 7,9 on v2; all on v3
    labels += [("ep", "multi", 1, "no"), ("ep", "unlogged", None, "no")]
    feedback_store.record(ws.db, datetime.now(UTC), labels)
    got = live_quality(ws.db, ws.artifacts, "ep", start)
    assert got[1] == {"labelled": 7, "correct": 3, "accuracy": round(3 / 7, 6), "mae": None}
    assert got[2] == {"labelled": 4, "correct": 2, "accuracy": 0.5, "mae": None}
    assert got[3]["labelled"] == 10 and got[3]["correct"] == 10  # the shadow: same request ids
    assert live_quality(ws.db, ws.artifacts, "ep", start, until=start) == {}
    assert live_quality(ws.db, ws.artifacts, "other", start) == {}


def test_mae_for_numeric_predictions(workspace) -> None:
    ws = workspace
    log = PredictionLog(ws.artifacts.put_object)
    for i in range(4):
        log.record("reg", _lv(1), f"q{i}", Rows(1, matrix=np.zeros((1, 1))), {"predict": np.array([float(i)])}, 1.0)
    log.flush()
    feedback_store.record(ws.db, datetime.now(UTC), [("reg", f"q{i}", 0, i + 0.5) for i in range(4)])
    got = live_quality(ws.db, ws.artifacts, "reg", None)
    assert got[1]["labelled"] == 4 and got[1]["mae"] == 0.5 and got[1]["correct"] is None
