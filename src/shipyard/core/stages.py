"""The model-version stage machine: which stage may follow which."""

from __future__ import annotations

from enum import StrEnum

from shipyard.errors import ConflictError


class Stage(StrEnum):
    CANDIDATE = "candidate"
    VALIDATED = "validated"
    APPROVED = "approved"
    PRODUCTION = "production"
    RETIRED = "retired"
    REJECTED = "rejected"
    ARCHIVED = "archived"


ALLOWED: dict[Stage, frozenset[Stage]] = {
    Stage.CANDIDATE: frozenset({Stage.VALIDATED, Stage.REJECTED, Stage.ARCHIVED}),
    Stage.VALIDATED: frozenset({Stage.APPROVED, Stage.REJECTED, Stage.ARCHIVED}),
    Stage.APPROVED: frozenset({Stage.PRODUCTION, Stage.REJECTED, Stage.ARCHIVED}),
    Stage.PRODUCTION: frozenset({Stage.RETIRED}),
    Stage.RETIRED: frozenset({Stage.PRODUCTION, Stage.ARCHIVED}),
    Stage.REJECTED: frozenset({Stage.ARCHIVED}),
    Stage.ARCHIVED: frozenset(),
}


class StageTransitionError(ConflictError):
    """The requested stage change is not allowed from the current stage."""


def parse_stage(value: str) -> Stage:
    try:
        return Stage(value.lower())
    except ValueError:
        from shipyard.errors import InvalidInputError

        raise InvalidInputError(
            field="stage", value=value, expected=" | ".join(s.value for s in Stage)
        ) from None


def allowed_from(stage: Stage) -> list[str]:
    return sorted(s.value for s in ALLOWED[stage])


def transition(current: Stage, target: Stage) -> Stage:
    """Return ``target`` if the machine allows ``current -> target``.

    Raises:
        StageTransitionError: naming the stages allowed from ``current``.
    """
    if target in ALLOWED[current]:
        return target
    allowed = allowed_from(current)
    expected = " | ".join(allowed) if allowed else f"nothing ({current.value} is final)"
    raise StageTransitionError(
        f"stage: cannot move from {current.value} to {target.value}; allowed from {current.value}: {expected}",
        field="stage", value=target.value, expected=expected,
    )
