"""Alerts on the real store (SQLite and PostgreSQL): a result fires an audited alert once, a repeat is
deduplicated, a worse one escalates, a clear one resolves it, the cool-down holds a re-fire back; custom rules;
the rollback action after a recent promotion; the monitor API and `shipyard monitor status --json`."""

from __future__ import annotations

import json

import pytest
from tests.builders import approve, make_skops_model
from tests.rollout_helpers import SetClock

from shipyard.config import Settings, parse_project
from shipyard.core.alerting import Decision
from shipyard.monitoring import alerts
from shipyard.monitoring.actions import Actions
from shipyard.monitoring.checks import CheckResult
from shipyard.monitoring.service import MonitorService
from shipyard.workspace import Workspace


@pytest.fixture
def ws(tmp_path, db_url):  # type: ignore[no-untyped-def]
    w = Workspace.init(tmp_path / "ws", settings=Settings(db_url=db_url, actor="alice"))
    w = Workspace.open(w.root, settings=w.settings, clock=SetClock())
    for v in (1, 2):
        w.models.register("m", make_skops_model(tmp_path / f"m{v}.skops", seed=v), "sklearn")
        approve(w, f"m:{v}")
    w.endpoints.deploy("m:1", "ep")
    yield w
    w.close()


SPEC = parse_project({"monitor": {
    "drift": {"warning": 0.1, "critical": 0.25, "emergency": 0.8},
    "alerts": [{"name": "nulls", "when": "quality.null_rate.age > 0.2", "severity": "critical"}],
    "cooldown": "10m", "rollback": {"on": ["drift.emergency"], "within": "1h"}}}).monitor
assert SPEC is not None


def drift(share: float, enough: bool = True) -> CheckResult:
    return CheckResult("drift", 1, 500, {"share_drifted": share, "n_drifted": share * 10, "columns": 10.0},
                       {"drifted": ["a"] if share else []}, headline="share_drifted", enough=enough)


def run(ws, result: CheckResult) -> list[tuple[Decision, dict]]:  # type: ignore[no-untyped-def]
    rid = alerts.store_result(ws.db, "ep", result, alerts.status_of(result, SPEC), ws.clock.now(), None,
                              ws.clock.now())
    return alerts.judge(ws.db, ws.clock, SPEC, "ep", result, rid)


def test_fire_dedupe_escalate_resolve_and_cooldown(ws) -> None:  # type: ignore[no-untyped-def]
    assert alerts.status_of(drift(0.3), SPEC) == "critical"
    assert alerts.status_of(drift(0.3, enough=False), SPEC) == "insufficient"
    assert run(ws, drift(0.0)) == []
    [(d, a)] = run(ws, drift(0.15))
    assert (d, a["severity"], a["state"]) == (Decision.FIRE, "warning", "firing")
    ws.clock.advance(5)
    assert run(ws, drift(0.15)) == []  # still firing: deduplicated, no second row
    assert run(ws, drift(0.2, enough=False)) == []  # too few rows says nothing
    [(d, b)] = run(ws, drift(0.3))
    assert (d, b["id"], b["severity"]) == (Decision.ESCALATE, a["id"], "critical")
    [(d, c)] = run(ws, drift(0.0))
    assert (d, c["state"]) == (Decision.RESOLVE, "resolved")
    ws.clock.advance(60)
    assert run(ws, drift(0.3)) == []  # within the 10 min cool-down of the first firing
    ws.clock.advance(600)
    [(d, e)] = run(ws, drift(0.3))
    assert d is Decision.FIRE and e["id"] != a["id"]
    svc = MonitorService(ws.db, ws.actor, ws.clock)
    assert [x["state"] for x in svc.alerts("ep")] == ["firing", "resolved"]
    assert [x["id"] for x in svc.alerts(state="firing")] == [e["id"]]
    status = svc.status("ep", limit=3)
    assert status["checks"]["drift"]["latest"]["status"] == "critical"
    assert [h["value"] for h in status["checks"]["drift"]["history"]] == [0.3, 0.3, 0.0]
    actions = [ev.action for ev in ws.audit.log(action=None) if ev.action.startswith("alert.")]
    assert actions == ["alert.fire", "alert.escalate", "alert.resolve", "alert.fire"]


def test_custom_rule_on_a_column_metric(ws) -> None:  # type: ignore[no-untyped-def]
    q = CheckResult("quality", 1, 500, {"null_rate.age": 0.5, "worst_rate": 0.5}, headline="worst_rate")
    [(d, a)] = run(ws, q)
    assert (d, a["rule"], a["severity"], a["value"]) == (Decision.FIRE, "nulls", "critical", 0.5)
    q.metrics["null_rate.age"] = 0.1
    [(d, _)] = run(ws, q)
    assert d is Decision.RESOLVE


