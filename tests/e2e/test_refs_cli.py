"""Odd versions, overlong names and trailing newlines through the real CLI, on SQLite and PostgreSQL.

Each case used to end in an internal error (exit 70: OverflowError, ValueError, or PostgreSQL's
"integer out of range" / "value too long" with the SQL printed), or was silently accepted. Now every
one is exit 2 with the field, the value or its length, and what was expected, on both backends alike.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from builders import make_skops_model


@pytest.fixture
def ws_cli(cli, db_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    """``run(*args, env=...)``: the CLI in a workspace on ``db_url`` with model ``m`` version 1 registered."""
    env = {"SHIPYARD_DB_URL": db_url}

    def run(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return cli(*args, env={**env, **(env_extra or {})})  # type: ignore[no-any-return]

    assert run("init").returncode == 0
    model = make_skops_model(tmp_path / "m.skops")
    r = run("models", "register", "m", str(model))
    assert r.returncode == 0, r.stderr
    run.model = model  # type: ignore[attr-defined]
    return run


def _usage_error(r: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr and "SELECT" not in r.stderr, r.stderr
    for n in needles:
        assert n in r.stderr, (n, r.stderr)


def test_odd_versions_in_a_ref_are_usage_errors(ws_cli) -> None:  # type: ignore[no-untyped-def]
    for ref in ["m:99999999999999999999", "m:9999999999", "m:2147483648", "m:²", "m:١", "m:0", "m:+1", "m: 1",
                "m:1_0", "m:" + "9" * 5000]:
        _usage_error(ws_cli("models", "show", ref), "version", "1..2147483647")
    # the largest version is looked up (not found), not an overflow; ASCII 1 still works
    r = ws_cli("models", "show", "m:2147483647")
    assert r.returncode == 2 and "version: got 2147483647" in r.stderr, r.stderr
    assert json.loads(ws_cli("models", "show", "m:1", "--json").stdout)["version"] == 1


def test_huge_alias_version_and_token_id_are_usage_errors(ws_cli) -> None:  # type: ignore[no-untyped-def]
    _usage_error(ws_cli("models", "alias", "m", "a", "99999999999999999999"), "version", "1..2147483647")
    _usage_error(ws_cli("models", "alias", "m", "a", "2147483648"), "version", "1..2147483647")
    _usage_error(ws_cli("users", "token", "revoke", "99999999999999999999"), "token", "1..2147483647")
    _usage_error(ws_cli("approve", "m:99999999999999999999", env_extra={"SHIPYARD_ACTOR": "bob"}), "version")


def test_a_name_with_a_trailing_newline_is_refused(ws_cli) -> None:  # type: ignore[no-untyped-def]
    _usage_error(ws_cli("models", "register", "nl\n", str(ws_cli.model)), "model", "'nl\\n'")
    _usage_error(ws_cli("models", "alias", "m", "champion\n", "1"), "alias")
    _usage_error(ws_cli("models", "show", "m@champion\n"), "alias")
    assert json.loads(ws_cli("models", "list", "--json").stdout)[0]["name"] == "m"  # nothing registered


def test_overlong_names_say_their_length_and_the_limit(ws_cli) -> None:  # type: ignore[no-untyped-def]
    _usage_error(ws_cli("models", "register", "a" * 201, str(ws_cli.model)),
                 "model: 201 characters", "at most 200")
    _usage_error(ws_cli("users", "add", "u" * 201, "--role", "viewer"), "name: 201 characters", "at most 200")
    _usage_error(ws_cli("models", "alias", "m", "a" * 101, "1"), "alias: 101 characters", "at most 100")
    _usage_error(ws_cli("models", "show", "m@" + "a" * 101), "alias: 101 characters", "at most 100")


def test_values_at_the_column_limits_fit_on_every_backend(ws_cli) -> None:  # type: ignore[no-untyped-def]
    """200-character names, actors and tag keys are stored; one more is refused before the database."""
    name = "n" * 200
    r = ws_cli("models", "register", name, str(ws_cli.model), "--json",
               env_extra={"SHIPYARD_ACTOR": "b" * 200})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["created_by"] == "b" * 200
    # model:NAME@ALIAS is the audit subject (300 characters): 93 characters of alias fit a 200-character name.
    assert ws_cli("models", "alias", name, "a" * 93, "1").returncode == 0
    _usage_error(ws_cli("models", "alias", name, "a" * 94, "1"), "alias: 94 characters", "at most 93",
                 "300")
    _usage_error(ws_cli("models", "alias", name, "a" * 100, "1"), "alias: 100 characters", "at most 93")
    assert ws_cli("models", "tag", "m:1", "k" * 200 + "=v").returncode == 0
    _usage_error(ws_cli("models", "tag", "m:1", "k" * 300 + "=v"), "tag: 300 characters", "at most 200")
    _usage_error(ws_cli("models", "register", "m", str(ws_cli.model), "--tag", "k" * 201 + "=v"),
                 "tag: 201 characters", "at most 200")
    _usage_error(ws_cli("models", "register", "m", str(ws_cli.model), env_extra={"SHIPYARD_ACTOR": "b" * 250}),
                 "actor: 250 characters", "at most 200", "SHIPYARD_ACTOR")
    shown = json.loads(ws_cli("models", "show", "m:1", "--json").stdout)
    assert shown["version"] == 1 and shown["tags"] == {"k" * 200: "v"}  # nothing half-written
    assert ws_cli("audit", "verify").returncode == 0
