"""Run records: one ``runs`` row per execution, one ``run_steps`` row per step (cache hit or not), audited."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
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
    status: str
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
        authorize(self.actor, Permission.MODEL_WRITE)
        with self.db.begin() as conn:
            conn.execute(t.runs.insert().values(id=run_id, model=model, status="running", actor=self.actor.name,
                                                started_at=self.clock.now(), git=git, config=config))
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
