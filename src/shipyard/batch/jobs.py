"""The ``batch_jobs`` table: every ``shipyard batch score`` run, queryable by model, version and status.

A run inserts its row (``running``) once its options, version and input are known, and finishes it
(``succeeded``, ``failed`` past ``--max-bad-rate``, or ``error``) in the transaction of its ``batch.score``
audit event. A run killed on the way cannot finish its row; the next run on the same output folder holds the
folder's lock, so no other run can be writing there: it marks such rows ``interrupted`` as it starts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from shipyard.clock import iso
from shipyard.errors import InvalidInputError, NotFoundError
from shipyard.store.sql import tables as t
from shipyard.store.sql.engine import Database

B = t.batch_jobs
STATUSES = ("running", "succeeded", "failed", "error", "interrupted")
SUMMARY = ("id", "model", "version", "engine", "status", "rows", "bad", "seconds", "started_at", "finished_at",
           "actor", "output", "monitor_endpoint")


class JobNotFoundError(NotFoundError):
    pass


def start(db: Database, *, job: str, model: str, version: int, digest: str, engine: str, input_uri: str,
          output: str, actor: str, at: datetime, max_bad_rate: float, monitor: str | None) -> int:
    """Insert the run's row as ``running``; returns how many earlier runs on ``output`` were marked
    ``interrupted`` (call it while holding the output folder's lock)."""
    with db.begin() as conn:
        gone = conn.execute(update(B).where(B.c.output == output, B.c.status == "running")
                            .values(status="interrupted", error="the run stopped before it finished "
                                                                "(killed, or its machine went down)")).rowcount
        conn.execute(B.insert().values(id=job, model=model, version=version, digest=digest, engine=engine,
                                       input=input_uri, output=output, status="running", actor=actor,
                                       started_at=at, max_bad_rate=max_bad_rate, monitor_endpoint=monitor,
                                       parts=[]))
    return int(gone or 0)


def finish(conn: Connection, job: str, *, status: str, at: datetime, seconds: float, rows: int, bad: int,
           logged: int | None, record: str | None, parts: list[dict[str, Any]], error: str | None = None) -> None:
    """Finish the run's row (inside the caller's transaction: the audit event's)."""
    conn.execute(update(B).where(B.c.id == job).values(
        status=status, finished_at=at, seconds=seconds, rows=rows, bad=bad, logged=logged, record=record,
        parts=parts, error=error))


def _dict(r: Any, full: bool) -> dict[str, Any]:
    out = {k: getattr(r, k) for k in SUMMARY}
    out["started_at"], out["finished_at"] = iso(r.started_at), iso(r.finished_at) or None
    if full:
        out.update(digest=r.digest, input=r.input, max_bad_rate=r.max_bad_rate, logged=r.logged, record=r.record,
                   error=r.error, parts=list(r.parts or []))
    return out


def list_jobs(db: Database, *, model: str | None = None, version: int | None = None, status: str | None = None,
              limit: int = 50) -> list[dict[str, Any]]:
    """Runs, newest first, optionally of one model (and version) or in one status."""
    if status is not None and status not in STATUSES:
        raise InvalidInputError(field="--status", value=status, expected=" | ".join(STATUSES))
    if not 1 <= limit <= 1000:
        raise InvalidInputError(field="--limit", value=limit, expected="an integer 1..1000")
    q = select(B).order_by(B.c.started_at.desc(), B.c.id).limit(limit)
    if model is not None:
        q = q.where(B.c.model == model)
    if version is not None:
        q = q.where(B.c.version == version)
    if status is not None:
        q = q.where(B.c.status == status)
    with db.read() as conn:
        return [_dict(r, full=False) for r in conn.execute(q)]


def get(db: Database, job: str) -> dict[str, Any]:
    """One run in full: its lineage (input URIs and sha256 per part -> version -> output files), counts and
    timings.

    Raises:
        JobNotFoundError: no run has that id.
    """
    with db.read() as conn:
        r = conn.execute(select(B).where(B.c.id == job)).first()
    if r is None:
        raise JobNotFoundError(f"no batch job {job!r}", field="job", value=job,
                               expected="a job id from `shipyard batch list`")
    return _dict(r, full=True)
