"""Endpoints and their routing state in the store: the single truth of "which version gets traffic".

Every change (create, deploy, set routing) bumps the endpoint's ``generation`` inside one
transaction together with its audit event; gateways poll ``snapshot()`` and reload on a new
generation. On PostgreSQL the same transaction sends a notification (``store.sql.notify``) that wakes the
gateways' poll (``watch``) the moment it commits. Feedback rows and the prediction-log join live in
``telemetry.feedback_store``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select

from shipyard.clock import Clock, iso
from shipyard.core import routing
from shipyard.core.permissions import Permission, Principal, authorize
from shipyard.core.routing import RoutingTable
from shipyard.core.stages import Stage
from shipyard.errors import ConflictError, InvalidInputError, NotFoundError
from shipyard.governance import audit
from shipyard.registry.refs import check_name, parse_ref
from shipyard.rollout import records
from shipyard.store.sql import notify
from shipyard.store.sql import tables as t
from shipyard.store.sql.engine import Database
from shipyard.telemetry import feedback_store
from shipyard.telemetry.prediction_view import PredictionLogView

E = t.endpoints


class EndpointNotFoundError(NotFoundError):
    """No endpoint with that name."""


class VersionNotServableError(ConflictError):
    """The version's stage does not allow it to get (answering) traffic."""


class UnsignedVersionError(ConflictError):
    """The version has no signature, so the gateway cannot check or answer any request for it."""


_HOW = {Stage.CANDIDATE: "evaluate its gates (`shipyard models evaluate REF --dataset D:V`), then "
                         "`shipyard approve REF` "
                         "by someone other than its author",
        Stage.VALIDATED: "`shipyard approve REF` by someone other than its author"}

# Stages whose versions may answer an endpoint's clients while approvals are required.
SERVABLE = (Stage.APPROVED, Stage.PRODUCTION, Stage.RETIRED)


@dataclass(slots=True)
class Endpoint:
    name: str
    model: str
    routing: dict[str, Any]
    generation: int
    config: dict[str, Any]
    created_at: str
    updated_at: str

    @property
    def table(self) -> RoutingTable:
        return routing.parse(self.routing)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class EndpointState:
    """What a gateway needs per endpoint: the model, the routing table and its generation."""

    name: str
    model: str
    generation: int
    table: RoutingTable


@dataclass(frozen=True, slots=True)
class VersionSpec:
    """What a gateway needs to load and check one model version."""

    model: str
    version: int
    flavor: str
    digest: str
    signature: dict[str, Any] | None
    classes: list[Any] | None
    task: str | None
    # The pipeline trains on class indices (0..k-1) and declares the label of each index in the
    # signature's output (see ``_labels``); the gateway answers with these labels. None for models
    # registered directly (their own ``classes_`` are what they predict).
    labels: list[Any] | None = None
    # extra skops types the version loads with: recorded at registration, still in trusted_types (shipyard.yaml)
    trusted_types: tuple[str, ...] = ()


def _labels(signature: dict[str, Any] | None, provenance: dict[str, Any]) -> list[Any] | None:
    """The label of each class index of a pipeline-trained classifier: the signature's typed output labels,
    or (versions registered before the signature carried them) the provenance's ``classes`` as text."""
    outputs = (signature or {}).get("outputs") or []
    labels = outputs[0].get("labels") if outputs and isinstance(outputs[0], dict) else None
    if labels is None and provenance.get("task") in ("classification", "multiclass"):
        labels = provenance.get("classes")
    return list(labels) if isinstance(labels, list) and labels else None


