"""Rollouts and their analyses in the store (``rollouts``, ``rollout_analyses``), and the one way to change one.

``commit`` applies a ``core.rollout.Transition`` in ONE transaction: the row moves only if its ``revision``
is still the one the caller read (optimistic concurrency: ``UPDATE ... WHERE id=:id AND revision=:seen``;
0 rows means another controller or an operator got there first and nothing is applied), the endpoint's
routing follows the new state (generation bump) and one audit event records it. A step is therefore never
applied twice, and a controller killed between transactions resumes from what the database says.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select

from shipyard.clock import Clock, iso
from shipyard.core.rollout import FINAL, LIVE, Notice, RolloutState, State, Strategy, Transition, routing_for, weights
from shipyard.errors import ConflictError
from shipyard.governance import audit
from shipyard.rollout.spec import RolloutConfig
from shipyard.store.sql import tables as t

R, A = t.rollouts, t.rollout_analyses


class RolloutActiveError(ConflictError):
    """The endpoint already has a rollout in progress (or paused)."""


def aware(v: datetime | None) -> datetime | None:
    """SQLite hands stored UTC times back naive; PostgreSQL aware. Always aware here."""
    if v is None:
        return None
    return v if v.tzinfo is not None else v.replace(tzinfo=UTC)


@dataclass(slots=True)
class RolloutView:
    """One rollout as ``rollout status --json`` shows it."""

    id: int
    endpoint: str
    model: str
    strategy: str
    state: str
    stable: int
    candidate: int
    step: int
    weights: dict[str, int]
    shadow: list[int]
    spec: dict[str, Any]
    failures: int
    inconclusive: int
    revision: int
    reason: str | None
    created_by: str
    created_at: str
    updated_at: str
    step_started_at: str
    next_analysis_at: str
    finished_at: str
    analyses: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def state_of(row: Row[Any]) -> RolloutState:
    return RolloutState(State(row.state), Strategy(row.strategy), int(row.stable), int(row.candidate), int(row.step),
                        int(row.failures), int(row.inconclusive), row.reason)


def config_of(row: Row[Any]) -> RolloutConfig:
    return RolloutConfig.from_dict(row.spec)


def view(row: Row[Any], analyses: list[dict[str, Any]] | None = None) -> RolloutView:
    st, cfg = state_of(row), config_of(row)
    table = routing_for(st, cfg.core)
    return RolloutView(int(row.id), row.endpoint, row.model, row.strategy, row.state, int(row.stable),
                       int(row.candidate), int(row.step), {str(k): v for k, v in weights(st, cfg.core).items()},
                       list(table.shadow), row.spec, int(row.failures), int(row.inconclusive), int(row.revision),
                       row.reason, row.created_by, iso(row.created_at), iso(row.updated_at),
                       iso(row.step_started_at), iso(row.next_analysis_at), iso(row.finished_at), analyses or [])


def active(conn: Connection, endpoint: str) -> Row[Any] | None:
    """The endpoint's live (progressing or paused) rollout, if any."""
    return conn.execute(select(R).where(R.c.endpoint == endpoint, R.c.state.in_([s.value for s in LIVE]))
                        .order_by(R.c.id.desc())).first()


def refuse_if_active(conn: Connection, endpoint: str, what: str) -> None:
    """A manual routing change or a second deploy while a rollout runs is a 409 naming the rollout."""
    row = active(conn, endpoint)
    if row is not None:
        raise RolloutActiveError(
            f"endpoint {endpoint}: rollout {row.id} ({row.strategy} {row.model}:{row.stable} -> "
            f"{row.model}:{row.candidate}) is {row.state}; {what} after it ends, or end it with "
            f"`shipyard rollout promote|abort {endpoint}`",
            field="endpoint", value=endpoint, expected=f"an endpoint without a live rollout (rollout {row.id})")


def latest(conn: Connection, endpoint: str) -> Row[Any] | None:
    return conn.execute(select(R).where(R.c.endpoint == endpoint).order_by(R.c.id.desc())).first()


def by_id(conn: Connection, rollout_id: int) -> Row[Any] | None:
    return conn.execute(select(R).where(R.c.id == rollout_id)).first()


def live_rows(conn: Connection) -> list[Row[Any]]:
    return list(conn.execute(select(R).where(R.c.state.in_([s.value for s in LIVE])).order_by(R.c.id)))


def all_rows(conn: Connection, limit: int = 100) -> list[Row[Any]]:
    return list(conn.execute(select(R).order_by(R.c.id.desc()).limit(limit)))


