"""Where "now" comes from: a Clock protocol so time-dependent services can be tested."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Aware UTC wall-clock time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(v: datetime | None) -> str:
    """ISO 8601 with its UTC offset, "" for None. Times are stored as aware UTC; SQLite hands them back
    naive, PostgreSQL aware — both print the same here."""
    if v is None:
        return ""
    return (v if v.tzinfo is not None else v.replace(tzinfo=UTC)).isoformat()