class EndpointService:
    def __init__(self, db: Database, actor: Principal, clock: Clock, registry: Any = None,
                 artifacts: Any = None) -> None:
        self.db, self.actor, self.clock, self.registry, self.artifacts = db, actor, clock, registry, artifacts

    # -- writing -------------------------------------------------------------------------
    def deploy(self, ref: str, endpoint: str | None = None, weight: int | None = None) -> Endpoint:
        """Point ``endpoint`` (default: the model's name) at the version ``ref`` resolves to.

        A new endpoint gets 100% of that version; an existing one gets 100% (no ``weight``) or
        ``weight`` percent with the rest on its current heaviest version.
        """
        authorize(self.actor, Permission.DEPLOY)
        mref = parse_ref(ref)
        mv = self.resolve_version(ref)
        name = check_name(endpoint or mref.name, "endpoint")
        self.check_servable(mv, answering=weight != 0)  # early, readable refusal; checked again below
        self.check_artifact(mv)
        now = self.clock.now()
        with self.db.begin() as conn:
            mv = self.locked_version(conn, mv.model, mv.version)  # the stage as of this write (issue 18: no race)
            self.check_servable(mv, answering=weight != 0)
            self.check_signature(mv)
            row = conn.execute(select(E).where(E.c.name == name)).first()
            if row is None:
                table = routing.single(mv.version) if weight in (None, 100) else None
                if table is None:
                    raise InvalidInputError(field="weight", value=weight,
                                            expected="100 or unset for a new endpoint (nothing else serves it)")
                conn.execute(E.insert().values(name=name, model=mv.model, routing=table.to_dict(), generation=1,
                                               config={}, created_at=now, updated_at=now))
                notify.notify(conn, notify.ROUTING, name)
                audit.append(conn, self.actor.name, "endpoint.create", f"endpoint:{name}", None,
                             {"model": mv.model, "routing": table.to_dict()}, self.clock)
            else:
                self.check_same_model(row, mv.model)
                records.refuse_if_active(conn, name, "deploy")
                old = routing.parse(row.routing)
                table = routing.with_weight(old, mv.version, 100 if weight is None else weight)
                self._write(conn, row, table, "endpoint.deploy", now)
            return self.endpoint_of(self.endpoint_row(conn, name))

    def set_routing(self, name: str, table: RoutingTable | dict[str, Any]) -> Endpoint:
        """Replace the endpoint's routing table (validated; every version must exist)."""
        authorize(self.actor, Permission.DEPLOY)
        tbl = table if isinstance(table, RoutingTable) else routing.parse(table)
        with self.db.begin() as conn:
            row = self.endpoint_row(conn, name)
        served = set(tbl.served)
        for v in tbl.versions:
            mv = self.resolve_version(f"{row.model}:{v}")
            self.check_servable(mv, answering=v in served)
            self.check_artifact(mv)  # every version the gateways will load, shadows included
        now = self.clock.now()
        with self.db.begin() as conn:
            row = self.endpoint_row(conn, name)
            records.refuse_if_active(conn, name, "change its routing")
            for v in tbl.versions:  # re-read under the write lock: a stage moved meanwhile counts
                mv = self.locked_version(conn, row.model, v)
                self.check_servable(mv, answering=v in served)
                self.check_signature(mv)
            self._write(conn, row, tbl, "endpoint.route", now)
            return self.endpoint_of(self.endpoint_row(conn, name))

    def write_routing(self, conn: Connection, name: str, table: RoutingTable) -> int:
        """A rollout transition's routing change inside its transaction (the rollout's audit event records it;
        ``rollout.records.commit``); returns the endpoint's generation (bumped only if the table changed)."""
        row = self.endpoint_row(conn, name)
        if routing.parse(row.routing) == table:
            return int(row.generation)
        conn.execute(E.update().where(E.c.name == name).values(
            routing=table.to_dict(), generation=E.c.generation + 1, updated_at=self.clock.now()))
        notify.notify(conn, notify.ROUTING, name)
        return int(row.generation) + 1

    def record_feedback(self, items: Iterable[tuple[str, str, int | None, Any]]) -> int:
        """The gateway's feedback sink (data-plane traffic, not audited): see ``telemetry.feedback_store``."""
        return feedback_store.record(self.db, self.clock.now(), items)

    def list_feedback(self, endpoint: str) -> list[dict[str, Any]]:
        authorize(self.actor, Permission.READ)
        return feedback_store.list_for(self.db, endpoint)

    def prediction_log(self, name: str, since: str | None = None, limit: int = 10) -> PredictionLogView:
        """What the gateways logged for ``name``, per version, joined with the feedback by request id."""
        authorize(self.actor, Permission.READ)
        self.get(name)  # an unknown endpoint is a named 404, not an empty log
        return feedback_store.log_view(self.db, self.artifacts, name, since, limit, self.clock.now())

    # -- reading -------------------------------------------------------------------------
    def get(self, name: str) -> Endpoint:
        authorize(self.actor, Permission.READ)
        with self.db.read() as conn:
            return self.endpoint_of(self.endpoint_row(conn, name))

    def list(self) -> list[Endpoint]:
        authorize(self.actor, Permission.READ)
        with self.db.read() as conn:
            return [self.endpoint_of(r) for r in conn.execute(select(E).order_by(E.c.name))]

    def snapshot(self) -> dict[str, EndpointState]:
        """Every endpoint's routing and generation (the gateway's poll; one small query)."""
        with self.db.read() as conn:
            rows = conn.execute(select(E.c.name, E.c.model, E.c.generation, E.c.routing)).all()
        return {r.name: EndpointState(r.name, r.model, int(r.generation), routing.parse(r.routing)) for r in rows}

    def watch(self, on_change: Callable[[], object]) -> Callable[[], None] | None:
        """Call ``on_change()`` (from a background thread) as soon as a routing change commits, so a gateway
        need not wait for its next poll; returns the function that stops it, or None (SQLite: poll only)."""
        return notify.listen(self.db, notify.ROUTING, on_change)

    def version_spec(self, model: str, version: int) -> VersionSpec:
        mv = self.resolve_version(f"{model}:{version}")
        prov = mv.provenance or {}
        art = prov.get("artifact") or {}
        trust = getattr(self.registry, "trusted_for", None)
        return VersionSpec(mv.model, mv.version, mv.flavor, mv.artifact_digest, mv.signature,
                           art.get("classes"), art.get("task"), _labels(mv.signature, prov),
                           tuple(trust(mv)) if trust is not None else ())

    # -- helpers -------------------------------------------------------------------------
    def resolve_version(self, ref: str) -> Any:
        if self.registry is None:
            raise InvalidInputError(field="registry", value=None, expected="an EndpointService built with a registry")
        return self.registry.get_version(ref)

    def check_servable(self, mv: Any, *, answering: bool) -> None:
        """Refuse a version that may not get traffic: rejected or archived ones never; while the workspace
        requires approvals (``approval.required``), a version that answers clients must be approved (or be,
        or have been, in production). A shadow never answers, so an unapproved candidate may be shadowed
        (the usual way to watch a challenger on live traffic before approving it); an archived one may not."""
        stage = Stage(mv.stage)
        ref = f"{mv.model}:{mv.version}"
        if stage is Stage.ARCHIVED or (answering and stage is Stage.REJECTED):
            raise VersionNotServableError(
                f"stage: {ref} is {stage.value} and cannot get {'traffic' if answering else 'shadow traffic'}",
                field="stage", value=stage.value, expected=" | ".join(s.value for s in SERVABLE))
        required = int(getattr(self.registry, "approvals_required", 0) or 0)
        if answering and required > 0 and stage not in SERVABLE:
            how = _HOW.get(stage, "approve it").replace("REF", ref)
            raise VersionNotServableError(
                f"stage: {ref} is {stage.value}; this workspace requires {required} approval(s) before a version "
                f"answers traffic (approval.required in shipyard.yaml): {how}, or route it as a shadow",
                field="stage", value=stage.value,
                expected=" | ".join(s.value for s in SERVABLE))

    def locked_version(self, conn: Connection, model: str, version: int) -> Any:
        """The version as of this write transaction, its row locked (PostgreSQL ``FOR UPDATE``; SQLite holds
        the write lock from BEGIN IMMEDIATE), so a concurrent stage change cannot slip between check and write."""
        reg = self.registry
        if reg is None or not hasattr(reg, "version_for_update"):
            return self.resolve_version(f"{model}:{version}")
        return reg.version_for_update(conn, parse_ref(f"{model}:{version}"))

    @staticmethod
    def check_signature(mv: Any) -> None:
        """A version without a signature (its input columns) could only answer 422 to every request: refuse it
        at deploy and say how to attach one (issue 18, item 8)."""
        inputs = (mv.signature or {}).get("inputs") if isinstance(mv.signature, dict) else None
        if not inputs:
            ref = f"{mv.model}:{mv.version}"
            raise UnsignedVersionError(
                f"signature: {ref} has no signature (its input columns), so the gateway could only refuse every "
                f"request; register it again with one: `shipyard models register {mv.model} FILE --dataset "
                f"DATASET[@VERSION] --target COLUMN` (from a dataset's schema) or `--signature signature.json` "
                '({"inputs": [{"name": ..., "type": ...}], "outputs": [{"name": "prediction"}]})',
                field="signature", value=None, expected="a signature with at least one input column")

    def check_artifact(self, mv: Any) -> None:
        """The stored artifact still hashes to the digest it was registered with (the gateway checks again at
        load; failing here tells the deployer now instead of in a gateway log)."""
        if self.artifacts is not None:
            self.artifacts.get_bytes(mv.artifact_digest)

    @staticmethod
    def check_same_model(row: Row[Any], model: str) -> None:
        if row.model != model:
            raise ConflictError(f"endpoint {row.name} serves model {row.model}, not {model}",
                                field="model", value=model, expected=row.model)

    def _write(self, conn: Connection, row: Row[Any], table: RoutingTable, action: str, now: datetime) -> None:
        conn.execute(E.update().where(E.c.name == row.name).values(
            routing=table.to_dict(), generation=E.c.generation + 1, updated_at=now))
        notify.notify(conn, notify.ROUTING, row.name)
        audit.append(conn, self.actor.name, action, f"endpoint:{row.name}",
                     {"routing": row.routing, "generation": int(row.generation)},
                     {"routing": table.to_dict(), "generation": int(row.generation) + 1}, self.clock)

    @staticmethod
    def endpoint_row(conn: Connection, name: str) -> Row[Any]:
        row = conn.execute(select(E).where(E.c.name == name)).first()
        if row is None:
            raise EndpointNotFoundError(field="endpoint", value=name,
                                        expected="an existing endpoint (see `shipyard endpoints list`)")
        return row

    @staticmethod
    def endpoint_of(r: Row[Any]) -> Endpoint:
        return Endpoint(r.name, r.model, r.routing, int(r.generation), r.config or {},
                        iso(r.created_at), iso(r.updated_at))
