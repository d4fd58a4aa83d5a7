"""The step cache: ``cache_key -> outputs`` (JSON of digests and small values) in the ``step_cache`` table.

A key is the sha256 of the step's implementation id, its code (the user's train file hash), its
params and its input digests, so equal keys mean equal outputs; outputs reference artifacts by digest.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from shipyard.clock import Clock
from shipyard.core.hashing import sha256_json
from shipyard.store.sql import tables as t
from shipyard.store.sql.dialects import insert_ignore
from shipyard.store.sql.engine import Database


def cache_key(step: str, version: str, inputs: dict[str, Any]) -> str:
    return sha256_json({"step": step, "version": version, "inputs": inputs})


class StepCache:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock

    def get(self, key: str) -> dict[str, Any] | None:
        with self.db.read() as conn:
            row = conn.execute(select(t.step_cache.c.outputs).where(t.step_cache.c.cache_key == key)).first()
        return None if row is None else dict(row.outputs)

    def put(self, key: str, step: str, outputs: dict[str, Any]) -> None:
        """First writer wins: a concurrent run with the same key computed the same outputs."""
        with self.db.begin() as conn:
            insert_ignore(conn, t.step_cache, {"cache_key": key, "step": step, "outputs": outputs,
                                               "created_at": self.clock.now()}, ["cache_key"])
