"""The one model every server in the serving benchmark serves, and the in-process limit.

Run with the project venv's Python (it needs scikit-learn, skops, pandas, threadpoolctl):

    .venv/bin/python bench/serving/model.py train  OUT_DIR   # model.skops, model.joblib, rows.json
    .venv/bin/python bench/serving/model.py limit  OUT_DIR   # prints in-process latency JSON
    .venv/bin/python bench/serving/model.py probe  OUT_DIR   # the same, shorter (taken between scenarios)

The model: HistGradientBoostingClassifier on make_classification(n_samples=20_000,
n_features=20, random_state=SEED), trained on a DataFrame with columns f0..f19 so that its
signature carries names. Training is deterministic; a model already in OUT_DIR is reused when
its recorded parameters match.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

SEED = 20240607
N_FEATURES = 20
N_TRAIN = 20_000
N_REQUEST_ROWS = 2048  # pool of held-out rows the load generator cycles through
COLUMNS = [f"f{i}" for i in range(N_FEATURES)]
PARAMS = {"seed": SEED, "n_features": N_FEATURES, "n_train": N_TRAIN, "max_iter": 100, "rows_with_y": True}


def train(out: Path) -> dict:
    import joblib
    import numpy as np
    import pandas as pd
    import sklearn
    import skops.io as sio
    from sklearn.datasets import make_classification
    from sklearn.ensemble import HistGradientBoostingClassifier

    out.mkdir(parents=True, exist_ok=True)
    meta_path = out / "model.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        files_ok = all((out / f).exists() for f in ("model.skops", "model.joblib", "rows.json"))
        if files_ok and meta.get("params") == PARAMS and meta.get("sklearn") == sklearn.__version__:
            return meta

    X, y = make_classification(
        n_samples=N_TRAIN + N_REQUEST_ROWS,
        n_features=N_FEATURES,
        n_informative=12,
        n_redundant=4,
        random_state=SEED,
    )
    X_train = pd.DataFrame(X[:N_TRAIN], columns=COLUMNS)
    model = HistGradientBoostingClassifier(max_iter=PARAMS["max_iter"], random_state=SEED)
    model.fit(X_train, y[:N_TRAIN])

    rows = np.round(X[N_TRAIN:], 6)  # short, exact decimal text in request bodies
    frame = pd.DataFrame(rows, columns=COLUMNS)
    proba = model.predict_proba(frame)
    labels = model.predict(frame)

    sio.dump(model, out / "model.skops")
    joblib.dump(model, out / "model.joblib")
    (out / "rows.json").write_text(
        json.dumps(
            {
                "columns": COLUMNS,
                "rows": rows.tolist(),
                "proba": proba.tolist(),
                "labels": [int(v) for v in labels],
                "y": [int(v) for v in y[N_TRAIN:]],  # true labels: shipyard's gate evaluation (servers.py)
            }
        )
    )
    meta = {
        "params": PARAMS,
        "sklearn": sklearn.__version__,
        "estimator": "HistGradientBoostingClassifier",
        "train_accuracy": float(model.score(X_train, y[:N_TRAIN])),
    }
    meta_path.write_text(json.dumps(meta, indent=2))
    return meta


def limit(out: Path, single_calls: int = 3000, batch_calls: int = 1000, busy_too: bool = True) -> dict:
    """In-process predict_proba on a NumPy array with threadpoolctl limiting threads to 1 (``busy_too``: also
    batch 32 while the other core runs Python)."""
    import joblib
    import numpy as np
    from threadpoolctl import threadpool_limits

    warnings.filterwarnings("ignore")  # "X does not have valid feature names" on ndarray input
    model = joblib.load(out / "model.joblib")
    rows = np.asarray(json.loads((out / "rows.json").read_text())["rows"], dtype=np.float64)

    def timed(calls: int, batch: int) -> list[float]:
        samples = []
        n = len(rows)
        for i in range(calls):
            start = (i * batch) % (n - batch)
            x = rows[start : start + batch]
            t0 = time.perf_counter()
            model.predict_proba(x)
            samples.append(time.perf_counter() - t0)
        return samples

    def pct(samples: list[float], q: float) -> float:
        s = sorted(samples)
        return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]

    with threadpool_limits(limits=1):
        timed(200, 1)  # warm-up
        single = timed(single_calls, 1)
        timed(100, 32)
        batch = timed(batch_calls, 32)
        # The same call while the other core runs Python (as it does under load: the gateway, wrk). On this
        # VM the two vCPUs slow each other down, so this is what a model process can do beside a busy server.
        busy = None
        if busy_too:
            spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            try:
                time.sleep(0.3)
                timed(100, 32)
                busy = timed(batch_calls, 32)
            finally:
                spinner.kill()
                spinner.wait()
    result = {
        "threads": 1,
        "single_row_p50_ms": pct(single, 50) * 1e3,
        "single_row_p99_ms": pct(single, 99) * 1e3,
        "single_row_per_s": 1.0 / statistics.median(single),
        "batch32_p50_ms": pct(batch, 50) * 1e3,
        "batch32_rows_per_s": 32.0 / statistics.median(batch),
        "calls": {"single": single_calls, "batch32": batch_calls},
    }
    if busy is not None:
        result["batch32_p50_ms_other_core_busy"] = pct(busy, 50) * 1e3
        result["batch32_rows_per_s_other_core_busy"] = 32.0 / statistics.median(busy)
    return result


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in {"train", "limit", "probe"}:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[2])
    if argv[1] == "train":
        result = train(out)
    elif argv[1] == "limit":
        result = limit(out)
    else:  # a shorter limit, taken between a server's scenarios
        result = limit(out, single_calls=1500, batch_calls=500, busy_too=False)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
