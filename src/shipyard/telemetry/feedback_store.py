"""Feedback labels in the store and the join of the prediction log with them (by request id and row).

Feedback rows are data-plane traffic, stored without an audit event (auditing every label would flood the
chain); callers authorize before reading.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select

from shipyard.clock import iso
from shipyard.errors import InvalidInputError
from shipyard.store.sql import tables as t
from shipyard.store.sql.engine import Database
from shipyard.telemetry.prediction_view import COLUMNS, RECENT_MAX, PredictionLogView, summarize


def record(db: Database, now: datetime, items: Iterable[tuple[str, str, int | None, Any]]) -> int:
    """Store (endpoint, request_id, row, label) rows (row None: the whole request); returns how many."""
    rows = [{"endpoint": e, "request_id": r, "row": row, "label": lab, "at": now} for e, r, row, lab in items]
    if not rows:
        return 0
    with db.begin() as conn:
        conn.execute(t.feedback.insert(), rows)
    return len(rows)


def list_for(db: Database, endpoint: str) -> list[dict[str, Any]]:
    with db.read() as conn:
        rows = conn.execute(select(t.feedback).where(t.feedback.c.endpoint == endpoint).order_by(t.feedback.c.id))
        return [{"request_id": r.request_id, "row": r.row, "label": r.label, "at": iso(r.at)} for r in rows]


def log_view(db: Database, artifacts: Any, name: str, since: str | None, limit: int, now: datetime
             ) -> PredictionLogView:
    """What the gateways logged for ``name`` (flushed every few seconds), per version, joined with the
    feedback by request id: rows, requests, latency, labelled rows, accuracy or MAE; the newest rows."""
    from shipyard.governance.audit_service import parse_since
    from shipyard.telemetry.prediction_log import read_log

    if not 0 <= limit <= RECENT_MAX:
        raise InvalidInputError(field="limit", value=limit, expected=f"an integer 0..{RECENT_MAX}")
    at = parse_since(since, now)
    if artifacts is None:
        raise InvalidInputError(field="artifacts", value=None, expected="an EndpointService with an artifact store")
    skipped: list[str] = []
    table = read_log(artifacts, name, None if at is None else datetime.fromisoformat(at), columns=COLUMNS,
                     skipped=skipped, batch=True)
    feedback = {(f["request_id"], f["row"]): f["label"] for f in list_for(db, name)}
    view = summarize(name, at, table, feedback, limit)
    view.skipped_files = skipped
    return view
