"""Every mutating /api/v1 route for every role: 401 without a valid token, 403 without the permission,
success (and an audit event) with it. Real HTTP against uvicorn on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from api_harness import live_api
from builders import approve as approve_version
from builders import configure_gates, make_labelled_csv, make_skops_model, validate
from shipyard.core.permissions import MATRIX, Permission, Role
from shipyard.core.stages import Stage
from shipyard.workspace import Workspace

Request = tuple[str, str, dict[str, Any]]  # method, path, httpx kwargs
_n = itertools.count(1)


class Fixture:
    """Prepares fresh state for one request, acting locally as the admin 'alice'."""

    def __init__(self, ws: Workspace, model: Path) -> None:
        self.ws, self.model = ws, model
        if not any(u.name == "target" for u in ws.users.list()):
            ws.users.add("target", "viewer")

    def version(self, stage: Stage = Stage.CANDIDATE) -> int:
        """A fresh version at ``stage``: candidate, validated through sealed gate evidence, or approved."""
        v = self.ws.models.register("m", self.model, "sklearn").version
        if stage is Stage.VALIDATED:
            validate(self.ws, f"m:{v}")
        elif stage is Stage.APPROVED:
            approve_version(self.ws, f"m:{v}")
        return v


def _dataset(f: Fixture) -> Request:
    i = next(_n)
    return "POST", "/api/v1/datasets/ds/versions", {
        "params": {"filename": "d.csv"}, "content": f"a,b\n{i},x\n{i + 1},y\n".encode(),
        "headers": {"Content-Type": "application/octet-stream"}}


def _register(f: Fixture) -> Request:
    return "POST", "/api/v1/models/m/versions", {"json": {
        "flavor": "sklearn", "artifact": base64.b64encode(f.model.read_bytes()).decode(), "filename": "m.skops"}}


def _set_alias(f: Fixture) -> Request:
    return "PUT", "/api/v1/models/m/aliases/champion", {"json": {"version": f.version()}}


def _delete_alias(f: Fixture) -> Request:
    alias = f"a{next(_n)}"
    f.ws.models.set_alias("m", alias, f.version())
    return "DELETE", f"/api/v1/models/m/aliases/{alias}", {}


def _stage(f: Fixture) -> Request:
    return "POST", f"/api/v1/models/m/versions/{f.version()}/stage", {"json": {"stage": "archived"}}


def _evaluate(f: Fixture) -> Request:
    return "POST", f"/api/v1/models/m/versions/{f.version()}/evaluate", {"json": {"dataset": "holdout:1"}}


def _tag(f: Fixture) -> Request:
    return "PUT", f"/api/v1/models/m/versions/{f.version()}/tags/team", {"json": {"value": "risk"}}


def _approve(f: Fixture) -> Request:
    return "POST", "/api/v1/approvals", {"json": {"ref": f"m:{f.version(Stage.VALIDATED)}", "decision": "approve"}}


def _reject(f: Fixture) -> Request:
    return "POST", "/api/v1/approvals", {"json": {"ref": f"m:{f.version(Stage.VALIDATED)}", "decision": "reject",
                                                  "reason": "fails the fairness review"}}


def _deploy(f: Fixture) -> Request:
    return "POST", "/api/v1/endpoints", {"json": {"ref": f"m:{f.version(Stage.APPROVED)}",
                                                  "endpoint": f"ep{next(_n)}"}}


def _route(f: Fixture) -> Request:
    name = f"ep{next(_n)}"
    f.ws.endpoints.deploy(f"m:{f.version(Stage.APPROVED)}", name)
    return "PUT", f"/api/v1/endpoints/{name}/routing", {"json": {
        "routes": [{"version": f.version(Stage.APPROVED), "weight": 100}], "sticky_header": "x-user"}}


def _rollout_action(f: Fixture) -> Request:
    name = f"ep{next(_n)}"
    f.ws.endpoints.deploy(f"m:{f.version(Stage.APPROVED)}", name)
    f.ws.rollouts.deploy(f"m:{f.version(Stage.APPROVED)}", name)  # serving another version: a rollout starts
    return "POST", f"/api/v1/endpoints/{name}/rollout/pause", {"json": {"reason": "looking at the latency"}}


def _add_user(f: Fixture) -> Request:
    return "POST", "/api/v1/users", {"json": {"name": f"new{next(_n)}", "role": "viewer"}}


def _set_role(f: Fixture) -> Request:
    return "PUT", "/api/v1/users/target/role", {"json": {"role": "contributor"}}


def _disable(f: Fixture) -> Request:
    name = f"off{next(_n)}"
    f.ws.users.add(name, "viewer")
    return "PUT", f"/api/v1/users/{name}/disabled", {"json": {"disabled": True}}


def _create_token(f: Fixture) -> Request:  # for someone else: admin only (anyone may mint their own)
    return "POST", "/api/v1/users/target/tokens", {"json": {"name": "ci"}}


def _revoke_token(f: Fixture) -> Request:  # someone else's token: admin only
    tid = f.ws.users.create_token("target").info.id
    return "DELETE", f"/api/v1/tokens/{tid}", {}


def _audit_read(f: Fixture) -> Request:
    return "GET", "/api/v1/audit/events", {"params": {"limit": 5}}


CASES: list[tuple[str, Permission, Callable[[Fixture], Request], bool]] = [
    ("POST /datasets/{name}/versions", Permission.DATA_WRITE, _dataset, True),
    ("POST /models/{name}/versions", Permission.MODEL_WRITE, _register, True),
    ("PUT /models/{name}/aliases/{alias}", Permission.MODEL_STAGE, _set_alias, True),
    ("DELETE /models/{name}/aliases/{alias}", Permission.MODEL_STAGE, _delete_alias, True),
    ("POST /models/{name}/versions/{version}/stage", Permission.MODEL_STAGE, _stage, True),
    ("PUT /models/{name}/versions/{version}/tags/{key}", Permission.MODEL_WRITE, _tag, True),
    ("POST /models/{name}/versions/{version}/evaluate", Permission.MODEL_WRITE, _evaluate, True),
    ("POST /approvals", Permission.MODEL_APPROVE, _approve, True),
    ("POST /approvals", Permission.MODEL_APPROVE, _reject, True),
    ("POST /endpoints", Permission.DEPLOY, _deploy, True),
    ("PUT /endpoints/{name}/routing", Permission.DEPLOY, _route, True),
    ("POST /endpoints/{name}/rollout/{action}", Permission.DEPLOY, _rollout_action, True),
    ("POST /users", Permission.ADMIN, _add_user, True),
    ("PUT /users/{name}/role", Permission.ADMIN, _set_role, True),
    ("PUT /users/{name}/disabled", Permission.ADMIN, _disable, True),
    ("POST /users/{name}/tokens", Permission.ADMIN, _create_token, True),
    ("DELETE /tokens/{token_id}", Permission.ADMIN, _revoke_token, True),
    ("GET /audit/events", Permission.AUDIT_READ, _audit_read, False),
]


def _audit_count(ws: Workspace) -> int:
    return len(ws.audit.log())


def test_cases_cover_every_mutating_route() -> None:
    from shipyard.api.app import PREFIX, create_app

    app = create_app(lambda: None)  # type: ignore[arg-type,return-value]
    routes = {f"{m.upper()} {path.removeprefix(PREFIX)}" for path, ops in app.openapi()["paths"].items()
              for m in ops if m.upper() in {"POST", "PUT", "PATCH", "DELETE"}}
    assert routes == {label for label, *_ in CASES if label.split()[0] != "GET"}


def test_every_mutating_route_for_every_role(workspace: Workspace, tmp_path: Path) -> None:
    configure_gates(workspace.root, ["accuracy >= 0"])  # for models evaluate
    workspace = Workspace.open(workspace.root, settings=workspace.settings)
    workspace.datasets.add(make_labelled_csv(tmp_path / "holdout.csv"), "holdout")
    fx = Fixture(workspace, make_skops_model(tmp_path / "m.skops"))
    with live_api(workspace) as api, httpx.Client(base_url=api.url, timeout=60) as http:
        for label, permission, build, mutating in CASES:
            for who in ["none", "revoked", "expired", *[r.value for r in Role]]:
                method, path, kw = build(fx)
                headers = dict(kw.pop("headers", {}))
                if who != "none":
                    headers.update(api.headers(who))
                before = _audit_count(workspace)
                resp = http.request(method, path, headers=headers, **kw)
                where = f"{label} as {who}: {resp.status_code} {resp.text[:300]}"
                body = resp.json()
                if who in ("none", "revoked", "expired"):
                    assert resp.status_code == 401, where
                    assert body["error"]["type"] in ("UnauthenticatedError", "InvalidTokenError"), where
                    assert resp.headers.get("www-authenticate") == "Bearer", where
                    expected_events = 0
                elif permission in MATRIX[Role(who)]:
                    assert resp.status_code == 200, where
                    expected_events = 1 if mutating else 0
                else:
                    assert resp.status_code == 403, where
                    assert body["error"]["type"] == "PermissionDeniedError", where
                    assert f"role {who}" in body["error"]["message"], where
                    expected_events = 0
                after = _audit_count(workspace)
                if expected_events:
                    assert after > before, f"no audit event: {where}"
                else:
                    assert after == before, f"unexpected audit event: {where}"
    workspace.close()


def test_tokens_are_self_service_and_revocation_takes_effect(workspace: Workspace) -> None:
    with live_api(workspace) as api, httpx.Client(base_url=api.url, timeout=60) as http:
        # A viewer may mint, list and revoke their own tokens, not list everyone's.
        r = http.post("/api/v1/users/u-viewer/tokens", json={"name": "laptop"}, headers=api.headers("viewer"))
        assert r.status_code == 200
        mine = r.json()
        assert mine["token"].startswith("shp_") and mine["prefix"] == mine["token"][:10]
        # without ?user a viewer gets their own tokens; naming someone else is refused
        listed = http.get("/api/v1/tokens", headers=api.headers("viewer"))
        assert listed.status_code == 200 and {t["user"] for t in listed.json()} == {"u-viewer"}
        assert http.get("/api/v1/tokens", params={"user": "u-gone"}, headers=api.headers("viewer")).status_code == 403
        own = http.get("/api/v1/tokens", params={"user": "u-viewer"}, headers=api.headers("viewer"))
        assert own.status_code == 200 and "token" not in own.text.replace('"token_', "")  # no secrets listed
        fresh = {"Authorization": f"Bearer {mine['token']}"}
        assert http.get("/api/v1/whoami", headers=fresh).json() == {"name": "u-viewer", "role": "viewer",
                                                                     "permissions": ["read"]}
        assert http.delete(f"/api/v1/tokens/{mine['id']}", headers=api.headers("viewer")).status_code == 200
        assert http.get("/api/v1/whoami", headers=fresh).status_code == 401
        # Only the hash is stored.
        from sqlalchemy import select

        from shipyard.store.sql import tables as t

        with workspace.db.read() as conn:
            stored = [tuple(r) for r in conn.execute(select(t.tokens))]
        assert not any(mine["token"] in str(row) for row in stored)


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer shp_notatoken", "Basic dXNlcjpwYXNz", "Bearer x y"])
def test_malformed_credentials_are_401(workspace: Workspace, header: str) -> None:
    with live_api(workspace) as api, httpx.Client(base_url=api.url, timeout=60) as http:
        r = http.get("/api/v1/models", headers={"Authorization": header} if header else {})
        assert r.status_code == 401, r.text
        assert set(r.json()["error"]) == {"type", "field", "value", "expected", "message"}
        assert http.get("/api/v1/health").status_code == 200  # liveness needs no token


AUTHORIZE_FIRST: list[tuple[str, str, str, dict[str, Any]]] = [  # (role without the permission, method, path, kw)
    ("viewer", "POST", "/api/v1/models/m/versions", {"json": {"artifact": 5, "stage": "approved"}}),
    ("contributor", "POST", "/api/v1/models/m/versions/1/stage", {"json": {"stage": "shipped"}}),
    ("viewer", "POST", "/api/v1/models/m/versions/1/evaluate", {"json": {"dataset": ""}}),
    ("contributor", "POST", "/api/v1/approvals", {"json": {"decision": "maybe"}}),
    ("approver", "POST", "/api/v1/endpoints", {"json": {"weight": "lots"}}),
    ("approver", "PUT", "/api/v1/endpoints/ep/routing", {"json": {"routes": "all"}}),
    ("deployer", "POST", "/api/v1/users", {"json": {"role": "emperor"}}),
    ("viewer", "POST", "/api/v1/datasets/ds/versions", {"params": {"filename": "../../etc/passwd"}}),
]


@pytest.mark.parametrize(("who", "method", "path", "kw"), AUTHORIZE_FIRST, ids=[c[2] for c in AUTHORIZE_FIRST])
def test_authorize_before_validating_the_body(workspace: Workspace, who: str, method: str, path: str,
                                              kw: dict[str, Any]) -> None:
    """A signed-in caller without the role gets 403, not a 422 about a body it may not send (issue 18)."""
    with live_api(workspace) as api, httpx.Client(base_url=api.url, timeout=60) as http:
        r = http.request(method, path, headers=api.headers(who), **kw)
        assert r.status_code == 403, r.text
        assert r.json()["error"]["type"] == "PermissionDeniedError" and f"role {who}" in r.json()["error"]["message"]
        r = http.request(method, path, headers=api.headers("admin"), **kw)  # allowed: now the body is judged
        assert r.status_code == 422, r.text
