"""The pipeline's validate step judges drift with the drift engine: the same verdict as `data diff` (issue 16)."""

from __future__ import annotations

import csv

import pytest

from shipyard.pipeline.runner import run_pipeline
from shipyard.workspace import Workspace


@pytest.fixture
def diabetes_ws(example_ws, workspace) -> Workspace:  # type: ignore[no-untyped-def]
    ws = example_ws("regression")
    config = ws.root / "shipyard.yaml"
    config.write_text(config.read_text() + "validation: {fail_on_drift: true, drift: {alpha: 0.05}}\n")
    reopened = Workspace.open(ws.root, settings=workspace.settings)
    yield reopened
    reopened.close()


def _rewrite(path, change) -> None:  # type: ignore[no-untyped-def]
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    fields = list(rows[0])
    rows = change(rows)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def test_validate_step_fails_on_the_engines_drift_verdict(diabetes_ws: Workspace) -> None:
    ws = diabetes_ws
    data = ws.root / "data" / "diabetes.csv"
    first = run_pipeline(ws)
    assert first.status == "succeeded", first.error
    # v2: the same rows in another order, less a few: not drift
    _rewrite(data, lambda rows: rows[::-1][:-5])
    second = run_pipeline(ws)
    assert second.status == "succeeded", second.error
    # v3: a population shift: the leanest third is gone; drift, and the run stops at validate
    def lean_gone(rows):  # type: ignore[no-untyped-def]
        cut = sorted(float(x["bmi"]) for x in rows)[len(rows) // 3]
        return [r for r in rows if float(r["bmi"]) > cut]

    _rewrite(data, lean_gone)
    third = run_pipeline(ws)
    assert third.status == "failed" and third.exit_code == 1
    drift = third.validation["drift"]  # type: ignore[index]
    flagged = [c["column"] for c in drift["columns"] if c["drifted"]]
    assert "bmi" in flagged and "drift in " in (third.error or "") and "age" not in flagged, flagged
    bmi = next(c for c in drift["columns"] if c["column"] == "bmi")
    assert bmi["test"] == "ks" and bmi["p_value"] < 1e-6 and bmi["severity"] in ("warning", "critical")
    assert drift["reference"] == "diabetes@2"
    same = ws.datasets.diff("diabetes@2", "diabetes@3")  # `data diff` gives the same verdict
    assert same.drifted() == flagged
