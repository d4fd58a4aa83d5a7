"""The regression example and XGBoost / LightGBM variants of the credit example, end to end through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ENV = {**os.environ, "COLUMNS": "200", "SHIPYARD_ACTOR": "alice"}
for _k in ("SHIPYARD_DB_URL", "SHIPYARD_ARTIFACTS_URL", "SHIPYARD_TOKEN", "SHIPYARD_SERVER"):
    ENV.pop(_k, None)

XGB_TRAIN = '''
import xgboost


def train(X, y, params):
    X = X.astype({c: "category" for c in X.columns if X[c].dtype.kind not in "biuf"})
    model = xgboost.XGBClassifier(n_estimators=int(params["n_estimators"]), max_depth=int(params["max_depth"]),
                                  enable_categorical=True, tree_method="hist", n_jobs=1)
    return model.fit(X, y)
'''

LGBM_TRAIN = '''
import lightgbm


def train(X, y, params):
    X = X.astype({c: "category" for c in X.columns if X[c].dtype.kind not in "biuf"})
    return lightgbm.LGBMClassifier(n_estimators=int(params["n_estimators"]), verbose=-1, n_jobs=1).fit(X, y)
'''


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shipyard.cli.main", *args], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=600)


def test_regression_example_end_to_end(tmp_path: Path) -> None:
    root = tmp_path / "reg"
    assert cli(tmp_path, "init", str(root), "--example", "regression").returncode == 0
    assert (root / "data/diabetes.csv").read_text().startswith("age,sex,bmi")
    p = cli(root, "run", "--json", "--report-dir", "reports")
    assert p.returncode == 0, p.stdout + p.stderr
    res = json.loads(p.stdout)
    assert res["model"] == "diabetes-progression" and res["version"] == 1 and res["stage"] == "validated"
    assert [g["gate"] for g in res["gates"]] == ["r2 >= 0.3", "rmse vs champion <= 5%", "p99_latency_ms <= 500"]
    assert res["gates"][1]["note"] == "no champion"
    report = json.loads((root / "reports/report.json").read_text())
    m = report["evaluation"]["metrics"]
    assert m["r2"] > 0.3 and m["rmse"] > 0 and m["mae"] > 0 and 0 < m["mape"] < 1
    assert report["evaluation"]["task"] == "regression" and report["evaluation"]["slices"]["sex"]
    assert "<img" in (root / "reports/report.html").read_text()
    # a relative champion gate against itself: the same model is 0% worse
    assert cli(root, "models", "alias", "diabetes-progression", "champion", "1").returncode == 0
    (root / "shipyard.yaml").write_text((root / "shipyard.yaml").read_text().replace("alpha: 1.0", "alpha: 2.0"))
    res = json.loads(cli(root, "run", "--json").stdout)
    gate = next(g for g in res["gates"] if "%" in g["gate"])
    assert gate["note"].startswith("new ") and abs(gate["value"]) < 5 and res["version"] == 2


@pytest.mark.parametrize(("flavor", "code", "params"), [
    ("xgboost", XGB_TRAIN, "{n_estimators: 40, max_depth: 3}"),
    ("lightgbm", LGBM_TRAIN, "{n_estimators: 40}"),
])
def test_native_flavor_variants_end_to_end(tmp_path: Path, flavor: str, code: str, params: str) -> None:
    root = tmp_path / flavor
    assert cli(tmp_path, "init", str(root), "--example", "credit").returncode == 0
    (root / "pipeline/train.py").write_text(code)
    cfg = (root / "shipyard.yaml").read_text()
    cfg = cfg.replace("flavor: sklearn", f"flavor: {flavor}")
    cfg = cfg.replace("params: {learning_rate: 0.1, max_iter: 100, max_leaf_nodes: 15}", f"params: {params}")
    cfg = cfg.replace("bootstrap: 200", "bootstrap: 50")
    (root / "shipyard.yaml").write_text(cfg)
    p = cli(root, "run", "--json")
    assert p.returncode == 0, p.stdout + p.stderr
    res = json.loads(p.stdout)
    mv = json.loads(cli(root, "models", "show", "credit-risk:1", "--json").stdout)
    assert mv["flavor"] == flavor and mv["stage"] == "validated"
    assert mv["evaluation"]["metrics"]["roc_auc"] > 0.75
    assert mv["provenance"]["estimator"].startswith(flavor)
    from shipyard.flavors.factory import create
    from shipyard.workspace import Workspace

    with Workspace.open(root) as ws:
        data = ws.models.load_artifact("credit-risk:1")
    if flavor == "xgboost":
        assert json.loads(data)["learner"]["objective"]["name"] == "binary:logistic"  # native JSON, not pickle
    else:
        assert data.startswith(b"tree")  # LightGBM model text
    model = create(flavor).load(data)
    import pandas as pd

    X = pd.read_csv(root / "data/credit.csv").drop(columns=["Status"]).head(5)
    proba = model.predict_proba(X)
    assert proba.shape == (5, 2) and ((proba >= 0) & (proba <= 1)).all()
    assert res["executed"][-1] == "register"
