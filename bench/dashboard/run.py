"""Dashboard page times with 1,000 model versions and 100,000 audit events in the store.

Builds a workspace (SQLite) with one model of 1,000 versions (real skops artifact, an evaluation with gates
and confidence intervals, every 7th version rejected, every 5th waiting for approval) and 100,000 audit
events, starts `shipyard server` on a loopback port, and times, per dashboard page, the page's HTML and
each /api/v1 call the page makes to draw itself (median of N runs, whole HTTP round trip). Prints a table
and writes bench/results/dashboard.json. Target (issue 17): each page's HTML answers in under 200 ms.

    .venv/bin/python bench/dashboard/run.py [--versions 1000] [--events 100000] [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "results" / "dashboard.json"
sys.path.insert(0, str(HERE.parents[1]))


def build(root: Path, versions: int, events: int) -> tuple[str, str]:
    from rich.progress import Progress
    from tests.builders import make_skops_model

    from shipyard.config import Settings
    from shipyard.core.stages import Stage
    from shipyard.governance import audit
    from shipyard.workspace import Workspace

    settings = Settings(db_url=f"sqlite:///{root / 'shipyard.db'}", actor="alice")
    ws = Workspace.init(root / "ws", settings=settings)
    art = make_skops_model(root / "m.skops").read_bytes()
    sig = {"inputs": [{"name": f"f{i}", "type": "float", "nullable": False} for i in range(4)],
           "outputs": [{"name": "prediction"}]}
    with Progress() as bar:
        task = bar.add_task("registering versions", total=versions)
        for v in range(1, versions + 1):
            auc = 0.7 + (v % 50) / 500
            ev = {"main_metric": "roc_auc", "metrics": {"roc_auc": auc, "accuracy": auc - 0.05, "brier": 0.15},
                  "ci": {"roc_auc": [auc - 0.02, auc + 0.02]},
                  "gates": [{"gate": "roc_auc >= 0.75", "metric": "roc_auc", "value": auc, "threshold": 0.75,
                             "passed": auc >= 0.75, "note": ""}]}
            ws.models.register("credit-risk", art, "sklearn", signature=sig, evaluation=ev, inspect=v == 1)
            bar.advance(task)
        ws.users.add("ada", "admin")
        token = ws.users.create_token("ada").token
        task = bar.add_task("appending audit events", total=events)
        done = 0
        while done < events:
            n = min(2000, events - done)
            with ws.db.begin() as conn:
                for i in range(n):
                    audit.append(conn, "bench", "bench.event", f"bench:{done + i}", None, {"i": done + i})
            done += n
            bar.advance(task, n)
    _ = Stage
    ws.close()
    return str(root / "ws"), token


PAGES: dict[str, list[str]] = {
    "overview": ["/models", "/endpoints", "/approvals/queue", "/audit/events?limit=10"],
    "models": ["/models"],
    "model": ["/models/credit-risk?summary=true"],
    "version": ["/models/credit-risk/versions/1", "/endpoints"],
    "approvals": ["/approvals/queue"],
    "endpoints": ["/endpoints"],
    "audit": ["/audit/events?limit=100", "/audit/verify"],
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--versions", type=int, default=1000)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    import httpx
    from rich.console import Console
    from rich.table import Table
    from tests.builders import free_port

    with tempfile.TemporaryDirectory(prefix="shipyard-dash-bench-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        ws_root, token = build(root, args.versions, args.events)
        built_s = time.perf_counter() - t0
        port = free_port()
        env = {**os.environ, "SHIPYARD_DB_URL": f"sqlite:///{root / 'shipyard.db'}"}
        exe = str(Path(sys.executable).parent / "shipyard")
        proc = subprocess.Popen([exe, "server", "--port", str(port)], cwd=ws_root, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=base, timeout=60, headers={"Authorization": f"Bearer {token}"}) as c:
                for _ in range(200):
                    try:
                        if c.get("/api/v1/health").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    time.sleep(0.1)

                def timed(path: str) -> float:
                    samples = []
                    for _ in range(args.runs):
                        t = time.perf_counter()
                        r = c.get(path)
                        samples.append((time.perf_counter() - t) * 1000)
                        r.raise_for_status()
                    return statistics.median(samples)

                html_ms = timed("/")
                rows = []
                for page, calls in PAGES.items():
                    per = {p: round(timed("/api/v1" + p), 1) for p in calls}
                    rows.append({"page": page, "html_ms": round(html_ms, 1), "data_ms": per,
                                 "slowest_call_ms": max(per.values()), "html_target_ms": 200,
                                 "html_pass": html_ms < 200})
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    table = Table(title=f"dashboard pages: {args.versions} versions, {args.events} audit events "
                        f"(median of {args.runs})")
    for col in ("page", "HTML ms", "slowest data call", "ms", "HTML < 200 ms"):
        table.add_column(col)
    for r in rows:
        slowest = max(r["data_ms"], key=r["data_ms"].get)
        table.add_row(r["page"], f"{r['html_ms']}", slowest, f"{r['slowest_call_ms']}",
                      "pass" if r["html_pass"] else "FAIL")
    Console().print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"versions": args.versions, "events": args.events, "runs": args.runs,
                                   "build_s": round(built_s, 1), "pages": rows}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
