"""The append-only, hash-chained audit log.

Each event's hash covers its sequence number, time, actor, action, subject, before, after and the
previous event's hash, so editing, deleting or reordering a row breaks the chain at that row.
Appends happen inside the caller's transaction, under the audit lock, so the change and its record
commit together or not at all. ``audit_head`` records the newest event (seq + hash), so deleting the
newest events shows too.

A plain hash chain shows edits by anyone who does not also recompute the hashes after the edit; a
person with write access to the database can do that. With ``SHIPYARD_AUDIT_KEY`` set, new events
are HMAC-SHA256 with that key (scheme ``hmac-sha256:<key id>``; the key id is the first 12 hex digits
of the key's sha256, never the key), and the head carries an HMAC over (seq, hash) (``mac``, migration
0007), so without the key nobody can rewrite events, append them, or rewind the head to an older event.
Verification needs the same key; once a keyed event exists, an unkeyed event after it is a downgrade
and fails verification.

An append first checks the tail it extends: with a keyed newest event it needs this process's key to be
the log's key (``AuditKeyError``, naming SHIPYARD_AUDIT_KEY), and the newest event and the head must be
intact (``AuditTamperedError``) — otherwise the new event and head would paper over the tampering. Either
error rolls back the caller's whole transaction.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, select
from sqlalchemy.exc import DBAPIError

from shipyard.clock import Clock, SystemClock
from shipyard.core.hashing import canonical_json, sha256_bytes
from shipyard.errors import IntegrityError, UnavailableError
from shipyard.store.sql import tables as t
from shipyard.store.sql.dialects import lock_audit_chain
from shipyard.store.sql.engine import AUDIT_KEY_INFO

GENESIS = "0" * 64
PLAIN = "sha256"
HMAC_PREFIX = "hmac-sha256:"
HEAD_DOMAIN = "shipyard.audit_head.v1"  # separates head MACs from event MACs (which are never a 3-list)


class AuditKeyError(UnavailableError):
    """This process cannot append to a keyed log: SHIPYARD_AUDIT_KEY is unset or is another key.

    A configuration problem of the writing process (CLI exit 2, HTTP 503), never a partial write."""


class AuditTamperedError(IntegrityError):
    """An append found the newest event or the head tampered with; it refuses rather than hide it."""


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:12]


def scheme_for(key: bytes | None) -> str:
    return PLAIN if not key else f"{HMAC_PREFIX}{key_id(key)}"


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

    @property
    def keyed(self) -> bool:
        return self.scheme != PLAIN


@dataclass(frozen=True, slots=True)
class AuditHead:
    """The recorded newest event: its seq and hash, and (when it is keyed) an HMAC over both."""

    seq: int
    hash: str
    mac: str | None = None


def event_hash(seq: int, time: str, actor: str, action: str, subject: str,
               before: str | None, after: str | None, prev_hash: str, *, key: bytes | None = None) -> str:
    """sha256 of the event's canonical JSON, or with a key HMAC-SHA256 over it plus the scheme (so the
    scheme cannot be swapped without the key)."""
    fields: list[Any] = [seq, time, actor, action, subject, before, after, prev_hash]
    if not key:
        return sha256_bytes(canonical_json(fields).encode("utf-8"))
    body = canonical_json([*fields, scheme_for(key)]).encode("utf-8")
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def head_mac(key: bytes, seq: int, h: str) -> str:
    """HMAC-SHA256 over (domain, seq, hash): a head naming another event needs the key to forge."""
    return hmac.new(key, canonical_json([HEAD_DOMAIN, seq, h]).encode("utf-8"), hashlib.sha256).hexdigest()


def _dump(obj: Any) -> str | None:
    return None if obj is None else canonical_json(obj)


def append(conn: Connection, actor: str, action: str, subject: str,
           before: Any = None, after: Any = None, clock: Clock | None = None) -> AuditEvent:
    """Append one event in the caller's transaction (after checking the tail it extends)."""
    lock_audit_chain(conn)
    key: bytes | None = conn.info.get(AUDIT_KEY_INFO)
    try:
        last, head = last_event(conn), read_head(conn)
    except DBAPIError as exc:
        if not _schema_gone(exc):
            raise
        raise AuditTamperedError(_refusal(f"an audit table is missing or altered ({str(exc.orig).strip()})")) from None
    check_tail(last, head, key)
    seq = 1 if last is None else last.seq + 1
    prev = GENESIS if last is None else last.hash
    now: datetime = (clock or SystemClock()).now()
    time = now.isoformat(timespec="microseconds")
    b, a = _dump(before), _dump(after)
    h = event_hash(seq, time, actor, action, subject, b, a, prev, key=key)
    scheme = scheme_for(key)
    conn.execute(t.audit_events.insert().values(
        seq=seq, time=time, actor=actor, action=action, subject=subject,
        before=b, after=a, prev_hash=prev, hash=h, scheme=scheme,
    ))
    _advance_head(conn, AuditHead(seq, h, head_mac(key, seq, h) if key else None))
    return AuditEvent(seq, time, actor, action, subject, b, a, prev, h, scheme)


