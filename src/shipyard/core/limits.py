"""Bounds every layer checks before a value reaches the database: integer range and text lengths.

PostgreSQL enforces ``INTEGER`` and ``VARCHAR(n)``; SQLite enforces neither (and overflows above 2**63).
Checking here gives both backends the same limits and an error that names the field, the length and
the limit. The lengths are the column sizes in ``store/sql/tables.py`` (core may not import the
store); ``tests/unit/core/test_limits_columns.py`` fails when the two disagree.
"""

from __future__ import annotations

import re
from typing import Any

from shipyard.errors import InvalidInputError

MAX_INT = 2_147_483_647  # SQL INTEGER (PostgreSQL int4): versions, ids
NAME_MAX = 200  # models.name, datasets.name, endpoints.name, principals.name
ACTOR_MAX = 200  # created_by, actor, principal columns: a principal's name
ALIAS_MAX = 100  # model_aliases.alias
TAG_KEY_MAX = 200  # model_tags.key
SUBJECT_MAX = 300  # audit_events.subject ("model:NAME@ALIAS", "user:NAME", ...)

_DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() also takes '²' and '١'


def preview(value: str, keep: int = 40) -> str:
    """``value`` cut to ``keep`` characters for an error message."""
    return value if len(value) <= keep else value[:keep] + "…"


def check_length(field: str, value: str, limit: int, *, hint: str = "",
                 error: type[InvalidInputError] = InvalidInputError) -> str:
    """``value`` if it has at most ``limit`` characters, else ``error`` naming the length and the limit."""
    if len(value) > limit:
        expected = f"at most {limit} characters{hint}"
        raise error(f"{field}: {len(value)} characters ({preview(value)!r}), expected {expected}",
                                field=field, value=preview(value), expected=expected)
    return value


def check_int(field: str, value: Any, *, low: int = 1, high: int = MAX_INT,
              error: type[InvalidInputError] = InvalidInputError) -> int:
    """``value`` if it is an int (not a bool) in ``low..high``, else ``error``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        shown = value if not isinstance(value, int) or len(str(value)) <= 40 else preview(str(value))
        raise error(field=field, value=shown, expected=f"an integer {low}..{high}")
    return value


def parse_int(field: str, text: str, *, low: int = 1, high: int = MAX_INT, what: str = "",
              error: type[InvalidInputError] = InvalidInputError) -> int:
    """ASCII digits in ``low..high`` -> int; anything else (signs, spaces, '²', '١', '1_0') is refused."""
    expected = f"an integer {low}..{high}" + (f" ({what})" if what else "")
    if not _DIGITS.fullmatch(text) or len(text.lstrip("0")) > len(str(high)) or not low <= int(text) <= high:
        raise error(field=field, value=preview(text), expected=expected)
    return int(text)
