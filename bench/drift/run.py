"""Drift benchmark: shipyard `monitor drift` against Evidently's DataDriftPreset and NannyML's univariate drift.

    bash bench/drift/setup_peers.sh          # once: peer venvs outside the project venv
    python bench/drift/run.py [--rows 1000000] [--repeat 1] [--skip nannyml]

Each subject runs in its own process on the same two Parquet files (bench/drift/data.py: 1,000,000 x 20,
drift injected in 5 known columns); the table shows wall time of the whole process, peak RSS and the
columns flagged. Results go to bench/results/drift.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import DATA, PROJECT_PY, RESULTS, ROOT, peer_python, run  # noqa: E402

QUIET = {"NML_DISABLE_USAGE_LOGGING": "1", "DO_NOT_TRACK": "1", "EVIDENTLY_DISABLE_TELEMETRY": "1",
         "TQDM_DISABLE": "1"}


def ensure_data(rows: int) -> dict[str, object]:
    expected = DATA / "expected.json"
    if not expected.exists() or json.loads(expected.read_text())["rows"] != rows:
        done = run([PROJECT_PY, str(ROOT / "bench/drift/data.py"), str(rows)], env={"PYTHONPATH": str(ROOT / "src")})
        if done["exit_code"] != 0:
            raise SystemExit(f"data generation failed: {done['stderr_tail']}")
    return dict(json.loads(expected.read_text()))


def subjects(ref: Path, cur: Path) -> dict[str, list[str] | None]:
    here = ROOT / "bench" / "drift"
    ev, nm = peer_python("evidently"), peer_python("nannyml")
    return {
        "shipyard": [PROJECT_PY, "-m", "shipyard.cli.main", "monitor", "drift", str(ref), str(cur), "--json",
                     "--report-only"],
        "evidently": None if ev is None else [ev, str(here / "peer_evidently.py"), str(ref), str(cur)],
        "nannyml": None if nm is None else [nm, str(here / "peer_nannyml.py"), str(ref), str(cur)],
    }


def flagged(name: str, answer: object) -> list[str] | None:
    if not isinstance(answer, dict):
        return None
    return list(answer["drifted"] if name == "shipyard" else answer["flagged"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--skip", action="append", default=[])
    args = parser.parse_args()
    expected = ensure_data(args.rows)
    injected = sorted(expected["drifted"])  # type: ignore[call-overload]
    runs: dict[str, list[dict[str, object]]] = {}
    for name, argv in subjects(DATA / "reference.parquet", DATA / "current.parquet").items():
        if name in args.skip:
            continue
        if argv is None:
            runs[name] = [{"error": "peer venv missing: run bench/drift/setup_peers.sh"}]
            continue
        for _ in range(args.repeat):
            result = run(argv, env={"PYTHONPATH": str(ROOT / "src"), **QUIET})
            cols = flagged(name, result.pop("answer"))
            result["flagged"] = cols
            result["exact"] = cols is not None and sorted(cols) == injected
            result["false_flags"] = None if cols is None else sorted(set(cols) - set(injected))
            result["missed"] = None if cols is None else sorted(set(injected) - set(cols))
            runs.setdefault(name, []).append(result)
            print(f"{name:10s} {result['wall_s']:8.2f} s {result['peak_rss_mb']:8.0f} MB  exit {result['exit_code']}"
                  f"  flagged {len(cols or [])}  false {result['false_flags']}  missed {result['missed']}",
                  flush=True)
    best = {n: min(float(r["wall_s"]) for r in rs if "wall_s" in r) for n, rs in runs.items()
            if any("wall_s" in r for r in rs)}
    speedup = {n: round(best[n] / best["shipyard"], 1) for n in best if n != "shipyard" and "shipyard" in best}
    out = {"benchmark": "drift", "rows": args.rows, "columns": 20, "injected": injected,
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
           "runs": runs, "best_wall_s": best, "shipyard_speedup": speedup}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "drift.json").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({"best_wall_s": best, "shipyard_speedup": speedup}))


if __name__ == "__main__":
    main()
