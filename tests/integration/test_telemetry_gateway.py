"""A real gateway with two answering versions (50/50) and a shadow: its metric windows reach the store and the
builtin provider sums them per version; shadow records carry the client's request id; two gateway
processes add up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tests.builders import free_port
from tests.integration.telemetry_support import FAIL, register, send, start_gateways, stop_gateways, wait_for

from shipyard.core.windows import LATENCY_EDGES_MS, bucket_of
from shipyard.rollout.providers.base import PROVIDERS
from shipyard.rollout.providers.builtin import BuiltinProvider

ROUTING = {"routes": [{"version": 1, "weight": 50}, {"version": 2, "weight": 50}], "shadow": [3]}
VERSIONS = [{"bias": 0.0}, {"bias": 0.5, "fail_on": FAIL}, {"bias": -0.5}]


def _matches(got, want, shadow_requests):  # type: ignore[no-untyped-def]
    """The provider's answer equals what was sent: per answering version requests and errors; the shadow
    mirrored every answered request."""
    if set(got) != {1, 2, 3}:
        return False
    ok = all(got[v].requests == want[v]["requests"] and got[v].errors == want[v]["errors"] and not got[v].shadow
             for v in (1, 2))
    return ok and got[3].shadow and got[3].requests == shadow_requests and got[3].errors == 0


def test_builtin_provider_counts_what_the_gateway_served(tmp_path, db_url) -> None:
    from shipyard.config import Settings
    from shipyard.serving.server import ServerThread, build_gateway, options_from
    from shipyard.telemetry.prediction_log import read_log
    from shipyard.telemetry.shadow import compare
    from shipyard.workspace import Workspace

    ws = Workspace.init(tmp_path / "ws", settings=Settings(db_url=db_url, actor="alice"))
    register(ws, tmp_path, VERSIONS)
    ws.endpoints.deploy("m:1", "ep")
    ep = ws.endpoints.set_routing("ep", ROUTING)
    opts = options_from(ws)
    opts.metrics_interval_s, opts.log_interval_s = 0.5, 0.5
    gw = build_gateway(ws, opts)
    start = datetime.now(UTC) - timedelta(seconds=1)
    provider = PROVIDERS["builtin"](ws.db)
    assert isinstance(provider, BuiltinProvider)
    with ServerThread(gw, free_port()) as srv:
        assert gw.state.endpoints["ep"].generation == ep.generation
        sent = send(srv.url, 120, ep.table, {2: FAIL})
        want = sent["versions"]
        assert want[1]["requests"] > 20 and want[2]["errors"] > 5  # the split gave both versions traffic
        answered = want[1]["answered"] + want[2]["answered"]

        def query():  # type: ignore[no-untyped-def]
            got = provider.query("ep", start, datetime.now(UTC) + timedelta(seconds=5))
            return got if _matches(got, want, answered) else None

        got = wait_for(query) or provider.query("ep", start, datetime.now(UTC) + timedelta(seconds=5))
        assert _matches(got, want, answered), (got, want, answered)
        for v in (1, 2, 3):
            m = got[v]
            assert m.rows == m.requests - m.errors and sum(m.latency_buckets) == m.requests
            p50, p99 = m.latency_ms(0.5), m.latency_ms(0.99)
            assert p50 is not None and p99 is not None and 0 < p50 <= p99
            # the gateway's latency is part of what the client waited: the quantile lies at or below the
            # upper edge of the bucket of the slowest round trip
            assert p99 <= LATENCY_EDGES_MS[min(bucket_of(sent["slowest_ms"]), len(LATENCY_EDGES_MS) - 1)]
            assert 0 < m.latency_sum_ms / m.requests <= sent["slowest_ms"]
            pred = m.predictions
            assert pred["kind"] == "score" and sum(pred["counts"]) == m.requests - m.errors
            assert sum(pred["labels"].values()) == m.requests - m.errors
        assert got[2].error_rate == pytest.approx(want[2]["errors"] / want[2]["requests"])
        # a window outside the query is not counted
        assert provider.query("ep", start - timedelta(hours=1), start) == {}

        # shadow records: the client's request id, their own latency, the shadow flag
        def logged():  # type: ignore[no-untyped-def]
            t = read_log(ws.artifacts, "ep", start)
            return t if t is not None and t.num_rows >= answered * 2 else None

        table = wait_for(logged)
        assert table is not None
        rows = table.to_pylist()
        shadows = [r for r in rows if r["shadow"]]
        assert len(shadows) == answered and {r["version"] for r in shadows} == {3}
        assert all(r["request_id"] != "shadow" and r["latency_ms"] > 0 for r in shadows)
        stable_ids = {r["request_id"] for r in rows if not r["shadow"]}
        assert {r["request_id"] for r in shadows} == stable_ids
        cmp = compare(ws.artifacts, "ep", stable=1, candidate=3, since=start)
        assert cmp["pairs"] == want[1]["answered"] and cmp["agreement"] is not None
    ws.close()


def test_two_gateway_processes_add_up(tmp_path, db_url) -> None:
    from shipyard.config import Settings
    from shipyard.workspace import Workspace

    root = tmp_path / "ws"
    ws = Workspace.init(root, settings=Settings(db_url=db_url, actor="alice"))
    with open(root / "shipyard.yaml", "a") as f:
        f.write("\nserving:\n  metrics_interval: 0.5\n")
    register(ws, tmp_path, VERSIONS)
    ws.endpoints.deploy("m:1", "ep")
    ep = ws.endpoints.set_routing("ep", ROUTING)
    start = datetime.now(UTC) - timedelta(seconds=1)
    ports = [free_port(), free_port()]
    procs = start_gateways(root, db_url, ports)
    try:
        first = send(f"http://127.0.0.1:{ports[0]}", 40, ep.table, {2: FAIL})["versions"]
        second = send(f"http://127.0.0.1:{ports[1]}", 40, ep.table, {2: FAIL}, offset=40)["versions"]
    finally:
        stop_gateways(procs)  # SIGTERM: the gateway drains and flushes its open windows too
    want = {v: first.get(v, {}) + second.get(v, {}) for v in (1, 2)}  # type: ignore[operator]
    answered = sum(want[v]["answered"] for v in (1, 2))
    got = BuiltinProvider(ws.db).query("ep", start, datetime.now(UTC) + timedelta(seconds=5))
    assert _matches(got, want, answered), (got, want)
    from shipyard.telemetry import window_store

    gateways = {r["gateway"] for r in window_store.read(ws.db, "ep", start, datetime.now(UTC) + timedelta(seconds=5))}
    assert {g.split(":")[1] for g in gateways} == {str(p.pid) for p in procs}  # host:pid:nonce of each process
    ws.close()
