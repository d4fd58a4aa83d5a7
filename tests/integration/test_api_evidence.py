"""Gates cannot be self-certified (issue 18, item 2 and acceptance point 2), over the real API server on SQLite
and PostgreSQL: a client's `stage: validated` and forged evaluation are refused or kept as client-supplied;
only gates shipyard evaluated itself (models evaluate, a pipeline run) move a version to validated, with
evidence whose MAC verifies."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import httpx
import pytest

from api_harness import live_api
from builders import configure_gates, make_labelled_csv, make_skops_model, validate
from shipyard.config import Settings
from shipyard.errors import ConflictError
from shipyard.workspace import Workspace

FORGED = {"metrics": {"roc_auc": 0.999, "accuracy": 0.999}, "gates": [{"gate": "roc_auc >= 0.99", "passed": True}]}


def _ws(tmp_path: Path, db_url: str, gates: list[str], **settings: str) -> Workspace:
    root = tmp_path / "ws"
    Workspace.init(root, settings=Settings(db_url=db_url, actor="alice")).close()
    configure_gates(root, gates)
    return Workspace.open(root, settings=Settings(db_url=db_url, actor="alice", **settings))  # type: ignore[arg-type]


def _upload(model: Path, **extra: object) -> dict[str, object]:
    return {"artifact": base64.b64encode(model.read_bytes()).decode(), **extra}


def test_forged_validation_is_refused_and_shipyard_gates_validate(tmp_path: Path, db_url: str) -> None:
    ws = _ws(tmp_path, db_url, ["roc_auc >= 0.7", "accuracy >= 0.6"])
    try:
        ws.datasets.add(make_labelled_csv(tmp_path / "holdout.csv"), "holdout")
        model = make_skops_model(tmp_path / "m.skops")
        with live_api(ws) as api, httpx.Client(base_url=api.url, timeout=120) as http:
            contributor, approver = api.headers("contributor"), api.headers("approver")
            # A contributor asks for `validated` with a forged evaluation: refused, naming stage and the way there.
            r = http.post("/api/v1/models/credit/versions", headers=contributor,
                          json=_upload(model, stage="validated", evaluation=FORGED))
            assert r.status_code == 409, r.text
            err = r.json()["error"]
            assert err["field"] == "stage" and err["value"] == "validated"
            assert "models evaluate" in err["message"] and "shipyard run" in err["message"]
            assert http.get("/api/v1/models", headers=contributor).json() == []  # nothing half-written
            # As a candidate the forged evaluation is kept, marked client-supplied and unverified.
            r = http.post("/api/v1/models/credit/versions", headers=contributor,
                          json=_upload(model, evaluation=FORGED))
            assert r.status_code == 200, r.text
            mv = r.json()
            assert mv["stage"] == "candidate" and mv["evaluation"]["metrics"]["roc_auc"] == 0.999
            assert mv["evidence"]["source"] == "client-supplied" and mv["evidence"]["verified"] is False
            # Neither an approver nor a deployer can take it further on the client's numbers.
            r = http.post("/api/v1/approvals", headers=approver, json={"ref": "credit:1", "decision": "approve"})
            assert r.status_code == 409 and "models evaluate" in r.json()["error"]["message"], r.text
            r = http.post("/api/v1/models/credit/versions/1/stage", headers=api.headers("deployer"),
                          json={"stage": "validated"})
            assert r.status_code == 409, r.text
            assert r.json()["error"]["field"] == "stage" and "client-supplied" in r.json()["error"]["message"]
            # Gates shipyard runs itself, on a registered dataset version: validated, with verified evidence.
            r = http.post("/api/v1/models/credit/versions/1/evaluate", headers=contributor,
                          json={"dataset": "holdout:1"})
            assert r.status_code == 200, r.text
            res = r.json()
            assert res["passed"] is True and res["stage"] == "validated" and res["dataset"] == "holdout@1"
            assert [g["gate"] for g in res["gates"]] == ["roc_auc >= 0.7", "accuracy >= 0.6"]
            assert 0.7 <= res["metrics"]["roc_auc"] < 0.999
            mv = http.get("/api/v1/models/credit/versions/1", headers=api.headers("viewer")).json()
            ev = mv["evidence"]
            assert ev["source"] == "models-evaluate" and ev["verified"] is True and ev["gates_passed"] is True
            assert ev["dataset"]["ref"] == "holdout@1" and len(ev["mac"]) == 64
            assert mv["evaluation"]["metrics"]["roc_auc"] == res["metrics"]["roc_auc"]  # the forged one is gone
            # The approvals listing shows which it was; approval now goes through.
            r = http.post("/api/v1/approvals", headers=approver, json={"ref": "credit:1", "decision": "approve"})
            assert r.status_code == 200 and r.json()["stage"] == "approved", r.text
            queue = http.get("/api/v1/approvals/pending", headers=approver).json()
            assert queue == []  # approved: nothing waits any more
        actions = [e.action for e in ws.audit.log(subject="model:credit:1")]
        assert actions == ["model.register", "model.evaluate", "model.stage", "model.approve", "model.stage"]
        assert ws.audit.verify().ok
    finally:
        ws.close()


def test_failed_gates_reject_and_pyfunc_is_not_loaded_by_the_server(tmp_path: Path, db_url: str) -> None:
    ws = _ws(tmp_path, db_url, ["roc_auc >= 0.999"])
    try:
        ws.datasets.add(make_labelled_csv(tmp_path / "holdout.csv"), "holdout")
        model = make_skops_model(tmp_path / "m.skops")
        archive = tmp_path / "scorer.zip"
        archive.write_bytes(b"PK\x05\x06" + b"\x00" * 18)  # never opened: the server refuses before loading
        ws.models.register("scorer", archive, "pyfunc", inspect=False)
        with live_api(ws) as api, httpx.Client(base_url=api.url, timeout=120) as http:
            http.post("/api/v1/models/credit/versions", headers=api.headers("contributor"), json=_upload(model))
            r = http.post("/api/v1/models/credit/versions/1/evaluate", headers=api.headers("contributor"),
                          json={"dataset": "holdout@1"})
            assert r.status_code == 200, r.text
            assert r.json()["passed"] is False and r.json()["stage"] == "rejected"
            assert r.json()["gates"][0]["passed"] is False
            ev = http.get("/api/v1/models/credit/versions/1", headers=api.headers("viewer")).json()["evidence"]
            assert ev["verified"] is True and ev["gates_passed"] is False
            r = http.post("/api/v1/models/scorer/versions/1/evaluate", headers=api.headers("admin"),
                          json={"dataset": "holdout:1"})
            assert r.status_code == 422, r.text
            err = r.json()["error"]
            assert err["field"] == "flavor" and err["value"] == "pyfunc" and "user code" in err["message"]
            # a viewer may not evaluate (model:write), and the 403 comes before any body check
            r = http.post("/api/v1/models/credit/versions/1/evaluate", headers=api.headers("viewer"), json={})
            assert r.status_code == 403, r.text
        assert ws.models.get_version("scorer:1").stage == "candidate"
    finally:
        ws.close()


def test_evidence_cannot_be_replayed_or_edited(tmp_path: Path, db_url: str) -> None:
    """Someone who can write the database but lacks the key: copying a valid seal to another version, or
    editing the evaluation under it, leaves the version unverified, and it cannot become validated."""
    from shipyard.store.sql import tables as t

    ws = _ws(tmp_path, db_url, [])
    try:
        model = make_skops_model(tmp_path / "m.skops")
        for _ in range(3):
            ws.models.register("m", model, "sklearn")
        validate(ws, "m:1")
        good = ws.models.get_version("m:1")
        assert good.evidence["verified"] is True and good.stage == "validated"
        stored = {k: v for k, v in good.evidence.items() if k not in ("verified", "gates_passed", "reason")}
        mv = t.model_versions
        with ws.db.begin() as conn:
            conn.execute(mv.update().where(mv.c.version == 2).values(evidence=stored, evaluation=good.evaluation))
            conn.execute(mv.update().where(mv.c.version == 1).values(
                evaluation={**(good.evaluation or {}), "metrics": {"accuracy": 0.2}}))
            forged = {**stored, "gates": {"passed": True, "results": []}, "version": 3}
            conn.execute(mv.update().where(mv.c.version == 3).values(evidence=forged, evaluation=good.evaluation))
        reasons = {v: ws.models.get_version(f"m:{v}").evidence for v in (1, 2, 3)}
        assert reasons[1]["verified"] is False and "stored evaluation differs" in reasons[1]["reason"]
        assert reasons[2]["verified"] is False and "sealed for m:1" in reasons[2]["reason"]
        assert reasons[3]["verified"] is False and "MAC does not verify" in reasons[3]["reason"]
        for v in (2, 3):
            with pytest.raises(ConflictError, match="cannot become validated"):
                ws.models.set_stage(f"m:{v}", "validated")
        # the model card names the evidence and whether it verifies
        from shipyard.evaluation.reports.card import render_card

        md, html = render_card(good.to_dict(), {})
        assert "Gate evidence: models-evaluate on test-data@1; gates passed; MAC verified by the registry" in md
        assert "MAC verified by the registry" in html
        md, _ = render_card(ws.models.get_version("m:2").to_dict(), {})
        assert "NOT verified: sealed for m:1" in md and "treat its numbers as the uploader's claims" in md
    finally:
        ws.close()


def test_evidence_key_choice(tmp_path: Path) -> None:
    """SHIPYARD_EVIDENCE_KEY wins; else a key derived from SHIPYARD_AUDIT_KEY (not the audit key itself); else
    a random key in .shipyard/evidence.key (0600). Evidence sealed under one key does not verify under another."""
    from shipyard import wiring

    root = tmp_path / "ws"
    Workspace.init(root, settings=Settings(actor="alice")).close()
    explicit = wiring.evidence_key(root, Settings(evidence_key="e" * 32, audit_key="a" * 32))  # type: ignore[arg-type]
    derived = wiring.evidence_key(root, Settings(audit_key="a" * 32))  # type: ignore[arg-type]
    assert explicit == b"e" * 32 and derived not in (b"a" * 32, explicit) and len(derived) == 32
    assert not (root / ".shipyard" / "evidence.key").exists()
    local = wiring.evidence_key(root, Settings())
    path = root / ".shipyard" / "evidence.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and wiring.evidence_key(root, Settings()) == local
    with pytest.raises(Exception, match="SHIPYARD_EVIDENCE_KEY"):
        wiring.evidence_key(root, Settings(evidence_key="short"))  # type: ignore[arg-type]
    ws = Workspace.open(root, settings=Settings(actor="alice"))
    ws.models.register("m", make_skops_model(tmp_path / "m.skops"), "sklearn")
    validate(ws, "m:1")
    ws.close()
    other = Workspace.open(root, settings=Settings(actor="alice", evidence_key="x" * 32))  # type: ignore[arg-type]
    ev = other.models.get_version("m:1").evidence
    assert ev["verified"] is False and "this server's evidence key is" in ev["reason"]
    other.close()
    assert json.loads(json.dumps(ev))  # plain JSON for the API and --json
    assert os.access(path, os.R_OK)
