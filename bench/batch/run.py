"""Batch scoring side by side (issue 19): a plain loop, `shipyard batch score --engine local`, and Dask and
Ray used directly beside `shipyard batch score --engine dask|ray`, each in its own process tree.

    python bench/batch/run.py [--rows 5000000] [--parts 20] [--repeat 1] [--skip-dask] [--skip-ray]
                              [--only plain_loop,shipyard_local] [--out bench/results/batch.json]

Data: ROWS x 20 float columns in PARTS Parquet files (default: the issue's 5,000,000 rows in 20 files); model:
one HistGradientBoostingClassifier registered in a throwaway workspace. Every subject writes the
positive-class probability as Parquet (shipyard also writes row ids, the version, the prediction and both
probabilities); the plain loop calls ``predict_proba`` with its default threads (every core).

Measured per subject (``tree.py``): wall time and rows/s; peak memory of the WHOLE process tree, sampled
from /proc every 50 ms: the summed RSS (headline; the issue's figures are RSS) and summed PSS (shared
pages split between the processes mapping them), beside the largest single process.
The tree is the subject's descendants and its session, so Dask's nannies and workers and Ray's GCS,
raylet and workers (started by the job) are all in it. CPU seconds are the subject's and its waited-for
children's. With ``--repeat N`` each subject runs N times, interleaved, and its fastest run is kept.
The probabilities of every subject are compared with the plain loop's (they must be equal).

Writes bench/results/batch.json. Targets: shipyard local >= 0.9x the plain loop's rows/s and <= 1.2x its
memory; shipyard on Dask and on Ray within 10 % of the framework used directly.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from tree import run  # noqa: E402  (bench/batch/tree.py: the whole process tree's peak memory)

PLAIN = """
import sys, pathlib, pyarrow as pa, pyarrow.parquet as pq, skops.io as sio
model = sio.load(sys.argv[1], trusted=sio.get_untrusted_types(file=sys.argv[1]))
out = pathlib.Path(sys.argv[3]); out.mkdir()
for f in sorted(pathlib.Path(sys.argv[2]).glob('*.parquet')):
    X = pq.read_table(f).to_pandas()
    pq.write_table(pa.table({'proba': model.predict_proba(X)[:, 1]}), out / f.name)
"""

DASK = """
import os, sys, pathlib, pyarrow as pa, pyarrow.parquet as pq, skops.io as sio
from distributed import Client, LocalCluster
from threadpoolctl import threadpool_limits
def score(f, model_path, out):
    model = sio.load(model_path, trusted=sio.get_untrusted_types(file=model_path))
    with threadpool_limits(1):
        X = pq.read_table(f).to_pandas()
        pq.write_table(pa.table({'proba': model.predict_proba(X)[:, 1]}), pathlib.Path(out) / pathlib.Path(f).name)
if __name__ == '__main__':
    out = pathlib.Path(sys.argv[3]); out.mkdir()
    with LocalCluster(n_workers=os.cpu_count(), threads_per_worker=1, dashboard_address=None) as c, Client(c) as client:
        files = [str(f) for f in sorted(pathlib.Path(sys.argv[2]).glob('*.parquet'))]
        client.gather(client.map(score, files, model_path=sys.argv[1], out=str(out)))
"""

RAY = """
import os, sys, pathlib, pyarrow as pa, pyarrow.parquet as pq, skops.io as sio, ray
from threadpoolctl import threadpool_limits
@ray.remote(num_cpus=1)
def score(f, model_path, out):
    model = sio.load(model_path, trusted=sio.get_untrusted_types(file=model_path))
    with threadpool_limits(1):
        X = pq.read_table(f).to_pandas()
        pq.write_table(pa.table({'proba': model.predict_proba(X)[:, 1]}), pathlib.Path(out) / pathlib.Path(f).name)
