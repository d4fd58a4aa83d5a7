"""`shipyard audit verify` on SQLite and PostgreSQL: exit 0 when intact, exit 1 naming the first bad
event after a row is edited, deleted or reordered (or the newest rows deleted) directly in SQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from shipyard.config import Settings
from shipyard.store.sql.engine import Database
from shipyard.workspace import Workspace

TAMPER = {
    # kind: (SQL statements, first bad event)
    "edit": (["UPDATE audit_events SET actor = 'mallory' WHERE seq = 3"], 3),
    "edit-json": (["UPDATE audit_events SET after = '{\"role\":\"viewer\"}' WHERE seq = 4"], 4),
    "delete-middle": (["DELETE FROM audit_events WHERE seq = 2"], 3),
    "reorder": (["UPDATE audit_events SET seq = -1 WHERE seq = 2",
                 "UPDATE audit_events SET seq = 2 WHERE seq = 3",
                 "UPDATE audit_events SET seq = 3 WHERE seq = -1"], 2),
    "delete-last": (["DELETE FROM audit_events WHERE seq = 5"], 5),
    "delete-all": (["DELETE FROM audit_events"], 1),
}


def _cli(ws_root: Path, db_url: str, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHIPYARD_DB_URL": db_url, "SHIPYARD_ACTOR": "alice"}
    for k in ("SHIPYARD_SERVER", "SHIPYARD_TOKEN", "SHIPYARD_AUDIT_KEY"):
        env.pop(k, None)
    if key is not None:
        env["SHIPYARD_AUDIT_KEY"] = key
    return subprocess.run([sys.executable, "-m", "shipyard.cli.main", "-C", str(ws_root), "audit", *args],
                          env=env, capture_output=True, text=True, timeout=120)


def _populate(tmp_path: Path, db_url: str, key: str | None = None) -> Workspace:
    ws = Workspace.init(tmp_path / "ws", settings=Settings(db_url=db_url, actor="alice", audit_key=key))
    for name, role in [("bob", "approver"), ("carol", "viewer"), ("dave", "contributor"), ("erin", "deployer"),
                       ("frank", "viewer")]:
        ws.users.add(name, role)
    assert [e.seq for e in ws.audit.log()] == [1, 2, 3, 4, 5]
    return ws


@pytest.mark.parametrize("kind", list(TAMPER))
def test_verify_detects_tampering(tmp_path: Path, db_url: str, kind: str) -> None:
    ws = _populate(tmp_path, db_url)
    try:
        ok = _cli(ws.root, db_url, "verify")
        assert ok.returncode == 0, ok.stderr
        assert "intact (5 event(s) verified)" in ok.stdout
        statements, first_bad = TAMPER[kind]
        raw = Database(db_url)
        with raw.engine.begin() as conn:
            for sql in statements:
                conn.execute(text(sql))
        raw.dispose()
        bad = _cli(ws.root, db_url, "verify")
        assert bad.returncode == 1, (bad.stdout, bad.stderr)
        assert f"first bad event {first_bad}:" in bad.stderr, bad.stderr
        assert f"event {first_bad}" in bad.stderr
        if kind == "reorder":
            as_json = json.loads(_cli(ws.root, db_url, "verify", "--json").stdout)
            assert as_json["ok"] is False and as_json["first_bad"] == first_bad
        # The service agrees with the CLI.
        result = ws.audit.verify()
        assert (result.ok, result.first_bad) == (False, first_bad)
    finally:
        ws.close()


def test_head_deleted_is_detected(tmp_path: Path, db_url: str) -> None:
    ws = _populate(tmp_path, db_url)
    try:
        with ws.db.begin() as conn:
            conn.execute(text("DELETE FROM audit_head"))
        r = ws.audit.verify()
        assert not r.ok and "head" in r.reason
    finally:
        ws.close()


def test_log_filters_and_export(tmp_path: Path, db_url: str) -> None:
    ws = _populate(tmp_path, db_url)
    try:
        assert [e.subject for e in ws.audit.log(subject="user:b*")] == ["user:bob"]
        assert [e.seq for e in ws.audit.log(limit=2)] == [4, 5]
        assert len(ws.audit.log(actor="alice", action="user.*", since="1h")) == 5
        assert ws.audit.log(actor="nobody") == []
        assert ws.audit.log(since="2999-01-01") == []
        log = _cli(ws.root, db_url, "log", "--action", "user.add", "--limit", "2", "--json")
        assert log.returncode == 0, log.stderr
        assert [e["subject"] for e in json.loads(log.stdout)] == ["user:erin", "user:frank"]
        bad = _cli(ws.root, db_url, "log", "--since", "yesterday-ish")
        assert bad.returncode == 2 and "since" in bad.stderr
        out = tmp_path / "audit.jsonl"
        exp = _cli(ws.root, db_url, "export", "--jsonl", "-o", str(out))
        assert exp.returncode == 0, exp.stderr
        lines = [json.loads(x) for x in out.read_text().splitlines()]
        assert [x["seq"] for x in lines] == [1, 2, 3, 4, 5]
        assert set(lines[0]) == {"seq", "time", "actor", "action", "subject", "before", "after", "prev_hash", "hash",
                                 "scheme"}
        assert lines[0]["scheme"] == "sha256"
        # An exported log can be checked by anyone with the pure function.
        from shipyard.governance.audit import AuditEvent, verify_chain

        assert verify_chain(AuditEvent(**x) for x in lines).ok
    finally:
        ws.close()


def test_audit_needs_audit_read(tmp_path: Path, db_url: str) -> None:
    from shipyard.core.permissions import Principal, Role
    from shipyard.errors import PermissionDeniedError

    ws = _populate(tmp_path, db_url)
    try:
        for role in (Role.VIEWER, Role.CONTRIBUTOR, Role.DEPLOYER):
            with pytest.raises(PermissionDeniedError, match="audit:read"):
                ws.as_principal(Principal("x", role)).audit.verify()
        assert ws.as_principal(Principal("x", Role.APPROVER)).audit.verify().ok
    finally:
        ws.close()


KEY = "k3y-" + "0123456789abcdef" * 2


def _rehash_plain(db_url: str, start: int) -> None:
    """What someone with write access to the database but without the key can do: edit event ``start``
    and recompute a plain sha256 chain from there on, head included (its MAC cleared)."""
    from shipyard.governance.audit import GENESIS, event_hash

    raw = Database(db_url)
    with raw.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE seq = :s"), {"s": start})
        rows = conn.execute(text("SELECT seq, time, actor, action, subject, before, after, prev_hash FROM audit_events "
                                 "ORDER BY seq")).all()
        prev = GENESIS
        for r in rows:
            if r.seq >= start:
                h = event_hash(r.seq, r.time, r.actor, r.action, r.subject, r.before, r.after, prev)
                conn.execute(text("UPDATE audit_events SET prev_hash = :p, hash = :h, scheme = 'sha256' "
                                  "WHERE seq = :s"), {"p": prev, "h": h, "s": r.seq})
                prev = h
            else:
                prev = conn.execute(text("SELECT hash FROM audit_events WHERE seq = :s"), {"s": r.seq}).scalar_one()
        # the head's MAC (migration 0007) cannot be recomputed without the key: a careful attacker clears it
        conn.execute(text("UPDATE audit_head SET hash = :h, mac = NULL"), {"h": prev})
    raw.dispose()


def test_keyed_chain_resists_a_rewrite_without_the_key(tmp_path: Path, db_url: str) -> None:
    """With SHIPYARD_AUDIT_KEY, events are HMAC-SHA256: an edit with the chain recomputed (possible for a
    plain chain) is caught; verifying needs the key; --require-keyed catches a wholesale rewrite."""
    from shipyard.governance.audit import key_id

    ws = _populate(tmp_path, db_url, key=KEY)
    try:
        events = ws.audit.log()
        assert {e.scheme for e in events} == {f"hmac-sha256:{key_id(KEY.encode())}"}
        ok = _cli(ws.root, db_url, "verify", "--require-keyed", key=KEY)
        assert ok.returncode == 0 and "keyed with SHIPYARD_AUDIT_KEY from event 1" in ok.stdout, ok.stderr
        nokey = _cli(ws.root, db_url, "verify")
        assert nokey.returncode == 1 and "NOT VERIFIED" in nokey.stderr and "SHIPYARD_AUDIT_KEY" in nokey.stderr
        other = _cli(ws.root, db_url, "verify", key="another-key-0123456789")
        assert other.returncode == 1 and "key id" in other.stderr
        short = _cli(ws.root, db_url, "verify", key="short")
        assert short.returncode == 2 and "SHIPYARD_AUDIT_KEY" in short.stderr and "16" in short.stderr

        _rehash_plain(db_url, 3)  # an attacker without the key edits event 3 and re-chains from there
        bad = _cli(ws.root, db_url, "verify", key=KEY)
        assert bad.returncode == 1 and "first bad event 3:" in bad.stderr and "unkeyed after keyed" in bad.stderr
        assert ws.audit.verify().first_bad == 3
    finally:
        ws.close()


def test_require_keyed_refuses_a_chain_rewritten_wholesale(tmp_path: Path, db_url: str) -> None:
    ws = _populate(tmp_path, db_url, key=KEY)
    try:
        _rehash_plain(db_url, 1)  # every event rewritten as a plain chain: consistent on its own
        plain = _cli(ws.root, db_url, "verify", key=KEY)
        assert plain.returncode == 0 and "not keyed" in plain.stdout  # says so: compare with when the key was set
        strict = _cli(ws.root, db_url, "verify", "--require-keyed", key=KEY)
        assert strict.returncode == 1 and "no event is keyed" in strict.stderr
        # a log keyed from a later event (key introduced after the start) is reported as such
        ws2 = Workspace.open(ws.root, settings=Settings(db_url=db_url, actor="alice", audit_key=KEY))
        try:
            ws2.users.add("gina", "viewer")
            r = ws2.audit.verify()
            assert r.ok and r.keyed_from == 6
            strict = ws2.audit.verify(require_keyed=True)
            assert not strict.ok and "keyed only from event 6" in strict.reason
        finally:
            ws2.close()
    finally:
        ws.close()


def test_a_log_written_before_migration_0005_still_verifies(tmp_path: Path, db_url: str) -> None:
    """Upgrading an existing 0004 database: its events become scheme sha256 and verify as before; new
    events written with a key are keyed after them."""
    from alembic import command

    from shipyard.store.sql import migrate

    ws = _populate(tmp_path, db_url)
    ws.close()
    db = Database(db_url)
    cfg = migrate._config()
    with db.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004")
    assert migrate.current_revision(db) == "0004"
    db.dispose()
    ws = Workspace.open(tmp_path / "ws", settings=Settings(db_url=db_url, actor="alice", audit_key=KEY))
    try:
        assert migrate.current_revision(ws.db) == migrate.SCHEMA_HEAD >= "0005"
        assert {e.scheme for e in ws.audit.log()} == {"sha256"}
        ws.users.add("gina", "viewer")
        r = ws.audit.verify()
        assert r.ok and r.checked == 6 and r.keyed_from == 6, r
    finally:
        ws.close()
