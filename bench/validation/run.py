"""Validation benchmark: `shipyard data validate` against Great Expectations and pandera, same checks.

    bash bench/drift/setup_peers.sh gx pandera   # once
    python bench/validation/run.py [--rows 1000000] [--repeat 1]

The schema is the one `shipyard data add` infers from the reference (nullability, widened number ranges,
category domains); the peers get exactly those checks (bench/validation/peer_*.py). The file validated
is bench/.data/invalid.parquet with known failures (bench/drift/data.py). Each subject runs in its own
process; the table shows wall time of the whole process, peak RSS and the failure counts per check.
Results go to bench/results/validation.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "drift"))
from measure import DATA, PROJECT_PY, RESULTS, ROOT, peer_python, run  # noqa: E402
from run import ensure_data  # noqa: E402

SHIPYARD = [PROJECT_PY, "-m", "shipyard.cli.main"]
ENV = {"PYTHONPATH": str(ROOT / "src"), "TQDM_DISABLE": "1", "GX_ANALYTICS_ENABLED": "false"}


def workspace() -> Path:
    """A workspace holding the reference as dataset `bench` (setup, not timed); its schema as JSON."""
    ws = DATA / "ws"
    shutil.rmtree(ws, ignore_errors=True)
    ws.mkdir()
    for argv in (["init"], ["data", "add", str(DATA / "reference.parquet"), "--name", "bench"]):
        done = run(SHIPYARD + argv, env=ENV, cwd=ws)
        if done["exit_code"] != 0:
            raise SystemExit(f"setup failed: {done['stderr_tail']}")
    shown = run(SHIPYARD + ["data", "show", "bench", "--json"], env=ENV, cwd=ws)
    (DATA / "schema.json").write_text(json.dumps(shown["answer"]["schema"]))
    return ws


def failures(name: str, answer: object) -> list[dict[str, object]] | None:
    if not isinstance(answer, dict):
        return None
    items = answer["violations"] if name == "shipyard" else answer["failures"]
    return sorted(({"column": f["column"], "check": f["check"], "failing": f["failing"]} for f in items),
                  key=lambda f: (str(f["column"]), str(f["check"])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--skip", action="append", default=[])
    args = parser.parse_args()
    expected = ensure_data(args.rows)
    ws = workspace()
    data, schema = DATA / "invalid.parquet", DATA / "schema.json"
    here = ROOT / "bench" / "validation"
    gx, pandera = peer_python("gx"), peer_python("pandera")
    subjects = {
        "shipyard": SHIPYARD + ["data", "validate", "bench", str(data), "--json"],
        "great_expectations": None if gx is None else [gx, str(here / "peer_gx.py"), str(schema), str(data)],
        "pandera": None if pandera is None else [pandera, str(here / "peer_pandera.py"), str(schema), str(data)],
    }
    runs: dict[str, list[dict[str, object]]] = {}
    for name, argv in subjects.items():
        if name in args.skip:
            continue
        if argv is None:
            runs[name] = [{"error": "peer venv missing: run bench/drift/setup_peers.sh"}]
            continue
        for _ in range(args.repeat):
            result = run(argv, env=ENV, cwd=ws)
            result["failures"] = failures(name, result.pop("answer"))
            runs.setdefault(name, []).append(result)
            total = sum(int(f["failing"]) for f in result["failures"] or [])  # type: ignore[call-overload]
            print(f"{name:18s} {result['wall_s']:8.2f} s {result['peak_rss_mb']:8.0f} MB  exit {result['exit_code']}"
                  f"  failing rows {total} in {len(result['failures'] or [])} checks", flush=True)
    counts = {n: rs[-1].get("failures") for n, rs in runs.items()}
    same = len({json.dumps(c) for c in counts.values() if c is not None}) == 1
    best = {n: min(float(r["wall_s"]) for r in rs if "wall_s" in r) for n, rs in runs.items()
            if any("wall_s" in r for r in rs)}
    speedup = {n: round(best[n] / best["shipyard"], 1) for n in best if n != "shipyard" and "shipyard" in best}
    out = {"benchmark": "validation", "rows": args.rows, "columns": 20, "injected": expected["validation"],
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
           "same_failure_counts": same, "runs": runs, "best_wall_s": best, "shipyard_speedup": speedup}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "validation.json").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({"best_wall_s": best, "shipyard_speedup": speedup, "same_failure_counts": same}))


if __name__ == "__main__":
    main()
