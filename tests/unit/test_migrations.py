"""The migration head constant must match Alembic's view, or new migrations would never run."""

from __future__ import annotations

from shipyard.store.sql.migrate import SCHEMA_HEAD, alembic_head_revision


def test_schema_head_constant_matches_alembic() -> None:
    assert SCHEMA_HEAD == alembic_head_revision()
