"""Governance errors."""

from __future__ import annotations

from shipyard.errors import ConflictError, NotFoundError, UnauthenticatedError


class PrincipalNotFoundError(NotFoundError):
    """No user with that name."""


class PrincipalExistsError(ConflictError):
    """A user with that name exists already."""


class InvalidTokenError(UnauthenticatedError):
    """The token is unknown, expired or revoked (the token itself is never echoed)."""
