"""Issue 18 over real HTTP: shadows stay silent on every versioned path; feedback needs a token with the
feedback permission when ``auth: required``; its per-call cap and bounded buffer (drops in /metrics)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from tests.builders import approve, free_port, make_skops_model

BODY = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [0.1, 0.2, 0.3, 0.4]}]}


def _configure(root: Path, old: str, new: str) -> None:
    cfg = root / "shipyard.yaml"
    cfg.write_text(cfg.read_text().replace(old, new))


def _metric(url: str, prefix: str) -> float:
    lines = [ln for ln in httpx.get(url + "/metrics").text.splitlines() if ln.startswith(prefix)]
    return sum(float(ln.split()[-1]) for ln in lines)


def _wait(cond: Any, what: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.fixture
def secured(tmp_path, db_url):
    """Stable m:1 (approved) answering, m:2 an unapproved candidate as a shadow; `auth: required`; tokens of a
    contributor, a viewer, a revoked one and a disabled user."""
    from shipyard.config import Settings
    from shipyard.serving.server import ServerThread, build_gateway
    from shipyard.workspace import Workspace

    root = tmp_path / "ws"
    with Workspace.init(root, settings=Settings(db_url=db_url, actor="alice")) as ws:
        for v in (1, 2):
            ws.models.register("m", make_skops_model(tmp_path / f"m{v}.skops", seed=v), "sklearn")
        approve(ws, "m:1")
        assert ws.models.get_version("m:2").stage == "candidate"
        ws.endpoints.deploy("m:1", "ep")
        ws.endpoints.set_routing("ep", {"routes": [{"version": 1, "weight": 100}], "shadow": [2]})
        tokens: dict[str, str] = {}
        for user, role in (("root", "admin"), ("app", "contributor"), ("eve", "viewer"), ("gone", "deployer")):
            ws.users.add(user, role)
            tokens[user] = ws.users.create_token(user).token
        tokens["revoked"] = ws.users.create_token("app", name="old").token
        ws.users.revoke_token(ws.users.list_tokens("app")[-1].id)
        ws.users.set_disabled("gone", True)
    _configure(root, "auth: optional", "auth: required")
    ws = Workspace.open(root, settings=Settings(db_url=db_url, token=tokens["root"]))
    gw = build_gateway(ws)
    assert gw.options.auth_required
    with ServerThread(gw, free_port()) as srv:
        yield {"url": srv.url, "ws": ws, "gw": gw, "tokens": tokens}
    ws.close()


def test_shadows_stay_silent_on_every_versioned_path(secured):
    url = secured["url"]
    with httpx.Client(base_url=url, timeout=30) as c:
        for path in ("/v2/models/ep/versions/2/infer", "/v2/models/ep/versions/2/ready", "/v2/models/ep/versions/2",
                     "/v2/models/ep/versions/9/infer", "/v2/models/ep/versions/9/ready"):
            r = c.post(path, json=BODY) if path.endswith("infer") else c.get(path)
            assert r.status_code in (403, 404, 409), (path, r.status_code, r.text)
            assert r.headers["x-model-version"] == "none", path
            if not path.endswith("ready"):  # readiness answers with an empty body (OIP)
                assert "version" in r.json()["error"] and "expected one of 1" in r.json()["error"], r.text
        for path in ("/v2/models/ep/versions/1/infer", "/v2/models/ep/versions/1/ready", "/v2/models/ep/versions/1",
                     "/v2/models/ep/infer"):
            r = c.post(path, json=BODY) if path.endswith("infer") else c.get(path)
            assert r.status_code == 200, (path, r.text)
            assert r.headers["x-model-version"] == "1", path
        # the shadow still gets its mirrored copies
        _wait(lambda: _metric(url, 'shipyard_shadow_requests_total{endpoint="ep",outcome="ok",version="2"}') >= 1,
              "the shadow got no mirrored request")


def test_feedback_needs_a_token_with_the_feedback_permission(secured):
    url, tokens = secured["url"], secured["tokens"]
    one = {"request_id": "r-1", "label": 1}

    def send(token: str | None, body: Any = one) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.post(f"{url}/v1/endpoints/ep/feedback", json=body, headers=headers)

    for token in (None, "shp_made_up", tokens["revoked"], tokens["gone"]):
        r = send(token)
        assert r.status_code == 401, (token, r.text)
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json()["error"]["type"] == "UnauthenticatedError" and r.json()["error"]["field"] == "Authorization"
        assert "shp_" not in r.text  # never echoes a token
    r = httpx.post(f"{url}/v1/endpoints/ep/feedback", json=one, headers={"Authorization": f"Basic {tokens['app']}"})
    assert r.status_code == 401
    assert send(None, {"nonsense": True}).status_code == 401  # authenticated before the body is looked at
    r = send(tokens["eve"])
    assert r.status_code == 403, r.text
    assert r.json()["error"]["type"] == "PermissionDeniedError" and "role viewer" in r.json()["error"]["message"]
    r = send(tokens["app"])
    assert r.status_code == 202, r.text
    assert send(tokens["root"]).status_code == 202
    ws = secured["ws"]
    _wait(lambda: len(ws.endpoints.list_feedback("ep")) == 2, "accepted feedback never reached the store")
    # a token revoked while the gateway runs stops working within a poll
    ws.users.revoke_token(next(t.id for t in ws.users.list_tokens("app") if t.revoked_at is None))
    _wait(lambda: send(tokens["app"]).status_code == 401, "a revoked token still sends feedback", 5.0)
    # predictions need no token
    assert httpx.post(f"{url}/v2/models/ep/infer", json=BODY).status_code == 200


def test_feedback_cap_and_bounded_buffer_while_the_store_is_down(tmp_path):
    from shipyard.config import Settings
    from shipyard.serving.server import ServerThread, build_gateway
    from shipyard.workspace import Workspace

    root = tmp_path / "ws"
    Workspace.init(root, settings=Settings(actor="alice")).close()
    _configure(root, "approval:", "serving:\n  feedback_max_labels: 20\n  feedback_buffer: 50\napproval:")
    ws = Workspace.open(root, settings=Settings(actor="alice"))
    ws.models.register("m", make_skops_model(tmp_path / "m.skops"), "sklearn")
    approve(ws, "m:1")
    ws.endpoints.deploy("m:1", "ep")
    gw = build_gateway(ws)
    labels = [{"request_id": f"r{i}", "label": i % 2} for i in range(21)]
    with ServerThread(gw, free_port()) as srv:
        url = srv.url + "/v1/endpoints/ep/feedback"
        r = httpx.post(url, json={"feedback": labels})
        assert r.status_code == 413, r.text
        err = r.json()["error"]
        assert err["field"] == "feedback" and "serving.feedback_max_labels" in err["expected"]
        assert "20" in err["message"]
        r = httpx.post(url, json={"request_id": "many", "labels": [0] * 21})
        assert r.status_code == 413 and "20" in r.json()["error"]["message"]
        with ws.db.begin() as conn:  # the store stops taking feedback (as when the database is unreachable)
            conn.execute(text("ALTER TABLE feedback RENAME TO feedback_away"))
        assert httpx.post(url, json={"feedback": labels[:20]}).status_code == 202
        time.sleep(1.5)  # a flush fails and puts the labels back
        assert httpx.post(url, json={"feedback": labels[:20]}).status_code == 202
        full = httpx.post(url, json={"feedback": labels[:20]})
        assert full.status_code == 503, full.text
        assert full.headers["retry-after"] == "1" and "serving.feedback_buffer" in full.json()["error"]["expected"]
        assert httpx.post(url, json={"feedback": labels[:10]}).status_code == 202
        assert httpx.post(url, json={"request_id": "x", "label": 1}).status_code == 503
        time.sleep(1.5)
        assert len(gw.feedback) == 50  # never more than the bound, whatever the retries
        assert _metric(srv.url, 'shipyard_feedback_dropped_total{endpoint="ep"}') == 21
        assert _metric(srv.url, 'shipyard_feedback_labels_total{endpoint="ep"}') == 50
        with ws.db.begin() as conn:
            conn.execute(text("ALTER TABLE feedback_away RENAME TO feedback"))
        _wait(lambda: len(ws.endpoints.list_feedback("ep")) == 50, "buffered feedback was not written", 15.0)
        assert len(gw.feedback) == 0
    ws.close()
