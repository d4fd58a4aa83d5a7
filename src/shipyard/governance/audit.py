"""The append-only, hash-chained audit log.

Each event's hash covers its sequence number, time, actor, action, subject, before, after and the
previous event's hash, so editing, deleting or reordering a row breaks the chain at that row.
Appends happen inside the caller's transaction, under the audit lock, so the change and its record
commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from shipyard.clock import Clock, SystemClock
from shipyard.core.hashing import canonical_json, sha256_bytes
from shipyard.store.sql import tables as t
from shipyard.store.sql.dialects import lock_audit_chain

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditEvent:
    seq: int
    time: str
    actor: str
    action: str
    subject: str
    before: str | None
    after: str | None
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def event_hash(seq: int, time: str, actor: str, action: str, subject: str,
               before: str | None, after: str | None, prev_hash: str) -> str:
    body = canonical_json([seq, time, actor, action, subject, before, after, prev_hash])
    return sha256_bytes(body.encode("utf-8"))


def _dump(obj: Any) -> str | None:
    return None if obj is None else canonical_json(obj)


def append(conn: Connection, actor: str, action: str, subject: str,
           before: Any = None, after: Any = None, clock: Clock | None = None) -> AuditEvent:
    """Append one event in the caller's transaction."""
    lock_audit_chain(conn)
    last = conn.execute(
        select(t.audit_events.c.seq, t.audit_events.c.hash).order_by(t.audit_events.c.seq.desc()).limit(1)
    ).first()
    seq = 1 if last is None else int(last.seq) + 1
    prev = GENESIS if last is None else str(last.hash)
    now: datetime = (clock or SystemClock()).now()
    time = now.isoformat(timespec="microseconds")
    b, a = _dump(before), _dump(after)
    h = event_hash(seq, time, actor, action, subject, b, a, prev)
    conn.execute(t.audit_events.insert().values(
        seq=seq, time=time, actor=actor, action=action, subject=subject,
        before=b, after=a, prev_hash=prev, hash=h,
    ))
    _advance_head(conn, seq, h)
    return AuditEvent(seq, time, actor, action, subject, b, a, prev, h)


def _advance_head(conn: Connection, seq: int, h: str) -> None:
    """Move the tamper-evident head (seq + hash of the newest event) in the append's transaction."""
    if conn.execute(t.audit_head.update().where(t.audit_head.c.id == 1).values(seq=seq, hash=h)).rowcount == 0:
        conn.execute(t.audit_head.insert().values(id=1, seq=seq, hash=h))


def read_head(conn: Connection) -> tuple[int, str] | None:
    """The recorded (seq, hash) of the newest event, or None for a log that never had one."""
    row = conn.execute(select(t.audit_head.c.seq, t.audit_head.c.hash).where(t.audit_head.c.id == 1)).first()
    return None if row is None else (int(row.seq), str(row.hash))


def iter_events(conn: Connection, *, actor: str | None = None, action: str | None = None,
                subject: str | None = None, since: str | None = None,
                limit: int | None = None) -> Iterator[AuditEvent]:
    q = select(t.audit_events).order_by(t.audit_events.c.seq)
    if actor:
        q = q.where(t.audit_events.c.actor == actor)
    if action:
        q = q.where(t.audit_events.c.action.like(action.replace("*", "%")))
    if subject:
        q = q.where(t.audit_events.c.subject.like(subject.replace("*", "%")))
    if since:
        q = q.where(t.audit_events.c.time >= since)
    if limit:
        q = q.limit(limit)
    for r in conn.execute(q):
        yield AuditEvent(int(r.seq), r.time, r.actor, r.action, r.subject, r.before, r.after,
                         r.prev_hash, r.hash)


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad: int | None = None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify_chain(events: Iterable[AuditEvent]) -> VerifyResult:
    """Recompute every hash and link; report the first event that does not fit."""
    prev_hash, expected_seq, n = GENESIS, 1, 0
    for ev in events:
        n += 1
        if ev.seq != expected_seq:
            return VerifyResult(False, n, ev.seq,
                                f"event {ev.seq}: expected sequence number {expected_seq} "
                                f"(an event was deleted or reordered)")
        if ev.prev_hash != prev_hash:
            return VerifyResult(False, n, ev.seq,
                                f"event {ev.seq}: prev_hash does not match the hash of event {ev.seq - 1}")
        h = event_hash(ev.seq, ev.time, ev.actor, ev.action, ev.subject, ev.before, ev.after, ev.prev_hash)
        if h != ev.hash:
            return VerifyResult(False, n, ev.seq, f"event {ev.seq}: content does not match its hash (edited)")
        prev_hash, expected_seq = ev.hash, expected_seq + 1
    return VerifyResult(True, n)
