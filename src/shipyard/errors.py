"""Root exception kinds; every context subclasses these in its own ``errors.py``.

    ShipyardError
    ├── InvalidInputError        bad input from a user: CLI exit 2, HTTP 400/422
    │   └── UnauthenticatedError no or bad credentials: HTTP 401
    ├── NotFoundError            a named thing does not exist: CLI exit 2, HTTP 404
    ├── ConflictError            the change collides with existing state: CLI exit 2, HTTP 409
    ├── PermissionDeniedError    the principal may not do this: CLI exit 2, HTTP 403
    ├── CheckFailedError         a gate, validation or audit check failed: CLI exit 1
    │   └── IntegrityError       stored bytes or records do not match their hash
    └── UnavailableError         a backing service cannot be reached: CLI exit 2, HTTP 503
"""

from __future__ import annotations

from typing import Any


class ShipyardError(Exception):
    """Base of every error shipyard raises on purpose.

    Args:
        message: a human sentence; when omitted it is rendered from field/value/expected.
        field: the input field at fault (``"steps[2]"``, ``"column Age"``).
        value: the offending value.
        expected: what would have been accepted.
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        field: str | None = None,
        value: Any = None,
        expected: str | None = None,
    ) -> None:
        self.field = field
        self.value = value
        self.expected = expected
        self.message = message or self._render()
        super().__init__(self.message)

    def _render(self) -> str:
        parts = []
        if self.field is not None:
            parts.append(f"{self.field}: got {self.value!r}")
        if self.expected is not None:
            parts.append(f"expected {self.expected}")
        return ", ".join(parts) or self.__class__.__name__

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        value = self.value
        if value is not None and not isinstance(value, (str, int, float, bool, list, dict)):
            value = str(value)
        return {
            "type": self.__class__.__name__,
            "field": self.field,
            "value": value,
            "expected": self.expected,
            "message": self.message,
        }


class InvalidInputError(ShipyardError):
    """The user gave a value we cannot accept."""


class UnauthenticatedError(InvalidInputError):
    """No credentials, or credentials that are unknown, expired or revoked."""


class NotFoundError(ShipyardError):
    """A named object does not exist."""


class ConflictError(ShipyardError):
    """The change collides with existing state."""


class PermissionDeniedError(ShipyardError):
    """The principal lacks the permission, or separation of duties forbids the action."""


class CheckFailedError(ShipyardError):
    """A gate, a validation or a verification failed; the input itself was well formed."""


class IntegrityError(CheckFailedError):
    """Stored bytes or records do not match the hash recorded for them."""


class UnavailableError(ShipyardError):
    """A backing service (database, object store, metrics source) cannot be reached."""
