"""Pipeline errors (kinds from ``shipyard.errors``)."""

from __future__ import annotations

from typing import Any

from shipyard.errors import CheckFailedError, InvalidInputError


class TrainFunctionError(InvalidInputError):
    """The user's train function raised or returned something unusable (the traceback is in the step log)."""


class ValidationFailedError(CheckFailedError):
    """The training data failed validation against the previous dataset version's schema (or drifted)."""

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message, field="data", value=report.get("dataset"), expected="data matching the schema")
        self.report = report
