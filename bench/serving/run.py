"""Serving benchmark: shipyard's gateway against MLflow, MLServer and BentoML, same model, wrk load; then OIP v2
over gRPC, shipyard against MLServer, h2load load (grpc_phase.py).

    .venv/bin/python bench/serving/run.py [--duration 10] [--only shipyard,mlflow,...] [--grpc on|off|only]

Prints a table and writes bench/results/serving.json. Servers not run this time keep their
previous figures from that file (marked "carried_over"). See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import grpc_phase  # noqa: E402
import grpcload  # noqa: E402
import loadgen  # noqa: E402
import procs  # noqa: E402
import startup  # noqa: E402
from servers import PEER_NAMES, PROJECT_VENV, ROOT, WORK, Server, Unavailable, all_servers  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "serving.json"
MODEL_DIR = WORK / "model"
SCENARIOS = [  # name, rows per request, connections
    ("single_c1", 1, 1),
    ("single_c8", 1, 8),
    ("single_c32", 1, 32),
    ("batch32_c8", 32, 8),
]
N_BODIES = 64


def project_python() -> str:
    py = PROJECT_VENV / "bin" / "python"
    return str(py) if py.exists() else sys.executable


def model_step(cmd: str) -> dict:
    r = subprocess.run(
        [project_python(), str(Path(__file__).parent / "model.py"), cmd, str(MODEL_DIR)], capture_output=True, text=True
    )
    if r.returncode != 0:
        sys.exit(f"model.py {cmd} failed:\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def numbers(obj) -> list[float]:
    if isinstance(obj, bool):
        return []
    if isinstance(obj, (int, float)):
        return [float(obj)]
    if isinstance(obj, dict):
        return [v for k in obj for v in numbers(obj[k])]
    if isinstance(obj, list):
        return [v for x in obj for v in numbers(x)]
    return []


def check_answer(raw: bytes, proba: list[list[float]], labels: list[int]) -> str:
    """Does the response carry the in-process predict_proba (or labels) for the rows sent?"""
    try:
        got = numbers(json.loads(raw))
    except ValueError:
        return "unparsable response"
    want = [v for row in proba for v in row]
    for i in range(len(got) - len(want) + 1):
        if all(abs(got[i + j] - w) < 1e-6 for j, w in enumerate(want)):
            return "ok (predict_proba matches in-process)"
    if any(got[i : i + len(labels)] == [float(x) for x in labels] for i in range(len(got))):
        return "labels only (matches in-process predict)"
    return f"mismatch: got {json.dumps(got[:6])}..."


def bench_server(server: Server, data: dict, args, reaper: procs.Reaper) -> dict:
    entry: dict = {"name": server.name, "status": "ok"}
    proc = None
    try:
        port = procs.free_port()
        cmd = server.prepare(MODEL_DIR, port)
        entry.update(versions=server.versions, command=" ".join(cmd), notes=server.notes, port=port)
        env = {**os.environ, **server.env}
        log = WORK / "logs" / f"{server.name}.log"
        t0 = time.monotonic()
        proc = reaper.start(cmd, cwd=server.cwd, env=env, log=log)
        base = f"http://127.0.0.1:{port}"
        try:
            procs.wait_http(base + server.health, proc, server.start_timeout)
        except RuntimeError as e:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:]
            raise Unavailable(f"{e}; log {log}: {' | '.join(tail)}") from e
        entry["startup_s"] = round(time.monotonic() - t0, 2)
        time.sleep(1.0)  # let start-up settle (a poll, the log flusher's first tick) before the idle reading
        entry["rss_idle_mb"] = round(procs.tree_rss_mb(proc.pid), 1)
        idle = procs.tree_memory(proc.pid)
        entry["pss_idle_mb"], entry["uss_idle_mb"] = idle["pss_mb"], idle["uss_mb"]
        entry["rss_idle_distinct_mb"] = idle["rss_distinct_mb"]
        entry["memory_idle"] = idle["processes"]

        status, raw = procs.post_json(base + server.path, server.body(data["rows"][:2], data["columns"]))
        if status != 200:
            raise Unavailable(f"POST {server.path} answered {status}: {raw[:200].decode(errors='replace')}")
        entry["answer_check"] = check_answer(raw, data["proba"][:2], data["labels"][:2])

        scripts = {}
        for rows in sorted({r for _, r, _ in SCENARIOS}):
            bodies = [
                server.body(data["rows"][(i * rows) % (len(data["rows"]) - rows) :][:rows], data["columns"])
                for i in range(N_BODIES)
            ]
            scripts[rows] = loadgen.write_script(WORK / "lua" / f"{server.name}_{rows}.lua", server.path, bodies)

        loadgen.run(base, scripts[1], 8, args.warmup)  # warm-up: JIT caches, lazy imports, pools
        entry["scenarios"] = {}
        probe = model_step("probe")  # the in-process limit, right before this scenario (the server idles)
        for name, rows, conns in SCENARIOS:
            if proc.poll() is not None:
                raise Unavailable(f"server exited with code {proc.returncode} during the load")
            with procs.RssSampler(proc.pid) as rss:
                res = loadgen.run(base, scripts[rows], conns, args.duration)
            res["rows_per_request"] = rows
            res["rows_per_s"] = res["req_per_s"] * rows
            res["rss_max_mb"] = round(rss.max_mb, 1)
            time.sleep(0.5)
            after = model_step("probe")  # ... and right after it
            res["in_process"] = bracket(probe, after)
            probe = after
            entry["scenarios"][name] = res
        entry["rss_after_mb"] = round(procs.tree_rss_mb(proc.pid), 1)
        entry["rss_max_mb"] = max(s["rss_max_mb"] for s in entry["scenarios"].values())
    except Unavailable as e:
        entry.update(status="not available", reason=str(e))
    except RuntimeError as e:  # wrk failure and the like: keep going with the next server
        entry.update(status="failed", reason=str(e))
    finally:
        if proc is not None:
            reaper.kill(proc)
        server.cleanup()
    return entry


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not b:
        return None
    return a / b


def scen(results: dict, server: str, name: str, key: str) -> float | None:
    s = results.get(server, {})
    if s.get("status") != "ok":
        return None
    return s.get("scenarios", {}).get(name, {}).get(key)


BRACKETED = ("single_row_p50_ms", "single_row_per_s", "batch32_p50_ms", "batch32_rows_per_s")


def bracket(before: dict, after: dict) -> dict:
    """The in-process limit around one scenario: the mean of the measurements just before and just after it (the
    host's speed drifts by up to 2x within a run here; a ratio against the start-of-run figure carries that)."""
    out: dict = {k: (before[k] + after[k]) / 2 for k in BRACKETED}
    out["before"] = {k: before[k] for k in BRACKETED}
    out["after"] = {k: after[k] for k in BRACKETED}
    return out


def limit_for(results: dict, server: str, scenario: str, limit: dict) -> dict:
    """The bracketing limit of that scenario; the start-of-run one for results from before bracketing."""
    return results.get(server, {}).get("scenarios", {}).get(scenario, {}).get("in_process") or limit


def make_target(name: str, value: float | None, threshold: float | None, op: str, detail: str) -> dict:
    if value is None or threshold is None:
        verdict = "n/a"
    else:
        verdict = "pass" if (value >= threshold if op == ">=" else value <= threshold) else "FAIL"
    return {"target": name, "value": value, "op": op, "threshold": threshold, "result": verdict, "detail": detail}


def analyse(results: dict, limit: dict) -> tuple[dict, list[dict]]:
    ratios: dict = {}
    for srv in results:
        r: dict = {}
        for name, rows, _ in SCENARIOS:
            lim_all = limit_for(results, srv, name, limit)
            rps = scen(results, srv, name, "req_per_s")
            lim = lim_all["single_row_per_s"] if rows == 1 else lim_all["batch32_rows_per_s"]
            p50 = scen(results, srv, name, "p50_ms")
            lim_p50 = lim_all["single_row_p50_ms"] if rows == 1 else lim_all["batch32_p50_ms"]
            r[name] = {
                "req_per_s_vs_mlflow": ratio(rps, scen(results, "mlflow", name, "req_per_s")),
                "rows_per_s_vs_in_process_1thread": ratio(scen(results, srv, name, "rows_per_s"), lim),
                "p50_overhead_ms_vs_in_process": None if p50 is None else p50 - lim_p50,
            }
        ratios[srv] = r

    peers_c8 = {p: scen(results, p, "single_c8", "req_per_s") for p in PEER_NAMES}
    peers_c8 = {p: v for p, v in peers_c8.items() if v}
    best_peer = max(peers_c8, key=peers_c8.get) if peers_c8 else None
    ship_c8 = scen(results, "shipyard", "single_c8", "req_per_s")
    ship_c1 = scen(results, "shipyard", "single_c1", "p50_ms")
    ship_c32 = scen(results, "shipyard", "single_c32", "rows_per_s")
    ship_c32_p99 = scen(results, "shipyard", "single_c32", "p99_ms")
    mlflow_c8 = peers_c8.get("mlflow")
    peers_c32 = {p: scen(results, p, "single_c32", "rows_per_s") for p in PEER_NAMES}
    peers_c32 = {p: v for p, v in peers_c32.items() if v}
    best_c32 = max(peers_c32, key=peers_c32.get) if peers_c32 else None
    ship = results.get("shipyard", {})
    mlserver = results.get("mlserver", {})
    # the same measure for both: the tree's RSS with every page once (one process: its RSS), else summed RSS
    mem_key = "rss_idle_distinct_mb" if ship.get("rss_idle_distinct_mb") and mlserver.get("rss_idle_distinct_mb") \
        else "rss_idle_mb"
    mem_detail = "MB, whole process tree, " + ("each resident page once" if mem_key == "rss_idle_distinct_mb"
                                               else "RSS summed over its processes")
    ship_idle = ship.get(mem_key) if ship.get("status") == "ok" else None
    mlserver_idle = mlserver.get(mem_key) if mlserver.get("status") == "ok" else None
    ship_start, mlserver_start = (results.get(n, {}).get("startup", {}).get("median_s")
                                  for n in ("shipyard", "mlserver"))
    rounds = len(ship.get("startup", {}).get("runs_s", []))

    target = make_target
    targets = [
        target(
            "c8 single-row: shipyard req/s >= 10x MLflow",
            ratio(ship_c8, mlflow_c8),
            10.0,
            ">=",
            "ratio shipyard/mlflow req/s at concurrency 8",
        ),
        target(
            f"c8 single-row: shipyard req/s >= 2x best peer ({best_peer or 'none'})",
            ratio(ship_c8, peers_c8.get(best_peer) if best_peer else None),
            2.0,
            ">=",
            "ratio shipyard/best-peer req/s at concurrency 8",
        ),
        target(
            "c1: shipyard p50 <= in-process single-row p50 + 1 ms",
            ship_c1,
            limit_for(results, "shipyard", "single_c1", limit)["single_row_p50_ms"] + 1.0,
            "<=",
            "milliseconds",
        ),
        target(
            f"c32 single-row: shipyard rows/s >= 10x best peer's c32 ({best_c32 or 'none'})",
            ratio(ship_c32, peers_c32.get(best_c32) if best_c32 else None),
            10.0,
            ">=",
            "ratio shipyard/best-peer rows/s at 32 concurrent single-row clients",
        ),
        target("c32 single-row: shipyard p99 <= 10 ms", ship_c32_p99, 10.0, "<=", "milliseconds"),
        target("memory: shipyard idle RSS <= MLServer idle RSS (same run)", ship_idle, mlserver_idle, "<=",
               mem_detail),
        target("memory: shipyard idle RSS <= 250 MB", ship_idle, 250.0, "<=", mem_detail),
        target(f"cold start: shipyard <= MLServer (median of {rounds} starts each, taking turns)", ship_start,
               mlserver_start, "<=", "seconds from process start until /v2/models/hgb/ready answers 200"),
    ]
    return ratios, targets


MEMORY_HEADER = ["server", "idle RSS (pages once)", "idle RSS (summed)", "idle PSS", "idle USS", "max RSS (load)",
                 "processes at idle (RSS MB)", "start-up s (median; runs)"]


def fmt(v: float | None, spec: str = ".0f") -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def print_report(report: dict) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        Console = Table = None  # noqa: N806
    limit = report["in_process"]
    header = ["server", "scenario", "req/s", "rows/s", "p50 ms", "p99 ms", "max RSS MB", "vs mlflow", "vs in-proc"]

    def in_process_row(label: str, scenario: str, rows_per_s: float, per_call: int, p50: float,
                       p99: float | None = None) -> list[str]:
        return [label, scenario, fmt(rows_per_s / per_call), fmt(rows_per_s), fmt(p50, ".3f"),
                "" if p99 is None else fmt(p99, ".3f"), "", "", ""]

    rows = [
        in_process_row("in-process (1 thread)", "single row", limit["single_row_per_s"], 1,
                       limit["single_row_p50_ms"], limit["single_row_p99_ms"]),
        in_process_row("in-process (1 thread)", "batch 32", limit["batch32_rows_per_s"], 32, limit["batch32_p50_ms"]),
    ]
    if limit.get("batch32_rows_per_s_other_core_busy"):
        rows.append(in_process_row("in-process, other core busy", "batch 32",
                                   limit["batch32_rows_per_s_other_core_busy"], 32,
                                   limit["batch32_p50_ms_other_core_busy"]))
    missing: list[str] = []
    for name, res in report["servers"].items():
        label = name + (" (carried over)" if res.get("carried_over") else "")
        if res.get("status") != "ok":
            rows.append([label, f"{res.get('status')} (reason below)"] + [""] * 7)
            missing.append(f"{label}: {res.get('status')}: {res.get('reason', '')}")
            continue
        for sc, s in res["scenarios"].items():
            r = report["ratios"][name][sc]
            rows.append(
                [
                    label,
                    sc,
                    fmt(s["req_per_s"]),
                    fmt(s["rows_per_s"]),
                    fmt(s["p50_ms"], ".2f"),
                    fmt(s["p99_ms"], ".2f"),
                    fmt(s["rss_max_mb"]),
                    fmt(r["req_per_s_vs_mlflow"], ".2f") + "x",
                    fmt(r["rows_per_s_vs_in_process_1thread"], ".2f") + "x",
                ]
            )
    trows = [
        [t["target"], fmt(t["value"], ".3f"), f"{t['op']} {fmt(t['threshold'], '.3f')}", t["result"]]
        for t in report["targets"]
    ]
    if Table is None:
        for r in [header, *rows]:
            print(" | ".join(f"{c:>12}" for c in r))
        for r in [MEMORY_HEADER, *memory_rows(report)]:
            print(" | ".join(f"{c:>12}" for c in r))
        grpc_phase.print_tables(report.get("grpc"))
        for r in trows:
            print(" | ".join(r))
        print("\n".join(missing))
        print(context_line(report))
        print(bracket_line(report))
        return
    console = Console(width=max(120, Console().width))
    table = Table(title="serving benchmark (wrk on 127.0.0.1; one model, HistGradientBoostingClassifier, 20 features)")
    for h in header:
        table.add_column(h, justify="left" if h in ("server", "scenario") else "right", overflow="fold")
    for r in rows:
        table.add_row(*r)
    console.print(table)
    for m in missing:
        console.print(m, markup=False, highlight=False)
    mt = Table(title="memory (MB, whole process tree; summed RSS counts a library once per process mapping it) "
                     "and cold start")
    for h in MEMORY_HEADER:
        mt.add_column(h, justify="left" if h in ("server", "processes at idle (RSS MB)") else "right", overflow="fold")
    for r in memory_rows(report):
        mt.add_row(*r)
    console.print(mt)
    grpc_phase.print_tables(report.get("grpc"), console, Table)
    tt = Table(title="targets")
    for h in ("target", "value", "threshold", "result"):
        tt.add_column(h)
    for r in trows:
        tt.add_row(*r[:3], f"[green]{r[3]}[/]" if r[3] == "pass" else f"[red]{r[3]}[/]" if r[3] == "FAIL" else r[3])
    console.print(tt)
    console.print(context_line(report), markup=False, highlight=False)
    console.print(bracket_line(report), markup=False, highlight=False)


def bracket_line(report: dict) -> str:
    """The in-process limit around shipyard's c1 and c32 scenarios (what their targets compare with)."""
    sc = report["servers"].get("shipyard", {}).get("scenarios", {})
    c1, c32 = sc.get("single_c1", {}).get("in_process"), sc.get("single_c32", {}).get("in_process")
    if not c1 or not c32:
        return ""
    return (f"in-process limit re-measured around each scenario (ratios and targets use the mean of before and "
            f"after; the rows above were measured before the first server): shipyard c1 single-row p50 "
            f"{c1['before']['single_row_p50_ms']:.3f} / {c1['after']['single_row_p50_ms']:.3f} ms, c32 batch-32 "
            f"{c32['before']['batch32_rows_per_s']:,.0f} / {c32['after']['batch32_rows_per_s']:,.0f} rows/s")


def context_line(report: dict) -> str:
    """Not targets: c32 against the in-process batch-32 rate (the target until issue 18), bracketed and with the
    other core busy, as it is under load."""
    c32 = scen(report["servers"], "shipyard", "single_c32", "rows_per_s")
    if not c32:
        return ""
    lim = limit_for(report["servers"], "shipyard", "single_c32", report["in_process"])["batch32_rows_per_s"]
    line = (f"context (not a target; the c32 target until issue 18 asked >= 50%): shipyard c32 = {c32 / lim:.0%} of "
            f"in-process batch-32 ({lim:,.0f} rows/s, bracketed)")
    busy = report["in_process"].get("batch32_rows_per_s_other_core_busy")
    if busy:
        line += (f"; {c32 / busy:.0%} of in-process batch-32 measured while the other core runs a Python loop "
                 f"({busy:,.0f} rows/s, {busy / report['in_process']['batch32_rows_per_s']:.0%} of the idle-machine "
                 "figure in this run)")
    return line


def memory_rows(report: dict) -> list[list[str]]:
    """Per server: idle RSS / PSS / USS of the whole process tree, RSS max under load, and the processes at idle."""
    out = []
    for name, res in report["servers"].items():
        if res.get("status") != "ok":
            continue
        procs_idle = ", ".join(f"{p['process'][:38]} {p['rss_mb']:.0f}" for p in res.get("memory_idle", []))
        load_max = res.get("rss_max_mb") or max((s["rss_max_mb"] for s in res["scenarios"].values()), default=None)
        cold = res.get("startup", {})
        start = (f"{cold['median_s']:.2f}; " + " ".join(f"{t:.2f}" for t in cold["runs_s"]) if "median_s" in cold
                 else fmt(res.get("startup_s"), ".2f"))
        out.append([name + (" (carried over)" if res.get("carried_over") else ""), fmt(res.get("rss_idle_distinct_mb")),
                    fmt(res.get("rss_idle_mb")), fmt(res.get("pss_idle_mb")), fmt(res.get("uss_idle_mb")),
                    fmt(load_max), procs_idle or "-", start])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per scenario (default 10)")
    ap.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per server (default 3)")
    ap.add_argument("--only", default="", help="comma list of: shipyard, shipyard-v1, mlflow, mlserver, bentoml")
    ap.add_argument("--shipyard-workers", type=int, default=None, help="pass --workers N to shipyard serve")
    ap.add_argument("--grpc", choices=("on", "off", "only"), default="on",
                    help="the gRPC phase (shipyard and MLServer over gRPC, h2load): on (after HTTP), off, or only")
    ap.add_argument("--grpc-rounds", type=int, default=5, help="gRPC: rounds that split --duration (default 5)")
    ap.add_argument("--startup-runs", type=int, default=5,
                    help="cold starts per server, taking turns, before the load (default 5; 0: none)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()

    if args.grpc != "only" and not loadgen.wrk_path():
        sys.exit("wrk not found: run bash bench/serving/setup_peers.sh wrk (apt-get install -y wrk)")
    if args.grpc != "off" and not grpcload.h2load_path():
        sys.exit("h2load not found: run bash bench/serving/setup_peers.sh h2load (apt-get install -y nghttp2-client), "
                 "or --grpc off")
    servers = all_servers(args.shipyard_workers)
    wanted = [s.strip() for s in args.only.split(",") if s.strip()] or list(servers)
    unknown = set(wanted) - set(servers)
    if unknown:
        sys.exit(f"--only: unknown server(s) {sorted(unknown)}; choose from {list(servers)}")

    WORK.mkdir(parents=True, exist_ok=True)
    model_meta = model_step("train")
    limit = model_step("limit")
    data = json.loads((MODEL_DIR / "rows.json").read_text())

    previous: dict = {}
    previous_grpc = None
    if args.out.exists():
        try:
            prev_doc = json.loads(args.out.read_text())
            previous, previous_grpc = prev_doc.get("servers", {}), prev_doc.get("grpc")
        except ValueError:
            previous = {}

    reaper = procs.Reaper()
    results: dict = {}
    grpc = grpc_phase.carried(previous_grpc)
    try:
        cold: dict[str, dict] = {}
        if args.startup_runs > 0 and args.grpc != "only":
            print(f"[bench] cold starts: {', '.join(wanted)}, {args.startup_runs} each, taking turns", file=sys.stderr,
                  flush=True)
            cold = startup.measure([servers[n] for n in wanted], MODEL_DIR, args.startup_runs, reaper, WORK / "logs")
        for name in wanted if args.grpc != "only" else []:
            print(f"[bench] {name} ...", file=sys.stderr, flush=True)
            res = bench_server(servers[name], data, args, reaper)
            res["measured_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            if name in cold:
                res["startup"] = cold[name]
            print(f"[bench] {name}: {res['status']} {res.get('reason', '')}", file=sys.stderr, flush=True)
            results[name] = res
        grpc_servers = grpc_phase.servers_for(all_servers(args.shipyard_workers), wanted)
        if args.grpc != "off" and grpc_servers:
            grpc = grpc_phase.run_phase(grpc_servers, MODEL_DIR, data, args.duration, args.warmup, args.grpc_rounds,
                                        reaper)
    except KeyboardInterrupt:
        print("[bench] interrupted: stopping servers", file=sys.stderr)
        reaper.kill_all()
        return 130
    finally:
        reaper.kill_all()

    for name, res in previous.items():
        if name not in results:
            results[name] = {**res, "carried_over": True}
    order = [n for n in servers if n in results]
    results = {n: results[n] for n in order}

    ratios, targets = analyse(results, limit)
    targets += grpc_phase.targets(grpc, make_target)
    report = {
        "benchmark": "serving",
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "wrk": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0].strip()
            if loadgen.wrk_path() else None,
            "h2load": grpcload.h2load_version() or None,
        },
        "config": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "scenarios": [
                {"name": n, "rows_per_request": r, "connections": c, "wrk_threads": loadgen.threads_for(c)}
                for n, r, c in SCENARIOS
            ],
            "peer_env": {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
            "shipyard_workers": args.shipyard_workers,
        },
        "model": model_meta,
        "in_process": limit,
        "servers": results,
        "ratios": ratios,
        "grpc": grpc,
        "targets": targets,
        "note": "shared, noisy 2-core machine: compare ratios measured in the same run, not absolute numbers",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    tmp.replace(args.out)
    print_report(report)
    print(f"\nwrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
