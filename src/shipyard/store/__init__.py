"""Persistence: SQL metadata (SQLAlchemy + Alembic) and content-addressed artifacts (fsspec)."""
