"""Routing changes reach gateways by PostgreSQL notification (issue 19): a committed change wakes every listener,
a rolled-back one wakes none, and a gateway whose poll is a minute away applies a change at once. SQLite has no
notifications: the gateway polls."""

from __future__ import annotations

import threading
import time

import pytest
from tests.builders import free_port
from tests.integration.telemetry_support import register, wait_for

from shipyard.store.sql import notify


def test_a_commit_notifies_and_a_rollback_does_not(tmp_path, pg_url) -> None:  # type: ignore[no-untyped-def]
    from shipyard.config import Settings
    from shipyard.workspace import Workspace

    ws = Workspace.init(tmp_path / "ws", settings=Settings(db_url=pg_url, actor="alice"))
    register(ws, tmp_path, [{"bias": 0.0}, {"bias": 0.5}])
    calls: list[float] = []
    woken = threading.Event()

    def on_change() -> None:
        calls.append(time.monotonic())
        woken.set()

    stop = ws.endpoints.watch(on_change)
    assert stop is not None
    try:
        assert woken.wait(10)  # once when the listener has connected (anything missed before is looked at)
        woken.clear()
        with pytest.raises(RuntimeError), ws.db.begin() as conn:
            notify.notify(conn, notify.ROUTING, "ep")
            raise RuntimeError("rolled back")
        ws.endpoints.deploy("m:1", "ep")  # creates the endpoint: generation 1
        assert woken.wait(10)
        woken.clear()
        time.sleep(0.3)
        n = len(calls)
        assert n == 2, calls  # the connect and the commit; the rolled-back transaction sent nothing
        ws.endpoints.set_routing("ep", {"routes": [{"version": 1, "weight": 50}, {"version": 2, "weight": 50}]})
        assert woken.wait(10) and len(calls) == n + 1
    finally:
        stop()
        ws.close()


def test_closing_the_workspace_stops_its_listeners(tmp_path, pg_url) -> None:  # type: ignore[no-untyped-def]
    """A listener nobody stopped (a gateway whose loop was torn down) ends when its workspace closes, instead of
    retrying for the rest of the process against a store nobody uses (seen in CI: a dropped test database)."""
    from shipyard.config import Settings
    from shipyard.workspace import Workspace

    ws = Workspace.init(tmp_path / "ws", settings=Settings(db_url=pg_url, actor="alice"))
    connected = threading.Event()
    before = set(threading.enumerate())
    assert ws.endpoints.watch(connected.set) is not None
    assert connected.wait(10)
    listeners = [t for t in set(threading.enumerate()) - before if t.name == f"shipyard-listen-{notify.ROUTING}"]
    assert len(listeners) == 1
    ws.close()
    for t in listeners:
        t.join(5)  # it looks at its stop flag at least once a second
    assert not any(t.is_alive() for t in listeners)


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_a_gateway_applies_a_committed_change_without_waiting_for_its_poll(tmp_path, request, backend) -> None:  # type: ignore[no-untyped-def]
    from shipyard.config import Settings
    from shipyard.serving.server import ServerThread, build_gateway, options_from
    from shipyard.workspace import Workspace

    url = request.getfixturevalue("pg_url") if backend == "postgres" else f"sqlite:///{tmp_path / 'meta.db'}"
    ws = Workspace.init(tmp_path / "ws", settings=Settings(db_url=url, actor="alice"))
    register(ws, tmp_path, [{"bias": 0.0}, {"bias": 0.5}])
    ws.endpoints.deploy("m:1", "ep")
    ws.endpoints.set_routing("ep", {"routes": [{"version": 1, "weight": 90}, {"version": 2, "weight": 10}]})
    assert (ws.endpoints.watch(lambda: None) is None) == (backend == "sqlite")
    opts = options_from(ws)
    opts.poll_interval_s = 3600.0 if backend == "postgres" else 0.2  # PostgreSQL: only a notification can wake it
    gw = build_gateway(ws, opts)
    with ServerThread(gw, free_port()):
        time.sleep(0.5)  # the listener connects
        new = ws.endpoints.set_routing("ep", {"routes": [{"version": 1, "weight": 10}, {"version": 2, "weight": 90}]})
        assert wait_for(lambda: gw.state.endpoints["ep"].generation == new.generation, timeout=10)
    ws.close()
