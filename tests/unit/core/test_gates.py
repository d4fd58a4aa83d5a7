"""Gate expressions: parsing (with positioned errors) and evaluation, table-driven."""

from __future__ import annotations

import pytest

from shipyard.core.gates import Gate, GateSyntaxError, evaluate, parse
from shipyard.errors import InvalidInputError


@pytest.mark.parametrize(("text", "gate"), [
    ("roc_auc >= 0.8", Gate("roc_auc >= 0.8", "roc_auc", ">=", 0.8)),
    ("roc_auc>=0.8", Gate("roc_auc>=0.8", "roc_auc", ">=", 0.8)),
    ("p99_latency_ms < 10", Gate("p99_latency_ms < 10", "p99_latency_ms", "<", 10.0)),
    ("roc_auc vs champion >= -0.005", Gate("roc_auc vs champion >= -0.005", "roc_auc", ">=", -0.005, vs_champion=True)),
    ("rmse vs champion <= 5%", Gate("rmse vs champion <= 5%", "rmse", "<=", 5.0, relative=True, vs_champion=True)),
    ("roc_auc vs champion >= 0 (ci)", Gate("roc_auc vs champion >= 0 (ci)", "roc_auc", ">=", 0.0, vs_champion=True,
                                            ci=True)),
    ("f1 VS Champion > 1e-3", Gate("f1 VS Champion > 1e-3", "f1", ">", 0.001, vs_champion=True)),
    ("  brier <= .2  ", Gate("brier <= .2", "brier", "<=", 0.2)),
    # a per-column metric whose column has a space: backtick-quoted
    ("demographic_parity_difference.`Marital Status` <= 0.1",
     Gate("demographic_parity_difference.`Marital Status` <= 0.1", "demographic_parity_difference.Marital Status",
          "<=", 0.1)),
])
def test_parse(text: str, gate: Gate) -> None:
    assert parse(text) == gate


@pytest.mark.parametrize(("text", "position", "expected"), [
    ("roc_auc >= ", 12, "a number"),
    ("roc_auc => 0.8", 9, "an operator"),
    (">= 0.8", 1, "a metric name"),
    ("roc_auc vs champ >= 0", 12, "'champion'"),
    ("roc_auc >= 0.8 extra", 16, "the end of the gate"),
    ("roc_auc >= 0.8 $", 16, "a metric name, an operator"),
    ("roc_auc >= 5%", 1, "vs champion"),
    ("roc_auc vs champion >= 0 (cx)", 27, "'ci'"),
    ("roc_auc vs champion == 0 (ci)", 21, "one of >= <= > <"),
    ("roc_auc `x` >= 0", 9, "metric.`column name`"),
])
def test_syntax_errors_name_gate_position_expected(text: str, position: int, expected: str) -> None:
    with pytest.raises(GateSyntaxError) as info:
        parse(text)
    msg = str(info.value)
    assert f"gate '{text}'" in msg
    assert f"position {position}" in msg
    assert expected in msg
    assert isinstance(info.value, InvalidInputError)


def test_empty_gate_is_invalid() -> None:
    with pytest.raises(GateSyntaxError):
        parse("   ")


@pytest.mark.parametrize(("text", "values", "champion", "ci", "passed", "value", "note"), [
    ("roc_auc >= 0.8", {"roc_auc": 0.85}, None, None, True, 0.85, ""),
    ("roc_auc >= 0.8", {"roc_auc": 0.75}, None, None, False, 0.75, ""),
    ("roc_auc >= 0.8", {"roc_auc": float("nan")}, None, None, False, None, ""),
    ("p99_latency_ms <= 10", {"p99_latency_ms": 10.0}, None, None, True, 10.0, ""),
    ("roc_auc vs champion >= 0.05", {"roc_auc": 0.85}, None, None, True, None, "no champion"),
    ("roc_auc vs champion >= 0.05", {"roc_auc": 0.85}, {"roc_auc": 0.84}, None, False, 0.01, "champion"),
    ("roc_auc vs champion >= -0.02", {"roc_auc": 0.83}, {"roc_auc": 0.84}, None, True, -0.01, "champion"),
    ("rmse vs champion <= 5%", {"rmse": 52.0}, {"rmse": 50.0}, None, True, 4.0, "champion"),
    ("rmse vs champion <= 5%", {"rmse": 53.0}, {"rmse": 50.0}, None, False, 6.0, "champion"),
    ("roc_auc vs champion >= 0 (ci)", {"roc_auc": 0.86}, {"roc_auc": 0.84}, {"roc_auc": (0.001, 0.04)},
     True, 0.02, "CI"),
    ("roc_auc vs champion >= 0 (ci)", {"roc_auc": 0.86}, {"roc_auc": 0.84}, {"roc_auc": (-0.01, 0.05)},
     False, 0.02, "CI"),
    ("brier vs champion <= 0 (ci)", {"brier": 0.1}, {"brier": 0.12}, {"brier": (-0.03, -0.01)}, True, -0.02, "CI"),
    ("brier vs champion <= 0 (ci)", {"brier": 0.1}, {"brier": 0.12}, {"brier": (-0.03, 0.01)}, False, -0.02, "CI"),
    ("roc_auc vs champion >= 0 (ci)", {"roc_auc": 0.86}, None, None, True, None, "no champion"),
])
def test_evaluate(text: str, values: dict, champion: dict | None, ci: dict | None, passed: bool,
                  value: float | None, note: str) -> None:
    result = evaluate(parse(text), values, champion, ci)
    assert result.passed is passed
    if value is None:
        assert result.value is None or result.value != result.value
    else:
        assert result.value == pytest.approx(value)
    assert note in result.note
    assert result.threshold == parse(text).bound


def test_unknown_metric_names_gate_and_known_metrics() -> None:
    with pytest.raises(InvalidInputError) as info:
        evaluate(parse("auc >= 0.8"), {"roc_auc": 0.9, "f1": 0.5})
    assert "auc >= 0.8" in str(info.value) and "roc_auc" in str(info.value)


def test_ci_gate_without_interval_is_an_input_error() -> None:
    with pytest.raises(InvalidInputError):
        evaluate(parse("roc_auc vs champion >= 0 (ci)"), {"roc_auc": 0.9}, {"roc_auc": 0.8}, {})
