"""Registry errors."""

from __future__ import annotations

from shipyard.core.stages import StageTransitionError
from shipyard.errors import ConflictError, InvalidInputError, NotFoundError

__all__ = ["ModelNotFoundError", "VersionNotFoundError", "AliasNotFoundError", "VersionConflictError",
           "StageTransitionError", "BadReferenceError"]


class ModelNotFoundError(NotFoundError):
    """No model with that name."""


class VersionNotFoundError(NotFoundError):
    """The model has no such version."""


class AliasNotFoundError(NotFoundError):
    """The model has no such alias."""


class VersionConflictError(ConflictError):
    """A concurrent change won; retry."""


class BadReferenceError(InvalidInputError):
    """A model reference is not NAME, NAME:VERSION or NAME@ALIAS."""
