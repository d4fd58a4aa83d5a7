"""Report writers: JUnit XML, strict report.json, gate application against an evaluation document, cards."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from shipyard.errors import InvalidInputError
from shipyard.evaluation.gates import ci_metrics, run_gates
from shipyard.evaluation.reports.card import limitations, render_card
from shipyard.evaluation.reports.json import dumps
from shipyard.evaluation.reports.junit import render_junit

EVAL = {"task": "classification", "metrics": {"roc_auc": 0.8, "brier": 0.15, "log_loss": None},
        "headline": ["roc_auc"], "ci": {"roc_auc": [0.77, 0.83]}, "test_rows": 100,
        "champion": {"ref": "m:1", "metrics": {"roc_auc": 0.79, "brier": 0.16},
                     "diff_ci": {"roc_auc": [-0.01, 0.03], "roc_auc%": [-1.2, 3.8]}},
        "fairness": {"Sex": {"demographic_parity_difference": 0.3, "equalized_odds_difference": 0.05,
                             "by_group": [{"group": "a", "n": 50}, {"group": "b", "n": 50}]}},
        "slices": {"Home": [{"value": "own", "n": 90, "metrics": {"roc_auc": 0.8}},
                            {"value": "boat", "n": 3, "metrics": {}}]}}


def test_run_gates_against_document() -> None:
    res = run_gates(["roc_auc >= 0.75", "roc_auc vs champion >= 0 (ci)", "brier vs champion <= -5%",
                     "log_loss <= 1"], EVAL)
    assert [r.passed for r in res] == [True, False, True, False]
    assert res[1].note.endswith("CI [-0.01, 0.03]")
    assert res[2].value == pytest.approx(-6.25)
    assert ci_metrics(["roc_auc vs champion >= 0 (ci)", "f1 >= 0"]) == ["roc_auc"]
    with pytest.raises(InvalidInputError, match="unknown metric"):
        run_gates(["auc >= 0.5"], EVAL)


def test_junit_has_one_case_per_gate_and_failures() -> None:
    gates = [r.to_dict() for r in run_gates(["roc_auc >= 0.75", "roc_auc >= 0.9"], EVAL)]
    root = ET.fromstring(render_junit("m", "run1", gates))
    cases = list(root.iter("testcase"))
    assert [c.get("name") for c in cases] == ["roc_auc >= 0.75", "roc_auc >= 0.9"]
    assert cases[0].find("failure") is None and cases[1].find("failure") is not None
    assert "threshold 0.9" in cases[1].find("failure").get("message")
    assert root.get("tests") == "2" and root.get("failures") == "1"
    v = ET.fromstring(render_junit("m", "run1", [], validation_failure="Age: type"))
    assert v.get("failures") == "1" and next(v.iter("failure")).get("message") == "Age: type"


def test_report_json_is_strict() -> None:
    text = dumps({"a": float("nan"), "b": [float("inf"), 1.0]})
    assert json.loads(text) == {"a": None, "b": [None, 1.0]}


def test_card_lists_limitations_from_numbers() -> None:
    mv = {"model": "m", "version": 2, "stage": "validated", "flavor": "sklearn", "artifact_digest": "ab" * 32,
          "artifact_size": 10, "created_at": "2025-01-01T00:00:00", "created_by": "alice", "run_id": "r",
          "signature": {"inputs": [{"name": "Home", "type": "category"}]}, "description": "",
          "provenance": {"datasets": [{"ref": "d@1", "digest": "cd" * 32, "rows": 400, "role": "train",
                                       "source": "d.csv"}], "target": "y", "positive": "bad",
                         "git": {"commit": None}, "code": {}, "params": {}, "environment": {}},
          "evaluation": {**EVAL, "gates": [{"gate": "roc_auc >= 0.9", "passed": False, "value": 0.8,
                                            "threshold": 0.9, "note": ""}]},
          "lineage": [{"kind": "dataset", "ref": "d@1", "digest": None, "role": "train"}], "approvals": []}
    lim = " ".join(limitations(mv))
    assert "demographic parity difference across Sex is 0.300" in lim
    assert "equalized odds" not in lim  # 0.05 is under the flag
    assert "boat" in lim and "roc_auc >= 0.9" in lim
    md, html = render_card(mv, {})
    assert "# Model card: m:2" in md and "'bad'" in md and "| roc_auc | 0.8 | [0.77, 0.83] |" in md
    assert "<h2>Lineage</h2>" in html
