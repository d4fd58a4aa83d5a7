"""Tokens never appear in logs or error messages: every logger captured at DEBUG while the API
handles good, bad, revoked and expired tokens, token creation and failing requests."""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx
import pytest

from api_harness import serve
from shipyard.api.app import create_app
from shipyard.errors import UnauthenticatedError
from shipyard.workspace import Workspace


def test_tokens_never_logged_or_echoed(workspace: Workspace, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ws = workspace
    ws.users.add("root", "admin")
    ws.users.add("vic", "viewer")
    good = ws.users.create_token("root").token
    viewer = ws.users.create_token("vic").token
    revoked = ws.users.create_token("vic")
    ws.users.revoke_token(revoked.info.id)
    expired = ws.users.create_token("vic", expires_in=timedelta(microseconds=1)).token
    unknown = "shp_" + "Zq9" * 14
    not_ours = "ghp_" + "k" * 36
    secrets = [good, viewer, revoked.token, expired, unknown, not_ours]
    bodies: list[str] = []
    # log_config=None: uvicorn's access and error loggers propagate to the captured root logger.
    with serve(create_app(ws), log_level="debug", log_config=None) as url, httpx.Client(base_url=url) as http:
        def call(token: str, method: str, path: str, **kw: object) -> httpx.Response:
            r = http.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kw)  # type: ignore[arg-type]
            bodies.append(r.text)
            return r

        assert call(good, "GET", "/api/v1/models").status_code == 200
        assert call(viewer, "POST", "/api/v1/users", json={"name": "x", "role": "admin"}).status_code == 403
        for t in (revoked.token, expired, unknown, not_ours):
            assert call(t, "GET", "/api/v1/audit/verify").status_code == 401
        assert call(good, "GET", "/api/v1/models/nope").status_code == 404
        assert call(good, "POST", "/api/v1/approvals", json={"ref": "?", "decision": "approve"}).status_code == 422
        assert call(good, "GET", "/api/v1/models/x/versions/99999999999").status_code == 422
        created = call(good, "POST", "/api/v1/users/vic/tokens", json={"name": "new"})
        assert created.status_code == 200
        new_token = created.json()["token"]
        bodies.pop()  # the one response that must carry a token: it is shown once
        assert call(new_token, "GET", "/api/v1/whoami").json()["name"] == "vic"
    secrets.append(new_token)
    logged = caplog.text
    assert "GET /api/v1/models" in logged and "401" in logged  # the access log was captured
    for s in secrets:
        assert s not in logged, "a token appeared in the logs"
        assert s[4:20] not in logged
        for body in bodies:
            assert s not in body, f"a token was echoed in a response: {body[:200]}"
    # The error raised for a bad token redacts it.
    from shipyard.governance.service import authenticate

    with pytest.raises(UnauthenticatedError) as exc:
        authenticate(ws.db, unknown, ws.clock)
    assert unknown not in str(exc.value) and unknown not in str(exc.value.to_dict())
