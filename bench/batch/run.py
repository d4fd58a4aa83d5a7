"""Batch scoring side by side (issue 19): a plain loop, `shipyard batch score --engine local`, and Dask
and Ray used directly beside `shipyard batch score --engine dask|ray`, each in its own process tree: wall
time, rows/s, peak RSS.

    python bench/batch/run.py [--rows 5000000] [--parts 20] [--skip-dask] [--skip-ray]

Data: ROWS x 20 float columns in PARTS Parquet files; model: one HistGradientBoostingClassifier registered in
a throwaway workspace. Every subject writes the positive-class probability (shipyard also writes row ids,
the version and the prediction). Writes bench/results/batch.json. Targets: shipyard local >= 0.9x the plain
loop's rows/s and <= 1.2x its memory; shipyard on Dask and on Ray within 10 % of the framework used
directly. Peak RSS is ``ru_maxrss`` as ``os.wait4`` reports it for the subject (the largest single process
of its tree: a cluster's workers are separate processes, so for Dask and Ray it undercounts; read those
rows for time, not memory).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench" / "drift"))
from measure import run  # noqa: E402  (bench/drift/measure.py: one subject per process, wait4 peak RSS)

PLAIN = """
import sys, pathlib, pyarrow as pa, pyarrow.parquet as pq, skops.io as sio
model = sio.load(sys.argv[1], trusted=sio.get_untrusted_types(file=sys.argv[1]))
out = pathlib.Path(sys.argv[3]); out.mkdir()
for f in sorted(pathlib.Path(sys.argv[2]).glob('*.parquet')):
    X = pq.read_table(f).to_pandas()
    pq.write_table(pa.table({'proba': model.predict_proba(X)[:, 1]}), out / f.name)
"""

DASK = """
import sys, pathlib, pyarrow as pa, pyarrow.parquet as pq, skops.io as sio
from distributed import Client, LocalCluster
from threadpoolctl import threadpool_limits
def score(f, model_path, out):
    model = sio.load(model_path, trusted=sio.get_untrusted_types(file=model_path))
    with threadpool_limits(1):
        X = pq.read_table(f).to_pandas()
        pq.write_table(pa.table({'proba': model.predict_proba(X)[:, 1]}), pathlib.Path(out) / pathlib.Path(f).name)
if __name__ == '__main__':
    out = pathlib.Path(sys.argv[3]); out.mkdir()
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as c, Client(c) as client:
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--parts", type=int, default=20)
    ap.add_argument("--skip-dask", action="store_true")
    ap.add_argument("--skip-ray", action="store_true")
    args = ap.parse_args()
    import numpy as np
    import pandas as pd
    import skops.io as sio
    from sklearn.ensemble import HistGradientBoostingClassifier

    from shipyard.config import Settings
    from shipyard.workspace import Workspace

    tmp = Path(tempfile.mkdtemp(prefix="shipyard-bench-batch-"))
    try:
        rng = np.random.default_rng(0)
        cols = [f"x{i}" for i in range(20)]
        X = pd.DataFrame(rng.normal(size=(20_000, 20)), columns=cols)
        model = HistGradientBoostingClassifier(max_iter=100).fit(X, (X["x0"] + X["x1"] > 0).astype(int))
        sio.dump(model, tmp / "m.skops")
        data = tmp / "data"
        data.mkdir()
        per = args.rows // args.parts
        for i in range(args.parts):
            pd.DataFrame(rng.normal(size=(per, 20)), columns=cols).to_parquet(data / f"part-{i:03d}.parquet")
        ws = Workspace.init(tmp / "ws", settings=Settings(actor="bench"))
        ws.models.register("bench", tmp / "m.skops", "sklearn")
        ws.close()
        py = sys.executable
        env = {"SHIPYARD_ACTOR": "bench"}
        cli = [py, "-m", "shipyard.cli.main", "-C", str(tmp / "ws"), "batch", "score", "bench:1", "--input", str(data)]
        subjects = {"plain_loop": [py, "-c", PLAIN, str(tmp / "m.skops"), str(data), str(tmp / "o-plain")],
                    "shipyard_local": [*cli, "--output", str(tmp / "o-local"), "--json"]}
        if not args.skip_dask:
            subjects["dask_direct"] = [py, "-c", DASK, str(tmp / "m.skops"), str(data), str(tmp / "o-dask")]
            subjects["shipyard_dask"] = [*cli, "--output", str(tmp / "o-sdask"), "--engine", "dask", "--json"]
        if not args.skip_ray:
            subjects["ray_direct"] = [py, "-c", RAY, str(tmp / "m.skops"), str(data), str(tmp / "o-ray")]
            subjects["shipyard_ray"] = [*cli, "--output", str(tmp / "o-sray"), "--engine", "ray", "--json"]
        results = {}
        for name, argv in subjects.items():
            r = run(argv, env=env)
            r.pop("answer", None)
            r["rows_per_s"] = round(per * args.parts / r["wall_s"]) if r["exit_code"] == 0 else None
            results[name] = r
            print(f"{name:16s} exit {r['exit_code']}  {r['wall_s']:7.2f} s  {r['rows_per_s'] or 0:>9,} rows/s  "
                  f"{r['peak_rss_mb']:7.1f} MB", flush=True)
        base, local = results["plain_loop"], results["shipyard_local"]
        summary = {"rows": per * args.parts, "parts": args.parts, "subjects": results,
                   "local_speed_ratio": round(base["wall_s"] / local["wall_s"], 3),
                   "local_memory_ratio": round(local["peak_rss_mb"] / base["peak_rss_mb"], 3)}
        if "shipyard_dask" in results:
            direct, ours = results["dask_direct"], results["shipyard_dask"]
            summary["dask_speed_ratio"] = round(direct["wall_s"] / ours["wall_s"], 3)
        if "shipyard_ray" in results:
            direct, ours = results["ray_direct"], results["shipyard_ray"]
            summary["ray_speed_ratio"] = round(direct["wall_s"] / ours["wall_s"], 3)
        print(json.dumps({k: v for k, v in summary.items() if k != "subjects"}))
        (ROOT / "bench" / "results").mkdir(exist_ok=True)
        (ROOT / "bench" / "results" / "batch.json").write_text(json.dumps(summary, indent=2) + "\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
