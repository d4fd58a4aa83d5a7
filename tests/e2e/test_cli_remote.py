"""The CLI against a running `shipyard server` (real HTTP on a free loopback port) gives the same
--json output as local mode; tokens never show up in the server log or in error messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api_harness import free_port
from builders import configure_gates, make_labelled_csv, make_skops_model

CLI = [sys.executable, "-m", "shipyard.cli.main"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env.update({"SHIPYARD_ACTOR": "alice", "COLUMNS": "200"}, **extra)
    return env


def run(ws: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "-C", str(ws), *args], env=env or _env(), capture_output=True, text=True,
                          timeout=180)


def ok(ws: Path, *args: str, env: dict[str, str] | None = None) -> str:
    r = run(ws, *args, env=env)
    assert r.returncode == 0, f"{args}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout


@pytest.fixture
def remote(tmp_path: Path, credit_csv: Path) -> Iterator[dict[str, object]]:
    ws = tmp_path / "ws"
    ok(tmp_path, "init", str(ws))
    ok(ws, "users", "add", "admin", "--role", "admin")
    ok(ws, "users", "add", "bob", "--role", "approver")
    tokens = {u: json.loads(ok(ws, "users", "token", "create", u, "--json"))["token"] for u in ("admin", "bob")}
    ok(ws, "data", "add", str(credit_csv), "--name", "credit")
    configure_gates(ws, ["roc_auc >= 0.7"])  # what `models evaluate` runs, in the server
    ok(ws, "data", "add", str(make_labelled_csv(tmp_path / "holdout.csv")), "--name", "holdout")
    model = make_skops_model(tmp_path / "model.skops")
    ok(ws, "models", "register", "credit-risk", str(model), "--tag", "team=risk")
    ok(ws, "models", "alias", "credit-risk", "champion", "1")
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen([*CLI, "-C", str(ws), "server", "--port", str(port)], env=_env(),
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, (tmp_path / "server.log").read_text()
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.1)
    try:
        yield {"ws": ws, "url": url, "tokens": tokens, "model": model, "log": tmp_path / "server.log"}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.mark.slow
def test_remote_json_matches_local_and_tokens_stay_secret(remote: dict[str, object], tmp_path: Path) -> None:
    ws, url, tokens = Path(str(remote["ws"])), str(remote["url"]), dict(remote["tokens"])  # type: ignore[call-overload]
    as_admin = _env(SHIPYARD_SERVER=url, SHIPYARD_TOKEN=tokens["admin"])
    reads = [("data", "list"), ("data", "show", "credit"), ("data", "show", "credit@1"), ("models", "list"),
             ("models", "show", "credit-risk"), ("models", "show", "credit-risk:1"),
             ("models", "show", "credit-risk@champion")]
    for args in reads:
        local = ok(ws, *args, "--json")
        remote_out = ok(ws, *args, "--json", env=as_admin)
        assert remote_out == local, f"{args} differs between local and remote mode"
        assert json.loads(local)  # non-empty
    # --server on the command line works like SHIPYARD_SERVER.
    assert ok(ws, "--server", url, "models", "list", "--json", env=_env(SHIPYARD_TOKEN=tokens["admin"])) == \
        ok(ws, "models", "list", "--json")

    # Changes made through the server are what local mode then sees.
    small = tmp_path / "small.csv"
    small.write_text("a,b\n1,x\n2,y\n")
    added = json.loads(ok(ws, "data", "add", str(small), "--name", "small", "--json", env=as_admin))
    assert added["rows"] == 2 and added["created_by"] == "admin"
    assert added["source"] == str(small)  # the client's path, not the server's temporary copy
    mv = json.loads(ok(ws, "models", "register", "credit-risk", str(remote["model"]), "--json", env=as_admin))
    assert (mv["version"], mv["created_by"]) == (2, "admin")
    refused = run(ws, "models", "stage", "credit-risk:2", "validated", env=as_admin)
    assert refused.returncode == 2 and "models evaluate" in refused.stderr  # gates cannot be self-certified
    evaluated = json.loads(ok(ws, "models", "evaluate", "credit-risk:2", "--dataset", "holdout:1", "--json",
                              env=as_admin))
    assert evaluated["stage"] == "validated" and evaluated["evidence"]["source"] == "models-evaluate"
    own = run(ws, "approve", "credit-risk:2", env=as_admin)
    assert own.returncode == 2 and "separation of duties" in own.stderr
    as_bob = _env(SHIPYARD_SERVER=url, SHIPYARD_TOKEN=tokens["bob"])
    approved = json.loads(ok(ws, "approve", "credit-risk:2", "--reason", "reviewed", "--json", env=as_bob))
    assert approved["stage"] == "approved"
    for args in [("models", "show", "credit-risk:2"), ("data", "show", "small"),
                 ("data", "diff", "small@1", "small", "--fail-on-drift")]:
        assert ok(ws, *args, "--json", env=as_admin) == ok(ws, *args, "--json")
    assert ok(ws, "audit", "log", "--json", env=as_admin) == ok(ws, "audit", "log", "--json")
    assert "intact" in ok(ws, "audit", "verify", env=as_bob)
    no_perm = run(ws, "users", "add", "eve", "--role", "admin", env=as_bob)
    assert no_perm.returncode == 2 and "may not admin" in no_perm.stderr

    # Bad, revoked and missing tokens: exit 2, a clear message, and the token is never echoed.
    fake = "shp_" + "S3CRET" * 7
    bad = run(ws, "models", "list", env=_env(SHIPYARD_SERVER=url, SHIPYARD_TOKEN=fake))
    assert bad.returncode == 2 and "unknown token" in bad.stderr
    revoked = json.loads(ok(ws, "users", "token", "create", "bob", "--json"))
    ok(ws, "users", "token", "revoke", str(revoked["id"]))
    r = run(ws, "models", "list", env=_env(SHIPYARD_SERVER=url, SHIPYARD_TOKEN=revoked["token"]))
    assert r.returncode == 2 and "revoked" in r.stderr
    # An admin disables bob through the server: bob's token stops working; enabling restores it.
    assert json.loads(ok(ws, "users", "disable", "bob", "--json", env=as_admin))["disabled"] is True
    off = run(ws, "models", "list", env=as_bob)
    assert off.returncode == 2 and "user disabled" in off.stderr
    ok(ws, "users", "enable", "bob", env=as_admin)
    ok(ws, "models", "list", env=as_bob)
    missing = run(ws, "models", "list", env=_env(SHIPYARD_SERVER=url))
    assert missing.returncode == 2 and "bearer token is required" in missing.stderr
    dead = run(ws, "models", "list", env=_env(SHIPYARD_SERVER=f"http://127.0.0.1:{free_port()}",
                                              SHIPYARD_TOKEN=tokens["admin"]))
    assert dead.returncode == 2 and "cannot be reached" in dead.stderr
    secrets = [*tokens.values(), fake, revoked["token"]]
    for proc in (bad, r, missing, dead, own, no_perm):
        for s in secrets:
            assert s not in proc.stdout + proc.stderr
    server_log = Path(str(remote["log"])).read_text()
    assert "GET /api/v1/models" in server_log  # the access log is on, and it is what we grep
    for s in secrets:
        assert s not in server_log and s[4:] not in server_log


def test_local_mode_is_admin_unless_auth_required(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ok(tmp_path, "init", str(ws))
    ok(ws, "users", "add", "admin", "--role", "admin")  # the OS user acts as admin locally
    ok(ws, "users", "add", "vic", "--role", "viewer")
    vic = json.loads(ok(ws, "users", "token", "create", "vic", "--json"))["token"]
    cfg = ws / "shipyard.yaml"
    cfg.write_text(cfg.read_text().replace("auth: optional", "auth: required"))
    r = run(ws, "models", "list")
    assert r.returncode == 2 and "requires a token" in r.stderr
    r = run(ws, "models", "list", env=_env(SHIPYARD_AUTH="optional"))  # the environment cannot loosen it
    assert r.returncode == 2 and "requires a token" in r.stderr
    # the control plane still starts (its own principal answers no request), and asks every request for a token
    port = free_port()
    proc = subprocess.Popen([*CLI, "-C", str(ws), "server", "--port", str(port)], env=_env(SHIPYARD_AUTH="optional"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/models", timeout=10).status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert ok(ws, "models", "list", "--json", env=_env(SHIPYARD_TOKEN=vic)).strip() == "[]"
    denied = run(ws, "users", "add", "eve", "--role", "admin", env=_env(SHIPYARD_TOKEN=vic))
    assert denied.returncode == 2 and "vic (role viewer) may not admin" in denied.stderr
    assert vic not in denied.stderr


def test_endpoints_through_the_server_and_commands_that_need_the_local_store(remote: dict[str, object],
                                                                            tmp_path: Path) -> None:
    ws, url, tokens = Path(str(remote["ws"])), str(remote["url"]), dict(remote["tokens"])  # type: ignore[call-overload]
    as_admin = _env(SHIPYARD_SERVER=url, SHIPYARD_TOKEN=tokens["admin"])
    as_bob = _env(SHIPYARD_SERVER=url, SHIPYARD_TOKEN=tokens["bob"])
    for _ in range(2):  # versions 2 and 3, locally
        ok(ws, "models", "register", "credit-risk", str(remote["model"]))
    unapproved = run(ws, "deploy", "credit-risk:1", "--endpoint", "risk", env=as_admin)  # approval.required: 1
    assert unapproved.returncode == 2 and "credit-risk:1 is candidate" in unapproved.stderr, unapproved.stderr
    for v in (1, 2):  # through the server: gates evaluated by shipyard, approved by bob (not the author)
        ok(ws, "models", "evaluate", f"credit-risk:{v}", "--dataset", "holdout:1", env=as_admin)
        ok(ws, "approve", f"credit-risk:{v}", "--reason", "reviewed", env=as_bob)
    deployed = json.loads(ok(ws, "deploy", "credit-risk:1", "--endpoint", "risk", "--json", env=as_admin))
    assert deployed["routing"]["routes"] == [{"version": 1, "weight": 100}] and deployed["generation"] == 1
    # version 3 is an unapproved candidate: it may be shadowed (it never answers), not routed
    assert run(ws, "endpoints", "route", "risk", "--set", "1=90", "--set", "3=10", env=as_admin).returncode == 2
    routed = ok(ws, "endpoints", "route", "risk", "--set", "1=90", "--set", "2=10", "--shadow", "3",
                "--sticky-header", "x-user", "--json", env=as_admin)
    assert json.loads(routed)["generation"] == 2
    # the API's own prefix in SHIPYARD_SERVER names the same server
    with_prefix = _env(SHIPYARD_SERVER=url + "/api/v1/", SHIPYARD_TOKEN=tokens["admin"])
    assert ok(ws, "endpoints", "list", "--json", env=with_prefix) == ok(ws, "endpoints", "list", "--json")
    for args in [("endpoints", "list"), ("endpoints", "show", "risk"),
                 ("endpoints", "log", "risk", "--since", "2026-01-01")]:
        assert ok(ws, *args, "--json", env=as_admin) == ok(ws, *args, "--json")
    assert [e["action"] for e in json.loads(ok(ws, "audit", "log", "--json"))[-2:]] == \
        ["endpoint.create", "endpoint.route"]  # written by the server, as the token's user
    bad = run(ws, "endpoints", "route", "risk", "--set", "1=90", "--set", "2=5", env=as_admin)
    assert bad.returncode == 2 and "sum to 95" in bad.stderr
    unknown = run(ws, "endpoints", "show", "nope", env=as_admin)
    assert unknown.returncode == 2 and "nope" in unknown.stderr
    denied = run(ws, "deploy", "credit-risk:2", "--endpoint", "risk", env=as_bob)
    assert denied.returncode == 2 and "may not deploy" in denied.stderr
    # run trains here and serve reads this store: with a server configured they say so instead of crashing
    for args in (("run",), ("serve", "--port", str(free_port()))):
        r = run(ws, *args, env=as_admin)
        assert r.returncode == 2, r.stderr
        assert "cannot act through the server" in r.stderr and "SHIPYARD_SERVER" in r.stderr
        assert "internal error" not in r.stderr
    out = ok(ws, "models", "card", "credit-risk:1", "-o", str(tmp_path / "card"), env=as_admin)
    assert "model-card.md" in out and (tmp_path / "card/model-card.html").stat().st_size > 0
