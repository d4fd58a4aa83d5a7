"""Leader election for the rollout controller: wherever several run, only the lease holder acts.

- PostgreSQL: ``pg_try_advisory_lock`` on a dedicated connection held for as long as this process leads;
  the lock goes with the connection (a killed process loses it at once). Each tick checks the connection
  is still alive; a broken one means leadership is lost.
- SQLite: a row in ``leases`` (name, holder, expires_at) taken when absent, expired or already ours, and
  renewed each tick; a killed holder's lease expires after ``ttl_s``.

Leadership only decides who *tries*: every transition still checks the rollout's revision, so even two
leaders for a moment (a paused SQLite process waking after its lease expired) never apply a step twice.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from shipyard.clock import Clock
from shipyard.rollout.records import aware
from shipyard.store.sql import tables as t
from shipyard.store.sql.engine import Database

log = logging.getLogger("shipyard.rollout.lease")
L = t.leases


def pg_lock_key(conn: Any, name: str) -> int:
    """The advisory lock id for ``name`` in this database and schema (advisory locks are database-wide: two
    workspaces in two schemas of one database must not exclude each other)."""
    import hashlib

    where = conn.execute(text("SELECT current_database() || '.' || current_schema()")).scalar()
    digest = hashlib.blake2b(f"shipyard.{where}.{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Lease:
    def __init__(self, db: Database, clock: Clock, name: str = "rollout-controller", ttl_s: float = 10.0,
                 holder: str | None = None) -> None:
        self.db, self.clock, self.name, self.ttl_s = db, clock, name, ttl_s
        self.holder = holder or holder_id()
        self._conn: Any = None  # PostgreSQL: the connection holding the advisory lock
        self._key: int | None = None

    def acquire(self) -> bool:
        """Take or renew the lease; True while this process leads."""
        if self.db.dialect == "postgresql":
            return self._pg()
        return self._row()

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
            except DBAPIError:
                pass  # the connection is gone, and the lock with it
            finally:
                self._conn.close()
                self._conn = None
            return
        if self.db.dialect != "postgresql":
            with self.db.begin() as conn:
                conn.execute(L.delete().where(L.c.name == self.name, L.c.holder == self.holder))

    def _pg(self) -> bool:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                return True
            except DBAPIError:
                log.warning("rollout controller: lost the leader connection; trying again")
                self._conn.close()
                self._conn = None
        conn = self.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            self._key = pg_lock_key(conn, self.name)
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}).scalar())
        except DBAPIError:
            conn.close()
            raise
        if got:
            self._conn = conn
            return True
        conn.close()
        return False

    def _row(self) -> bool:
        now = self.clock.now()
        until = now + timedelta(seconds=self.ttl_s)
        with self.db.begin() as conn:  # BEGIN IMMEDIATE: one writer decides at a time
            row = conn.execute(select(L).where(L.c.name == self.name)).first()
            if row is None:
                conn.execute(L.insert().values(name=self.name, holder=self.holder, expires_at=until))
                return True
            expires = aware(row.expires_at)
            if row.holder == self.holder or expires is None or expires <= now:
                conn.execute(L.update().where(L.c.name == self.name).values(holder=self.holder, expires_at=until))
                return True
            return False
