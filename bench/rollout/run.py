"""Time to rollback and blast radius of a faulty candidate, at analysis intervals of 5 s and 30 s.

For each interval: a workspace (SQLite), a real gateway on 127.0.0.1 serving a stable pyfunc at 100 %, the
rollout controller in-process, and clients sending RATE requests a second. Then a candidate that fails 30 % of
its calls is deployed as a canary (steps 5, 25, 50, 100; `error_rate < 0.01`; `min_requests` = what 5 % of the
traffic brings in one interval, at least 5; failure_limit 1, like Flagger's threshold 1). Measured: seconds from
the deploy (the fault reaches clients) to the last answer from the candidate, and the failed answers clients got
(the blast radius). Beside them, Flagger's and Argo Rollouts' defaults at the same traffic, *modelled* (neither
runs without Kubernetes): Flagger analyses every 60 s and rolls back after `threshold` (1) failed checks, its
canary at `stepWeight` (10 %) meanwhile; Argo Rollouts has no default interval (60 s is the usual setting) and
aborts at the first failed measurement (failureLimit 0). Modelled time = interval x failed checks needed; blast
radius = RATE x weight x 30 % x that time. Prints a table and writes bench/results/rollout.json.

    .venv/bin/python bench/rollout/run.py [--rate 40] [--intervals 5 30]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RESULTS = ROOT / "bench" / "results" / "rollout.json"
sys.path.insert(0, str(ROOT))
ERROR_RATE = 0.3


class Clients:
    """RATE requests a second from one thread; records (time, status, version) of every answer."""

    def __init__(self, url: str, rate: float) -> None:
        import httpx

        self.client = httpx.Client(base_url=url, timeout=10)
        self.rate, self.seen = rate, []  # type: ignore[var-annotated]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        import random

        rng = random.Random(1)
        body = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64",
                            "data": [rng.random() for _ in range(4)]}]}
        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                r = self.client.post("/v2/models/ep/infer", json=body)
                self.seen.append((time.monotonic(), r.status_code, r.headers.get("x-model-version")))
            except Exception:  # noqa: BLE001
                self.seen.append((time.monotonic(), 0, None))
            self.stop.wait(max(0.0, 1.0 / self.rate - (time.monotonic() - t0)))

    def __enter__(self) -> Clients:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)
        self.client.close()


def one(interval: float, rate: float) -> dict[str, Any]:
    from tests.builders import approve, free_port
    from tests.integration.test_rollout_gateway import SIG, pyfunc

    from shipyard.config import Settings
    from shipyard.rollout.controller import for_workspace
    from shipyard.serving.server import ServerThread, build_gateway, options_from
    from shipyard.workspace import Workspace

    min_requests = max(5, int(rate * 0.05 * interval * 0.8))
    with tempfile.TemporaryDirectory(prefix="shipyard-rollout-bench-") as tmp:
        root = Path(tmp) / "ws"
        root.mkdir()
        (root / "shipyard.yaml").write_text(
            "name: bench\napproval: {required: 1}\nserving: {metrics_interval: 1}\n"
            f"deploy:\n  steps: [5, 25, 50, 100]\n  interval: {interval}s\n  min_requests: {min_requests}\n"
            "  failure_limit: 1\n  max_inconclusive: 100\n  analysis: [error_rate < 0.01]\n")
        ws = Workspace.init(root, settings=Settings(actor="alice"))
        ws.models.register("m", pyfunc(cut=0.5), "pyfunc", signature=SIG)
        approve(ws, "m:1")
        ws.endpoints.deploy("m:1", "ep")
        ws.models.register("m", pyfunc(fail=ERROR_RATE, cut=0.5), "pyfunc", signature=SIG)
        approve(ws, "m:2")
        opts = options_from(ws)
        opts.poll_interval_s, opts.freeze_gc = 0.2, False
        gw = build_gateway(ws, opts)
        ctl = for_workspace(ws, tick_s=0.2)
        with ServerThread(gw, free_port()) as srv:
            ctl.start()
            with Clients(srv.url, rate) as clients:
                time.sleep(3)
                t0 = time.monotonic()
                ws.rollouts.deploy("m:2", "ep")
                deadline = t0 + interval * 12 + 60
                while time.monotonic() < deadline and ws.rollouts.status("ep").state == "progressing":
                    time.sleep(0.2)
                state = ws.rollouts.status("ep").state
                time.sleep(2)  # the gateways pick the routing up
            ctl.stop()
        ws.close()
    after = [s for s in clients.seen if s[0] >= t0]
    from_candidate = [s for s in after if s[2] == "2"]
    bad = [s for s in after if s[1] >= 500]
    last = max((s[0] for s in from_candidate), default=t0)
    return {"interval_s": interval, "rate_rps": rate, "min_requests": min_requests, "state": state,
            "time_to_rollback_s": round(last - t0, 1), "candidate_requests": len(from_candidate),
            "blast_radius_failed_responses": len(bad)}


def modelled(rate: float) -> list[dict[str, Any]]:
    rows = []
    for name, interval, checks, weight in (("Flagger defaults (interval 60 s, threshold 1, stepWeight 10 %)", 60, 1,
                                            0.10),
                                           ("Argo Rollouts (interval 60 s, failureLimit 0, setWeight 10 %)", 60, 1,
                                            0.10)):
        t = interval * checks
        rows.append({"tool": name, "time_to_rollback_s": t,
                     "blast_radius_failed_responses": round(rate * weight * ERROR_RATE * t), "modelled": True})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=40.0)
    ap.add_argument("--intervals", type=float, nargs="+", default=[5.0, 30.0])
    args = ap.parse_args()
    from rich.console import Console
    from rich.table import Table

    measured = [one(i, args.rate) for i in args.intervals]
    peers = modelled(args.rate)
    t = Table(title=f"faulty candidate (fails {ERROR_RATE:.0%}) at {args.rate:.0f} req/s")
    for col in ("", "time to 100 % stable (s)", "failed responses served", "how"):
        t.add_column(col)
    for m in measured:
        t.add_row(f"shipyard, interval {m['interval_s']:.0f} s ({m['state']})", f"{m['time_to_rollback_s']}",
                  f"{m['blast_radius_failed_responses']}", "measured")
    for p in peers:
        t.add_row(p["tool"], f"{p['time_to_rollback_s']}", f"{p['blast_radius_failed_responses']}", "modelled")
    Console().print(t)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"measured": measured, "peers_modelled": peers}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
