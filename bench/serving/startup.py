"""Cold start, side by side: each server started and stopped several times, the servers taking turns.

One start of each server per run (what ``run.py`` measured until issue 19) read 2.3 s against 1.8 s on a
quiet host and anything from 3 to 14 s on this shared one, where other test suites come and go within a
minute: a single reading compares two moments, not two servers. So every server is prepared once (its model
folder or workspace, one free port), then started ``rounds`` times in turns, the order reversed every round
(shipyard, mlserver, mlserver, shipyard, ...): the start-up time of a server is the median of its runs.

Each run is measured the same way for every server: from ``Popen`` (process start) until the server's
readiness URL for the model (``Server.health``: ``/v2/models/hgb/ready`` for shipyard and MLServer) answers
200, polled every 50 ms (``procs.wait_http``); then the whole process group is killed and waited for before
the next start. Nothing is kept warm between runs except the OS's file cache, the same for every server.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import procs
from servers import Server, Unavailable


def measure(servers: list[Server], model_dir: Path, rounds: int, reaper: procs.Reaper, logs: Path) -> dict[str, dict]:
    """server name -> {"runs_s": [...], "median_s", "min_s", "max_s"} or {"status", "reason"}."""
    out: dict[str, dict] = {}
    ready: list[tuple[Server, list[str], int]] = []
    for server in servers:
        port = procs.free_port()
        try:
            ready.append((server, server.prepare(model_dir, port), port))
        except Unavailable as exc:
            out[server.name] = {"status": "not available", "reason": str(exc)}
            server.cleanup()
    runs: dict[str, list[float]] = {s.name: [] for s, _, _ in ready}
    try:
        for r in range(rounds):
            for server, cmd, port in ready if r % 2 == 0 else reversed(ready):
                if server.name in out:
                    continue
                env = {**os.environ, **server.env}
                t0 = time.monotonic()
                proc = reaper.start(cmd, cwd=server.cwd, env=env, log=logs / f"{server.name}.startup.log")
                try:
                    procs.wait_http(f"http://127.0.0.1:{port}{server.health}", proc, server.start_timeout)
                    runs[server.name].append(round(time.monotonic() - t0, 3))
                except RuntimeError as exc:
                    out[server.name] = {"status": "failed", "reason": str(exc)}
                finally:
                    reaper.kill(proc)
    finally:
        for server, _, _ in ready:
            server.cleanup()
    for name, times in runs.items():
        if name not in out and times:
            out[name] = {"runs_s": times, "median_s": round(statistics.median(times), 3), "min_s": min(times),
                         "max_s": max(times)}
    return out
