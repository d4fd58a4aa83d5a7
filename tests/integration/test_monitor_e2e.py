"""Issue 16 "What it must show" 3, end to end: an endpoint monitor over logged traffic raises a `critical`
alert when the traffic shifts, the webhook receives it, and the configured `retrain` action produces a new
candidate version in `models list`, with lineage to the dataset version it trained on.

A real gateway on 127.0.0.1 serves the wine example's model, trained by the pipeline; the rollout controller
runs in-process with the monitor scheduler as its hook (second-long `every`); the webhook receiver is a
local http.server; the retrain is a `shipyard run --dataset` subprocess.
"""

from __future__ import annotations

import csv
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.builders import approve, free_port

from shipyard.config import Settings
from shipyard.monitoring.service import MonitorService
from shipyard.pipeline.examples import write_example
from shipyard.pipeline.runner import run_pipeline
from shipyard.rollout.controller import for_workspace
from shipyard.rollout.notifiers import WebhookNotifier
from shipyard.workspace import Workspace

pytestmark = pytest.mark.slow


class Receiver(BaseHTTPRequestHandler):
    got: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802
        type(self).got.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *a: object) -> None:
        pass


def wait_until(check: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError("timed out")


def rows_of(path: Path, target: str) -> list[dict[str, float]]:
    with path.open() as fh:
        return [{k: int(v) if v.lstrip("-").isdigit() else float(v) for k, v in r.items() if k != target}
                for r in csv.DictReader(fh)]


def send(url: str, rows: list[dict[str, float]], scale: float = 1.0) -> None:
    with httpx.Client(base_url=url, timeout=10) as c:
        for i in range(0, len(rows), 10):
            batch = [{k: round(v * scale) if isinstance(v, int) else v * scale for k, v in r.items()}
                     for r in rows[i:i + 10]]
            r = c.post("/v1/endpoints/wine/predict", json={"instances": batch})
            assert r.status_code == 200, r.text


def test_shifted_traffic_raises_a_critical_alert_the_webhook_gets_it_and_retrain_makes_a_candidate(
        tmp_path: Path) -> None:
    from shipyard.serving.server import ServerThread, build_gateway, options_from

    Receiver.got = []
    hook = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    root = tmp_path / "ws"
    Workspace.init(root, settings=Settings(actor="alice")).close()
    write_example(root, "wine")
    with (root / "shipyard.yaml").open("a") as fh:
        fh.write(f"""
serving: {{metrics_interval: 0.25, predict_in: thread}}
monitor:
  every: 1s
  window: 150
  drift: {{warning: 0.1, critical: 0.25, min_rows: 50}}
  quality: {{min_rows: 50}}
  performance: {{min_rows: 50}}
  webhooks: [http://127.0.0.1:{hook.server_address[1]}/hook]
  retrain: {{on: [drift.critical], cooldown: 24h}}
""")
    ws = Workspace.open(root, settings=Settings(actor="alice"))
    first = run_pipeline(ws)
    assert first.status == "succeeded", first.error
    approve(ws, f"wine-cultivar:{first.version}")
    ws.endpoints.deploy(f"wine-cultivar:{first.version}", "wine")
    rows = rows_of(root / "data" / "wine.csv", "cultivar")
    opts = options_from(ws)
    opts.poll_interval_s, opts.log_interval_s, opts.freeze_gc = 0.2, 0.3, False
    gw = build_gateway(ws, opts)
    notifier = WebhookNotifier(backoff_s=0.05)
    ctl = for_workspace(ws, tick_s=0.2, notifier=notifier)
    assert ctl.hooks, "monitor: in shipyard.yaml hooks the scheduler into the controller"
    monitors = MonitorService(ws.db, ws.actor, ws.clock)
    try:
        with ServerThread(gw, free_port()) as srv:
            ctl.start()
            send(srv.url, rows)  # traffic like the training data: no drift
            clean = wait_until(lambda: (monitors.status("wine")["checks"].get("drift") or {}).get("latest", {})
                               .get("status") == "ok" and monitors.status("wine"))
            assert not clean["firing"]
            perf = wait_until(lambda: monitors.status("wine")["checks"].get("performance"))["latest"]
            assert perf["metrics"]["estimated_accuracy"] > 0.8  # CBPE, no labels yet
            # new data arrived: the dataset's newest version is what a retrain uses
            fresh = ws.datasets.add(root / "data" / "wine.csv", name="wine")
            extra = root / "data" / "wine-2.csv"
            text = (root / "data" / "wine.csv").read_text().splitlines()
            extra.write_text("\n".join(text + text[1:40]) + "\n")
            newest = ws.datasets.add(extra, name="wine")
            assert newest.version > fresh.version
            send(srv.url, rows * 2, scale=1.6)  # the world moves: every feature 60% larger
            alert = wait_until(lambda: next((a for a in monitors.alerts("wine", "firing")
                                             if a["rule"] == "drift" and a["severity"] == "critical"), None))
            got = wait_until(lambda: [m for m in Receiver.got if m["event"] == "alert.fire"
                                      and m["alert"]["severity"] == "critical"], timeout=20)
            assert "drift" in got[0]["text"] and got[0]["alert"]["endpoint"] == "wine"

            def retrained() -> Any:
                a = next(a for a in monitors.alerts("wine") if a["id"] == alert["id"])
                return next((x for x in a["actions"] if x["action"] == "retrain" and x["status"] != "started"), None)

            done = wait_until(retrained, timeout=90)
    finally:
        ctl.stop()
        notifier.close()
        hook.shutdown()
    assert done["status"] == "finished", done
    assert done["dataset"] == newest.ref
    new = ws.models.get_version(done["version"])
    assert new.version > first.version
    assert new.stage in ("validated", "rejected")  # a candidate: gated, never approved or deployed here
    assert any(link.get("kind") == "dataset" and link["ref"] == newest.ref for link in new.lineage)
    assert new.created_by == "monitor"
    assert [v.version for v in ws.models.get_model("wine-cultivar").versions][-1] == new.version
    routes = ws.endpoints.get("wine").table.routes
    assert [(r.version, r.weight) for r in routes] == [(first.version, 100)]  # nothing deployed by the action
    events = {e.action for e in ws.audit.log(limit=500)}
    assert {"alert.fire", "alert.action.retrain"} <= events
    ws.close()
