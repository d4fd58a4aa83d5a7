"""Audit use cases: read, export and verify the hash-chained audit log (needs ``audit:read``)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, inspect, select, text

from shipyard.clock import Clock
from shipyard.core.permissions import Permission, Principal, authorize
from shipyard.errors import InvalidInputError
from shipyard.governance.audit import AuditEvent, VerifyResult, head_problem, iter_events, read_head, verify_chain
from shipyard.store.sql import tables as t
from shipyard.store.sql.engine import Database

_RELATIVE = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_LIMIT = 100_000


def parse_since(value: str | None, now: datetime) -> str | None:
    """``30m``/``24h``/``7d`` ago, or an ISO-8601 date/time, as the stored UTC ISO text (for comparison)."""
    if value is None or value == "":
        return None
    expected = "an ISO date/time (2026-01-31, 2026-01-31T12:00:00Z) or 30m, 24h, 7d"
    m = _RELATIVE.match(value.strip())
    try:
        if m:
            at = now - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
        else:
            at = datetime.fromisoformat(value.strip())
            if at.tzinfo is None:
                at = at.replace(tzinfo=UTC)
        return at.astimezone(UTC).isoformat(timespec="microseconds")
    except ValueError:
        raise InvalidInputError(field="since", value=value, expected=expected) from None
    except OverflowError:
        raise InvalidInputError(field="since", value=value,
                                expected=f"{expected}, no earlier than the year 1 (out of range)") from None


def check_limit(limit: int | None) -> int | None:
    if limit is not None and not 0 < limit <= MAX_LIMIT:
        raise InvalidInputError(field="limit", value=limit, expected=f"an integer 1..{MAX_LIMIT}")
    return limit


class AuditService:
    """Read access to the audit log; appends happen inside each mutating service's transaction."""

    def __init__(self, db: Database, actor: Principal, clock: Clock) -> None:
        self.db, self.actor, self.clock = db, actor, clock

    def log(self, *, actor: str | None = None, action: str | None = None, subject: str | None = None,
            since: str | None = None, limit: int | None = None) -> list[AuditEvent]:
        """Events matching the filters, oldest first; with ``limit``, the newest ``limit`` of them.

        ``action`` and ``subject`` accept ``*`` wildcards (``model.*``, ``model:credit:*``).
        """
        authorize(self.actor, Permission.AUDIT_READ)
        since_iso = parse_since(since, self.clock.now())
        check_limit(limit)
        with self.db.read() as conn:
            events = iter_events(conn, actor=actor or None, action=action or None, subject=subject or None,
                                 since=since_iso, limit=limit, newest=bool(limit))
            return list(events)[::-1] if limit else list(events)

    def export_jsonl(self, *, actor: str | None = None, action: str | None = None, subject: str | None = None,
                     since: str | None = None) -> Iterator[str]:
        """One JSON object per line (with its hash fields), oldest first. The filters are checked and the
        events read before the first line is produced, so a bad filter fails before any output is written."""
        events = self.log(actor=actor, action=action, subject=subject, since=since)
        return (json.dumps(ev.to_dict(), sort_keys=True, ensure_ascii=False) + "\n" for ev in events)

    def verify(self, require_keyed: bool = False) -> VerifyResult:
        """Recompute the whole chain, compare its end with the recorded head and look for records whose
        creating event is missing; one consistent snapshot of the database.

        Returns a VerifyResult naming the first event that does not fit (``first_bad``; None when the
        problem is not one event: a dropped audit table, a record without its event). Deleting the newest
        events is caught by the head, which moves in the same transaction as every append and, for a
        keyed log, carries an HMAC so it cannot be rewound without the key. ``require_keyed``: every event
        must be keyed with this process's SHIPYARD_AUDIT_KEY and the log must not be empty — for a log
        keyed from its first event, this also refuses a chain rewritten (or deleted) wholesale without
        the key.
        """
        authorize(self.actor, Permission.AUDIT_READ)
        key = self.db.audit_key
        tail = _Tail()
        with self.db.read() as conn:
            _snapshot(conn)
            dropped = [name for name in ("audit_events", "audit_head") if not inspect(conn).has_table(name)]
            if dropped:
                return VerifyResult(False, 0, None, f"table {' and '.join(dropped)} is missing (dropped): the "
                                    "audit log cannot be verified and is treated as tampered")
            result = verify_chain(_tracking(iter_events(conn), tail), key=key)
            if not result.ok:
                return result
            bad = head_problem(tail.last, read_head(conn), key)
            if bad is not None:
                return VerifyResult(False, result.checked, bad[0], bad[1], result.keyed_from)
            unaudited = _unaudited(conn, tail.created)
        if unaudited is not None:
            return VerifyResult(False, result.checked, None, unaudited, result.keyed_from)
        if require_keyed and result.keyed_from != 1:
            if key is None:
                return VerifyResult(False, result.checked, None, "require_keyed: no SHIPYARD_AUDIT_KEY is set here",
                                    result.keyed_from, needs_key=True)
            if not result.checked:
                return VerifyResult(False, 0, None, "the audit log is empty (0 events); --require-keyed needs "
                                    "keyed events: a log that had any was deleted")
            first = result.keyed_from or result.checked + 1
            return VerifyResult(False, result.checked, 1,
                                f"event 1: not keyed; events are keyed only from event {first}" if result.keyed_from
                                else "event 1: not keyed; no event is keyed (required: every event)",
                                result.keyed_from)
        return result


