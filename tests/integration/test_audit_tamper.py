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


def _cli(ws_root: Path, db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHIPYARD_DB_URL": db_url, "SHIPYARD_ACTOR": "alice"}
    for k in ("SHIPYARD_SERVER", "SHIPYARD_TOKEN"):
        env.pop(k, None)
    return subprocess.run([sys.executable, "-m", "shipyard.cli.main", "-C", str(ws_root), "audit", *args],
                          env=env, capture_output=True, text=True, timeout=120)


def _populate(tmp_path: Path, db_url: str) -> Workspace:
    ws = Workspace.init(tmp_path / "ws", settings=Settings(db_url=db_url, actor="alice"))
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
        assert set(lines[0]) == {"seq", "time", "actor", "action", "subject", "before", "after", "prev_hash", "hash"}
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
