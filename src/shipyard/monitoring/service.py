"""Reading monitors: an endpoint's latest result and history per check (its trend), and alerts.

``GET /api/v1/endpoints/{name}/monitors``, ``GET /api/v1/alerts`` and ``shipyard monitor status`` call this.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from shipyard.clock import Clock, iso
from shipyard.core.permissions import Permission, Principal, authorize
from shipyard.errors import InvalidInputError
from shipyard.monitoring.alerts import to_dict as alert_dict
from shipyard.monitoring.spec import CHECKS
from shipyard.store.sql import tables as t
from shipyard.store.sql.engine import Database

MR, A = t.monitor_results, t.alerts
HEADLINE = {"drift": "share_drifted", "quality": "worst_rate", "performance": "accuracy_or_estimate"}
STATES = ("firing", "resolved")


def result_dict(r: Any, full: bool = True) -> dict[str, Any]:
    metrics = dict(r.metrics or {})
    out = {"id": int(r.id), "check": r.check, "version": r.version, "at": iso(r.at),
           "window_start": iso(r.window_start) if r.window_start is not None else None,
           "window_end": iso(r.window_end) if r.window_end is not None else None, "rows": int(r.rows),
           "status": r.status, "value": metrics.get(HEADLINE.get(r.check, ""))}
    if full:
        out.update(metrics=metrics, detail=r.detail or {})
    return out


class MonitorService:
    def __init__(self, db: Database, actor: Principal, clock: Clock) -> None:
        self.db, self.actor, self.clock = db, actor, clock

    def status(self, endpoint: str, limit: int = 20) -> dict[str, Any]:
        """Per check: the newest result in full and the newest ``limit`` results (all versions, newest
        first: the trend); the endpoint's firing alerts and its newest alerts."""
        authorize(self.actor, Permission.READ)
        if not 1 <= limit <= 1000:
            raise InvalidInputError(field="limit", value=limit, expected="an integer 1..1000")
        with self.db.read() as conn:
            if conn.execute(select(t.endpoints.c.name).where(t.endpoints.c.name == endpoint)).first() is None:
                from shipyard.rollout.endpoints import EndpointNotFoundError

                raise EndpointNotFoundError(field="endpoint", value=endpoint,
                                            expected="an existing endpoint (see `shipyard endpoints list`)")
            checks: dict[str, Any] = {}
            for check in CHECKS:
                rows = conn.execute(select(MR).where(MR.c.endpoint == endpoint, MR.c.check == check)
                                    .order_by(MR.c.id.desc()).limit(limit)).all()
                if rows:
                    checks[check] = {"latest": result_dict(rows[0]),
                                     "history": [result_dict(r, full=False) for r in rows]}
            firing = conn.execute(select(A).where(A.c.endpoint == endpoint, A.c.state == "firing")
                                  .order_by(A.c.id.desc())).all()
            recent = conn.execute(select(A).where(A.c.endpoint == endpoint).order_by(A.c.id.desc())
                                  .limit(limit)).all()
        return {"endpoint": endpoint, "checks": checks, "firing": [alert_dict(r) for r in firing],
                "alerts": [alert_dict(r) for r in recent]}

    def alerts(self, endpoint: str | None = None, state: str | None = None, limit: int = 100
               ) -> list[dict[str, Any]]:
        """Alerts, newest first (optionally one endpoint's, or only ``firing`` / ``resolved`` ones)."""
        authorize(self.actor, Permission.READ)
        if state is not None and state not in STATES:
            raise InvalidInputError(field="state", value=state, expected=" | ".join(STATES))
        if not 1 <= limit <= 1000:
            raise InvalidInputError(field="limit", value=limit, expected="an integer 1..1000")
        q = select(A).order_by(A.c.id.desc()).limit(limit)
        if endpoint is not None:
            q = q.where(A.c.endpoint == endpoint)
        if state is not None:
            q = q.where(A.c.state == state)
        with self.db.read() as conn:
            return [alert_dict(r) for r in conn.execute(q)]
