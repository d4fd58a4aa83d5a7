"""Run Alembic migrations programmatically, serialised across processes."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

    from shipyard.store.sql.engine import Database

HERE = Path(__file__).parent / "migrations"
_PG_MIGRATION_LOCK = 72620001


def _config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    return cfg


# The newest revision in migrations/versions. Kept as a constant so opening an up-to-date
# workspace does not import Alembic (~0.25 s); tests/unit/test_migrations.py checks it against
# Alembic's own view of the head.
SCHEMA_HEAD = "0012"


def head_revision() -> str:
    return SCHEMA_HEAD


def alembic_head_revision() -> str:
    from alembic.script import ScriptDirectory

    return str(ScriptDirectory.from_config(_config()).get_current_head())


def current_revision(db: Database) -> str | None:
    with db.read() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        return None if row is None else str(row[0])


@contextlib.contextmanager
def _lock(db: Database) -> Iterator[None]:
    from shipyard.store.sql.engine import sqlite_path

    path = sqlite_path(db.url)
    if path:
        with open(path + ".migrate.lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
    elif db.dialect == "postgresql":
        with db.engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK})
                conn.commit()
    else:
        yield


def upgrade(db: Database) -> None:
    head = head_revision()
    if current_revision(db) == head:
        return
    from alembic import command

    with _lock(db):
        if current_revision(db) == head:
            return
        cfg = _config()
        with db.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
