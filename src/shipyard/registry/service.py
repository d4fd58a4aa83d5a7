"""Registry use cases: register, read, alias, stage and tag model versions.

Version numbers are allocated inside the registering transaction with ``UPDATE models SET
latest_version = latest_version + 1 ... RETURNING``: PostgreSQL serialises it by the row lock,
SQLite by the write lock taken at BEGIN IMMEDIATE, so concurrent registrations get 1..N.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Row, func, select

from shipyard.clock import Clock, iso
from shipyard.core.hashing import Digest
from shipyard.core.limits import check_int
from shipyard.core.permissions import Permission, Principal, authorize
from shipyard.core.stages import Stage, StageTransitionError, parse_stage, transition
from shipyard.errors import InvalidInputError, PermissionDeniedError
from shipyard.flavors.sandbox import SandboxLimits
from shipyard.governance import audit
from shipyard.registry import evidence as ev
from shipyard.registry.errors import AliasNotFoundError, ModelNotFoundError, VersionNotFoundError
from shipyard.registry.models import ModelDetail, ModelSummary, ModelVersion
from shipyard.registry.refs import ModelRef, check_alias, check_name, check_tag, parse_ref
from shipyard.registry.rows import versions_from_rows
from shipyard.registry.signature import check_evaluation, check_signature
from shipyard.store.artifacts.base import ArtifactStore
from shipyard.store.sql import tables as t
from shipyard.store.sql.dialects import insert_ignore
from shipyard.store.sql.engine import Database

_NO_ALIAS = (Stage.REJECTED, Stage.ARCHIVED)  # stages an alias may not point at

MV, M = t.model_versions, t.models


def _trust_used(flavor: str, data: bytes, trusted_types: list[str]) -> list[str]:
    """The workspace-trusted types (shipyard.yaml ``trusted_types``) the artifact needs to load."""
    if not trusted_types or flavor != "sklearn":
        return []
    from shipyard.flavors.sklearn import workspace_types_used

    return workspace_types_used(data, trusted_types)


class RegistryService:
    def __init__(self, db: Database, artifacts: ArtifactStore, actor: Principal, clock: Clock,
                 approvals_required: int = 1, trusted_types: Iterable[str] = (),
                 sandbox: SandboxLimits | None = None, evidence_key: Callable[[], bytes] | None = None) -> None:
        self.db, self.artifacts, self.actor, self.clock = db, artifacts, actor, clock
        self.approvals_required = approvals_required
        self.trusted_types = sorted(set(trusted_types))  # shipyard.yaml trusted_types: extra skops trust
        self.sandbox = sandbox  # limits of the child that imports user code (pyfunc) at inspection
        self._evidence_key = evidence_key  # wiring.evidence_key, resolved on first use

    def evidence_key(self) -> bytes | None:
        return None if self._evidence_key is None else self._evidence_key()

    def trusted_for(self, mv: ModelVersion) -> list[str]:
        """The extra types ``mv`` may load with: those recorded (and audited) when it was registered that the
        workspace still trusts; removing a type from ``trusted_types`` revokes it for every version."""
        recorded = (mv.provenance or {}).get("trusted_types") or []
        return [t for t in recorded if t in self.trusted_types]

    # -- writing -------------------------------------------------------------------------
    def register(self, name: str, artifact: Path | bytes, flavor: str, *, signature: dict[str, Any] | None = None,
                 provenance: dict[str, Any] | None = None, evaluation: dict[str, Any] | None = None,
                 reports: dict[str, Any] | None = None, lineage: Iterable[dict[str, Any]] = (),
                 stage: Stage = Stage.CANDIDATE, run_id: str | None = None, description: str = "",
                 tags: dict[str, str] | None = None, inspect: bool = True, gate_run: ev.GateRun | None = None,
                 ) -> ModelVersion:
        """Store the artifact and create the next version of ``name`` in one transaction.

        ``stage=validated`` needs ``gate_run``: gates shipyard evaluated in this process (the pipeline's
        register step); the version's evidence is sealed with the evidence key. A client's ``evaluation``
        is stored marked ``client-supplied`` (not evidence), and a client cannot ask for ``validated``.
        """
        authorize(self.actor, Permission.MODEL_WRITE)
        check_name(name, "model")
        if stage not in (Stage.CANDIDATE, Stage.VALIDATED, Stage.REJECTED):  # approvals come after registration
            raise InvalidInputError(field="stage", value=stage.value, expected="candidate (or validated/rejected by "
                                    "gates shipyard evaluated)")
        if stage is Stage.VALIDATED and (gate_run is None or not gate_run.passed):
            raise StageTransitionError(
                f"stage: a version reaches validated only through gates shipyard evaluates itself; register it "
                f"as candidate, then run {ev.HOW.format(ref=f'{name}:VERSION', name=name, version='VERSION')}",
                field="stage", value=stage.value, expected="candidate (then models evaluate, or shipyard run)")
        for k, v in (tags or {}).items():
            check_tag(k, str(v))
        # What `models show`, the card, gates and the gateway read later must have the shape they expect.
        signature = check_signature(signature)
        check_evaluation(evaluation)
        from shipyard.flavors import factory as flavors

        fl = flavors.create(flavor, self.sandbox)  # pyfunc: inspected in a sandboxed child, never here
        info = None
        if isinstance(artifact, Path):
            if not artifact.is_file():
                raise InvalidInputError(field="path", value=str(artifact), expected="an existing model file")
            if inspect:
                info = fl.inspect(artifact, trusted_types=self.trusted_types)
            data = artifact.read_bytes()
        else:
            data = artifact
        used = _trust_used(flavor, data, self.trusted_types)
        digest = self.artifacts.put_bytes(data)  # idempotent; an orphan blob after a failed commit is harmless
        prov = dict(provenance or {})
        prov.pop("trusted_types", None)  # only what this workspace's trust allowed, never a client's claim
        if used:
            prov["trusted_types"] = used
        if info is not None:
            prov.setdefault("artifact", {"feature_names": info.feature_names, "classes": info.classes,
                                         "task": info.task, **info.details})
            if signature is None and info.feature_names:
                signature = {"inputs": [{"name": n, "type": "float", "nullable": True} for n in info.feature_names],
                             "outputs": [{"name": "prediction"}], "source": "estimator.feature_names_in_"}
        now = self.clock.now()
        lineage = list(lineage)
        with self.db.begin() as conn:
            insert_ignore(conn, M, {"name": name, "description": "", "latest_version": 0,
                                    "created_at": now, "created_by": self.actor.name}, ["name"])
            row = conn.execute(
                M.update().where(M.c.name == name).values(latest_version=M.c.latest_version + 1)
                .returning(M.c.id, M.c.latest_version)
            ).one()
            model_id, version = int(row.id), int(row.latest_version)
            vid = cast("Row[Any]", conn.execute(MV.insert().values(
                model_id=model_id, version=version, flavor=flavor, artifact_digest=digest,
                artifact_size=len(data), signature=signature, stage=stage.value, provenance=prov,
                evaluation=evaluation, reports=reports or {}, run_id=run_id, description=description,
                created_at=now, created_by=self.actor.name,
            )).inserted_primary_key)[0]
            conn.execute(t.stage_history.insert().values(version_id=vid, from_stage=None, to_stage=stage.value,
                                                         actor=self.actor.name, reason="registered", at=now))
            for link in lineage:
                conn.execute(t.lineage.insert().values(version_id=vid, kind=link["kind"], ref=link["ref"],
                                                       digest=link.get("digest"), role=link.get("role", "train")))
            for k, v in (tags or {}).items():
                conn.execute(t.model_tags.insert().values(version_id=vid, key=k, value=str(v)))
            sealed = self._seal(conn, vid, gate_run) if gate_run is not None else None
            if sealed is None and evaluation is not None:
                conn.execute(MV.update().where(MV.c.id == vid).values(evidence={"source": ev.CLIENT_SUPPLIED}))
            audit.append(conn, self.actor.name, "model.register", f"model:{name}:{version}", None,
                         {"flavor": flavor, "artifact": digest, "stage": stage.value, "run_id": run_id,
                          "lineage": lineage, "evidence": (sealed or {}).get("source", ev.CLIENT_SUPPLIED
                                                                            if evaluation is not None else None),
                          **({"trusted_types": used} if used else {})}, self.clock)
            return self._version(conn, self._row_by_id(conn, vid))

    def record_evaluation(self, ref: str, evaluation: dict[str, Any], gate_run: ev.GateRun) -> ModelVersion:
        """Store an evaluation shipyard computed in this process with its sealed evidence, and move the version
        to ``validated`` (gates passed) or ``rejected`` (a gate failed), in one audited transaction.
        Only a candidate or validated version can be (re-)evaluated."""
        authorize(self.actor, Permission.MODEL_WRITE)
        check_evaluation(evaluation)
        with self.db.begin() as conn:
            row = self._row(conn, parse_ref(ref))
            conn.execute(select(MV.c.id).where(MV.c.id == row.id).with_for_update())
            row = self._row_by_id(conn, row.id)  # re-read under the lock
            mref = f"{row.model_name}:{row.version}"
            if row.stage not in (Stage.CANDIDATE.value, Stage.VALIDATED.value):
                raise StageTransitionError(
                    f"evaluate: {mref} is {row.stage}; only a candidate or validated version can be evaluated",
                    field="stage", value=row.stage, expected="candidate | validated")
            conn.execute(MV.update().where(MV.c.id == row.id).values(evaluation=evaluation))
            sealed = self._seal(conn, row.id, gate_run)
            audit.append(conn, self.actor.name, "model.evaluate", f"model:{mref}",
                         {"stage": row.stage, "evidence": (row.evidence or {}).get("source")},
                         {"evidence": sealed["source"], "gates_passed": gate_run.passed,
                          "run_id": gate_run.run_id, "dataset": gate_run.dataset,
                          "evaluation_digest": sealed["evaluation_digest"]}, self.clock)
            target = Stage.VALIDATED if gate_run.passed else Stage.REJECTED
            if target.value == row.stage:
                return self._version(conn, self._row_by_id(conn, row.id))
            failed = [str(g.get("gate")) for g in gate_run.gates if not g.get("passed")]
            why = "gates passed" if gate_run.passed else "rejected by gates: " + "; ".join(failed)
            return self._set_stage(conn, parse_ref(mref), target, f"{gate_run.source}: {why}")

    def _seal(self, conn: Connection, vid: int, gate_run: ev.GateRun) -> dict[str, Any]:
        """Seal the evidence over the version's evaluation as the database hands it back, and store it."""
        key = self.evidence_key()
        if key is None:
            raise InvalidInputError(field="evidence key", value=None,
                                    expected="a RegistryService built with an evidence key (wiring.evidence_key)")
        r = self._row_by_id(conn, vid)
        sealed = ev.seal(key, gate_run, model=r.model_name, version=int(r.version),
                         artifact_digest=r.artifact_digest, evaluation=r.evaluation, at=iso(self.clock.now()))
        conn.execute(MV.update().where(MV.c.id == vid).values(evidence=sealed))
        return sealed

    def evidence_of(self, r: Row[Any]) -> dict[str, Any]:
        """The version row's evidence as approvers see it (``verified`` checked with this process's key)."""
        return ev.view(r.evidence, model=r.model_name, version=int(r.version), artifact_digest=r.artifact_digest,
                       evaluation=r.evaluation, key=self.evidence_key())

    def set_alias(self, name: str, alias: str, version: int) -> ModelVersion:
        authorize(self.actor, Permission.MODEL_STAGE)
        check_name(name, "model")
        check_alias(alias, model=name)
        check_int("version", version)
        now = self.clock.now()
        with self.db.begin() as conn:
            row = self._row(conn, ModelRef(name, version=version))
            if row.stage in _NO_ALIAS:
                # the champion is what gates compare against and what `NAME@champion` deploys: a version
                # that failed its gates or was withdrawn must not become it by a typo
                raise StageTransitionError(
                    f"alias: {name}:{version} is {row.stage}; an alias may not point at a "
                    f"{' or '.join(s.value for s in _NO_ALIAS)} version",
                    field="version", value=version,
                    expected="a version in " + " | ".join(s.value for s in Stage if s not in _NO_ALIAS))
            old = conn.execute(select(MV.c.version).join(t.model_aliases, t.model_aliases.c.version_id == MV.c.id)
                               .where(t.model_aliases.c.model_id == row.model_id,
                                      t.model_aliases.c.alias == alias)).scalar()
            conn.execute(t.model_aliases.delete().where(t.model_aliases.c.model_id == row.model_id,
                                                        t.model_aliases.c.alias == alias))
            conn.execute(t.model_aliases.insert().values(model_id=row.model_id, alias=alias, version_id=row.id,
                                                         updated_at=now))
            audit.append(conn, self.actor.name, "model.alias.set", f"model:{name}@{alias}",
                         None if old is None else {"version": old}, {"version": version}, self.clock)
            return self._version(conn, row)

    def delete_alias(self, name: str, alias: str) -> None:
        authorize(self.actor, Permission.MODEL_STAGE)
        check_name(name, "model")
        check_alias(alias)
        with self.db.begin() as conn:
            row = self._row(conn, ModelRef(name, alias=alias))
            conn.execute(t.model_aliases.delete().where(t.model_aliases.c.model_id == row.model_id,
                                                        t.model_aliases.c.alias == alias))
            audit.append(conn, self.actor.name, "model.alias.delete", f"model:{name}@{alias}",
                         {"version": row.version}, None, self.clock)

    def set_stage(self, ref: str, stage: str, reason: str = "", *, permission: Permission = Permission.MODEL_STAGE,
                  conn: Connection | None = None) -> ModelVersion:
        """Move a version along the stage machine (illegal moves name the allowed ones)."""
        authorize(self.actor, permission)
        target = parse_stage(stage)
        if conn is not None:
            return self._set_stage(conn, parse_ref(ref), target, reason)
        with self.db.begin() as c:
            return self._set_stage(c, parse_ref(ref), target, reason)

    def _set_stage(self, conn: Connection, ref: ModelRef, target: Stage, reason: str) -> ModelVersion:
        row = self._row(conn, ref)
        current = Stage(row.stage)
        transition(current, target)
        if target in (Stage.VALIDATED, Stage.APPROVED):  # gates shipyard evaluated, sealed, passed
            ev.require_passing(self.evidence_of(row), f"{ref.name}:{row.version}", target.value)
        if target in _NO_ALIAS:
            held = conn.execute(select(t.model_aliases.c.alias).where(t.model_aliases.c.version_id == row.id)
                                .order_by(t.model_aliases.c.alias)).scalars().all()
            if held:  # the rule set_alias keeps, from the other side: no alias ends up on a withdrawn version
                names = ", ".join(held)
                raise StageTransitionError(
                    f"stage: {ref.name}:{row.version} holds alias(es) {names}; point them at another version "
                    f"(`shipyard models alias {ref.name} {held[0]} VERSION`) or delete them "
                    f"(`--delete`) before moving it to {target.value}",
                    field="stage", value=target.value, expected=f"a version that holds no alias ({names} held)")
        if target is Stage.APPROVED:
            n = self.count_approvals(conn, row.id)
            if n < self.approvals_required:
                raise PermissionDeniedError(
                    f"stage: {ref.name}:{row.version} needs {self.approvals_required} approval(s) before "
                    f"'approved', has {n}; use `shipyard approve {ref.name}:{row.version}`",
                    field="stage", value=target.value, expected=f"{self.approvals_required} approvals",
                )
        now = self.clock.now()
        conn.execute(MV.update().where(MV.c.id == row.id).values(stage=target.value))
        conn.execute(t.stage_history.insert().values(version_id=row.id, from_stage=current.value,
                                                     to_stage=target.value, actor=self.actor.name,
                                                     reason=reason, at=now))
        audit.append(conn, self.actor.name, "model.stage", f"model:{ref.name}:{row.version}",
                     {"stage": current.value}, {"stage": target.value, "reason": reason}, self.clock)
        return self._version(conn, self._row_by_id(conn, row.id))

    def set_tag(self, ref: str, key: str, value: str) -> ModelVersion:
        authorize(self.actor, Permission.MODEL_WRITE)
        check_tag(key, value)
        mref = parse_ref(ref)
        with self.db.begin() as conn:
            row = self._row(conn, mref)
            old = conn.execute(select(t.model_tags.c.value).where(t.model_tags.c.version_id == row.id,
                                                                 t.model_tags.c.key == key)).scalar()
            conn.execute(t.model_tags.delete().where(t.model_tags.c.version_id == row.id, t.model_tags.c.key == key))
            conn.execute(t.model_tags.insert().values(version_id=row.id, key=key, value=value))
            audit.append(conn, self.actor.name, "model.tag", f"model:{row.model_name}:{row.version}",
                         None if old is None else {key: old}, {key: value}, self.clock)
            return self._version(conn, row)

    # -- reading -------------------------------------------------------------------------
    def list_models(self) -> list[ModelSummary]:
        authorize(self.actor, Permission.READ)
        with self.db.read() as conn:
            rows = conn.execute(select(M).order_by(M.c.name)).all()
            return [self._summary(conn, r) for r in rows]

    def get_model(self, name: str) -> ModelDetail:
        authorize(self.actor, Permission.READ)
        check_name(name, "model")
        with self.db.read() as conn:
            m = self._model_row(conn, name)
            vrows = conn.execute(self._vq().where(MV.c.model_id == m.id).order_by(MV.c.version)).all()
            return ModelDetail(self._summary(conn, m), self._versions(conn, list(vrows)))

    def versions_in_stage(self, stage: str) -> list[ModelVersion]:
        """Every model's versions in ``stage`` (e.g. the approval queue: ``validated``), oldest first."""
        authorize(self.actor, Permission.READ)
        with self.db.read() as conn:
            rows = conn.execute(self._vq().where(MV.c.stage == Stage(stage).value).order_by(MV.c.created_at)).all()
            return self._versions(conn, list(rows))

    def get_version(self, ref: str | ModelRef) -> ModelVersion:
        authorize(self.actor, Permission.READ)
        r = parse_ref(ref) if isinstance(ref, str) else ref
        with self.db.read() as conn:
            return self._version(conn, self._row(conn, r))

    def resolve(self, ref: str) -> ModelVersion:
        """``NAME`` resolves to the latest version; ``NAME:V`` and ``NAME@ALIAS`` as written."""
        return self.get_version(ref)

    def load_artifact(self, ref: str) -> bytes:
        """The version's artifact bytes, verified against the recorded sha256."""
        mv = self.get_version(ref)
        return self.artifacts.get_bytes(Digest(mv.artifact_digest))

    def count_approvals(self, conn: Connection, version_id: int) -> int:
        return int(conn.execute(select(func.count()).select_from(t.approvals).where(
            t.approvals.c.version_id == version_id, t.approvals.c.decision == "approve")).scalar() or 0)

    # -- rows -> results -----------------------------------------------------------------
    @staticmethod
    def _vq() -> Any:
        return select(MV, M.c.name.label("model_name")).join(M, M.c.id == MV.c.model_id)

    def _model_row(self, conn: Connection, name: str) -> Row[Any]:
        m = conn.execute(select(M).where(M.c.name == name)).first()
        if m is None:
            raise ModelNotFoundError(field="model", value=name,
                                     expected="a registered model (see `shipyard models list`)")
        return m

    def version_for_update(self, conn: Connection, ref: ModelRef) -> ModelVersion:
        """The version as of ``conn``'s write transaction, its row locked (PostgreSQL ``FOR UPDATE``; SQLite
        holds the write lock from BEGIN IMMEDIATE): no stage change slips between a check and its write."""
        row = self._row(conn, ref)
        conn.execute(select(MV.c.id).where(MV.c.id == row.id).with_for_update())
        return self._version(conn, self._row_by_id(conn, row.id))

    def _row_by_id(self, conn: Connection, vid: int) -> Row[Any]:
        return conn.execute(self._vq().where(MV.c.id == vid)).one()

    def _row(self, conn: Connection, ref: ModelRef) -> Row[Any]:
        m = self._model_row(conn, ref.name)
        q = self._vq().where(MV.c.model_id == m.id)
        if ref.alias is not None:
            q = q.join(t.model_aliases, t.model_aliases.c.version_id == MV.c.id).where(
                t.model_aliases.c.alias == ref.alias)
            row = conn.execute(q).first()
            if row is None:
                known = sorted(conn.execute(select(t.model_aliases.c.alias).where(
                    t.model_aliases.c.model_id == m.id)).scalars())
                raise AliasNotFoundError(field="alias", value=ref.alias,
                                         expected="one of " + (", ".join(known) or "(no aliases set)"))
            return row
        if ref.version is not None:
            row = conn.execute(q.where(MV.c.version == ref.version)).first()
        else:
            row = conn.execute(q.order_by(MV.c.version.desc()).limit(1)).first()
        if row is None:
            raise VersionNotFoundError(field="version", value=ref.version, expected=f"1..{m.latest_version}"
                                       if m.latest_version else "a registered version")
        return row

    def _summary(self, conn: Connection, m: Row[Any]) -> ModelSummary:
        aliases = {a: int(v) for a, v in conn.execute(
            select(t.model_aliases.c.alias, MV.c.version).join(MV, MV.c.id == t.model_aliases.c.version_id)
            .where(t.model_aliases.c.model_id == m.id).order_by(t.model_aliases.c.alias))}
        stages = {s: int(n) for s, n in conn.execute(
            select(MV.c.stage, func.count()).where(MV.c.model_id == m.id).group_by(MV.c.stage).order_by(MV.c.stage))}
        return ModelSummary(m.name, m.description, int(m.latest_version), aliases, stages,
                            iso(m.created_at), m.created_by)

    def _version(self, conn: Connection, r: Row[Any]) -> ModelVersion:
        return self._versions(conn, [r])[0]

    def _versions(self, conn: Connection, rows: list[Row[Any]]) -> list[ModelVersion]:
        return versions_from_rows(conn, rows, self.evidence_of)