def check_tail(last: AuditEvent | None, head: AuditHead | None, key: bytes | None) -> None:
    """Refuse to extend a keyed log without its key, or a log whose newest event or head was tampered with."""
    if last is not None and last.keyed:
        logged = last.scheme.removeprefix(HMAC_PREFIX)
        if not key:
            raise AuditKeyError(
                f"SHIPYARD_AUDIT_KEY is not set, but the audit log is keyed (event {last.seq}: {last.scheme}): "
                f"set SHIPYARD_AUDIT_KEY to the key the log was written with (key id {logged}); no change was made",
                field="SHIPYARD_AUDIT_KEY", value="not set", expected=f"the audit log's key (key id {logged})")
        if last.scheme != scheme_for(key):
            raise AuditKeyError(
                f"SHIPYARD_AUDIT_KEY does not match the key the audit log was written with: it has key id "
                f"{key_id(key)}, event {last.seq} was keyed with key id {logged}; no change was made",
                field="SHIPYARD_AUDIT_KEY", value=f"key id {key_id(key)}",
                expected=f"the audit log's key (key id {logged})")
    if last is not None:
        problem = event_problem(last, key)
        if problem is not None:
            raise AuditTamperedError(_refusal(problem))
    problem_at = head_problem(last, head, key)
    if problem_at is not None:
        raise AuditTamperedError(_refusal(problem_at[1]))


def _schema_gone(exc: DBAPIError) -> bool:
    """A dropped audit table or column (SQLite's message, PostgreSQL's undefined_table/undefined_column)."""
    return (getattr(exc.orig, "sqlstate", None) in ("42P01", "42703")
            or any(m in str(exc.orig) for m in ("no such table", "no such column")))


def _refusal(problem: str) -> str:
    return (f"audit log tampered: {problem}; refusing to append (no change was made): run `shipyard audit "
            "verify`, and restore the database from a backup taken before the tampering")


def event_problem(ev: AuditEvent, key: bytes | None) -> str | None:
    """Why ``ev``'s stored hash does not fit its content (with ``key`` for a keyed event), else None.
    A keyed event whose key is not ``key`` is not judged here (see ``check_tail`` and ``verify_chain``)."""
    if ev.scheme == PLAIN:
        event_key = None
    elif ev.scheme.startswith(HMAC_PREFIX):
        if not key or ev.scheme != scheme_for(key):
            return None
        event_key = key
    else:
        return f"event {ev.seq}: unknown hash scheme {ev.scheme!r}"
    h = event_hash(ev.seq, ev.time, ev.actor, ev.action, ev.subject, ev.before, ev.after, ev.prev_hash,
                   key=event_key)
    if not hmac.compare_digest(h, ev.hash):
        return f"event {ev.seq}: content does not match its hash (edited)"
    return None


def head_problem(last: AuditEvent | None, head: AuditHead | None,
                 key: bytes | None) -> tuple[int, str] | None:
    """(first bad event, reason) when the recorded head does not fit the log's newest event ``last``."""
    if head is None:
        if last is None:
            return None
        return 1, "audit head is missing although the log has events (the head row was deleted)"
    if last is None or last.seq < head.seq:
        first_missing = 1 if last is None else last.seq + 1
        return first_missing, (f"event {first_missing}: missing; the head records {head.seq} event(s) but the "
                               f"log ends at {0 if last is None else last.seq} (the newest events were deleted)")
    if last.seq > head.seq or last.hash != head.hash:
        bad = head.seq if last.seq == head.seq else head.seq + 1
        return bad, (f"event {bad}: does not match the audit head (seq {head.seq}); events were rewritten or "
                     f"appended outside shipyard")
    if not last.keyed:
        if head.mac is not None:
            return last.seq, (f"event {last.seq}: not keyed, but the audit head carries a MAC, so the newest "
                              "event was keyed: the log was rewritten without SHIPYARD_AUDIT_KEY")
        return None
    if key is None or last.scheme != scheme_for(key):
        return None  # the event itself cannot be verified: reported as such by verify_chain / check_tail
    if head.mac is None:
        return last.seq + 1, (f"event {last.seq + 1}: the audit head names keyed event {last.seq} but has no MAC: "
                              "the head was rewritten without SHIPYARD_AUDIT_KEY (newer events may have "
                              "been deleted)")
    if not hmac.compare_digest(head.mac, head_mac(key, head.seq, head.hash)):
        return last.seq + 1, (f"event {last.seq + 1}: the audit head (seq {head.seq}) does not match its MAC: "
                              "the head was rewound or rewritten without SHIPYARD_AUDIT_KEY (newer events "
                              "were deleted)")
    return None


