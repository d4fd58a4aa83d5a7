"""The gateways' metric windows in the store (``metric_windows``): the flush sink and the reader.

Data-plane traffic like feedback: written without an audit event; callers authorize before reading.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select

from shipyard.store.sql import tables as t
from shipyard.store.sql.dialects import upsert
from shipyard.store.sql.engine import Database

W = t.metric_windows
G = t.gateway_watermarks


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


def mark(db: Database, gateway: str, flushed_through: datetime, at: datetime) -> None:
    """Gateway ``gateway`` has every window that ends at or before ``flushed_through`` in the store (its
    flush at ``at`` succeeded)."""
    with db.begin() as conn:
        upsert(conn, G, {"gateway": gateway, "flushed_through": flushed_through, "seen_at": at}, ["gateway"])


def watermarks(db: Database, seen_since: datetime) -> dict[str, datetime]:
    """``gateway -> flushed_through`` of the gateways whose last flush was at or after ``seen_since``."""
    with db.read() as conn:
        return {r.gateway: _aware(r.flushed_through)
                for r in conn.execute(select(G.c.gateway, G.c.flushed_through).where(G.c.seen_at >= seen_since))}


def prune(db: Database, before: datetime) -> int:
    """Delete windows that ended before ``before`` and watermarks of gateways not seen since (retention);
    returns how many windows."""
    with db.begin() as conn:
        conn.execute(delete(G).where(G.c.seen_at < before))
        return int(conn.execute(delete(W).where(W.c.end < before)).rowcount or 0)


def _aware(v: datetime) -> datetime:
    return v if v.tzinfo is not None else v.replace(tzinfo=UTC)
