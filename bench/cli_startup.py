"""CLI start-up time: `shipyard --help` against `mlflow --help`, side by side.

    .venv/bin/python bench/cli_startup.py [--runs 10] [--mlflow PATH] [--out bench/results/cli_startup.json]

Each command runs once to warm the page cache, then --runs times; we report the median and the
minimum wall time (fork + exec + interpreter start + imports + help text), the ratio
mlflow/shipyard, and whether shipyard meets its target (median < 0.3 s). MLflow comes from the
peer venv bench/.peers/mlflow (bash bench/serving/setup_peers.sh mlflow). A command that is
missing or fails is reported as such, with its error, and the script still writes the JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 0.3


def shown(cmd: list[str]) -> str:
    exe = Path(cmd[0])
    return " ".join([str(exe.relative_to(ROOT)) if exe.is_relative_to(ROOT) else str(exe), *cmd[1:]])


def measure(cmd: list[str], runs: int) -> dict:
    exe = Path(cmd[0])
    if not exe.exists():
        return {"command": shown(cmd), "status": "not available", "reason": f"{exe} not found"}
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "NO_COLOR": "1", "COLUMNS": "100"}
    times = []
    for i in range(runs + 1):  # the first run is the warm-up
        t0 = time.perf_counter()
        try:
            r = subprocess.run(
                cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=60, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired:
            return {"command": shown(cmd), "status": "failed", "reason": "timed out after 60 s"}
        elapsed = time.perf_counter() - t0
        if r.returncode != 0:
            err = (r.stderr.strip() or r.stdout.strip() or "no output").splitlines()
            return {"command": shown(cmd), "status": "failed", "reason": f"exit {r.returncode}: {err[-1][:300]}"}
        if i > 0:
            times.append(elapsed)
    return {
        "command": shown(cmd),
        "status": "ok",
        "runs": runs,
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "times_s": [round(t, 4) for t in times],
    }


def version(python: Path, dist: str) -> str | None:
    if not python.exists():
        return None
    r = subprocess.run(
        [str(python), "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"],
        capture_output=True,
        text=True,
    )
    return r.stdout.strip() if r.returncode == 0 else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--shipyard", type=Path, default=ROOT / ".venv" / "bin" / "shipyard")
    ap.add_argument("--mlflow", type=Path, default=ROOT / "bench" / ".peers" / "mlflow" / "bin" / "mlflow")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "cli_startup.json")
    args = ap.parse_args()

    tools = {
        "shipyard": (
            measure([str(args.shipyard), "--help"], args.runs),
            version(args.shipyard.parent / "python", "shipyard"),
        ),
        "mlflow": (measure([str(args.mlflow), "--help"], args.runs), version(args.mlflow.parent / "python", "mlflow")),
    }
    results = {}
    for name, (res, ver) in tools.items():
        res["version"] = ver
        results[name] = res
    ship, mlf = results["shipyard"], results["mlflow"]
    ratio = mlf["median_s"] / ship["median_s"] if ship["status"] == mlf["status"] == "ok" else None
    target = {
        "target": f"shipyard --help median < {TARGET_S} s",
        "value_s": ship.get("median_s"),
        "result": "n/a" if ship["status"] != "ok" else ("pass" if ship["median_s"] < TARGET_S else "FAIL"),
    }
    report = {
        "benchmark": "cli_startup",
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "results": results,
        "mlflow_over_shipyard_median": ratio,
        "target": target,
        "note": "wall time of `<cli> --help` after one warm-up run; shared, noisy machine: read the ratio",
    }

    def cell(r: dict, key: str) -> str:
        return f"{r[key]:.3f}" if r["status"] == "ok" else "-"

    rows = [
        [
            n,
            r.get("version") or "?",
            cell(r, "median_s"),
            cell(r, "min_s"),
            "ok" if r["status"] == "ok" else f"{r['status']}: {r['reason']}",
        ]
        for n, r in results.items()
    ]
    header = ["cli", "version", "median s", "min s", "status"]
    try:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"CLI start-up: `--help`, {args.runs} runs after 1 warm-up")
        for h in header:
            table.add_column(h, justify="right" if h.endswith(" s") else "left")
        for r in rows:
            table.add_row(*r)
        console = Console()
        console.print(table)
        print_ = console.print
    except ImportError:
        for r in [header, *rows]:
            print(" | ".join(f"{c:>10}" for c in r))
        print_ = print
    print_(f"mlflow/shipyard median ratio: {ratio:.1f}x" if ratio else "mlflow/shipyard ratio: n/a")
    print_(f"target {target['target']}: {target['result']}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    tmp.replace(args.out)
    print_(f"wrote {args.out}")
    return 0 if ship["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
