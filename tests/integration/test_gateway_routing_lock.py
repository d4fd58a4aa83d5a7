"""Routing changes do not wait on model loads: while a new version loads slowly, a weight change on another
endpoint and a rollback on the same endpoint take effect at once; the superseded generation never does."""

from __future__ import annotations

import time

import pytest
from tests.builders import free_port
from tests.integration.telemetry_support import register, wait_for

SLOW_S = 6.0  # the slow version's load


@pytest.fixture
def env(tmp_path, request):  # type: ignore[no-untyped-def]
    from shipyard.config import Settings
    from shipyard.serving.server import ServerThread, build_gateway, options_from
    from shipyard.workspace import Workspace

    ws = Workspace.init(tmp_path / "ws", settings=Settings(actor="alice"))
    register(ws, tmp_path, [{"bias": 0.0}, {"bias": 0.5}, {"bias": 1.0, "load_sleep": SLOW_S}])
    ws.endpoints.deploy("m:1", "ep")
    ws.endpoints.deploy("m:1", "other")
    ws.endpoints.set_routing("other", {"routes": [{"version": 1, "weight": 50}, {"version": 2, "weight": 50}]})
    opts = options_from(ws)
    opts.poll_interval_s = 0.1
    opts.predict_in = getattr(request, "param", "process")
    gw = build_gateway(ws, opts)
    with ServerThread(gw, free_port()) as srv:
        yield ws, gw, srv
    ws.close()


def _generation(gw, name: str) -> int:  # type: ignore[no-untyped-def]
    return int(gw.state.endpoints[name].generation)


def test_weight_changes_and_rollbacks_apply_while_a_slow_version_loads(env) -> None:
    ws, gw, _ = env
    slow = ws.endpoints.set_routing("ep", {"routes": [{"version": 1, "weight": 90}, {"version": 3, "weight": 10}]})
    assert wait_for(lambda: "ep" in gw.state._pending, timeout=5), "the slow load did not start"
    t0 = time.monotonic()
    # another endpoint, weights between two loaded versions
    moved = ws.endpoints.set_routing("other", {"routes": [{"version": 1, "weight": 10}, {"version": 2, "weight": 90}]})
    assert wait_for(lambda: _generation(gw, "other") == moved.generation, timeout=SLOW_S * 2)
    other_s = time.monotonic() - t0
    # the same endpoint: back to 100 % of the version it serves (a rollback)
    t1 = time.monotonic()
    back = ws.endpoints.set_routing("ep", {"routes": [{"version": 1, "weight": 100}]})
    assert wait_for(lambda: _generation(gw, "ep") == back.generation, timeout=SLOW_S * 2)
    rollback_s = time.monotonic() - t1
    still_loading = "ep" in gw.state._pending
    assert other_s < SLOW_S / 3 and rollback_s < SLOW_S / 3, (other_s, rollback_s)
    assert still_loading, "the slow load finished before the changes: the test proves nothing"
    # the slow generation finishes loading, but a later one replaced it: it never takes effect
    assert wait_for(lambda: "ep" not in gw.state._pending, timeout=SLOW_S * 3)
    time.sleep(0.3)
    assert _generation(gw, "ep") == back.generation and slow.generation < back.generation
    assert gw.state.endpoints["ep"].table.served == (1,)


# In thread mode the load runs beside the event loop. (The model process loads and predicts in one thread:
# there a slow load also delays predictions, though never a routing change; see docs/design.md.)
@pytest.mark.parametrize("env", ["thread"], indirect=True)
def test_a_slow_version_is_swapped_in_once_loaded_without_holding_requests(env) -> None:
    ws, gw, srv = env
    import httpx

    slow = ws.endpoints.set_routing("ep", {"routes": [{"version": 1, "weight": 50}, {"version": 3, "weight": 50}]})
    assert wait_for(lambda: "ep" in gw.state._pending, timeout=5)
    body = {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [0.1, 0.2]}]}
    t0 = time.monotonic()
    for _ in range(5):
        r = httpx.post(srv.url + "/v2/models/other/infer", json=body, timeout=30)
        assert r.status_code == 200
        r = httpx.post(srv.url + "/v2/models/ep/infer", json=body, timeout=30)  # the old generation answers
        assert r.status_code == 200 and r.headers["x-model-version"] == "1"
    assert time.monotonic() - t0 < SLOW_S / 3  # the gateway kept answering while the load ran
    assert _generation(gw, "ep") < slow.generation
    assert wait_for(lambda: _generation(gw, "ep") == slow.generation, timeout=SLOW_S * 3)
    assert set(gw.state.endpoints["ep"].versions) == {1, 3}
