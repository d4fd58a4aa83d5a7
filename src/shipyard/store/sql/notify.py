"""Change notifications between processes sharing one PostgreSQL database (LISTEN/NOTIFY).

A writer calls ``notify(conn, channel, payload)`` inside its transaction; PostgreSQL delivers the notification
to every session listening on the channel when, and only if, that transaction commits. ``listen(db, channel,
on_change)`` keeps one autocommit connection (outside the engine's pool) on a daemon thread that LISTENs and
calls ``on_change()`` for each notification, and once after every (re)connect: notifications sent while it was
disconnected are lost, so the caller should look at the state again then. A lost connection is retried every
``retry_s``. Notifications only wake readers sooner: readers keep polling, so a lost one costs a poll interval.
SQLite has none: ``notify`` does nothing and ``listen`` returns None.

Used for routing: the gateways apply a committed routing change at once instead of at their next poll.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, text

from shipyard.store.sql.engine import Database

log = logging.getLogger("shipyard.store.notify")
ROUTING = "shipyard_routing"  # an endpoint's routing generation changed (payload: the endpoint's name)


def notify(conn: Connection, channel: str, payload: str = "") -> None:
    """Queue a notification on ``channel``, sent when ``conn``'s transaction commits (PostgreSQL only)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": payload})


def listen(db: Database, channel: str, on_change: Callable[[], object], retry_s: float = 1.0
           ) -> Callable[[], None] | None:
    """Call ``on_change()`` from a background thread for each notification on ``channel``; returns the function
    that stops listening, or None where the database has no notifications (SQLite)."""
    if db.dialect != "postgresql":
        return None
    listener = _Listener(db, channel, on_change, retry_s)
    db.on_dispose(listener.stop)  # a closed workspace takes its listeners with it
    listener.thread.start()
    return listener.stop


class _Listener:
    def __init__(self, db: Database, channel: str, on_change: Callable[[], object], retry_s: float) -> None:
        self.db, self.channel, self.on_change, self.retry_s = db, channel, on_change, retry_s
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"shipyard-listen-{channel}", daemon=True)

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except Exception as exc:  # noqa: BLE001 - the database went away, or a bug: readers still poll
                log.warning("LISTEN %s on %s: %s: %s; retrying in %g s", self.channel, self.db.safe_url(),
                            type(exc).__name__, exc, self.retry_s)
                self._stop.wait(self.retry_s)

    def _listen(self) -> None:
        import psycopg
        from psycopg import sql

        args, kwargs = self.db.engine.dialect.create_connect_args(self.db.engine.url)
        conn: Any = psycopg.connect(*args, **kwargs, autocommit=True)
        with conn:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
            self.on_change()  # anything sent before this connection listened
            while not self._stop.is_set():
                for _ in conn.notifies(timeout=1.0):  # returns after 1 s to look at the stop flag
                    self.on_change()
