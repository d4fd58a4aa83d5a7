from __future__ import annotations

import pytest

from shipyard.config import parse_project
from shipyard.errors import InvalidInputError


def test_typo_names_the_key_and_choices() -> None:
    with pytest.raises(InvalidInputError) as exc:
        parse_project({"model": "m", "gatse": ["roc_auc >= 0.8"]})
    msg = str(exc.value)
    assert "gatse" in msg and "gates" in msg
    assert exc.value.field == "gatse"


def test_nested_bad_value_names_the_path() -> None:
    with pytest.raises(InvalidInputError) as exc:
        parse_project({"pipeline": {"train": "t.py:train", "split": {"test_size": 2}}})
    assert "pipeline.split.test_size" in str(exc.value)


def test_deploy_steps_range() -> None:
    with pytest.raises(InvalidInputError, match="steps"):
        parse_project({"deploy": {"steps": [5, 150]}})


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
def test_drift_threshold_is_a_finite_non_negative_number(bad: float) -> None:
    with pytest.raises(InvalidInputError) as exc:
        parse_project({"validation": {"drift": {"threshold": bad}}})
    assert "validation.drift.threshold" in str(exc.value)


def test_defaults() -> None:
    cfg = parse_project({})
    assert cfg.auth == "optional" and cfg.approval.required == 1


def test_not_a_mapping() -> None:
    with pytest.raises(InvalidInputError, match="mapping"):
        parse_project(["a"])
