"""Approvals: human decisions on a version, with separation of duties.

Rules (documented in docs/design.md, "Governance"):
- approving or rejecting needs ``model:approve`` (roles approver, admin);
- the version's author (``created_by``) may not approve it;
- a principal approves a version once;
- only a ``validated`` version with verified gate evidence (registry/evidence.py) can be approved: a
  ``candidate`` has not passed its gates yet, so an approval is refused (``shipyard models evaluate NAME:V
  --dataset D:V`` or a pipeline run evaluates them);
- when the number of approvals reaches ``approval.required`` the version moves validated -> approved
  in the same transaction as the approval that completed it;
- a rejection needs a reason and moves the version to ``rejected`` (from candidate, validated or approved).
Every decision is an audit event in the same transaction as the change.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from shipyard.clock import Clock
from shipyard.core.permissions import Permission, Principal, authorize
from shipyard.core.stages import Stage
from shipyard.errors import ConflictError, InvalidInputError, PermissionDeniedError
from shipyard.governance import audit
from shipyard.registry.evidence import require_passing
from shipyard.registry.models import ModelVersion
from shipyard.registry.refs import parse_ref
from shipyard.registry.service import RegistryService
from shipyard.store.sql import tables as t
from shipyard.store.sql.engine import Database

MAX_REASON = 2000


class ApprovalConflictError(ConflictError):
    """The decision cannot be recorded in the version's current state (already decided, wrong stage)."""


def _check_reason(reason: str, *, required: bool) -> str:
    reason = (reason or "").strip()
    if required and not reason:
        raise InvalidInputError(field="reason", value=reason, expected="a non-empty reason for the rejection")
    if len(reason) > MAX_REASON:
        raise InvalidInputError(field="reason", value=reason[:40] + "…", expected=f"at most {MAX_REASON} characters")
    return reason


class ApprovalService:
    def __init__(self, db: Database, registry: RegistryService, actor: Principal, clock: Clock,
                 required: int = 1) -> None:
        self.db, self.registry, self.actor, self.clock = db, registry, actor, clock
        self.required = required

    def approve(self, ref: str, reason: str = "") -> ModelVersion:
        """Record the actor's approval; move the version to ``approved`` when enough have been given."""
        authorize(self.actor, Permission.MODEL_APPROVE)
        reason = _check_reason(reason, required=False)
        mref = parse_ref(ref)
        with self.db.begin() as conn:
            row = self.registry._row(conn, mref)
            # Lock the version row (PostgreSQL) so two concurrent approvals count each other.
            conn.execute(select(t.model_versions.c.id).where(t.model_versions.c.id == row.id).with_for_update())
            name, version = row.model_name, int(row.version)
            if row.created_by == self.actor.name:
                raise PermissionDeniedError(
                    f"approve: {self.actor.name} registered {name}:{version} and may not approve it "
                    f"(separation of duties: another approver must)",
                    field="approver", value=self.actor.name, expected=f"someone other than the author {row.created_by}",
                )
            if row.stage != Stage.VALIDATED.value:
                hint = (f"; it has not passed its gates: `shipyard models evaluate {name}:{version} --dataset "
                        "DATASET:VERSION` first"
                        if row.stage == Stage.CANDIDATE.value else "")
                raise ApprovalConflictError(
                    f"approve: {name}:{version} is {row.stage}; only a validated version can be approved{hint}",
                    field="stage", value=row.stage, expected="validated",
                )
            # approvers decide on gates shipyard evaluated itself, never on a client's self-certified numbers
            require_passing(self.registry.evidence_of(self.registry._row_by_id(conn, row.id)), f"{name}:{version}",
                            Stage.APPROVED.value)
            already = conn.execute(select(t.approvals.c.id).where(
                t.approvals.c.version_id == row.id, t.approvals.c.principal == self.actor.name,
                t.approvals.c.decision == "approve")).first()
            if already is not None:
                raise ApprovalConflictError(
                    f"approve: {self.actor.name} has already approved {name}:{version}",
                    field="approver", value=self.actor.name, expected="an approver who has not approved this version",
                )
            conn.execute(t.approvals.insert().values(version_id=row.id, principal=self.actor.name,
                                                     decision="approve", reason=reason, at=self.clock.now()))
            n = self.registry.count_approvals(conn, row.id)
            audit.append(conn, self.actor.name, "model.approve", f"model:{name}:{version}", None,
                         {"reason": reason, "approvals": n, "required": self.required}, self.clock)
            if n >= self.required:
                return self.registry.set_stage(
                    f"{name}:{version}", Stage.APPROVED.value, f"{n} of {self.required} approval(s)",
                    permission=Permission.MODEL_APPROVE, conn=conn)
            return self.registry._version(conn, self.registry._row_by_id(conn, row.id))

    def pending(self) -> list[dict[str, Any]]:
        """The approval queue: validated versions, oldest first, each with its approvals so far and its gate
        evidence (source, verified), so approvers see what the gates were evaluated by before deciding."""
        authorize(self.actor, Permission.READ)
        MV = t.model_versions
        with self.db.read() as conn:
            rows = conn.execute(self.registry._vq().where(MV.c.stage == Stage.VALIDATED.value)
                                .order_by(MV.c.created_at, MV.c.id)).all()
            out = []
            for r in rows:
                ev = self.registry.evidence_of(r)
                out.append({"ref": f"{r.model_name}:{r.version}", "model": r.model_name, "version": int(r.version),
                            "created_by": r.created_by, "approvals": self.registry.count_approvals(conn, r.id),
                            "required": self.required,
                            "evidence": {k: ev.get(k) for k in ("source", "verified", "gates_passed", "reason",
                                                                "run_id", "dataset", "at")}})
            return out

    def reject(self, ref: str, reason: str) -> ModelVersion:
        """Record a rejection with its reason and move the version to ``rejected``."""
        authorize(self.actor, Permission.MODEL_APPROVE)
        reason = _check_reason(reason, required=True)
        mref = parse_ref(ref)
        with self.db.begin() as conn:
            row = self.registry._row(conn, mref)
            conn.execute(select(t.model_versions.c.id).where(t.model_versions.c.id == row.id).with_for_update())
            name, version = row.model_name, int(row.version)
            if row.stage not in (Stage.CANDIDATE.value, Stage.VALIDATED.value, Stage.APPROVED.value):
                raise ApprovalConflictError(
                    f"reject: {name}:{version} is {row.stage}; only candidate, validated or approved versions "
                    f"can be rejected", field="stage", value=row.stage, expected="candidate | validated | approved",
                )
            conn.execute(t.approvals.insert().values(version_id=row.id, principal=self.actor.name,
                                                     decision="reject", reason=reason, at=self.clock.now()))
            audit.append(conn, self.actor.name, "model.reject", f"model:{name}:{version}", None,
                         {"reason": reason}, self.clock)
            return self.registry.set_stage(f"{name}:{version}", Stage.REJECTED.value, reason,
                                           permission=Permission.MODEL_APPROVE, conn=conn)