def analyses(conn: Connection, rollout_id: int, limit: int = 20) -> list[dict[str, Any]]:
    """The newest ``limit`` analyses, oldest first."""
    rows = conn.execute(select(A).where(A.c.rollout_id == rollout_id).order_by(A.c.id.desc()).limit(limit)).all()
    return [{"id": int(r.id), "step": int(r.step), "at": iso(r.at), "window_start": iso(r.window_start),
             "window_end": iso(r.window_end), "verdict": r.verdict, "checks": r.checks} for r in reversed(rows)]


def count_analyses(conn: Connection, rollout_id: int) -> int:
    return int(conn.execute(select(func.count()).select_from(A).where(A.c.rollout_id == rollout_id)).scalar() or 0)


def insert_rollout(conn: Connection, endpoint: str, model: str, st: RolloutState, cfg: RolloutConfig, actor: str,
                   now: datetime) -> int:
    res = conn.execute(insert(R).values(
        endpoint=endpoint, model=model, strategy=st.strategy.value, state=st.state.value, stable=st.stable,
        candidate=st.candidate, step=st.step, weights={str(k): v for k, v in weights(st, cfg.core).items()},
        spec=cfg.to_dict(), failures=0, inconclusive=0, revision=1, reason=st.reason, created_by=actor,
        created_at=now, updated_at=now, step_started_at=now, next_analysis_at=now, finished_at=None))
    key = res.inserted_primary_key
    if key is None:  # pragma: no cover - both dialects return the new id
        raise RuntimeError("rollouts: no id returned")
    return int(key[0])


def record_analysis(conn: Connection, rollout_id: int, step: int, now: datetime, start: datetime, end: datetime,
                    verdict: str, checks: Any) -> None:
    conn.execute(A.insert().values(rollout_id=rollout_id, step=step, at=now, window_start=start, window_end=end,
                                   verdict=verdict, checks=checks))


def commit(conn: Connection, row: Row[Any], tr: Transition, actor: str, clock: Clock, write_routing: Any,
           next_analysis_at: datetime | None, detail: dict[str, Any] | None = None) -> bool:
    """Apply ``tr`` to ``row`` inside ``conn`` (the caller's transaction); False if the row moved meanwhile.

    Args:
        write_routing: ``(conn, endpoint, RoutingTable) -> generation`` (EndpointService.write_routing).
        next_analysis_at: when the controller judges next.
        detail: extra audit fields (the analysis verdict, the reason of a manual command).
    """
    cfg = config_of(row)
    now = clock.now()
    st = tr.after
    moved = st.step != tr.before.step or st.state != tr.before.state
    values: dict[str, Any] = {
        "state": st.state.value, "step": st.step, "failures": st.failures, "inconclusive": st.inconclusive,
        "reason": st.reason, "weights": {str(k): v for k, v in weights(st, cfg.core).items()},
        "revision": int(row.revision) + 1, "updated_at": now, "next_analysis_at": next_analysis_at}
    if moved:
        values["step_started_at"] = now
    if st.state in FINAL:
        values["finished_at"] = now
    res = conn.execute(R.update().where(R.c.id == row.id, R.c.revision == row.revision).values(**values))
    if res.rowcount != 1:
        return False
    generation = None
    if tr.routing_changed:
        generation = write_routing(conn, row.endpoint, routing_for(st, cfg.core))
    if tr.notice is not Notice.HOLD:  # counter-only moves are in the analysis record, not the audit log
        before = {"state": tr.before.state.value, "step": tr.before.step, "failures": tr.before.failures,
                  "inconclusive": tr.before.inconclusive, "weights": weights(tr.before, cfg.core)}
        after = {"state": st.state.value, "step": st.step, "failures": st.failures, "inconclusive": st.inconclusive,
                 "weights": weights(st, cfg.core), "event": tr.event.value, "reason": st.reason,
                 "generation": generation, **(detail or {})}
        audit.append(conn, actor, f"rollout.{tr.notice.value}", f"rollout:{row.id}:endpoint:{row.endpoint}",
                     _json(before), _json(after), clock)
    return True


def touch(conn: Connection, row: Row[Any], next_analysis_at: datetime, now: datetime) -> bool:
    """Only reschedule (an analysis that changed nothing); the same revision check applies."""
    res = conn.execute(R.update().where(R.c.id == row.id, R.c.revision == row.revision).values(
        revision=int(row.revision) + 1, next_analysis_at=next_analysis_at, updated_at=now))
    return res.rowcount == 1


def _json(d: dict[str, Any]) -> dict[str, Any]:
    return {k: ({str(a): b for a, b in v.items()} if isinstance(v, dict) else v) for k, v in d.items()}
