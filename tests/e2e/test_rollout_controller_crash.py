"""The rollout controller as its own process (`shipyard rollout controller`): kill -9 mid-rollout and a restart
resumes at the same step; two controllers at once and only one acts. On SQLite and PostgreSQL.

Metric windows are written into the store by the test (steady healthy traffic for both versions); until the
telemetry branch's builtin provider is merged the controller process reads them with the test reader
(tests/rollout_helpers.py), registered under "builtin" only when no builtin provider exists.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.builders import approve, make_skops_model
from tests.rollout_helpers import write_window

from shipyard.config import Settings
from shipyard.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]
BOOT = """
import sys
from shipyard.rollout.providers.base import PROVIDERS
try:
    import shipyard.rollout.providers.builtin  # noqa: F401  (the telemetry branch's provider)
except ImportError:
    from tests.rollout_helpers import WindowsProvider
    PROVIDERS.setdefault("builtin", WindowsProvider)
from shipyard.cli.main import run
run(sys.argv[1:])
"""
YAML = """name: crash
approval: {required: 1}
deploy:
  steps: [5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 100]
  interval: 0.6s
  min_requests: 5
  analysis: [error_rate < 0.05]
"""


@pytest.fixture
def ws(tmp_path, db_url):
    root = tmp_path / "ws"
    root.mkdir()
    (root / "shipyard.yaml").write_text(YAML)
    w = Workspace.init(root, settings=Settings(db_url=db_url, actor="alice"))
    for v in (1, 2):
        w.models.register("m", make_skops_model(tmp_path / f"m{v}.skops", seed=v), "sklearn")
        approve(w, f"m:{v}")
    w.endpoints.deploy("m:1", "ep")
    yield w
    w.close()


def start_controller(ws: Workspace) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env.update(SHIPYARD_DB_URL=ws.settings.db_url or "", SHIPYARD_ACTOR="ops",
               PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")]))
    return subprocess.Popen([sys.executable, "-c", BOOT, "rollout", "controller", "--tick", "0.1", "--lag", "0",
                             "--lease-ttl", "1.5"], cwd=ws.root, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


class Traffic:
    """Healthy windows for both versions every 0.1 s, as gateways would flush them."""

    def __init__(self, ws: Workspace) -> None:
        self.ws, self.stop = ws, threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            start = datetime.now(UTC) - timedelta(seconds=0.1)
            for v, n in ((1, 20), (2, 5)):
                write_window(self.ws.db, "ep", v, start, 0.1, n)
            self.stop.wait(0.1)

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)


def wait_for(check, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError("timed out")


def transitions(ws: Workspace) -> list[dict]:
    out = []
    for e in ws.audit.log(subject="rollout:*"):
        after = json.loads(e.after) if isinstance(e.after, str) else e.after
        out.append({"action": e.action, **(after or {})})
    return out


@pytest.mark.slow
def test_kill_9_resumes_at_the_same_step_and_two_controllers_never_both_act(ws):
    ws.rollouts.deploy("m:2", "ep")
    with Traffic(ws):
        a = start_controller(ws)
        try:
            wait_for(lambda: ws.rollouts.status("ep").step >= 2)
            os.kill(a.pid, signal.SIGKILL)  # mid-rollout, no clean-up of any kind
            a.wait(10)
            killed_at = ws.rollouts.status("ep")
            time.sleep(1.0)
            assert ws.rollouts.status("ep").step == killed_at.step  # nobody moves it while no controller runs
            b, c = start_controller(ws), start_controller(ws)  # restart, twice at once
            try:
                wait_for(lambda: ws.rollouts.status("ep").step >= killed_at.step + 3)
            finally:
                for p in (b, c):
                    p.send_signal(signal.SIGTERM)
                for p in (b, c):
                    p.wait(20)
        finally:
            if a.poll() is None:
                a.kill()
    steps = [t for t in transitions(ws) if t["action"] == "rollout.step"]
    reached = [t["step"] for t in steps]
    assert reached == list(range(1, len(reached) + 1)), reached  # each step once, none skipped, none repeated
    after_restart = [t for t in steps if t["step"] > killed_at.step]
    assert after_restart[0]["step"] == killed_at.step + 1  # resumed where the killed controller stopped
    holders = {t["controller"] for t in after_restart}
    assert len(holders) == 1, holders  # two controllers ran at once; only the lease holder acted
    assert ws.rollouts.status("ep").revision >= len(reached) + 1
