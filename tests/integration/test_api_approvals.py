"""Approvals with separation of duties, over the API and the service, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from api_harness import live_api
from builders import make_skops_model, validate
from shipyard.config import Settings
from shipyard.core.permissions import Principal, Role
from shipyard.core.stages import Stage
from shipyard.errors import ConflictError, InvalidInputError, PermissionDeniedError
from shipyard.workspace import Workspace


def _workspace(tmp_path: Path, db_url: str, required: int) -> Workspace:
    root = tmp_path / "ws"
    Workspace.init(root, settings=Settings(db_url=db_url, actor="alice")).close()
    cfg = root / "shipyard.yaml"
    cfg.write_text(cfg.read_text().replace("required: 1", f"required: {required}"))
    return Workspace.open(root, settings=Settings(db_url=db_url, actor="alice"))


def test_two_approvals_required_and_author_refused(tmp_path: Path, db_url: str) -> None:
    ws = _workspace(tmp_path, db_url, required=2)
    try:
        assert ws.config.approval.required == 2
        with live_api(ws) as api, httpx.Client(base_url=api.url, timeout=60) as http:
            ws.users.add("carol", "approver")
            carol = {"Authorization": f"Bearer {ws.users.create_token('carol').token}"}
            # The contributor registers (over the API) and is therefore the author.
            model = make_skops_model(tmp_path / "m.skops")
            import base64

            # Asking for `validated` is refused (issue 18: gates cannot be self-certified, see test_api_evidence).
            upload = {"artifact": base64.b64encode(model.read_bytes()).decode()}
            r = http.post("/api/v1/models/credit/versions", headers=api.headers("contributor"),
                          json={**upload, "stage": "validated"})
            assert r.status_code == 409 and r.json()["error"]["field"] == "stage", r.text
            r = http.post("/api/v1/models/credit/versions", headers=api.headers("contributor"), json=upload)
            assert r.status_code == 200, r.text
            assert r.json()["created_by"] == "u-contributor" and r.json()["stage"] == "candidate"
            validate(ws, "credit:1")  # gates evaluated by shipyard (sealed evidence)
            # An admin who is also the author may not approve: 403 with the reason.
            ws.users.set_role("u-contributor", "admin")
            r = http.post("/api/v1/approvals", headers=api.headers("contributor"),
                          json={"ref": "credit:1", "decision": "approve"})
            assert r.status_code == 403, r.text
            err = r.json()["error"]
            assert err["type"] == "PermissionDeniedError"
            assert "separation of duties" in err["message"] and "u-contributor registered credit:1" in err["message"]
            # First approval: still validated.
            r = http.post("/api/v1/approvals", headers=api.headers("approver"),
                          json={"ref": "credit:1", "decision": "approve", "reason": "metrics fine"})
            assert r.status_code == 200 and r.json()["stage"] == "validated", r.text
            # The same approver twice: 409, nothing changes.
            r = http.post("/api/v1/approvals", headers=api.headers("approver"),
                          json={"ref": "credit:1", "decision": "approve"})
            assert r.status_code == 409 and "already approved" in r.json()["error"]["message"]
            # A deployer cannot force it to approved with one approval.
            r = http.post("/api/v1/models/credit/versions/1/stage", headers=api.headers("deployer"),
                          json={"stage": "approved"})
            assert r.status_code == 403 and "needs 2 approval(s)" in r.json()["error"]["message"]
            # Second approver (NAME means the latest version): approved.
            r = http.post("/api/v1/approvals", headers=carol, json={"ref": "credit", "decision": "approve"})
            assert r.status_code == 200 and r.json()["stage"] == "approved", r.text
            mv = http.get("/api/v1/models/credit/versions/1", headers=api.headers("viewer")).json()
            assert [(a["principal"], a["decision"]) for a in mv["approvals"]] == [
                ("u-approver", "approve"), ("carol", "approve")]
            assert [h["to"] for h in mv["stage_history"]] == ["candidate", "validated", "approved"]
            assert mv["stage_history"][-1]["actor"] == "carol"
        actions = [e.action for e in ws.audit.log(subject="model:credit:1")]
        assert actions == ["model.register", "model.evaluate", "model.stage", "model.approve", "model.approve",
                           "model.stage"]
        assert ws.audit.verify().ok
    finally:
        ws.close()


def test_rejection_needs_a_reason_and_candidates_are_not_approvable(workspace: Workspace, tmp_path: Path) -> None:
    model = make_skops_model(tmp_path / "m.skops")
    workspace.models.register("credit", model, "sklearn")
    bob = workspace.as_principal(Principal("bob", Role.APPROVER))
    with pytest.raises(ConflictError, match="only a validated version can be approved.*models evaluate credit:1 "
                                            "--dataset"):
        bob.approvals.approve("credit:1")
    with pytest.raises(InvalidInputError, match="reason"):
        bob.approvals.reject("credit:1", "  ")
    mv = bob.approvals.reject("credit:1", "leaks the target")
    assert mv.stage == Stage.REJECTED.value
    assert mv.approvals[-1] == {**mv.approvals[-1], "principal": "bob", "decision": "reject",
                                "reason": "leaks the target"}
    assert mv.stage_history[-1]["reason"] == "leaks the target"
    with pytest.raises(ConflictError):
        bob.approvals.approve("credit:1")
    with pytest.raises(PermissionDeniedError, match="model:approve"):
        workspace.as_principal(Principal("dora", Role.CONTRIBUTOR)).approvals.reject("credit:1", "no")


def test_models_show_lists_decisions(workspace: Workspace, tmp_path: Path) -> None:
    """`models show` (text) prints the approvals table with principal, decision and reason."""
    import os
    import subprocess
    import sys

    model = make_skops_model(tmp_path / "m.skops")
    workspace.models.register("credit", model, "sklearn")
    validate(workspace, "credit:1")
    workspace.as_principal(Principal("bob", Role.APPROVER)).approvals.approve("credit:1", "ok by risk")
    env = {**os.environ, "SHIPYARD_DB_URL": workspace.settings.db_url or "", "SHIPYARD_ACTOR": "alice",
           "COLUMNS": "200"}
    env.pop("SHIPYARD_SERVER", None)
    out = subprocess.run([sys.executable, "-m", "shipyard.cli.main", "-C", str(workspace.root), "models", "show",
                          "credit:1"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "approved" in out.stdout and "bob" in out.stdout and "ok by risk" in out.stdout
    # approvers see which evidence it was, and whether its MAC verifies (table and --json)
    assert "evidence models-evaluate dataset test-data@1 · gates passed · MAC verified" in out.stdout
    js = subprocess.run([sys.executable, "-m", "shipyard.cli.main", "-C", str(workspace.root), "models", "show",
                         "credit:1", "--json"], env=env, capture_output=True, text=True, timeout=120)
    ev = json.loads(js.stdout)["evidence"]
    assert ev["source"] == "models-evaluate" and ev["verified"] is True
