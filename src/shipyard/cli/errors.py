"""Map errors to exit codes: 2 usage/input, 1 a check failed, 70 a bug (EX_SOFTWARE)."""

from __future__ import annotations

from shipyard.errors import CheckFailedError, ShipyardError

EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 70

EXIT_CODES: dict[type[ShipyardError], int] = {
    CheckFailedError: EXIT_CHECK_FAILED,
    ShipyardError: EXIT_USAGE,
}


def exit_code_for(exc: ShipyardError) -> int:
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return EXIT_USAGE
