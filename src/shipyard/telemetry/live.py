"""Live quality per version: the prediction log joined with feedback labels over a time window.

The join is ``prediction_view.summarize``'s (a row's label to its row; a whole request's label to a
single-row request). A shadow version's records carry the client request's id, so feedback for a request
labels the shadow's prediction as well: a shadow candidate gets a live accuracy too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

from shipyard.store.sql.engine import Database
from shipyard.telemetry import feedback_store
from shipyard.telemetry.prediction_view import COLUMNS, summarize


class LiveQuality(TypedDict):
    labelled: int  # logged rows with a label
    correct: int | None  # of those, predicted right (labels); None for numeric predictions
    accuracy: float | None
    mae: float | None  # numeric predictions: mean absolute error


def live_quality(db: Database, artifacts: Any, endpoint: str, since: datetime | None,
                 until: datetime | None = None) -> dict[int, LiveQuality]:
    """Per version (answering or shadow) over the records logged in ``[since, until)``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from shipyard.telemetry.prediction_log import read_log

    table = read_log(artifacts, endpoint, since, columns=COLUMNS)
    if table is not None and until is not None:
        table = table.filter(pc.less(table["timestamp"], pa.scalar(until, pa.timestamp("us", tz="UTC"))))
    feedback = {(f["request_id"], f["row"]): f["label"] for f in feedback_store.list_for(db, endpoint)}
    view = summarize(endpoint, None, table, feedback, limit=0)
    out: dict[int, LiveQuality] = {}
    for item in view.versions:
        n, acc = int(item["labelled"]), item["accuracy"]
        out[int(item["version"])] = LiveQuality(labelled=n, correct=None if acc is None else int(round(acc * n)),
                                                accuracy=acc, mae=item["mae"])
    return out
