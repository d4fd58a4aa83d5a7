"""Audit use cases: read, export and verify the hash-chained audit log (needs ``audit:read``)."""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from shipyard.clock import Clock
from shipyard.core.permissions import Permission, Principal, authorize
from shipyard.errors import InvalidInputError
from shipyard.governance.audit import AuditEvent, VerifyResult, iter_events, read_head, verify_chain
from shipyard.store.sql.engine import Database

_RELATIVE = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_LIMIT = 100_000


def parse_since(value: str | None, now: datetime) -> str | None:
    """``30m``/``24h``/``7d`` ago, or an ISO-8601 date/time, as the stored UTC ISO text (for comparison)."""
    if value is None or value == "":
        return None
    m = _RELATIVE.match(value.strip())
    if m:
        at = now - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    else:
        try:
            at = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidInputError(field="since", value=value,
                                    expected="an ISO date/time (2026-01-31, 2026-01-31T12:00:00Z) or 30m, 24h, 7d"
                                    ) from None
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat(timespec="microseconds")


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
                                 since=since_iso)
            if limit:
                return list(deque(events, maxlen=limit))
            return list(events)

    def export_jsonl(self, *, actor: str | None = None, action: str | None = None, subject: str | None = None,
                     since: str | None = None) -> Iterator[str]:
        """One JSON object per line (with its hash fields), oldest first."""
        for ev in self.log(actor=actor, action=action, subject=subject, since=since):
            yield json.dumps(ev.to_dict(), sort_keys=True, ensure_ascii=False) + "\n"

    def verify(self, require_keyed: bool = False) -> VerifyResult:
        """Recompute the whole chain and compare its end with the recorded head.

        Returns a VerifyResult naming the first event that does not fit (``first_bad``); deleting the
        newest events is caught by the head, which moves in the same transaction as every append.
        ``require_keyed``: every event must be keyed with this process's SHIPYARD_AUDIT_KEY — for a
        log keyed from its first event, this also refuses a chain rewritten wholesale without the key.
        """
        authorize(self.actor, Permission.AUDIT_READ)
        last = _Last()
        with self.db.read() as conn:
            result = verify_chain(_tracking(iter_events(conn), last), key=self.db.audit_key)
            head = read_head(conn)
        if not result.ok:
            return result
        if require_keyed and result.checked and result.keyed_from != 1:
            if self.db.audit_key is None:
                return VerifyResult(False, result.checked, 1, "require_keyed: no SHIPYARD_AUDIT_KEY is set here",
                                    result.keyed_from, needs_key=True)
            first = result.keyed_from or result.checked + 1
            return VerifyResult(False, result.checked, 1,
                                f"event 1: not keyed; events are keyed only from event {first}" if result.keyed_from
                                else "event 1: not keyed; no event is keyed (required: every event)",
                                result.keyed_from)
        if head is None:
            if last.seq is None:
                return result
            return VerifyResult(False, result.checked, 1,
                                "audit head is missing although the log has events (the head row was deleted)",
                                result.keyed_from)
        head_seq, head_hash = head
        if last.seq is None or last.seq < head_seq:
            first_missing = 1 if last.seq is None else last.seq + 1
            return VerifyResult(False, result.checked, first_missing,
                                f"event {first_missing}: missing; the head records {head_seq} event(s) but the "
                                f"log ends at {last.seq or 0} (the newest events were deleted)", result.keyed_from)
        if last.seq > head_seq or last.hash != head_hash:
            bad = head_seq if last.seq == head_seq else head_seq + 1
            return VerifyResult(False, result.checked, bad,
                                f"event {bad}: does not match the audit head (seq {head_seq}); events were "
                                f"rewritten or appended outside shipyard", result.keyed_from)
        return result


class _Last:
    seq: int | None = None
    hash: str | None = None


def _tracking(events: Iterator[AuditEvent], last: _Last) -> Iterator[AuditEvent]:
    for ev in events:
        last.seq, last.hash = ev.seq, ev.hash
        yield ev
