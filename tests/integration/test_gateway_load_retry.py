"""The model process dying while it loads a version: the routing generation is retried (after 1, 2, 4 s)
instead of waiting for the next deploy; a model that kills the process every time is given up on after
three retries, and the other endpoints keep answering throughout."""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import httpx
import pytest
from tests.builders import approve, free_port, make_skops_model

SOURCE = '''
import os

import numpy as np

MARKER = {marker!r}


class Model:
    def __init__(self):
        if {always!r} or not os.path.exists(MARKER):
            open(MARKER, "w").close()
            os._exit(3)  # what a segfault in a native loader looks like from outside

    def predict_proba(self, X):
        x = np.asarray(X, dtype=np.float64)
        p = 1.0 / (1.0 + np.exp(-x[:, 0]))
        return np.column_stack([1.0 - p, p])

    def predict(self, X):
        return (self.predict_proba(X)[:, 1] > 0.5).astype(int)
'''
SIG = {"inputs": [{"name": f"f{i}", "type": "float", "nullable": False} for i in range(4)],
       "outputs": [{"name": "prediction"}]}


def _zip(marker: Path, always: bool) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("pyfunc.json", json.dumps({"entrypoint": "model:Model"}))
        zf.writestr("model.py", SOURCE.format(marker=str(marker), always=always))
    return buf.getvalue()


def _wait(predicate, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def served(tmp_path: Path, sandbox_drop: Path):  # type: ignore[no-untyped-def]
    from shipyard.config import Settings
    from shipyard.serving.server import ServerThread, build_gateway
    from shipyard.workspace import Workspace

    ws = Workspace.init(tmp_path / "ws", settings=Settings(actor="alice"))
    ws.models.register("steady", make_skops_model(tmp_path / "m.skops"), "sklearn", signature=SIG)
    approve(ws, "steady:1")
    ws.endpoints.deploy("steady:1")
    gw = build_gateway(ws)
    gw.options.poll_interval_s = 0.2
    gw.state.interval_s = 0.2
    with ServerThread(gw, free_port()) as srv:
        yield ws, gw, srv.url, sandbox_drop  # markers go where the confined model process may write
    ws.close()


def _predict(url: str, endpoint: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/endpoints/{endpoint}/predict", timeout=10,
                      json={"instances": [{"f0": 0.5, "f1": 0.0, "f2": 1.0, "f3": -1.0}]})


def test_a_crash_while_loading_is_retried_and_the_version_served(served) -> None:  # type: ignore[no-untyped-def]
    ws, gw, url, tmp = served
    marker = tmp / "crashed-once"
    ws.models.register("flaky", _zip(marker, always=False), "pyfunc", signature=SIG)
    approve(ws, "flaky:1")
    ws.endpoints.deploy("flaky:1")
    assert _wait(marker.exists), "the first load never ran"
    assert _wait(lambda: _predict(url, "flaky").status_code == 200), gw.state.failures
    r = _predict(url, "flaky")
    assert r.json()["version"] == 1 and "flaky" not in gw.state.failures
    assert _predict(url, "steady").status_code == 200  # the restarted process serves the others again


def test_a_model_that_always_kills_the_process_is_given_up_on(served) -> None:  # type: ignore[no-untyped-def]
    from shipyard.serving import routing_table

    ws, gw, url, tmp = served
    ws.models.register("poison", _zip(tmp / "poison-marker", always=True), "pyfunc", signature=SIG)
    approve(ws, "poison:1")
    ws.endpoints.deploy("poison:1")
    budget = sum(routing_table.RETRY_DELAYS_S) + 20
    assert _wait(lambda: "poison" in gw.state.failures and "poison" not in gw.state._retries
                 and gw.state.failures["poison"][0] >= 1, budget)
    assert "ModelProcessError" in gw.state.failures["poison"][1]
    time.sleep(1.5)  # no more attempts: the process stays up
    loads = [m for m in gw.metrics.loads.collect()[0].samples
             if m.labels.get("model") == "poison" and m.labels.get("outcome") == "failed" and m.name.endswith("_total")]
    assert loads and loads[0].value == 1 + len(routing_table.RETRY_DELAYS_S)
    r = _predict(url, "poison")
    assert r.status_code == 503 and "poison" in r.text
    assert _wait(lambda: _predict(url, "steady").status_code == 200, 20)


SLOW = '''
import os
import time

import numpy as np

STARTED, RELEASE = {started!r}, {release!r}


class Model:
    def __init__(self):  # a load that takes as long as the test wants: until RELEASE appears (at most 120 s)
        open(STARTED, "w").close()
        deadline = time.monotonic() + 120
        while not os.path.exists(RELEASE) and time.monotonic() < deadline:
            time.sleep(0.05)

    def predict(self, X):
        return np.zeros(len(X), dtype=int)
'''


def test_a_slow_load_does_not_hold_up_the_versions_already_served(served) -> None:  # type: ignore[no-untyped-def]
    """While the model process loads another version (held in its constructor until the test releases it),
    the version it already serves goes on answering; the slow one serves once its load is done."""
    ws, gw, url, drop = served
    started, release = drop / "slow-started", drop / "slow-release"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("pyfunc.json", json.dumps({"entrypoint": "model:Model"}))
        zf.writestr("model.py", SLOW.format(started=str(started), release=str(release)))
    assert _predict(url, "steady").status_code == 200
    release.touch()  # registration's inspection may construct the model too: not held there
    ws.models.register("slow", buf.getvalue(), "pyfunc", signature=SIG)
    approve(ws, "slow:1")
    started.unlink(missing_ok=True)
    release.unlink()
    ws.endpoints.deploy("slow:1")
    assert _wait(started.exists), "the gateway never started loading the slow version"
    for _ in range(5):  # the load is still held: these answers come from the steady version meanwhile
        r = _predict(url, "steady")
        assert r.status_code == 200 and r.json()["version"] == 1, r.text
        assert not release.exists()
    release.touch()
    assert _wait(lambda: _predict(url, "slow").status_code == 200), gw.state.failures
