"""Dialect quirks in one place: insert-if-absent, upsert and the audit-chain lock."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, text

_PG_AUDIT_LOCK = 72620002


def insert_ignore(conn: Connection, table: Table, values: dict[str, Any], conflict: list[str]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING on SQLite and PostgreSQL."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    conn.execute(insert(table).values(**values).on_conflict_do_nothing(index_elements=conflict))


def upsert(conn: Connection, table: Table, values: dict[str, Any], conflict: list[str]) -> None:
    """INSERT ... ON CONFLICT DO UPDATE (every column but ``conflict``) on SQLite and PostgreSQL."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    stmt = insert(table).values(**values)
    conn.execute(stmt.on_conflict_do_update(index_elements=conflict,
                                            set_={k: stmt.excluded[k] for k in values if k not in conflict}))


def lock_audit_chain(conn: Connection) -> None:
    """Serialise appends to the audit chain until the transaction ends.

    SQLite write transactions already hold the database write lock (BEGIN IMMEDIATE).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_AUDIT_LOCK})
