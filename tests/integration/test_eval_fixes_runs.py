"""Real `shipyard run`s on the bundled credit example for evaluation defects: a model without NaN support,
values from the data that look like HTML, a configured fairness metric and groups too small to judge."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from shipyard.config import Settings
from shipyard.evaluation.reports.card import render_card
from shipyard.pipeline.examples import write_example
from shipyard.pipeline.runner import RunResult, run_pipeline
from shipyard.pipeline.runs import RunLog
from shipyard.workspace import Workspace

pytestmark = pytest.mark.slow

LOGISTIC = '''
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

COLUMNS = ["Seniority", "Home", "Time", "Age", "Marital", "Records", "Job", "Expenses", "Income", "Assets",
           "Debt", "Amount", "Price"]


def train(X, y, params):
    cat = [c for c in COLUMNS if not pd.api.types.is_numeric_dtype(X[c])]
    num = [c for c in COLUMNS if c not in cat]
    features = ColumnTransformer([("c", OneHotEncoder(handle_unknown="ignore"), cat), ("n", StandardScaler(), num)])
    return Pipeline([("f", features), ("m", LogisticRegression(max_iter=500))]).fit(X, y)
'''
XSS = "<script>document.body.setAttribute('data-pwned','1')</script>"


def credit_run(root: Path, *, data: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
               train: str | None = None, config: dict[str, str] | None = None) -> tuple[Workspace, RunResult]:
    """The credit example under ``root`` with its data/train code/config changed, run once in-process."""
    if not (root / "shipyard.yaml").exists():
        write_example(root, "credit")
        cfg = root / "shipyard.yaml"
        cfg.write_text(cfg.read_text().replace("bootstrap: 200", "bootstrap: 20"))
    if data is not None:
        path = root / "data/credit.csv"
        data(pd.read_csv(path)).to_csv(path, index=False)
    if train is not None:
        (root / "pipeline/train.py").write_text(train)
    cfg = root / "shipyard.yaml"
    text = cfg.read_text()
    for old, new in (config or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    cfg.write_text(text)
    ws = Workspace.init(root, settings=Settings(actor="alice")) if not (root / ".shipyard").exists() \
        else Workspace.open(root, settings=Settings(actor="alice"))
    return ws, run_pipeline(ws)


def test_a_model_without_nan_support_registers_and_a_gate_on_the_refused_perturbation_says_why(
        tmp_path: Path) -> None:
    root = tmp_path / "ws"
    ws, res = credit_run(root, data=lambda df: df.dropna(), train=LOGISTIC)
    try:
        assert res.status == "succeeded" and res.exit_code == 0, res.error
        mv = ws.models.get_version(f"credit-risk:{res.version}")
        missing = mv.evaluation["robustness"]["missing"]
        assert missing["drop"] is None and "NaN" in missing["error"]
        assert mv.evaluation["metrics"]["robustness_missing_drop"] is None
        assert mv.evaluation["metrics"]["robustness_noise_drop"] is not None
        html = Path(res.report_dir, "report.html").read_text(encoding="utf-8")
        assert 'alt="Robustness"' in html and "the model refused the input" in html
        md, card = render_card(mv.to_dict(), ws.config.model_dump(mode="json", by_alias=True))
        assert "fails under missing perturbation" in md and "fails under missing perturbation" in card
    finally:
        ws.close()
    ws, res = credit_run(root, config={"  - p99_latency_ms <= 500":
                                       "  - p99_latency_ms <= 500\n  - robustness_missing_drop <= 0.05"})
    try:
        assert res.status == "rejected" and res.exit_code == 1 and res.version == 2
        failed = [g for g in res.gates if not g["passed"]]
        assert [g["gate"] for g in failed] == ["robustness_missing_drop <= 0.05"]
        assert "refused the missing perturbation" in failed[0]["note"] and "NaN" in failed[0]["note"]
    finally:
        ws.close()


def _inject(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df.loc[df.index[:300], "Home"] = XSS
    df.loc[df.index[:300], "Marital"] = "<b>m</b>"
    return df


def test_values_from_the_data_are_escaped_in_the_report_and_the_card(tmp_path: Path) -> None:
    ws, res = credit_run(tmp_path / "ws", data=_inject)
    try:
        assert res.status == "succeeded", res.error
        html = Path(res.report_dir, "report.html").read_text(encoding="utf-8")
        mv = ws.models.get_version(f"credit-risk:{res.version}")
        md, card = render_card(mv.to_dict(), ws.config.model_dump(mode="json", by_alias=True))
    finally:
        ws.close()
    for page in (html, card):
        assert XSS not in page and "<b>m</b>" not in page
        assert "&lt;script&gt;document.body.setAttribute(" in page  # shown as text, not run
        assert "<script" not in page.lower()
        assert "&lt;b&gt;m&lt;/b&gt;" in page
    assert "<script" not in md.lower() and "<b>m</b>" not in md
    assert "<h2>Slices</h2>" in html and "<h2>Fairness</h2>" in html and 'alt="Slices: Home"' in html


def test_a_unique_text_column_gives_too_small_groups_not_a_parity_of_one(tmp_path: Path) -> None:
    def with_ref(df: pd.DataFrame) -> pd.DataFrame:
        return df.assign(ref=[f"app-{i:05d}" for i in range(len(df))])

    ws, res = credit_run(tmp_path / "ws", data=lambda df: with_ref(df.dropna()), train=LOGISTIC,
        config={"slices: [Home, Job]": "slices: [Home, ref]", "sensitive: [Marital]": "sensitive: [Marital, ref]",
                "robustness: {missing_rate: 0.1, noise: 0.05, swap_rate: 0.1}": "robustness: null",
                "  - p99_latency_ms <= 500": "  - p99_latency_ms <= 500\n  - demographic_parity_difference <= 0.5"})
    try:
        assert res.status == "rejected" and res.exit_code == 1, res.error
        mv = ws.models.get_version(f"credit-risk:{res.version}")
        ev = mv.evaluation
        metrics = ev["metrics"]
        assert metrics["demographic_parity_difference.ref"] is None  # was 1.0 from groups of one row
        assert metrics["demographic_parity_difference"] is None
        assert metrics["demographic_parity_difference.Marital"] is not None
        assert ev["min_group_size"] == 30
        ref_rows = ev["slices"]["ref"]
        assert ref_rows and all(r["too_small"] and r["n"] == 1 and r["metrics"] == {} for r in ref_rows)
        assert len(ev["fairness"]["ref"]["small_groups"]) == len(ref_rows) and ev["fairness"]["ref"]["by_group"] == []
        assert any(w.startswith("evaluation.fairness.sensitive: ref") for w in ev["warnings"])
        assert any(w.startswith("evaluation.slices: ref") for w in ev["warnings"])
        gate = next(g for g in res.gates if g["gate"] == "demographic_parity_difference <= 0.5")
        assert not gate["passed"] and "fewer than 2 groups of ref" in gate["note"]
        assert "evaluation.min_group_size: 30" in gate["note"]
        html = Path(res.report_dir, "report.html").read_text(encoding="utf-8")
        assert "<h2>Warnings</h2>" in html and "evaluation.fairness.sensitive: ref has" in html
        assert "too small (fewer than 30 rows)" in html and "more values with fewer than 30 rows" in html
        log = next(s.log for s in RunLog(ws.db, ws.actor, ws.clock).get(res.run_id).steps if s.name == "evaluate")
        assert "EvaluationWarning: evaluation.slices: ref has" in log
        md, card = render_card(mv.to_dict(), ws.config.model_dump(mode="json", by_alias=True))
        assert "Fairness across ref could not be measured" in md and "… and" in md
    finally:
        ws.close()


def test_the_fairness_metric_is_checked_at_config_time_and_gated_in_a_run(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    write_example(root, "credit")
    cfg = root / "shipyard.yaml"
    cfg.write_text(cfg.read_text().replace("fairness: {sensitive: [Marital]}",
                                           "fairness: {sensitive: [Marital], metric: foo}"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    p = subprocess.run([sys.executable, "-m", "shipyard.cli.main", "run"], cwd=root, env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2, (p.stdout, p.stderr)
    out = " ".join((p.stdout + p.stderr).split())
    assert "evaluation.fairness.metric" in out and "'foo'" in out
    assert "demographic_parity_difference" in out and "equalized_odds_ratio" in out
    assert "internal error" not in out
    # a supported one: every fairlearn metric is computed, the configured one can be gated and leads the report
    ws, res = credit_run(root, config={"metric: foo": "metric: equalized_odds_ratio",
                                       "  - p99_latency_ms <= 500":
                                       "  - p99_latency_ms <= 500\n  - equalized_odds_ratio >= 0.01"})
    try:
        assert res.status == "succeeded", (res.error, res.gates)
        gate = next(g for g in res.gates if g["gate"] == "equalized_odds_ratio >= 0.01")
        assert gate["passed"] and 0 < gate["value"] <= 1
        metrics = ws.models.get_version(f"credit-risk:{res.version}").evaluation["metrics"]
        assert {"demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference",
                "equalized_odds_ratio.Marital"} <= set(metrics)
        html = Path(res.report_dir, "report.html").read_text(encoding="utf-8")
        assert "<code>equalized_odds_ratio</code> = <b>" in html
    finally:
        ws.close()
