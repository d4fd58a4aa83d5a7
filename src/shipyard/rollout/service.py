"""Rollout use cases: deploy (which starts a rollout on a served endpoint), status, list, and the operator's
pause / resume / promote / abort. The controller (``rollout.controller``) drives live rollouts each interval
through the same ``records.commit``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from shipyard.clock import Clock
from shipyard.config import DeploySpec
from shipyard.core import rollout as machine
from shipyard.core.permissions import Permission, Principal, authorize
from shipyard.core.rollout import Event, Strategy
from shipyard.errors import ConflictError, InvalidInputError, NotFoundError
from shipyard.governance import audit
from shipyard.registry.refs import check_name, parse_ref
from shipyard.rollout import records
from shipyard.rollout.endpoints import Endpoint, EndpointService
from shipyard.rollout.notifiers import Notifier, message
from shipyard.rollout.records import RolloutView
from shipyard.rollout.spec import RolloutConfig, from_deploy
from shipyard.store.sql import tables as t
from shipyard.store.sql.engine import Database

ACTIONS = {"pause": Event.PAUSE, "resume": Event.RESUME, "promote": Event.PROMOTE, "abort": Event.ABORT}


class RolloutNotFoundError(NotFoundError):
    """The endpoint has no rollout (live or finished)."""


@dataclass(slots=True)
class DeployResult:
    """What ``shipyard deploy`` did: the endpoint as it is now and the rollout it started, if any."""

    endpoint: Endpoint
    rollout: RolloutView | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {**self.endpoint.to_dict(), "rollout": None if self.rollout is None else self.rollout.to_dict(),
                "note": self.note}


@dataclass(slots=True)
class RolloutService:
    db: Database
    actor: Principal
    clock: Clock
    endpoints: EndpointService
    deploy_spec: DeploySpec = field(default_factory=DeploySpec)
    notifier: Notifier | None = None

    # -- deploy ----------------------------------------------------------------------------
    def deploy(self, ref: str, endpoint: str | None = None, weight: int | None = None,
               strategy: str | None = None) -> DeployResult:
        """Deploy ``ref``: a new endpoint gets 100% of it at once; an endpoint that serves another version
        starts a rollout by ``strategy`` (default ``deploy.strategy``); ``weight`` routes by hand instead.

        Raises:
            RolloutActiveError: the endpoint already has a live rollout (409 naming it).
        """
        authorize(self.actor, Permission.DEPLOY)
        if weight is not None and strategy is not None:
            raise InvalidInputError(field="--weight", value=weight,
                                    expected="either --weight (manual routing) or --strategy (a rollout), not both")
        name = check_name(endpoint or self.deploy_spec.endpoint or parse_ref(ref).name, "endpoint")
        cfg = from_deploy(self.deploy_spec, strategy)
        with self.db.read() as conn:
            current = conn.execute(select(t.endpoints).where(t.endpoints.c.name == name)).first()
        if weight is not None or current is None:
            return DeployResult(self.endpoints.deploy(ref, name, weight),
                                note="" if current is not None else "a new endpoint serves its first version at 100%")
        mv = self.endpoints.resolve_version(ref)
        served = [r.version for r in self.endpoints.endpoint_of(current).table.routes if r.weight > 0]
        if served == [mv.version]:
            return DeployResult(self.endpoints.endpoint_of(current), note=f"{mv.model}:{mv.version} already serves "
                                                                       f"100% of {name}")
        stable = max(self.endpoints.endpoint_of(current).table.routes, key=lambda r: r.weight).version
        if stable == mv.version:  # it already takes most of the traffic: all of it, nothing to roll out
            return DeployResult(self.endpoints.deploy(ref, name), note=f"{mv.model}:{mv.version} was the heaviest "
                                                                       "version: now 100%, no rollout")
        return self.start(name, mv, stable, cfg)

    def start(self, name: str, mv: Any, stable: int, cfg: RolloutConfig) -> DeployResult:
        """Start a rollout of ``mv`` on ``name`` (serving ``stable``): one transaction with its routing."""
        self.endpoints.check_servable(mv, answering=cfg.strategy is not Strategy.SHADOW)
        self.endpoints.check_artifact(mv)
        st = machine.start(cfg.core, stable, mv.version)
        now = self.clock.now()
        with self.db.begin() as conn:
            row = self.endpoints.endpoint_row(conn, name)
            self.endpoints.check_same_model(row, mv.model)
            locked = self.endpoints.locked_version(conn, mv.model, mv.version)  # the stage as of this write (no race)
            self.endpoints.check_servable(locked, answering=cfg.strategy is not Strategy.SHADOW)
            self.endpoints.check_signature(locked)
            records.refuse_if_active(conn, name, "deploy again")
            rid = records.insert_rollout(conn, name, mv.model, st, cfg, self.actor.name, now)
            table = machine.routing_for(st, cfg.core, row.routing.get("sticky_header"))
            generation = self.endpoints.write_routing(conn, name, table)
            audit.append(conn, self.actor.name, "rollout.start", f"rollout:{rid}:endpoint:{name}",
                                 {"routing": row.routing},
                                 {"strategy": cfg.strategy.value, "stable": stable, "candidate": mv.version,
                                  "routing": table.to_dict(), "generation": generation, "spec": cfg.to_dict()},
                                 self.clock)
            view = records.view(records.by_id(conn, rid))  # type: ignore[arg-type]
            ep = self.endpoints.endpoint_of(self.endpoints.endpoint_row(conn, name))
        self.notify("start", view)
        return DeployResult(ep, view, f"rollout {rid} started ({cfg.strategy.value})")

    # -- reading ---------------------------------------------------------------------------
    def status(self, endpoint: str, limit: int = 20) -> RolloutView:
        """The endpoint's newest rollout (live or finished) with its newest ``limit`` analyses."""
        authorize(self.actor, Permission.READ)
        with self.db.read() as conn:
            row = records.latest(conn, endpoint)
            if row is None:
                self.endpoints.endpoint_row(conn, endpoint)  # an unknown endpoint is its own 404
                raise RolloutNotFoundError(field="endpoint", value=endpoint,
                                           expected="an endpoint with a rollout (`shipyard deploy` starts one)")
            return records.view(row, records.analyses(conn, int(row.id), limit))

    def list(self, limit: int = 100) -> list[RolloutView]:
        authorize(self.actor, Permission.READ)
        with self.db.read() as conn:
            return [records.view(r) for r in records.all_rows(conn, limit)]

    # -- operator commands -----------------------------------------------------------------
    def command(self, endpoint: str, action: str, reason: str = "", full: bool = False) -> RolloutView:
        """pause | resume | promote | abort the endpoint's live rollout (audited; deploy permission).

        ``promote`` moves a canary to its next step (``full``: to 100%), any other strategy to 100%.
        """
        authorize(self.actor, Permission.DEPLOY)
        event = ACTIONS.get(action)
        if event is None:
            raise InvalidInputError(field="action", value=action, expected=" | ".join(ACTIONS))
        if full and event is Event.PROMOTE:
            event = Event.PROMOTE_FULL
        for _ in range(20):  # a controller may move the row between our read and our write: read again
            with self.db.begin() as conn:
                row = records.active(conn, endpoint)
                if row is None:
                    self.endpoints.endpoint_row(conn, endpoint)
                    last = records.latest(conn, endpoint)
                    if last is not None:  # finished: the machine says why nothing applies (409)
                        machine.transition(records.config_of(last).core, records.state_of(last), event)
                    raise RolloutNotFoundError(
                        f"endpoint {endpoint}: no live rollout to {action}", field="endpoint", value=endpoint,
                        expected="an endpoint whose rollout is progressing or paused")
                tr = machine.transition(records.config_of(row).core, records.state_of(row), event, reason or None)
                nxt = self.clock.now() + timedelta(seconds=records.config_of(row).interval_s)
                if records.commit(conn, row, tr, self.actor.name, self.clock, self.endpoints.write_routing, nxt,
                                  {"command": action, "by": self.actor.name}):
                    view = records.view(records.by_id(conn, int(row.id)))  # type: ignore[arg-type]
                    break
        else:  # pragma: no cover - twenty lost races in a row
            raise ConflictError(field="rollout", value=endpoint, expected="a rollout that holds still")
        self.notify(tr.notice.value, view)
        if "promote_stage" in tr.actions:
            promote_stage(self.endpoints, view)
        return view

    def notify(self, notice: str, view: RolloutView) -> None:
        if self.notifier is None or notice == machine.Notice.HOLD.value:
            return
        for url in view.spec.get("webhooks") or []:
            self.notifier.send(url, message(notice, view.to_dict()))


def promote_stage(endpoints: EndpointService, view: RolloutView) -> str:
    """Stage bookkeeping after a promotion: the candidate becomes ``production`` and takes ``champion``.
    Idempotent (the controller repeats it until it holds); returns what it did or why it could not."""
    registry = endpoints.registry
    if registry is None:
        return "no registry"
    ref = f"{view.model}:{view.candidate}"
    done = []
    mv = registry.get_version(ref)
    if mv.stage != "production":
        if mv.stage not in ("approved", "retired"):
            return f"{ref} is {mv.stage}: only an approved or retired version moves to production"
        registry.set_stage(ref, "production", f"promoted by rollout {view.id}", permission=Permission.DEPLOY)
        done.append("production")
    if "champion" not in mv.aliases:
        registry.set_alias(view.model, "champion", view.candidate)
        done.append("champion")
    return ", ".join(done) or "nothing to do"
