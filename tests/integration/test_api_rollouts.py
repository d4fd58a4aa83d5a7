"""Rollouts over the control-plane API and through the remote client: deploy starts one, status, list, operator
commands (deployer role, audited), 409 for a second deploy, 403 for a viewer, errors as JSON."""

from __future__ import annotations

import httpx
import pytest
from tests.api_harness import live_api
from tests.builders import approve, make_skops_model

from shipyard.api.client import RemoteWorkspace
from shipyard.config import DeploySpec, Settings
from shipyard.rollout.records import RolloutActiveError
from shipyard.workspace import Workspace


@pytest.fixture
def ws(tmp_path):
    w = Workspace.init(tmp_path / "ws", settings=Settings(db_url=f"sqlite:///{tmp_path / 'm.db'}", actor="alice"))
    for v in (1, 2, 3):
        w.models.register("m", make_skops_model(tmp_path / f"m{v}.skops", seed=v), "sklearn")
        approve(w, f"m:{v}")
    w.config.deploy = DeploySpec(steps=[20, 100], interval="5s", min_requests=10)
    yield w
    w.close()


def test_rollout_api_and_remote_client(ws):
    with live_api(ws) as srv:
        api = f"{srv.url}/api/v1"
        dep = srv.headers("deployer")
        first = httpx.post(f"{api}/endpoints", json={"ref": "m:1", "endpoint": "ep"}, headers=dep)
        assert first.status_code == 200 and first.json()["rollout"] is None
        started = httpx.post(f"{api}/endpoints", json={"ref": "m:2", "endpoint": "ep", "strategy": "canary"},
                             headers=dep)
        assert started.status_code == 200, started.text
        body = started.json()
        assert body["rollout"]["state"] == "progressing" and body["rollout"]["weights"] == {"1": 80, "2": 20}
        assert body["routing"]["routes"] == [{"version": 1, "weight": 80}, {"version": 2, "weight": 20}]
        again = httpx.post(f"{api}/endpoints", json={"ref": "m:3", "endpoint": "ep"}, headers=dep)
        assert again.status_code == 409 and again.json()["error"]["type"] == "RolloutActiveError"
        assert f"rollout {body['rollout']['id']}" in again.json()["error"]["message"]
        status = httpx.get(f"{api}/endpoints/ep/rollout", headers=srv.headers("viewer")).json()
        assert {k: status[k] for k in ("state", "strategy", "step", "stable", "candidate")} == \
            {"state": "progressing", "strategy": "canary", "step": 0, "stable": 1, "candidate": 2}
        assert "analyses" in status and status["weights"] == {"1": 80, "2": 20}
        denied = httpx.post(f"{api}/endpoints/ep/rollout/pause", json={}, headers=srv.headers("viewer"))
        assert denied.status_code == 403
        bad = httpx.post(f"{api}/endpoints/ep/rollout/explode", json={}, headers=dep)
        assert bad.status_code == 422
        paused = httpx.post(f"{api}/endpoints/ep/rollout/pause", json={"reason": "lunch"}, headers=dep)
        assert paused.status_code == 200 and paused.json()["state"] == "paused" and paused.json()["reason"] == "lunch"
        twice = httpx.post(f"{api}/endpoints/ep/rollout/pause", json={}, headers=dep)
        assert twice.status_code == 409 and "already paused" in twice.json()["error"]["message"]

        remote = RemoteWorkspace(srv.url, srv.tokens["deployer"])
        try:
            assert remote.rollouts.status("ep").state == "paused"
            assert [r.endpoint for r in remote.rollouts.list()] == ["ep"]
            with pytest.raises(RolloutActiveError):
                remote.rollouts.deploy("m:3", "ep")
            done = remote.rollouts.command("ep", "promote", "ship it", full=True)
            assert done.state == "promoted" and done.weights == {"2": 100}
            assert remote.endpoints.get("ep").routing["routes"] == [{"version": 2, "weight": 100}]
            assert remote.rollouts.status("ep").to_dict() == ws.rollouts.status("ep").to_dict()
        finally:
            remote.close()
        none = httpx.get(f"{api}/endpoints/nope/rollout", headers=dep)
        assert none.status_code == 404
    events = [(e.action, e.actor) for e in ws.audit.log(subject="rollout:*")]
    assert events == [("rollout.start", "u-deployer"), ("rollout.pause", "u-deployer"),
                      ("rollout.promotion", "u-deployer")]