def test_rollback_after_a_recent_promotion_only(ws, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ws.rollouts.deploy("m:2", "ep")
    ws.rollouts.command("ep", "promote", full=True)
    assert [(r.version, r.weight) for r in ws.endpoints.get("ep").table.routes if r.weight] == [(2, 100)]
    acts = Actions(ws.db, ws.clock, SPEC, ws.root, ws.as_principal(alerts.ACTOR).rollouts, ws.datasets, "m")
    [(_, a)] = run(ws, drift(0.3))
    acts.on_alert(a)  # critical: rollback is on drift.emergency only
    assert a["actions"] == []
    [(d, a)] = run(ws, drift(0.9))
    assert d is Decision.ESCALATE
    acts.on_alert(a)
    [entry] = a["actions"]
    assert (entry["action"], entry["status"], entry["version"]) == ("rollback", "done", 1)
    assert [(r.version, r.weight) for r in ws.endpoints.get("ep").table.routes if r.weight] == [(1, 100)]
    stored = MonitorService(ws.db, ws.actor, ws.clock).alerts("ep")[0]
    assert stored["actions"][0]["status"] == "done"
    assert any(ev.action == "alert.action.rollback" for ev in ws.audit.log())
    ws.clock.advance(7200)  # a promotion two hours ago is not "recent"
    ws.rollouts.deploy("m:2", "ep")
    ws.rollouts.command("ep", "promote", full=True)
    ws.clock.advance(7200)
    [(_, b)] = run(ws, drift(0.0))  # resolve
    ws.clock.advance(3600)
    [(d, c)] = run(ws, drift(0.9))
    acts.on_alert(c)
    assert c["actions"][0]["status"] == "skipped" and "not within" in c["actions"][0]["reason"]


def test_api_and_cli(ws, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import httpx
    from tests.api_harness import live_api
    from typer.testing import CliRunner

    from shipyard.cli.main import app as cli

    run(ws, drift(0.3))
    with live_api(ws) as srv:
        h = srv.headers("viewer")
        d = httpx.get(f"{srv.url}/api/v1/endpoints/ep/monitors", headers=h).json()
        assert d["checks"]["drift"]["latest"]["metrics"]["share_drifted"] == 0.3
        assert d["firing"][0]["severity"] == "critical"
        assert httpx.get(f"{srv.url}/api/v1/alerts?state=firing", headers=h).json()[0]["rule"] == "drift"
        assert httpx.get(f"{srv.url}/api/v1/endpoints/nope/monitors", headers=h).status_code == 404
        assert httpx.get(f"{srv.url}/api/v1/alerts?state=odd", headers=h).status_code == 422
        assert httpx.get(f"{srv.url}/api/v1/alerts").status_code == 401
    res = CliRunner().invoke(cli, ["-C", str(ws.root), "monitor", "status", "ep", "--json"],
                             env={"SHIPYARD_DB_URL": ws.settings.db_url or ""})
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["checks"]["drift"]["latest"]["status"] == "critical"


def test_rollback_aborts_a_live_rollout(ws) -> None:  # type: ignore[no-untyped-def]
    ws.rollouts.deploy("m:2", "ep")  # a canary, live
    assert ws.rollouts.status("ep").state == "progressing"
    acts = Actions(ws.db, ws.clock, SPEC, ws.root, ws.as_principal(alerts.ACTOR).rollouts, ws.datasets, "m")
    [(_, a)] = run(ws, drift(0.95))
    acts.on_alert(a)
    [entry] = a["actions"]
    assert (entry["action"], entry["status"], entry["version"]) == ("rollback", "done", 1)
    assert ws.rollouts.status("ep").state == "aborted"
    assert [(r.version, r.weight) for r in ws.endpoints.get("ep").table.routes if r.weight] == [(1, 100)]


def test_retrain_is_refused_without_a_dataset_and_honours_the_cooldown(ws) -> None:  # type: ignore[no-untyped-def]
    spec = parse_project({"monitor": {"drift": {"critical": 0.25}, "retrain": {"on": ["drift"],
                                                                            "cooldown": "1h"}}}).monitor
    assert spec is not None
    acts = Actions(ws.db, ws.clock, spec, ws.root, ws.rollouts, ws.datasets, "nodata")
    [(_, a)] = run(ws, drift(0.3))
    acts.on_alert(a)
    assert a["actions"][0]["status"] == "failed" and "nodata" in a["actions"][0]["reason"]
    from datetime import timedelta

    from shipyard.clock import iso
    from shipyard.store.sql import tables as t

    started = {"action": "retrain", "status": "started", "at": iso(ws.clock.now() - timedelta(minutes=10))}
    with ws.db.begin() as conn:
        conn.execute(t.alerts.update().where(t.alerts.c.id == a["id"]).values(actions=[started]))
    acts.on_alert(a)
    assert a["actions"][-1]["status"] == "skipped" and "cool-down" in a["actions"][-1]["reason"]
