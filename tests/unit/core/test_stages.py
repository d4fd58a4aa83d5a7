from __future__ import annotations

import pytest

from shipyard.core.stages import ALLOWED, Stage, StageTransitionError, parse_stage, transition
from shipyard.errors import InvalidInputError

PAIRS = [(a, b) for a in Stage for b in Stage]


@pytest.mark.parametrize(("current", "target"), PAIRS)
def test_transition_table(current: Stage, target: Stage) -> None:
    if target in ALLOWED[current]:
        assert transition(current, target) is target
    else:
        with pytest.raises(StageTransitionError) as exc:
            transition(current, target)
        for allowed in ALLOWED[current]:
            assert allowed.value in str(exc.value)


def test_happy_path() -> None:
    s = Stage.CANDIDATE
    for nxt in (Stage.VALIDATED, Stage.APPROVED, Stage.PRODUCTION, Stage.RETIRED):
        s = transition(s, nxt)
    assert s is Stage.RETIRED


def test_archived_is_final() -> None:
    with pytest.raises(StageTransitionError, match="final"):
        transition(Stage.ARCHIVED, Stage.CANDIDATE)


def test_parse_stage_names_choices() -> None:
    assert parse_stage("Production") is Stage.PRODUCTION
    with pytest.raises(InvalidInputError, match="candidate"):
        parse_stage("staging")
