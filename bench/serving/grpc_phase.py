"""The gRPC phase of the serving benchmark: OIP v2 ModelInfer over gRPC, shipyard against MLServer, h2load load.

Every gRPC server of the run is started at once (shipyard with ``--grpc-port``, MLServer with its ``grpc_port``,
and ``grpc-floor``, a canned-response grpc.aio server that no Python gRPC server can beat); each one's answer is
checked through a real gRPC client, then all get a warm-up. The load then runs in ``rounds``: every round gives
every scenario to every server for ``duration / rounds`` seconds, the servers' order rotating from round to round,
so that a drift of the shared host's speed falls on all of them alike; the ratio of the same round (runs seconds
apart) is kept for each round, to show the spread. Idle servers wait while another one is loaded.

Figures per server and scenario: answered req/s over all rounds, latency percentiles of all requests, gRPC and
HTTP errors, the CPU time the server's process tree used per answered request, and h2load's own CPU time per
request (its ceiling on one core is the inverse).
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import grpcload
import procs
from servers import WORK, GrpcFloor, Server, Unavailable

SCENARIOS = [  # name, input encoding, connections, concurrent streams per connection
    ("grpc_raw_c8", "raw", 1, 8),  # one channel, 8 calls in flight (a shared tritonclient); raw_input_contents
    ("grpc_typed_c8", "typed", 1, 8),  # the same with typed fp64_contents
    ("grpc_raw_8conn", "raw", 8, 1),  # 8 clients with a connection each (wrk's c8)
]
PEER = "mlserver"
FLOOR = "grpc-floor"


def servers_for(servers: dict[str, Server], wanted: list[str]) -> dict[str, Server]:
    """shipyard and MLServer when asked for (``--only``), plus the floor when either runs."""
    chosen = {n: servers[n] for n in ("shipyard", PEER) if n in wanted and servers[n].serves_grpc}
    if chosen:
        chosen[FLOOR] = GrpcFloor()
    return chosen


def _start(server: Server, model_dir: Path, reaper: procs.Reaper) -> tuple[dict, Any]:
    entry: dict = {"name": server.name, "status": "ok"}
    http_port, grpc_port = procs.free_port(), procs.free_port()
    cmd = server.prepare(model_dir, http_port, grpc_port)
    entry.update(versions=server.versions, command=" ".join(cmd), notes=server.notes, grpc_port=grpc_port)
    log = WORK / "logs" / f"grpc-{server.name}.log"
    t0 = time.monotonic()
    proc = reaper.start(cmd, cwd=server.cwd, env={**os.environ, **server.env}, log=log)
    target = f"127.0.0.1:{grpc_port}"
    try:
        if not isinstance(server, GrpcFloor):
            procs.wait_http(f"http://127.0.0.1:{http_port}{server.health}", proc, server.start_timeout)
        grpcload.wait_ready(target, proc, server.start_timeout)
    except RuntimeError as e:
        reaper.kill(proc)
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        raise Unavailable(f"{e}; log {log}: {' | '.join(tail)}") from e
    entry["startup_s"] = round(time.monotonic() - t0, 2)
    entry["target"] = target
    return entry, proc


def run_phase(servers: dict[str, Server], model_dir: Path, data: dict, duration: float, warmup: float,
              rounds: int, reaper: procs.Reaper) -> dict:
    """Start, check, warm up, load in rounds; the ``grpc`` section of the results."""
    row, want = data["rows"][0], data["proba"][0]
    messages = {enc: grpcload.request_message(row, enc == "raw") for enc in ("raw", "typed")}
    bodies = {}
    for enc, msg in messages.items():
        bodies[enc] = WORK / "grpc" / f"model_infer_{enc}.bin"
        bodies[enc].parent.mkdir(parents=True, exist_ok=True)
        bodies[enc].write_bytes(grpcload.grpc_frame(msg))
    entries: dict[str, dict] = {}
    running: dict[str, tuple[Any, str, dict[str, int]]] = {}  # name -> (proc, target, answer size per encoding)
    try:
        for name, server in servers.items():
            print(f"[bench] gRPC {name} ...", file=sys.stderr, flush=True)
            proc = None
            try:
                entry, proc = _start(server, model_dir, reaper)
                sizes, checks = {}, {}
                for enc, msg in messages.items():
                    checks[enc], sizes[enc] = grpcload.check(entry["target"], msg, want)
                    if not checks[enc].startswith("ok"):
                        raise Unavailable(f"ModelInfer ({enc} contents): {checks[enc]}")
                entry["answer_check"] = checks
                entries[name], running[name] = entry, (proc, entry["target"], sizes)
            except Unavailable as e:
                if proc is not None:
                    reaper.kill(proc)
                entries[name] = {"name": name, "status": "not available", "reason": str(e)}
        per_run = duration / max(1, rounds)
        try:
            samples = _load(running, bodies, warmup, per_run, rounds)
        except RuntimeError as e:  # h2load failed or a server died: no figures from this phase
            for name in running:
                entries[name].update(status="failed", reason=str(e))
        else:
            for name in running:
                entries[name]["scenarios"] = {sc: aggregate(samples[name][sc]) for sc, *_ in SCENARIOS}
    finally:
        for proc, _, _ in running.values():
            reaper.kill(proc)
        for server in servers.values():
            server.cleanup()
    return {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": {
            "scenarios": [{"name": n, "contents": e, "connections": c, "streams_per_connection": m,
                           "concurrency": c * m, "rows_per_request": 1} for n, e, c, m in SCENARIOS],
            "rounds": rounds, "seconds_per_run": per_run if running else None, "warmup_s": warmup,
            "request_bytes": {enc: len(m) for enc, m in messages.items()},
            "loadgen": grpcload.h2load_version(),
        },
        "servers": entries,
        "ratios": ratios(entries),
    }


def _load(running: dict[str, tuple[Any, str, dict[str, int]]], bodies: dict[str, Path], warmup: float,
          per_run: float, rounds: int) -> dict[str, dict[str, list[dict]]]:
    """Warm every server up, then the rounds: each scenario on each server in turn, the order rotating."""
    for _, target, sizes in running.values():  # warm-up: lazy imports, caches, connection pools
        grpcload.run(target, bodies["raw"], 1, 8, warmup, sizes["raw"])
    samples: dict[str, dict[str, list[dict]]] = {n: {s[0]: [] for s in SCENARIOS} for n in running}
    order = list(running)
    for r in range(rounds):
        turn = order[r % len(order):] + order[:r % len(order)]
        for sc, enc, conns, streams in SCENARIOS:
            for name in turn:
                proc, target, sizes = running[name]
                if proc.poll() is not None:
                    raise RuntimeError(f"gRPC server {name} exited with code {proc.returncode} during the load")
                cpu0 = procs.tree_cpu_s(proc.pid)
                res = grpcload.run(target, bodies[enc], conns, streams, per_run, sizes[enc])
                res["server_cpu_s"] = procs.tree_cpu_s(proc.pid) - cpu0
                res["round"] = r
                samples[name][sc].append(res)
        print(f"[bench] gRPC round {r + 1}/{rounds} done", file=sys.stderr, flush=True)
    return samples


def aggregate(runs: list[dict]) -> dict:
    """One scenario of one server over all rounds."""
    seconds = sum(r["seconds"] for r in runs)
    answered = sum(r["answered"] for r in runs)
    requests = sum(r["requests"] for r in runs)
    lat = [v for r in runs for v in r["latencies_us"]]
    cpu = [r["loadgen_cpu_s"] for r in runs if r["loadgen_cpu_s"] is not None]
    out = {
        "connections": runs[0]["connections"], "streams_per_connection": runs[0]["streams_per_connection"],
        "seconds": round(seconds, 3), "requests": requests, "answered": answered,
        "grpc_errors": sum(r["grpc_errors"] for r in runs), "http_errors": sum(r["http_errors"] for r in runs),
        "answer_bytes_exact": all(r["answer_bytes_exact"] for r in runs),
        "req_per_s": answered / seconds if seconds else 0.0,
        "rounds_req_per_s": [round(r["req_per_s"], 1) for r in runs],
        "server_cpu_ms_per_req": 1e3 * sum(r["server_cpu_s"] for r in runs) / answered if answered else None,
        "loadgen_cpu_us_per_req": 1e6 * sum(cpu) / requests if cpu and requests else None,
    }
    out.update(grpcload.latency_ms(lat))
    return out


def _scen(entries: dict, name: str, sc: str) -> dict | None:
    e = entries.get(name, {})
    return e.get("scenarios", {}).get(sc) if e.get("status") == "ok" else None


def ratios(entries: dict) -> dict:
    """shipyard vs MLServer per scenario: over all rounds, and per round (min / median / max); shipyard vs floor."""
    out: dict = {}
    for sc, *_ in SCENARIOS:
        ship, peer, floor = (_scen(entries, n, sc) for n in ("shipyard", PEER, FLOOR))
        r: dict = {"vs_mlserver": None, "vs_mlserver_rounds": None, "of_floor": None}
        if ship and peer and peer["req_per_s"]:
            r["vs_mlserver"] = ship["req_per_s"] / peer["req_per_s"]
            per = [a / b for a, b in zip(ship["rounds_req_per_s"], peer["rounds_req_per_s"], strict=False) if b]
            if per:
                r["vs_mlserver_rounds"] = {"min": min(per), "median": statistics.median(per), "max": max(per),
                                           "each": [round(x, 2) for x in per]}
        if ship and floor and floor["req_per_s"]:
            r["of_floor"] = ship["req_per_s"] / floor["req_per_s"]
        out[sc] = r
    return out


def targets(grpc: dict | None, make: Any) -> list[dict]:
    """Issue 20 point 5: shipyard's gRPC req/s >= 2x MLServer's gRPC, concurrency 8, single row (each scenario)."""
    out = []
    for sc, enc, conns, streams in SCENARIOS:
        r = (grpc or {}).get("ratios", {}).get(sc, {})
        spread = r.get("vs_mlserver_rounds")
        detail = "ratio shipyard/mlserver gRPC req/s over all rounds"
        if spread:
            detail += f"; per round {spread['min']:.2f}-{spread['max']:.2f} (median {spread['median']:.2f})"
        layout = f"{conns} connection{'s' if conns > 1 else ''} x {streams} stream{'s' if streams > 1 else ''}"
        out.append(make(f"gRPC c8 single-row ({enc} contents, {layout}): shipyard req/s >= 2x MLServer gRPC",
                        r.get("vs_mlserver"), 2.0, ">=", detail))
    return out


def fmt(v: float | None, spec: str = ".0f") -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


HEADER = ["server", "scenario", "req/s", "rounds", "p50 ms", "p99 ms", "CPU ms/req", "errors", "vs mlserver",
          "of floor"]


def table_rows(grpc: dict) -> tuple[list[list[str]], list[str]]:
    rows, missing = [], []
    label_suffix = " (carried over)" if grpc.get("carried_over") else ""
    for name, e in grpc.get("servers", {}).items():
        if e.get("status") != "ok":
            missing.append(f"gRPC {name}{label_suffix}: {e.get('status')}: {e.get('reason', '')}")
            continue
        for sc, s in e["scenarios"].items():
            r = grpc["ratios"].get(sc, {}) if name == "shipyard" else {}
            per = s["rounds_req_per_s"]
            rows.append([name + label_suffix, sc, fmt(s["req_per_s"]), f"{min(per):.0f}-{max(per):.0f}",
                         fmt(s["p50_ms"], ".2f"), fmt(s["p99_ms"], ".2f"), fmt(s["server_cpu_ms_per_req"], ".2f"),
                         str(s["grpc_errors"] + s["http_errors"]) + ("" if s["answer_bytes_exact"] else " (!)"),
                         fmt(r.get("vs_mlserver"), ".2f") + ("x" if r.get("vs_mlserver") else ""),
                         fmt(r.get("of_floor"), ".0%") if r.get("of_floor") else ""])
    return rows, missing


def loadgen_line(grpc: dict) -> str:
    """h2load's own cost: CPU per request (worst scenario) and the req/s one core of it could drive."""
    worst = max((s.get("loadgen_cpu_us_per_req") or 0.0 for e in grpc.get("servers", {}).values()
                 for s in e.get("scenarios", {}).values()), default=0.0)
    floor = max((s["req_per_s"] for s in grpc.get("servers", {}).get(FLOOR, {}).get("scenarios", {}).values()),
                default=None)
    if not worst:
        return ""
    line = (f"load generator ({grpc['config']['loadgen']}, 1 thread): at most {worst:.0f} us CPU per request, "
            f"a ceiling of ~{1e6 / worst:,.0f} req/s on one core")
    if floor:
        line += f"; it drove the canned-response grpc.aio server ({FLOOR}) at {floor:,.0f} req/s"
    return line


LEGEND = ("rounds: lowest-highest req/s of one run; CPU ms/req: CPU time of the server's whole process tree per "
          "answered request (shipyard: gateway + model process); errors: gRPC error answers and HTTP/2 failures, "
          "(!) when the answers' bytes do not add up; of floor: shipyard's req/s / grpc-floor's")


def print_tables(grpc: dict | None, console: Any = None, table_cls: Any = None) -> None:
    if not grpc:
        return
    rows, missing = table_rows(grpc)
    if table_cls is None or console is None:
        for r in [HEADER, *rows]:
            print(" | ".join(f"{c:>12}" for c in r))
        for m in [LEGEND, *missing, loadgen_line(grpc)]:
            print(m)
        return
    t = table_cls(title="gRPC (OIP v2 ModelInfer, one row; h2load on 127.0.0.1; rounds interleave the servers)")
    for h in HEADER:
        t.add_column(h, justify="left" if h in ("server", "scenario") else "right", overflow="fold")
    for r in rows:
        t.add_row(*r)
    console.print(t)
    for m in [LEGEND, *missing, loadgen_line(grpc)]:
        console.print(m, markup=False, highlight=False)


def carried(previous: dict | None) -> dict | None:
    return {**previous, "carried_over": True} if previous else None
