"""Engine construction, transactions and schema migration for SQLite (default) and PostgreSQL.

SQLite runs in WAL mode; write transactions start with ``BEGIN IMMEDIATE`` so two writers never
both read a counter and then collide on commit (that is how version numbers stay unique under
concurrent registration). PostgreSQL serialises the same counters by row locks (``UPDATE ...
RETURNING``) and the audit chain by a transaction-scoped advisory lock (see ``dialects.py``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError

from shipyard.errors import InvalidInputError, UnavailableError

_READ = "shipyard_read"


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and use the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 120, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=120000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            if conn.get_execution_options().get(_READ):
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql"):
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise InvalidInputError(
                field="db_url", value=url.split("@")[-1],
                expected="the PostgreSQL driver: pip install 'shipyard[postgres]'",
            ) from None
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
    raise InvalidInputError(field="db_url", value=url, expected="a sqlite:/// or postgresql:// URL")


AUDIT_KEY_INFO = "shipyard.audit_key"  # Connection.info entry: the HMAC key audit appends use (governance/audit.py)


class Database:
    """A SQL database: an engine plus explicit transactions.

    Construction does no I/O; call ``migrate()`` to bring the schema to head.
    """

    def __init__(self, url: str, audit_key: bytes | None = None) -> None:
        self.url = normalize_url(url)
        self.engine = make_engine(self.url)
        self.dialect = self.engine.dialect.name
        self.audit_key = audit_key or None  # HMAC key for audit events appended through this database
        self._on_dispose: list[Callable[[], object]] = []  # background users (notify listeners) to stop

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        """One write transaction: commits on success, rolls back on any exception."""
        try:
            with self.engine.begin() as conn:
                conn.info[AUDIT_KEY_INFO] = self.audit_key
                yield conn
        except OperationalError as exc:
            raise UnavailableError(f"database {self.safe_url()}: {exc.orig}") from exc

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (no write lock on SQLite)."""
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(**{_READ: True})
                with conn.begin():
                    yield conn
        except OperationalError as exc:
            raise UnavailableError(f"database {self.safe_url()}: {exc.orig}") from exc

    def safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def migrate(self) -> None:
        """Upgrade the schema to the newest Alembic revision, once, even with concurrent openers."""
        from shipyard.store.sql import migrate as _migrate

        _migrate.upgrade(self)

    def on_dispose(self, stop: Callable[[], object]) -> None:
        """Call ``stop`` when this database is disposed (its workspace closed): a background thread using it
        (a LISTEN connection) ends with it instead of retrying against a store nobody uses any more."""
        self._on_dispose.append(stop)

    def dispose(self) -> None:
        stops, self._on_dispose = self._on_dispose, []
        for stop in stops:
            stop()
        self.engine.dispose()

    def ping(self) -> None:
        with self.read() as conn:
            conn.execute(text("SELECT 1"))


def sqlite_path(url: str) -> str | None:
    if url.startswith("sqlite") and "///" in url:
        p = url.split("///", 1)[1]
        return None if p in ("", ":memory:") else os.path.abspath(p)
    return None
