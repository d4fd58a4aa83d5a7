"""The champion is measured like the candidate (task, robustness, efficiency metrics), so any metric can be
gated ``vs champion`` — latency and size included, not only task metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from shipyard.evaluation.evaluator import EvaluationOptions, evaluate
from shipyard.evaluation.gates import run_gates


def test_champion_gets_every_metric_and_efficiency_gates_decide() -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(600, 5)), columns=[f"f{i}" for i in range(5)])
    y = (X["f0"] + 0.5 * X["f1"] + rng.normal(scale=0.5, size=600) > 0).astype(int).to_numpy()
    new = LogisticRegression().fit(X[:400], y[:400])
    champ = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(X[:400], y[:400])
    opts = EvaluationOptions(task="classification", main="roc_auc", bootstrap=0,
                             robustness={"missing_rate": 0.1, "noise": 0.1, "swap_rate": 0.1})
    doc = evaluate(new, X[400:], y[400:], opts, artifact_size=1_000, champion=champ, champion_ref="m:1",
                   champion_artifact_size=250_000)
    mine, theirs = doc["metrics"], doc["champion"]["metrics"]
    assert set(mine) == set(theirs), set(mine) ^ set(theirs)
    assert theirs["artifact_size_bytes"] == 250_000 and theirs["p99_latency_ms"] > 0
    results = {r.gate: r for r in run_gates(
        ["artifact_size_mb vs champion <= -50%", "p99_latency_ms vs champion <= 100000%",
         "roc_auc vs champion >= -1"], doc)}
    assert all(r.passed for r in results.values()), [(r.gate, r.note) for r in results.values()]
    failed = run_gates(["artifact_size_bytes vs champion >= 0"], doc)[0]
    assert not failed.passed and "champion" in failed.note


def test_a_model_that_refuses_missing_values_is_a_finding_not_a_crash() -> None:
    from shipyard.evaluation.reports.card import limitations
    from shipyard.evaluation.robustness import robustness

    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "c"])
    y = (X["a"] > 0).astype(int).to_numpy()
    lr = LogisticRegression().fit(X, y)  # no NaN support
    res = robustness(lr, X, y, "classification", "roc_auc", 0.9, missing_rate=0.2, noise=0.1, swap_rate=0.0,
                     seed=0)
    assert "NaN" in res["perturbations"]["missing"]["error"]
    assert np.isnan(res["metrics"]["robustness_missing_drop"])
    assert res["metrics"]["robustness_noise_drop"] >= -1  # the other perturbations still ran
    doc = {"metrics": {**res["metrics"]}, "robustness": res["perturbations"]}
    gate = run_gates(["robustness_missing_drop <= 0.05"], doc)[0]
    assert not gate.passed
    assert any("fails under missing" in line for line in limitations({"evaluation": doc}))
