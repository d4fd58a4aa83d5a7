"""What someone with write access to the database but without SHIPYARD_AUDIT_KEY can and cannot hide, on
SQLite and PostgreSQL: a rewound head, a deleted log, a replayed old head, an append without the key (or
with another one), dropped audit tables, and the upgrade that seals an existing keyed head (migration 0007).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from api_harness import live_api
from builders import make_skops_model
from shipyard.config import Settings
from shipyard.errors import UnavailableError
from shipyard.governance.audit import AuditKeyError, AuditTamperedError, key_id
from shipyard.store.sql.engine import Database
from shipyard.workspace import Workspace

KEY = "k3y-" + "0123456789abcdef" * 2
OTHER = "another-key-0123456789abcdef"


def _cli(root: Path, db_url: str, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHIPYARD_DB_URL": db_url, "SHIPYARD_ACTOR": "alice", "COLUMNS": "1000"}
    for k in ("SHIPYARD_SERVER", "SHIPYARD_TOKEN", "SHIPYARD_AUDIT_KEY"):
        env.pop(k, None)
    if key is not None:
        env["SHIPYARD_AUDIT_KEY"] = key
    return subprocess.run([sys.executable, "-m", "shipyard.cli.main", "-C", str(root), *args],
                          env=env, capture_output=True, text=True, timeout=120)


def _ws(tmp_path: Path, db_url: str, key: str | None = KEY, users: int = 4) -> Workspace:
    ws = Workspace.init(tmp_path / "ws", settings=Settings(db_url=db_url, actor="alice", audit_key=key))
    for name in ["bob", "carol", "dave", "erin", "frank"][:users]:
        ws.users.add(name, "viewer")
    return ws


def _sql(db_url: str, *statements: str, **params: Any) -> list[Any]:
    raw = Database(db_url)
    try:
        with raw.engine.begin() as conn:
            return [conn.execute(text(s), params).all() if s.lstrip().upper().startswith("SELECT")
                    else conn.execute(text(s), params) for s in statements]
    finally:
        raw.dispose()


def _counts(db_url: str) -> tuple[int, int]:
    rows = _sql(db_url, "SELECT COUNT(*) FROM audit_events", "SELECT COUNT(*) FROM principals")
    return int(rows[0][0][0]), int(rows[1][0][0])


REWIND = "UPDATE audit_head SET seq = 3, hash = (SELECT hash FROM audit_events WHERE seq = 3)"


@pytest.mark.parametrize("mac", ["stale", "cleared"])
def test_a_rewound_head_is_caught_and_not_papered_over(tmp_path: Path, db_url: str, mac: str) -> None:
    """The QA repro: delete the newest event and rewind the head to the event before. The head's MAC
    is for (4, hash 4); without the key it can be neither recomputed nor dropped. The next append refuses
    (exit 1) instead of writing a new, valid head over the evidence."""
    ws = _ws(tmp_path, db_url)
    try:
        assert _cli(ws.root, db_url, "audit", "verify", "--require-keyed", key=KEY).returncode == 0
        _sql(db_url, "DELETE FROM audit_events WHERE seq = 4", REWIND,
             *(["UPDATE audit_head SET mac = NULL"] if mac == "cleared" else []))
        bad = _cli(ws.root, db_url, "audit", "verify", "--require-keyed", key=KEY)
        assert bad.returncode == 1, (bad.stdout, bad.stderr)
        assert "TAMPERED: first bad event 4:" in bad.stderr
        assert ("no MAC" if mac == "cleared" else "does not match its MAC") in bad.stderr
        r = ws.audit.verify()
        assert (r.ok, r.first_bad) == (False, 4)

        before = _counts(db_url)
        refused = _cli(ws.root, db_url, "users", "add", "zoe", "--role", "viewer", key=KEY)
        assert refused.returncode == 1, (refused.stdout, refused.stderr)
        assert "audit log tampered" in refused.stderr and "no change was made" in refused.stderr
        with pytest.raises(AuditTamperedError, match="event 4"):
            ws.users.add("zoe", "viewer")
        assert _counts(db_url) == before  # neither the user nor an event: the whole change rolled back
        assert ws.audit.verify().first_bad == 4  # still reported
    finally:
        ws.close()


def test_a_deleted_log_is_caught(tmp_path: Path, db_url: str) -> None:
    """All events and the head deleted: the users they recorded are still there, so verify fails with or
    without --require-keyed; --require-keyed also refuses an empty log outright."""
    ws = _ws(tmp_path, db_url)
    try:
        _sql(db_url, "DELETE FROM audit_events", "DELETE FROM audit_head")
        for args in (["--require-keyed"], []):
            bad = _cli(ws.root, db_url, "audit", "verify", *args, key=KEY)
            assert bad.returncode == 1, (args, bad.stdout, bad.stderr)
            assert "user bob exists but the log has no user.add event for user:bob" in bad.stderr
            assert "3 more record(s)" in bad.stderr
        _sql(db_url, "DELETE FROM principals")
        empty = _cli(ws.root, db_url, "audit", "verify", "--require-keyed", key=KEY)
        assert empty.returncode == 1 and "audit log is empty (0 events)" in empty.stderr, empty.stderr
        nokey = _cli(ws.root, db_url, "audit", "verify", "--require-keyed")
        assert nokey.returncode == 1 and "NOT VERIFIED" in nokey.stderr and "SHIPYARD_AUDIT_KEY" in nokey.stderr
    finally:
        ws.close()


def test_a_fresh_workspace_verifies(tmp_path: Path, db_url: str) -> None:
    ws = _ws(tmp_path, db_url, key=None, users=0)
    try:
        ok = _cli(ws.root, db_url, "audit", "verify")
        assert ok.returncode == 0 and "0 event(s) verified" in ok.stdout, ok.stderr
    finally:
        ws.close()


def test_a_replayed_old_head_is_caught_by_the_records_it_hides(tmp_path: Path, db_url: str) -> None:
    """The limit of a keyed head: someone who copied the head row earlier can put it back after deleting
    the newer events — chain and MAC fit. What still shows is a record whose creating event is gone."""
    ws = _ws(tmp_path, db_url, users=3)
    try:
        [old] = _sql(db_url, "SELECT seq, hash, mac FROM audit_head")
        (seq, h, mac), = old
        ws.users.add("erin", "viewer")
        _sql(db_url, "DELETE FROM audit_events WHERE seq = 4",
             "UPDATE audit_head SET seq = :s, hash = :h, mac = :m", s=seq, h=h, m=mac)
        bad = _cli(ws.root, db_url, "audit", "verify", "--require-keyed", key=KEY)
        assert bad.returncode == 1, bad.stderr
        assert "TAMPERED: user erin exists but the log has no user.add event for user:erin" in bad.stderr
        assert "first bad event" not in bad.stderr  # not an event: a record without its event
        r = ws.audit.verify()
        assert not r.ok and r.first_bad is None and r.checked == 3
    finally:
        ws.close()


def test_a_model_without_its_register_event_is_caught(tmp_path: Path, db_url: str) -> None:
    ws = _ws(tmp_path, db_url, key=None, users=0)
    try:
        model = make_skops_model(tmp_path / "m.skops")
        for _ in range(2):
            ws.models.register("k", model, "sklearn")
        _sql(db_url, "DELETE FROM audit_events WHERE seq = 2", "UPDATE audit_head SET seq = 1, hash = "
             "(SELECT hash FROM audit_events WHERE seq = 1)")  # a plain head can be rewound: the record shows it
        r = ws.audit.verify()
        assert not r.ok and "model version k:2 exists but the log has no model.register event" in r.reason, r
    finally:
        ws.close()


def test_an_append_without_the_key_or_with_another_refuses_and_changes_nothing(tmp_path: Path,
                                                                               db_url: str) -> None:
    """The QA repro: one register without the key after keyed events used to succeed and leave the log
    TAMPERED for good. Now it is refused (exit 2, naming SHIPYARD_AUDIT_KEY) and nothing is written: no
    version, no event, and the version counter is not consumed."""
    ws = _ws(tmp_path, db_url, users=0)
    try:
        model = make_skops_model(tmp_path / "m.skops")
        ok = _cli(ws.root, db_url, "models", "register", "k", str(model), key=KEY)
        assert ok.returncode == 0, ok.stderr
        kid = key_id(KEY.encode())
        for key, says in [("", "SHIPYARD_AUDIT_KEY is not set, but the audit log is keyed"),
                          (None, "SHIPYARD_AUDIT_KEY is not set, but the audit log is keyed"),
                          (OTHER, f"it has key id {key_id(OTHER.encode())}, event 1 was keyed with key id {kid}")]:
            r = _cli(ws.root, db_url, "models", "register", "k", str(model), key=key)
            assert r.returncode == 2, (key, r.stdout, r.stderr)
            assert says in r.stderr and f"key id {kid}" in r.stderr and "no change was made" in r.stderr, r.stderr
            assert "internal error" not in r.stderr
        assert [v.version for v in ws.models.get_model("k").versions] == [1]
        assert [e.seq for e in ws.audit.log()] == [1]
        assert _cli(ws.root, db_url, "audit", "verify", "--require-keyed", key=KEY).returncode == 0
        again = _cli(ws.root, db_url, "models", "register", "k", str(model), key=KEY)
        assert again.returncode == 0 and "2" in again.stdout, again.stderr
        assert [v.version for v in ws.models.get_model("k").versions] == [1, 2]

        nokey = Workspace.open(ws.root, settings=Settings(db_url=db_url, actor="alice"))
        try:
            with pytest.raises(AuditKeyError, match="SHIPYARD_AUDIT_KEY") as exc:
                nokey.users.add("zoe", "viewer")
            assert exc.value.field == "SHIPYARD_AUDIT_KEY" and exc.value.value == "not set"
            assert exc.value.expected == f"the audit log's key (key id {kid})"
        finally:
            nokey.close()
        assert _counts(db_url) == (2, 0)
    finally:
        ws.close()


def test_the_api_answers_503_naming_the_key_not_500(tmp_path: Path, db_url: str) -> None:
    """A server started without the key over a keyed log refuses mutations with a JSON 503, and bad audit
    filters are a 422, never a 500."""
    ws = _ws(tmp_path, db_url, key=None, users=0)
    try:
        with live_api(ws) as api, httpx.Client(base_url=api.url, timeout=60) as http:
            keyed = Workspace.open(ws.root, settings=Settings(db_url=db_url, actor="alice", audit_key=KEY))
            try:
                keyed.users.add("keyed-user", "viewer")
            finally:
                keyed.close()
            before = _counts(db_url)
            r = http.post("/api/v1/users", headers=api.headers("admin"), json={"name": "zoe", "role": "viewer"})
            assert r.status_code == 503, r.text
            err = r.json()["error"]
            assert err["type"] == "AuditKeyError" and err["field"] == "SHIPYARD_AUDIT_KEY"
            assert "SHIPYARD_AUDIT_KEY is not set" in err["message"]
            assert _counts(db_url) == before
            for params in ({"since": "99999999d"}, {"since": "0001-01-01T00:00:00+01:00"}):
                r = http.get("/api/v1/audit/events", headers=api.headers("admin"), params=params)
                assert r.status_code == 422 and r.json()["error"]["field"] == "since", r.text
                r = http.get("/api/v1/audit/export", headers=api.headers("admin"), params=params)
                assert r.status_code == 422, r.text
    finally:
        ws.close()


@pytest.mark.parametrize("table", ["audit_head", "audit_events"])
def test_a_dropped_audit_table_is_tampering_not_a_usage_error(tmp_path: Path, db_url: str, table: str) -> None:
    ws = _ws(tmp_path, db_url, key=None, users=2)
    try:
        _sql(db_url, f"DROP TABLE {table}")
        bad = _cli(ws.root, db_url, "audit", "verify")
        assert bad.returncode == 1, (bad.stdout, bad.stderr)
        assert f"audit log TAMPERED: table {table} is missing (dropped)" in bad.stderr
        as_json = _cli(ws.root, db_url, "audit", "verify", "--json")
        assert as_json.returncode == 1 and '"ok": false' in as_json.stdout
        write = _cli(ws.root, db_url, "users", "add", "zoe", "--role", "viewer")
        assert write.returncode == 1, (write.stdout, write.stderr)  # not exit 70 (internal error)
        assert "audit log tampered: an audit table is missing or altered" in write.stderr
    finally:
        ws.close()


def test_a_plain_rewrite_that_leaves_the_head_mac_is_caught(tmp_path: Path, db_url: str) -> None:
    from shipyard.governance.audit import GENESIS, event_hash

    ws = _ws(tmp_path, db_url, users=3)
    try:
        raw = Database(db_url)
        with raw.engine.begin() as conn:
            prev = GENESIS
            for r in conn.execute(text("SELECT * FROM audit_events ORDER BY seq")).all():
                h = event_hash(r.seq, r.time, r.actor, r.action, r.subject, r.before, r.after, prev)
                conn.execute(text("UPDATE audit_events SET prev_hash = :p, hash = :h, scheme = 'sha256' "
                                  "WHERE seq = :s"), {"p": prev, "h": h, "s": r.seq})
                prev = h
            conn.execute(text("UPDATE audit_head SET hash = :h"), {"h": prev})
        raw.dispose()
        bad = _cli(ws.root, db_url, "audit", "verify", key=KEY)
        assert bad.returncode == 1 and "not keyed, but the audit head carries a MAC" in bad.stderr, bad.stderr
    finally:
        ws.close()


def test_upgrading_to_0007_seals_a_keyed_head_with_the_key_only(tmp_path: Path, db_url: str) -> None:
    """A keyed log written before 0007 has a head without a MAC. The upgrade seals it with the opener's key;
    without that key it is refused (naming SHIPYARD_AUDIT_KEY) and nothing changes."""
    from alembic import command

    from shipyard.store.sql import migrate

    ws = _ws(tmp_path, db_url, users=3)
    ws.close()
    db = Database(db_url)
    cfg = migrate._config()
    with db.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0006")
    assert migrate.current_revision(db) == "0006"
    db.dispose()
    for key, says in [(None, "it is not set"), (OTHER, f"this key has key id {key_id(OTHER.encode())}")]:
        with pytest.raises(UnavailableError, match="SHIPYARD_AUDIT_KEY") as exc:
            Workspace.open(tmp_path / "ws", settings=Settings(db_url=db_url, actor="alice", audit_key=key))
        assert says in str(exc.value) and f"key id {key_id(KEY.encode())}" in str(exc.value)
        db = Database(db_url)
        assert migrate.current_revision(db) == "0006"  # rolled back
        db.dispose()
    cli = _cli(tmp_path / "ws", db_url, "audit", "verify")
    assert cli.returncode == 2 and "SHIPYARD_AUDIT_KEY" in cli.stderr and "internal error" not in cli.stderr
    ws = Workspace.open(tmp_path / "ws", settings=Settings(db_url=db_url, actor="alice", audit_key=KEY))
    try:
        assert migrate.current_revision(ws.db) == migrate.SCHEMA_HEAD
        assert ws.audit.verify(require_keyed=True).ok
        ws.users.add("erin", "viewer")
        r = ws.audit.verify(require_keyed=True)
        assert r.ok and r.checked == 4, r
    finally:
        ws.close()
