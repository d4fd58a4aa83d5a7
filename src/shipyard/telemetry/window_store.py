"""The gateways' metric windows in the store (``metric_windows``): the flush sink and the reader.

Data-plane traffic like feedback: written without an audit event; callers authorize before reading.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select

from shipyard.store.sql import tables as t
from shipyard.store.sql.engine import Database

W = t.metric_windows


def write(db: Database, rows: Iterable[dict[str, Any]]) -> int:
    """Store closed windows (``telemetry.windows.WindowRecord.to_row()`` dicts); returns how many."""
    items = list(rows)
    if not items:
        return 0
    with db.begin() as conn:
        conn.execute(W.insert(), items)
    return len(items)


def read(db: Database, endpoint: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Every gateway's windows of ``endpoint`` that lie inside ``[start, end)``, oldest first."""
    q = (select(W).where(W.c.endpoint == endpoint, W.c.start >= start, W.c.end <= end)
         .order_by(W.c.start, W.c.id))
    with db.read() as conn:
        return [{**r._asdict(), "start": _aware(r.start), "end": _aware(r.end)} for r in conn.execute(q)]


def prune(db: Database, before: datetime) -> int:
    """Delete windows that ended before ``before`` (retention); returns how many."""
    with db.begin() as conn:
        return int(conn.execute(delete(W).where(W.c.end < before)).rowcount or 0)


def _aware(v: datetime) -> datetime:
    return v if v.tzinfo is not None else v.replace(tzinfo=UTC)
