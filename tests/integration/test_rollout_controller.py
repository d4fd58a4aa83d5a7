"""The rollout service and controller on the real store (SQLite and PostgreSQL), fed metric windows directly:
canary promotion and rollback, pause/resume/promote/abort, a 409 for a second deploy, optimistic concurrency,
the audit trail, webhooks with retries, stage bookkeeping, blue-green, shadow and A/B."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from tests.builders import approve, make_skops_model
from tests.rollout_helpers import SetClock, WindowsProvider, write_window

from shipyard.config import DeploySpec, Settings
from shipyard.errors import ConflictError
from shipyard.rollout import controller as ctl
from shipyard.rollout import records
from shipyard.rollout.lease import Lease
from shipyard.rollout.notifiers import WebhookNotifier
from shipyard.rollout.service import RolloutNotFoundError
from shipyard.workspace import Workspace

STARTED: list = []


@pytest.fixture(autouse=True)
def _stop_controllers():
    yield
    while STARTED:
        STARTED.pop().stop()


@pytest.fixture
def ws(tmp_path, db_url):
    clock = SetClock()
    w = Workspace.init(tmp_path / "ws", settings=Settings(db_url=db_url, actor="alice"))
    w = Workspace.open(w.root, settings=w.settings, clock=clock)
    for v in (1, 2):
        w.models.register("m", make_skops_model(tmp_path / f"m{v}.skops", seed=v), "sklearn")
        approve(w, f"m:{v}")
    w.endpoints.deploy("m:1", "ep")
    w.models.set_stage("m:1", "production")
    w.models.set_alias("m", "champion", 1)
    yield w
    w.close()


def spec(**kw):
    base = {"steps": [10, 50, 100], "interval": "10s", "min_requests": 50, "failure_limit": 2,
            "analysis": ["error_rate < 0.05", "p99_latency_ms < 2 x stable"], "grace_period": "60s"}
    return DeploySpec(**{**base, **kw})


def controller(ws, **kw):
    c = ctl.for_workspace(ws, provider=WindowsProvider(ws.db), **kw)
    c.lag_s = 0.0
    c.lease = Lease(ws.db, ws.clock, ttl_s=3600)  # the test clock jumps; the lease must not expire meanwhile
    STARTED.append(c)
    return c


def traffic(ws, seconds=10, stable_errors=0, cand_errors=0, cand_requests=100, cand_latency=4.0, candidate=2):
    start = ws.clock.now()
    write_window(ws.db, "ep", 1, start, seconds, 400, stable_errors)
    write_window(ws.db, "ep", candidate, start, seconds, cand_requests, cand_errors, latency_ms=cand_latency)
    ws.clock.advance(seconds)


def after(event):
    import json

    return json.loads(event.after) if isinstance(event.after, str) else event.after


def weights(ws):
    return {r["version"]: r["weight"] for r in ws.endpoints.get("ep").routing["routes"]}


def test_canary_promotes_through_every_step(ws):
    ws.rollouts.deploy_spec = spec()
    res = ws.rollouts.deploy("m:2", "ep")
    assert res.rollout is not None and res.rollout.state == "progressing"
    assert weights(ws) == {1: 90, 2: 10}
    c = controller(ws)
    seen = []
    for _ in range(3):
        traffic(ws)
        c.tick()
        seen.append(weights(ws))
    assert seen == [{1: 50, 2: 50}, {2: 100}, {2: 100}]
    status = ws.rollouts.status("ep")
    assert status.state == "promoted" and status.weights == {"2": 100}
    assert all(a["verdict"] == "pass" for a in status.analyses)
    assert {(r["check"], r["role"]) for r in status.analyses[0]["checks"]} >= {("error_rate < 0.05", "candidate"),
                                                                             ("error_rate < 0.05", "stable")}
    gate = status.analyses[0]["checks"][0]
    assert (gate["check"], gate["value"], gate["threshold"], gate["verdict"]) == \
        ("requests >= 50 (min_requests)", 100, 50, "pass")
    mv = ws.models.get_version("m:2")
    assert mv.stage == "production" and "champion" in mv.aliases
    assert ws.models.get_version("m:1").stage == "production"  # the grace period has not passed yet
    ws.clock.advance(61)
    c.tick()
    assert ws.models.get_version("m:1").stage == "retired"
    actions = [e.action for e in ws.audit.log(subject="rollout:*")]
    assert actions.count("rollout.step") == 1 and "rollout.start" in actions and "rollout.promotion" in actions


def test_faulty_canary_rolls_back_after_failure_limit_and_records_why(ws):
    ws.rollouts.deploy_spec = spec()
    ws.rollouts.deploy("m:2", "ep")
    c = controller(ws)
    traffic(ws, cand_errors=30)
    c.tick()
    assert weights(ws) == {1: 90, 2: 10} and ws.rollouts.status("ep").failures == 1
    traffic(ws, cand_errors=30)
    c.tick()
    assert weights(ws) == {1: 100}
    st = ws.rollouts.status("ep")
    assert st.state == "rolled_back" and "error_rate < 0.05" in (st.reason or "")
    assert [a["verdict"] for a in st.analyses] == ["fail", "fail"]
    ev = [e for e in ws.audit.log(subject="rollout:*") if e.action == "rollout.rollback"]
    assert len(ev) == 1 and after(ev[0])["weights"] == {"1": 100}


def test_too_little_data_holds_then_pauses(ws):
    ws.rollouts.deploy_spec = spec(max_inconclusive=3)
    ws.rollouts.deploy("m:2", "ep")
    c = controller(ws)
    for _ in range(3):
        traffic(ws, cand_requests=10, cand_errors=9)  # 90% errors, but only 10 requests: never judged
        c.tick()
    st = ws.rollouts.status("ep")
    assert st.state == "paused" and "max_inconclusive 3" in (st.reason or "") and st.weights == {"1": 90, "2": 10}
    resumed = ws.rollouts.command("ep", "resume")
    assert resumed.state == "progressing" and resumed.inconclusive == 0


def test_second_deploy_is_a_409_naming_the_rollout_and_manual_routing_is_refused(ws, tmp_path):
    ws.models.register("m", make_skops_model(tmp_path / "m3.skops", seed=3), "sklearn")
    approve(ws, "m:3")
    ws.rollouts.deploy_spec = spec()
    first = ws.rollouts.deploy("m:2", "ep").rollout
    with pytest.raises(records.RolloutActiveError) as err:
        ws.rollouts.deploy("m:3", "ep")
    assert f"rollout {first.id}" in str(err.value)
    with pytest.raises(ConflictError):
        ws.endpoints.set_routing("ep", {"routes": [{"version": 1, "weight": 100}]})
    with pytest.raises(ConflictError):
        ws.rollouts.deploy("m:3", "ep", weight=10)


def test_operator_commands_and_illegal_ones(ws):
    ws.rollouts.deploy_spec = spec(pause_at=[50])
    ws.rollouts.deploy("m:2", "ep")
    c = controller(ws)
    traffic(ws)
    c.tick()
    st = ws.rollouts.status("ep")
    assert st.state == "paused" and st.weights == {"1": 50, "2": 50} and "pause_at 50" in st.reason
    traffic(ws)
    c.tick()
    assert ws.rollouts.status("ep").state == "paused"  # a passing analysis never moves past pause_at
    with pytest.raises(ConflictError, match="already paused"):
        ws.rollouts.command("ep", "pause")
    done = ws.rollouts.command("ep", "promote", reason="looks good")
    assert done.state == "promoted" and weights(ws) == {2: 100}
    with pytest.raises(ConflictError, match="finished"):
        ws.rollouts.command("ep", "abort")


def test_abort_goes_back_to_stable(ws):
    ws.rollouts.deploy_spec = spec()
    ws.rollouts.deploy("m:2", "ep")
    st = ws.rollouts.command("ep", "abort", reason="wrong model")
    assert st.state == "aborted" and st.reason == "wrong model" and weights(ws) == {1: 100}
    ev = [e for e in ws.audit.log(subject="rollout:*") if e.action == "rollout.abort"][0]
    assert ev.actor == "alice" and after(ev)["command"] == "abort"


def test_a_transition_is_never_applied_twice(ws):
    """Two controllers that read the same revision: only the first commit moves the rollout."""
    ws.rollouts.deploy_spec = spec()
    ws.rollouts.deploy("m:2", "ep")
    traffic(ws)
    with ws.db.read() as conn:
        row = records.live_rows(conn)[0]
    a, b = controller(ws), controller(ws)
    assert a.drive(row) == 1
    assert b.drive(row) == 0  # stale revision: nothing applied
    st = ws.rollouts.status("ep")
    assert st.step == 1 and st.revision == 2 and weights(ws) == {1: 50, 2: 50}
    assert len(st.analyses) == 1


def test_only_the_lease_holder_acts(ws):
    ws.rollouts.deploy_spec = spec()
    ws.rollouts.deploy("m:2", "ep")
    a, b = controller(ws), controller(ws)
    traffic(ws)
    assert a.tick() == 1 and a.leading
    traffic(ws)
    assert b.tick() == 0 and not b.leading
    a.stop()  # releases the lease
    assert b.tick() == 1 and b.leading
    b.stop()


class Receiver(BaseHTTPRequestHandler):
    got: list = []
    calls = 0

    def do_POST(self):  # noqa: N802
        import json

        type(self).calls += 1
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        if type(self).calls == 1:
            self.send_response(500)
        else:
            type(self).got.append(body)
            self.send_response(200)
        self.end_headers()

    def log_message(self, *a):
        pass


def test_webhook_gets_the_rollback_although_the_first_delivery_failed(ws):
    Receiver.got, Receiver.calls = [], 0
    srv = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}/hook"
    ws.rollouts.deploy_spec = spec(webhooks=[url], failure_limit=1)
    notifier = WebhookNotifier(backoff_s=0.05)
    ws.rollouts.notifier = notifier
    ws.rollouts.deploy("m:2", "ep")
    c = controller(ws, notifier=notifier)
    traffic(ws, cand_errors=30)
    c.tick()
    notifier.close()
    srv.shutdown()
    events = [b["event"] for b in Receiver.got]
    assert events == ["start", "rollback"] and Receiver.calls == 3
    assert "rolled_back" in Receiver.got[1]["text"] and Receiver.got[1]["rollout"]["weights"] == {"1": 100}


def test_bluegreen_smoke_then_switch_with_standby_then_promoted(ws):
    ws.rollouts.deploy_spec = spec(strategy="bluegreen", keep_previous="30s", smoke_requests=20)
    ws.rollouts.deploy("m:2", "ep")
    ep = ws.endpoints.get("ep")
    assert ep.routing["shadow"] == [2] and weights(ws) == {1: 100}
    c = controller(ws)
    start = ws.clock.now()
    write_window(ws.db, "ep", 2, start, 10, 25, shadow=True)
    ws.clock.advance(10)
    c.tick()
    ep = ws.endpoints.get("ep")
    assert weights(ws) == {2: 100} and ep.routing["shadow"] == [1]  # old version on standby
    ws.clock.advance(31)
    c.tick()
    assert ws.rollouts.status("ep").state == "promoted" and ws.endpoints.get("ep").routing["shadow"] == []


def test_bluegreen_failing_smoke_rolls_back(ws):
    ws.rollouts.deploy_spec = spec(strategy="bluegreen")
    ws.rollouts.deploy("m:2", "ep")
    write_window(ws.db, "ep", 2, ws.clock.now(), 10, 25, errors=3, shadow=True)
    ws.clock.advance(10)
    controller(ws).tick()
    st = ws.rollouts.status("ep")
    assert st.state == "rolled_back" and "smoke test failed" in st.reason and weights(ws) == {1: 100}
    assert ws.endpoints.get("ep").routing["shadow"] == []


def test_deploy_without_a_rollout_when_nothing_is_to_roll_out(ws):
    ws.rollouts.deploy_spec = spec()
    manual = ws.rollouts.deploy("m:2", "ep", weight=10)  # --weight keeps manual routing
    assert manual.rollout is None and weights(ws) == {1: 90, 2: 10}
    same = ws.rollouts.deploy("m:1", "ep")  # the heaviest version again: all traffic, no rollout
    assert same.rollout is None and weights(ws) == {1: 100}
    again = ws.rollouts.deploy("m:1", "ep")
    assert again.rollout is None and "already serves" in again.note
    with pytest.raises(RolloutNotFoundError):
        ws.rollouts.status("ep")


def test_an_analysis_waits_for_every_live_gateway_to_flush_through_its_interval(ws):
    """Each gateway marks how far its metric windows are in the store (``window_store.mark``). The controller
    judges an interval only when every gateway seen recently has flushed past its end; one silent for longer
    than STALE_LAGS x lag is gone and no longer waited for."""
    from datetime import timedelta

    from shipyard.telemetry import window_store

    ws.rollouts.deploy_spec = spec()
    ws.rollouts.deploy("m:2", "ep")
    c = controller(ws)  # lag_s 0: the interval ends now; only gateways that flushed at `now` count as seen
    traffic(ws)
    now = ws.clock.now()
    window_store.mark(ws.db, "gw-a", now, now)
    window_store.mark(ws.db, "gw-b", now - timedelta(seconds=10), now)  # alive, behind the interval's end
    assert c.tick() == 0
    assert weights(ws) == {1: 90, 2: 10} and ws.rollouts.status("ep").analyses == []  # not judged yet
    window_store.mark(ws.db, "gw-b", now, now)  # caught up
    assert c.tick() == 1 and weights(ws) == {1: 50, 2: 50}

    traffic(ws)
    now = ws.clock.now()
    window_store.mark(ws.db, "gw-a", now, now)
    window_store.mark(ws.db, "gw-b", now - timedelta(seconds=10), now - timedelta(seconds=7))  # silent: gone
    assert c.tick() == 1 and weights(ws) == {2: 100}  # gw-b is gone: not waited for
    assert len(ws.rollouts.status("ep").analyses) == 2
    assert set(window_store.watermarks(ws.db, now - timedelta(seconds=60))) == {"gw-a", "gw-b"}
    ws.clock.advance(15 * 86400)
    window_store.mark(ws.db, "gw-c", ws.clock.now(), ws.clock.now())
    c.housekeeping()
    assert set(window_store.watermarks(ws.db, now - timedelta(days=30))) == {"gw-c"}  # retention