def _snapshot(conn: Connection) -> None:
    """Read everything from one snapshot: SQLite's read transaction already is one; PostgreSQL's default
    (read committed) would see an append that commits between reading the events and the head."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))


# Records that are only ever created together with an audit event (in the same transaction):
# (creating action, what the record is, query for its name, the event's subject for that name).
_M, _MV, _D, _DV = t.models, t.model_versions, t.datasets, t.dataset_versions
_CREATED: list[tuple[str, str, Callable[[], Select[Any]], Callable[[Any], str]]] = [
    ("user.add", "user", lambda: select(t.principals.c.name), lambda r: f"user:{r.name}"),
    ("model.register", "model version",
     lambda: select(_M.c.name, _MV.c.version).join(_M, _M.c.id == _MV.c.model_id),
     lambda r: f"model:{r.name}:{r.version}"),
    ("dataset.add", "dataset version",
     lambda: select(_D.c.name, _DV.c.version).join(_D, _D.c.id == _DV.c.dataset_id),
     lambda r: f"dataset:{r.name}@{r.version}"),
    ("endpoint.create", "endpoint", lambda: select(t.endpoints.c.name), lambda r: f"endpoint:{r.name}"),
    ("pipeline.run.start", "run", lambda: select(t.runs.c.id), lambda r: f"run:{r.id}"),
]
_CREATING = {action for action, *_ in _CREATED}


def _unaudited(conn: Connection, created: set[tuple[str, str]]) -> str | None:
    """The records in the database whose creating event is not in the log (their events were deleted)."""
    missing: list[str] = []
    first = ""
    for action, what, query, subject in _CREATED:
        for row in conn.execute(query()):
            s = subject(row)
            if (action, s) not in created:
                if not missing:
                    first = f"{what} {s.split(':', 1)[1]} exists but the log has no {action} event for {s}"
                missing.append(s)
    if not missing:
        return None
    more = f" (and {len(missing) - 1} more record(s) without theirs)" if len(missing) > 1 else ""
    return f"{first}{more}: audit events were deleted"


class _Tail:
    last: AuditEvent | None = None
    created: set[tuple[str, str]]

    def __init__(self) -> None:
        self.created = set()


def _tracking(events: Iterator[AuditEvent], tail: _Tail) -> Iterator[AuditEvent]:
    for ev in events:
        tail.last = ev
        if ev.action in _CREATING:
            tail.created.add((ev.action, ev.subject))
        yield ev
