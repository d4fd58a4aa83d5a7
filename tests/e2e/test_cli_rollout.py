"""`shipyard deploy --strategy` and `shipyard rollout ...` through the real CLI: --json shapes and exit codes."""

from __future__ import annotations

import json

from tests.builders import approve, make_skops_model

from shipyard.config import Settings
from shipyard.workspace import Workspace


def test_deploy_starts_a_rollout_and_rollout_commands(cli, tmp_path):
    root = tmp_path / "ws"
    ws = Workspace.init(root, settings=Settings(actor="alice"))
    for v in (1, 2):
        ws.models.register("m", make_skops_model(tmp_path / f"m{v}.skops", seed=v), "sklearn")
        approve(ws, f"m:{v}")
    ws.close()
    first = cli("deploy", "m:1", "--endpoint", "ep", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["rollout"] is None
    bad = cli("deploy", "m:2", "--endpoint", "ep", "--strategy", "rainbow")
    assert bad.returncode == 2 and "--strategy" in bad.stderr and "canary | bluegreen | shadow | ab" in bad.stderr
    started = cli("deploy", "m:2", "--endpoint", "ep", "--strategy", "canary", "--json")
    assert started.returncode == 0, started.stderr
    assert json.loads(started.stdout)["rollout"]["weights"] == {"1": 95, "2": 5}
    status = json.loads(cli("rollout", "status", "ep", "--json").stdout)
    assert {k: status[k] for k in ("state", "strategy", "step", "stable", "candidate", "weights")} == \
        {"state": "progressing", "strategy": "canary", "step": 0, "stable": 1, "candidate": 2,
         "weights": {"1": 95, "2": 5}}
    assert status["analyses"] == []
    human = cli("rollout", "status", "ep")
    assert human.returncode == 0 and "progressing" in human.stdout and "v2 5%" in human.stdout
    busy = cli("deploy", "m:1", "--endpoint", "ep", "--weight", "50")
    assert busy.returncode == 2 and f"rollout {status['id']}" in busy.stderr
    assert cli("rollout", "resume", "ep").returncode == 2  # not paused
    assert cli("rollout", "pause", "ep", "--reason", "lunch").returncode == 0
    aborted = json.loads(cli("rollout", "abort", "ep", "--reason", "changed my mind", "--json").stdout)
    assert aborted["state"] == "aborted" and aborted["weights"] == {"1": 100}
    listed = json.loads(cli("rollout", "list", "--json").stdout)
    assert [r["state"] for r in listed] == ["aborted"]
    again = cli("rollout", "abort", "ep")
    assert again.returncode == 2 and "finished" in again.stderr and "Traceback" not in again.stderr
    assert cli("rollout", "status", "nope").returncode == 2
