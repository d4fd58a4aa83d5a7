"""Audit filters and outputs on SQLite and PostgreSQL: ``*`` is the only wildcard (``%``, ``_``, ``?``,
``[`` are literal, matching is case-sensitive on both backends); an out-of-range ``--since`` and an
``--output`` that cannot be written are usage errors (exit 2 naming the option), never exit 70."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shipyard.config import Settings
from shipyard.errors import InvalidInputError
from shipyard.workspace import Workspace

NAMES = ["a_b", "axb", "a%c", "abc", "q?x", "q[x]", "Q?x"]


def _cli(root: Path, db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHIPYARD_DB_URL": db_url, "SHIPYARD_ACTOR": "alice", "COLUMNS": "1000"}
    for k in ("SHIPYARD_SERVER", "SHIPYARD_TOKEN", "SHIPYARD_AUDIT_KEY"):
        env.pop(k, None)
    return subprocess.run([sys.executable, "-m", "shipyard.cli.main", "-C", str(root), "audit", *args],
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def ws(tmp_path: Path, db_url: str):  # type: ignore[no-untyped-def]
    ws = Workspace.init(tmp_path / "ws", settings=Settings(db_url=db_url, actor="alice"))
    for name in NAMES:
        ws.users.add(name, "viewer")
    yield ws
    ws.close()


def _subjects(ws: Workspace, **filters: str) -> list[str]:
    return [e.subject.removeprefix("user:") for e in ws.audit.log(**filters)]


@pytest.mark.parametrize(("filters", "expected"), [
    ({"subject": "user:a_b"}, ["a_b"]),  # `_` is not "any character": axb does not match
    ({"subject": "user:a_*"}, ["a_b"]),
    ({"subject": "user:a%*"}, ["a%c"]),  # `%` is not "anything": axb, abc do not match
    ({"subject": "user:a*"}, ["a_b", "axb", "a%c", "abc"]),
    ({"subject": "user:q?*"}, ["q?x"]),  # nor is `?` (SQLite GLOB) nor case-insensitive
    ({"subject": "user:q[*"}, ["q[x]"]),
    ({"subject": "user:*x"}, ["q?x", "Q?x"]),
    ({"action": "user_add"}, []),
    ({"action": "user%"}, []),
    ({"action": "user_*"}, []),
    ({"action": "USER.*"}, []),
    ({"action": "user.*"}, NAMES),
    ({"action": "user.add"}, NAMES),
])
def test_only_star_is_a_wildcard(ws: Workspace, filters: dict[str, str], expected: list[str]) -> None:
    assert _subjects(ws, **filters) == expected


def test_cli_filter_with_like_metacharacters(ws: Workspace, db_url: str) -> None:
    r = _cli(ws.root, db_url, "log", "--action", "user_%", "--json")
    assert r.returncode == 0 and json.loads(r.stdout) == [], (r.stdout, r.stderr)
    r = _cli(ws.root, db_url, "export", "--subject", "user:a_*")
    assert r.returncode == 0 and [json.loads(x)["subject"] for x in r.stdout.splitlines()] == ["user:a_b"]


@pytest.mark.parametrize("since", ["99999999d", "999999999999999999999999s", "0001-01-01T00:00:00+01:00"])
def test_since_out_of_range_is_a_usage_error(ws: Workspace, db_url: str, since: str) -> None:
    with pytest.raises(InvalidInputError) as exc:
        ws.audit.log(since=since)
    assert exc.value.field == "since" and exc.value.value == since and "out of range" in str(exc.value)
    for cmd in ("log", "export"):
        r = _cli(ws.root, db_url, cmd, "--since", since)
        assert r.returncode == 2, (cmd, r.stdout, r.stderr)
        assert f"since: got '{since}'" in r.stderr and "expected" in r.stderr and "internal error" not in r.stderr


def test_export_to_a_path_that_cannot_be_written_is_a_usage_error(ws: Workspace, db_url: str,
                                                                  tmp_path: Path) -> None:
    a_file = tmp_path / "plain.txt"
    a_file.write_text("x")
    for target, says in [(tmp_path / "nodir" / "x.jsonl", "does not exist"),
                         (tmp_path, "it is a directory"),
                         (a_file / "x.jsonl", "is not a directory")]:
        r = _cli(ws.root, db_url, "export", "--jsonl", "-o", str(target))
        assert r.returncode == 2, (target, r.stdout, r.stderr)
        assert f"--output: got '{target}'" in r.stderr and says in r.stderr, r.stderr
        assert "internal error" not in r.stderr
    assert not (tmp_path / "nodir").exists()
    assert a_file.read_text() == "x"
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        r = _cli(ws.root, db_url, "export", "-o", str(ro / "x.jsonl"))
        assert r.returncode == 2 and "--output" in r.stderr, r.stderr


def test_export_writes_the_file_whole_or_not_at_all(ws: Workspace, db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "out" / "audit.jsonl"
    out.parent.mkdir()
    bad = _cli(ws.root, db_url, "export", "--since", "99999999d", "-o", str(out))
    assert bad.returncode == 2 and not out.exists()  # a bad filter fails before the file is created
    ok = _cli(ws.root, db_url, "export", "-o", str(out))
    assert ok.returncode == 0 and f"wrote {len(NAMES)} event(s)" in ok.stderr, ok.stderr
    assert len(out.read_text().splitlines()) == len(NAMES)
    assert sorted(p.name for p in out.parent.iterdir()) == ["audit.jsonl"]  # no temporary file left
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("command", [["export"], ["log"]])
def test_reader_closing_the_pipe_is_not_an_error(ws: Workspace, db_url: str, command: list[str]) -> None:
    """`shipyard audit export | head`: the reader goes away before the output is written. The CLI ends
    quietly with SIGPIPE's conventional status (141), not 1 ("a check failed"), 2 or an internal error."""
    env = {**os.environ, "SHIPYARD_DB_URL": db_url, "SHIPYARD_ACTOR": "alice"}
    for k in ("SHIPYARD_SERVER", "SHIPYARD_TOKEN", "SHIPYARD_AUDIT_KEY"):
        env.pop(k, None)
    p = subprocess.Popen([sys.executable, "-m", "shipyard.cli.main", "-C", str(ws.root), "audit", *command],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout is not None and p.stderr is not None
    p.stdout.close()  # before the interpreter has even imported the CLI: every write meets EPIPE
    stderr = p.stderr.read().decode()
    assert p.wait(timeout=120) == 141, stderr
    assert stderr == ""
