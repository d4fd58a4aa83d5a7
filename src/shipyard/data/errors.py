"""Errors of the data context.

InvalidInputError (shipyard.errors)
└── UnreadableDataError   a data file is missing, empty, corrupt or of an unknown format
"""

from __future__ import annotations

from shipyard.errors import InvalidInputError


class UnreadableDataError(InvalidInputError):
    """A data file cannot be read as a table; ``field`` is ``"path"`` and ``value`` the path."""
