"""The append-only, hash-chained audit log.

Each event's hash covers its sequence number, time, actor, action, subject, before, after and the
previous event's hash, so editing, deleting or reordering a row breaks the chain at that row.
Appends happen inside the caller's transaction, under the audit lock, so the change and its record
commit together or not at all.

A plain hash chain shows edits by anyone who does not also recompute the hashes after the edit; a
person with write access to the database can do that. With ``SHIPYARD_AUDIT_KEY`` set, new events
are HMAC-SHA256 with that key (scheme ``hmac-sha256:<key id>``; the key id is the first 12 hex digits
of the key's sha256, never the key): rewriting them needs the key, which lives with the processes
that write (CLI, API server), not in the database. Verification needs the same key; once a keyed
event exists, an unkeyed event after it is a downgrade and fails verification.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from shipyard.clock import Clock, SystemClock
from shipyard.core.hashing import canonical_json, sha256_bytes
from shipyard.store.sql import tables as t
from shipyard.store.sql.dialects import lock_audit_chain
from shipyard.store.sql.engine import AUDIT_KEY_INFO

GENESIS = "0" * 64
PLAIN = "sha256"


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:12]


def scheme_for(key: bytes | None) -> str:
    return PLAIN if not key else f"hmac-sha256:{key_id(key)}"


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
    scheme: str = PLAIN

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def event_hash(seq: int, time: str, actor: str, action: str, subject: str,
               before: str | None, after: str | None, prev_hash: str, *, key: bytes | None = None) -> str:
    """sha256 of the event's canonical JSON, or with a key HMAC-SHA256 over it plus the scheme (so the
    scheme cannot be swapped without the key)."""
    fields: list[Any] = [seq, time, actor, action, subject, before, after, prev_hash]
    if not key:
        return sha256_bytes(canonical_json(fields).encode("utf-8"))
    body = canonical_json([*fields, scheme_for(key)]).encode("utf-8")
    return hmac.new(key, body, hashlib.sha256).hexdigest()


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
    key = conn.info.get(AUDIT_KEY_INFO)
    h = event_hash(seq, time, actor, action, subject, b, a, prev, key=key)
    scheme = scheme_for(key)
    conn.execute(t.audit_events.insert().values(
        seq=seq, time=time, actor=actor, action=action, subject=subject,
        before=b, after=a, prev_hash=prev, hash=h, scheme=scheme,
    ))
    _advance_head(conn, seq, h)
    return AuditEvent(seq, time, actor, action, subject, b, a, prev, h, scheme)


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
                         r.prev_hash, r.hash, r.scheme)


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad: int | None = None
    reason: str = ""
    keyed_from: int | None = None  # the first event keyed with SHIPYARD_AUDIT_KEY (None: no keyed event)
    needs_key: bool = False  # not verified: keyed events and no (or another) SHIPYARD_AUDIT_KEY

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify_chain(events: Iterable[AuditEvent], key: bytes | None = None) -> VerifyResult:
    """Recompute every hash (HMAC for keyed events, with ``key``) and link; report the first event that
    does not fit. Keyed events cannot be checked without the key: that is a failure saying so."""
    prev_hash, expected_seq, n = GENESIS, 1, 0
    keyed_from: int | None = None
    for ev in events:
        n += 1
        if ev.scheme != PLAIN and keyed_from is None:
            keyed_from = ev.seq
        problem = _check(ev, expected_seq, prev_hash, keyed_from, key)
        if problem is not None:
            reason, needs_key = problem
            return VerifyResult(False, n, ev.seq, reason, keyed_from, needs_key)
        prev_hash, expected_seq = ev.hash, expected_seq + 1
    return VerifyResult(True, n, keyed_from=keyed_from)


def _check(ev: AuditEvent, expected_seq: int, prev_hash: str, keyed_from: int | None,
           key: bytes | None) -> tuple[str, bool] | None:
    """(reason, needs_key) when the event does not fit the chain, else None."""
    if ev.seq != expected_seq:
        return f"event {ev.seq}: expected sequence number {expected_seq} (an event was deleted or reordered)", False
    if ev.prev_hash != prev_hash:
        return f"event {ev.seq}: prev_hash does not match the hash of event {ev.seq - 1}", False
    event_key = None
    if ev.scheme == PLAIN:
        if keyed_from is not None:
            return (f"event {ev.seq}: unkeyed after keyed events (from event {keyed_from}): rewritten by "
                    "someone without the audit key"), False
    elif ev.scheme.startswith("hmac-sha256:"):
        if not key:
            return f"event {ev.seq}: keyed ({ev.scheme}); set SHIPYARD_AUDIT_KEY to verify keyed events", True
        if ev.scheme != scheme_for(key):
            return (f"event {ev.seq}: keyed with key id {ev.scheme.split(':', 1)[1]}, but SHIPYARD_AUDIT_KEY has "
                    f"key id {key_id(key)}"), True
        event_key = key
    else:
        return f"event {ev.seq}: unknown hash scheme {ev.scheme!r}", False
    h = event_hash(ev.seq, ev.time, ev.actor, ev.action, ev.subject, ev.before, ev.after, ev.prev_hash,
                   key=event_key)
    if not hmac.compare_digest(h, ev.hash):
        return f"event {ev.seq}: content does not match its hash (edited)", False
    return None
