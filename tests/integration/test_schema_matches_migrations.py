"""The tables the code declares (store/sql/tables.py) are exactly what the migrations build, on SQLite and
PostgreSQL: a column added to one and not the other is caught here, not by a user's first write."""

from __future__ import annotations

from shipyard.workspace import Workspace


def test_migrated_database_matches_the_declared_tables(workspace: Workspace) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from shipyard.store.sql import migrate
    from shipyard.store.sql import tables as t

    assert migrate.current_revision(workspace.db) == migrate.SCHEMA_HEAD
    with workspace.db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), t.metadata)
    assert diff == [], diff