def _advance_head(conn: Connection, head: AuditHead) -> None:
    """Move the tamper-evident head (seq + hash of the newest event, MAC when keyed) in the append's
    transaction."""
    values = {"seq": head.seq, "hash": head.hash, "mac": head.mac}
    if conn.execute(t.audit_head.update().where(t.audit_head.c.id == 1).values(**values)).rowcount == 0:
        conn.execute(t.audit_head.insert().values(id=1, **values))


def read_head(conn: Connection) -> AuditHead | None:
    """The recorded newest event, or None for a log that never had one."""
    h = t.audit_head.c
    row = conn.execute(select(h.seq, h.hash, h.mac).where(h.id == 1)).first()
    return None if row is None else AuditHead(int(row.seq), str(row.hash), row.mac)


def last_event(conn: Connection) -> AuditEvent | None:
    row = conn.execute(select(t.audit_events).order_by(t.audit_events.c.seq.desc()).limit(1)).first()
    return None if row is None else _event(row)


def _event(r: Any) -> AuditEvent:
    return AuditEvent(int(r.seq), r.time, r.actor, r.action, r.subject, r.before, r.after, r.prev_hash, r.hash,
                      r.scheme)


def _matches(conn: Connection, column: Any, pattern: str) -> ColumnElement[bool]:
    """``*`` is the only wildcard; every other character (``%``, ``_``, ``?``, ``[``, ``\\``) is literal.
    Case-sensitive on both backends (SQLite's LIKE is not, so SQLite uses GLOB)."""
    if "*" not in pattern:
        return column == pattern  # type: ignore[no-any-return]
    if conn.dialect.name == "sqlite":
        glob = "".join({"?": "[?]", "[": "[[]"}.get(c, c) for c in pattern)
        return column.op("GLOB")(glob)  # type: ignore[no-any-return]
    like = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").replace("*", "%")
    return column.like(like, escape="\\")  # type: ignore[no-any-return]


def iter_events(conn: Connection, *, actor: str | None = None, action: str | None = None,
                subject: str | None = None, since: str | None = None,
                limit: int | None = None, newest: bool = False) -> Iterator[AuditEvent]:
    """Matching events oldest first; ``newest`` with ``limit``: the newest ``limit`` (still read by the index
    on seq, newest first, so a page of 100 out of 100,000 events does not read them all)."""
    q = select(t.audit_events).order_by(t.audit_events.c.seq.desc() if newest else t.audit_events.c.seq)
    if actor:
        q = q.where(t.audit_events.c.actor == actor)
    if action:
        q = q.where(_matches(conn, t.audit_events.c.action, action))
    if subject:
        q = q.where(_matches(conn, t.audit_events.c.subject, subject))
    if since:
        q = q.where(t.audit_events.c.time >= since)
    if limit:
        q = q.limit(limit)
    for r in conn.execute(q):
        yield _event(r)


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad: int | None = None  # None with ok=False: the problem is not one event (a table, a missing record)
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
        if ev.keyed and keyed_from is None:
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
    if ev.scheme == PLAIN:
        if keyed_from is not None:
            return (f"event {ev.seq}: unkeyed after keyed events (from event {keyed_from}): rewritten by "
                    "someone without the audit key"), False
    elif ev.scheme.startswith(HMAC_PREFIX):
        if not key:
            return f"event {ev.seq}: keyed ({ev.scheme}); set SHIPYARD_AUDIT_KEY to verify keyed events", True
        if ev.scheme != scheme_for(key):
            return (f"event {ev.seq}: keyed with key id {ev.scheme.removeprefix(HMAC_PREFIX)}, but "
                    f"SHIPYARD_AUDIT_KEY has key id {key_id(key)}"), True
    problem = event_problem(ev, key)
    return None if problem is None else (problem, False)