out = pathlib.Path(sys.argv[3]); out.mkdir()
ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, object_store_memory=128 << 20)
ray.get([score.remote(str(f), sys.argv[1], str(out)) for f in sorted(pathlib.Path(sys.argv[2]).glob('*.parquet'))])
ray.shutdown()
"""


def make_data(tmp: Path, rows: int, parts: int) -> Path:
    import numpy as np
    import pandas as pd
    import skops.io as sio
    from sklearn.ensemble import HistGradientBoostingClassifier

    from shipyard.config import Settings
    from shipyard.workspace import Workspace

    rng = np.random.default_rng(0)
    cols = [f"x{i}" for i in range(20)]
    X = pd.DataFrame(rng.normal(size=(20_000, 20)), columns=cols)
    model = HistGradientBoostingClassifier(max_iter=100).fit(X, (X["x0"] + X["x1"] > 0).astype(int))
    sio.dump(model, tmp / "m.skops")
    data = tmp / "data"
    data.mkdir()
    per = rows // parts
    for i in range(parts):
        pd.DataFrame(rng.normal(size=(per, 20)), columns=cols).to_parquet(data / f"part-{i:03d}.parquet")
    ws = Workspace.init(tmp / "ws", settings=Settings(actor="bench"))
    ws.models.register("bench", tmp / "m.skops", "sklearn")
    ws.close()
    return data


def same_probabilities(plain: Path, other: Path) -> float | None:
    """The largest difference between the plain loop's probabilities and the subject's, over every part."""
    import numpy as np
    import pyarrow.parquet as pq

    worst = 0.0
    for f in sorted(plain.glob("*.parquet")):
        mine = other / f.name
        if not mine.exists():
            return None
        table = pq.read_table(mine)
        got = table["proba" if "proba" in table.column_names else "proba_1"].to_numpy()
        if "row" in table.column_names:
            got = got[np.argsort(table["row"].to_numpy())]
        want = pq.read_table(f)["proba"].to_numpy()
        if len(got) != len(want):
            return None
        worst = max(worst, float(np.max(np.abs(got - want))) if len(want) else 0.0)
    return worst


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--parts", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--skip-dask", action="store_true")
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument("--only", default="", help="comma-separated subjects (e.g. plain_loop,shipyard_local)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "batch.json")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="shipyard-bench-batch-"))
    try:
        data = make_data(tmp, args.rows, args.parts)
        rows = args.rows // args.parts * args.parts
        py = sys.executable
        env = {"SHIPYARD_ACTOR": "bench", "RAY_USAGE_STATS_ENABLED": "0"}
        cli = [py, "-m", "shipyard.cli.main", "-C", str(tmp / "ws"), "batch", "score", "bench:1", "--input", str(data)]
        model = str(tmp / "m.skops")
        subjects: dict[str, Any] = {
            "plain_loop": lambda o: [py, "-c", PLAIN, model, str(data), o],
            "shipyard_local": lambda o: [*cli, "--output", o, "--json"]}
        if not args.skip_dask:
            subjects["dask_direct"] = lambda o: [py, "-c", DASK, model, str(data), o]
            subjects["shipyard_dask"] = lambda o: [*cli, "--output", o, "--engine", "dask", "--json"]
        if not args.skip_ray:
            subjects["ray_direct"] = lambda o: [py, "-c", RAY, model, str(data), o]
            subjects["shipyard_ray"] = lambda o: [*cli, "--output", o, "--engine", "ray", "--json"]
        if args.only:
            subjects = {k: v for k, v in subjects.items() if k in args.only.split(",")}
        results: dict[str, dict[str, Any]] = {}
        for attempt in range(args.repeat):
            for name, argv in subjects.items():
                out = tmp / f"o-{name}"
                keep = tmp / f"o-{name}-kept"
                shutil.rmtree(out, ignore_errors=True)
                r = run(argv(str(out)), env=env)
                r.pop("answer", None)
                r["rows_per_s"] = round(rows / r["wall_s"]) if r["exit_code"] == 0 else None
                best = results.get(name)
                if best is None or (r["exit_code"] == 0 and r["wall_s"] < best["wall_s"]):
                    results[name] = r
                    shutil.rmtree(keep, ignore_errors=True)
                    if out.exists():
                        out.rename(keep)
                print(f"{name:15s} #{attempt + 1} exit {r['exit_code']}  {r['wall_s']:7.2f} s  "
                      f"{r['rows_per_s'] or 0:>9,} rows/s  cpu {r['cpu_s']:7.1f} s  "
                      f"RSS {r['peak_rss_sum_mb']:7.1f} MB  PSS {r['peak_pss_mb']:7.1f} MB  "
                      f"largest {r['max_process_rss_mb']:7.1f} MB  "
                      f"{r['processes']} procs", flush=True)
        for name, r in results.items():
            r["max_abs_diff_vs_plain"] = (0.0 if name == "plain_loop" else
                                          same_probabilities(tmp / "o-plain_loop-kept", tmp / f"o-{name}-kept"))
        summary: dict[str, Any] = {"rows": rows, "parts": args.parts, "cores": os.cpu_count(),
                                   "repeat": args.repeat, "subjects": results}

        def ratio(a: str, b: str, key: str) -> float | None:
            ra, rb = results.get(a), results.get(b)
            if not ra or not rb or ra["exit_code"] or rb["exit_code"]:
                return None
            return round(ra[key] / rb[key], 3)

        summary["local_speed_ratio"] = ratio("plain_loop", "shipyard_local", "wall_s")  # >= 0.9
        summary["local_memory_ratio"] = ratio("shipyard_local", "plain_loop", "peak_rss_sum_mb")  # <= 1.2
        summary["local_pss_ratio"] = ratio("shipyard_local", "plain_loop", "peak_pss_mb")
        summary["local_cpu_ratio"] = ratio("shipyard_local", "plain_loop", "cpu_s")
        for fw in ("dask", "ray"):
            if f"shipyard_{fw}" in results:
                summary[f"{fw}_speed_ratio"] = ratio(f"{fw}_direct", f"shipyard_{fw}", "wall_s")  # >= 0.9
                summary[f"{fw}_memory_ratio"] = ratio(f"shipyard_{fw}", f"{fw}_direct", "peak_rss_sum_mb")
        print(json.dumps({k: v for k, v in summary.items() if k != "subjects"}))
        args.out.parent.mkdir(exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=2) + "\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
