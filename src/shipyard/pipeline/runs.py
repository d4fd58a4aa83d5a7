"""Run records: one ``runs`` row per execution, one ``run_steps`` row per step (cache hit or not), audited."""

from __future__ import annotations

import os
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from shipyard.clock import Clock
from shipyard.core.permissions import Permission, Principal, authorize
from shipyard.errors import NotFoundError
from shipyard.governance import audit
from shipyard.store.sql import tables as t
from shipyard.store.sql.engine import Database


@dataclass
class StepRecord:
    name: str
    cache_key: str
    cached: bool
    status: str  # succeeded | failed
    duration_s: float
    outputs: dict[str, Any] | None = None
    log: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunRecord:
    id: str
    model: str | None
    status: str  # running | succeeded | rejected | failed | interrupted
    actor: str
    started_at: str
    finished_at: str | None
    git: dict[str, Any] | None
    result: dict[str, Any] | None
    steps: list[StepRecord] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "steps": [s.to_dict() for s in self.steps]}


class RunLog:
    """Writes the run and its steps as they happen, so a crash leaves a ``running`` run with its finished steps."""

    def __init__(self, db: Database, actor: Principal, clock: Clock) -> None:
        self.db, self.actor, self.clock = db, actor, clock

    def start(self, run_id: str, model: str, git: dict[str, Any] | None, config: dict[str, Any]) -> None:
        """Record a ``running`` run; ``result.process`` names this process so a later run can tell a run
        whose process died (``sweep``) from one still going."""
        authorize(self.actor, Permission.MODEL_WRITE)
        with self.db.begin() as conn:
            conn.execute(t.runs.insert().values(id=run_id, model=model, status="running", actor=self.actor.name,
                                                started_at=self.clock.now(), git=git, config=config,
                                                result={"process": process_identity()}))
            audit.append(conn, self.actor.name, "pipeline.run.start", f"run:{run_id}", None,
                         {"model": model, "git": git}, self.clock)

    def step(self, run_id: str, rec: StepRecord) -> None:
        with self.db.begin() as conn:
            conn.execute(t.run_steps.insert().values(run_id=run_id, name=rec.name, cache_key=rec.cache_key,
                                                     cached=rec.cached, status=rec.status,
                                                     duration_s=rec.duration_s, outputs=rec.outputs,
                                                     log=rec.log[-20000:]))

    def finish(self, run_id: str, status: str, result: dict[str, Any]) -> None:
        with self.db.begin() as conn:
            conn.execute(t.runs.update().where(t.runs.c.id == run_id).values(
                status=status, finished_at=self.clock.now(), result=result))
            audit.append(conn, self.actor.name, "pipeline.run.finish", f"run:{run_id}", {"status": "running"},
                         {"status": status, "model": result.get("model"), "version": result.get("version")},
                         self.clock)

    def sweep(self) -> list[str]:
        """Mark ``interrupted`` every ``running`` run whose process is gone: started on this host (same
        host name and boot) by a process that no longer exists, or from an earlier boot of this host. Runs
        of live processes, of other hosts and runs recorded without a process (before this rule) stay."""
        authorize(self.actor, Permission.MODEL_WRITE)
        me = process_identity()
        with self.db.read() as conn:
            rows = conn.execute(select(t.runs.c.id, t.runs.c.model, t.runs.c.result)
                                .where(t.runs.c.status == "running")).all()
        stale = [(r.id, r.model, (r.result or {}).get("process")) for r in rows
                 if not _process_alive((r.result or {}).get("process"), me)]
        for run_id, model, proc in stale:
            proc = proc or {}
            reason = (f"interrupted: the process that ran it (pid {proc.get('pid')} on {proc.get('host')}) ended "
                      "without finishing it (killed, crashed or the machine restarted)")
            with self.db.begin() as conn:
                done = conn.execute(t.runs.update().where(t.runs.c.id == run_id, t.runs.c.status == "running")
                                    .values(status="interrupted", finished_at=self.clock.now(),
                                            result={"model": model, "error": reason, "process": proc})).rowcount
                if done:
                    audit.append(conn, self.actor.name, "pipeline.run.finish", f"run:{run_id}",
                                 {"status": "running"}, {"status": "interrupted", "model": model, "version": None},
                                 self.clock)
        return [run_id for run_id, _, _ in stale]

    def get(self, run_id: str) -> RunRecord:
        authorize(self.actor, Permission.READ)
        with self.db.read() as conn:
            r = conn.execute(select(t.runs).where(t.runs.c.id == run_id)).first()
            if r is None:
                raise NotFoundError(field="run", value=run_id, expected="a run id (see `shipyard runs`)")
            steps = [StepRecord(s.name, s.cache_key, bool(s.cached), s.status, float(s.duration_s), s.outputs,
                                s.log or "")
                     for s in conn.execute(select(t.run_steps).where(t.run_steps.c.run_id == run_id)
                                           .order_by(t.run_steps.c.id))]
        return RunRecord(r.id, r.model, r.status, r.actor, r.started_at.isoformat(),
                         r.finished_at.isoformat() if r.finished_at else None, r.git, r.result, steps)


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _start_ticks(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks since boot) of a process from ``/proc`` (Linux), else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    try:
        return fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None


def process_identity() -> dict[str, Any]:
    """This process: host name, boot id, pid and its start time (so a reused pid is not taken for it)."""
    pid = os.getpid()
    ticks = _start_ticks(pid)
    return {"host": socket.gethostname(), "boot": _boot_id(), "pid": pid, "start": None if ticks is None else ticks[1]}


def _process_alive(proc: Any, me: dict[str, Any]) -> bool:
    """False only when sure: same host and the pid is gone, a zombie, reused by a later process, or the host
    has rebooted since. Unknown (no record, another host, no way to look) counts as alive."""
    if not isinstance(proc, dict) or proc.get("host") != me["host"] or not isinstance(proc.get("pid"), int):
        return True
    if proc.get("boot") and me["boot"] and proc["boot"] != me["boot"]:
        return False
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process there
        return True
    pid = int(proc["pid"])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        pass
    ticks = _start_ticks(pid)
    if ticks is None:
        return True
    state, start = ticks
    return state not in ("Z", "X") and (proc.get("start") is None or start == proc["start"])
