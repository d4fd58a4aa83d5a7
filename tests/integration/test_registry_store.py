"""The registry and its store on SQLite and PostgreSQL: versions, aliases, stages, audit, concurrency."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest

from builders import make_skops_model, validate
from shipyard.config import Settings
from shipyard.core.permissions import Principal, Role
from shipyard.errors import PermissionDeniedError
from shipyard.registry.errors import AliasNotFoundError, ModelNotFoundError, StageTransitionError, VersionNotFoundError
from shipyard.store.artifacts.base import ArtifactIntegrityError
from shipyard.workspace import Workspace


def test_register_read_alias_stage(workspace: Workspace, tmp_path: Path) -> None:
    model = make_skops_model(tmp_path / "m.skops")
    v1 = workspace.models.register("churn", model, "sklearn", tags={"team": "risk"})
    v2 = workspace.models.register("churn", model, "sklearn")
    assert (v1.version, v2.version) == (1, 2)
    assert v1.artifact_digest == v2.artifact_digest  # same bytes, one blob
    assert v1.signature and [i["name"] for i in v1.signature["inputs"]] == ["f0", "f1", "f2", "f3"]
    assert workspace.models.get_version("churn").version == 2
    workspace.models.set_alias("churn", "champion", 1)
    assert workspace.models.get_version("churn@champion").version == 1
    workspace.models.set_alias("churn", "champion", 2)  # moving an alias
    assert workspace.models.get_version("churn@champion").version == 2
    assert workspace.models.list_models()[0].aliases == {"champion": 2}
    with pytest.raises(StageTransitionError, match="without evidence that shipyard evaluated its gates"):
        workspace.models.set_stage("churn:1", "validated")  # issue 18: only gates shipyard ran validate
    validate(workspace, "churn:1")
    with pytest.raises(StageTransitionError, match="allowed from validated: approved | archived | rejected"):
        workspace.models.set_stage("churn:1", "production")
    mv = workspace.models.get_version("churn:1")
    assert mv.stage == "validated" and mv.tags == {"team": "risk"}
    assert [h["to"] for h in mv.stage_history] == ["candidate", "validated"]
    with pytest.raises(VersionNotFoundError):
        workspace.models.get_version("churn:9")
    with pytest.raises(AliasNotFoundError, match="champion"):
        workspace.models.get_version("churn@nope")
    with pytest.raises(ModelNotFoundError):
        workspace.models.get_version("nothing")
    from shipyard.governance.audit import iter_events, verify_chain

    with workspace.db.read() as conn:
        events = list(iter_events(conn))
    actions = [e.action for e in events]
    assert actions.count("model.register") == 2 and "model.alias.set" in actions and "model.stage" in actions
    assert verify_chain(events).ok


def test_alias_refuses_rejected_and_archived(workspace: Workspace, tmp_path: Path) -> None:
    model = make_skops_model(tmp_path / "m.skops")
    workspace.models.register("m", model, "sklearn")
    workspace.models.register("m", model, "sklearn")
    workspace.models.set_alias("m", "champion", 1)
    workspace.models.set_stage("m:2", "rejected", "failed review")
    with pytest.raises(StageTransitionError, match="m:2 is rejected") as err:
        workspace.models.set_alias("m", "champion", 2)
    assert err.value.field == "version" and "candidate" in err.value.expected and "rejected" not in err.value.expected
    assert workspace.models.get_version("m@champion").version == 1  # unchanged


def test_a_version_holding_an_alias_cannot_be_rejected_or_archived(workspace: Workspace, tmp_path: Path) -> None:
    model = make_skops_model(tmp_path / "m.skops")
    workspace.models.register("m", model, "sklearn")
    workspace.models.register("m", model, "sklearn")
    workspace.models.set_alias("m", "champion", 1)
    workspace.models.set_alias("m", "backup", 1)
    for stage in ("rejected", "archived"):
        with pytest.raises(StageTransitionError, match="m:1 holds alias") as err:
            workspace.models.set_stage("m:1", stage, "withdrawn")
        assert err.value.field == "stage" and err.value.value == stage
        assert "backup, champion" in str(err.value)
    assert workspace.models.get_version("m:1").stage == "candidate"  # unchanged, nothing half-written
    workspace.models.set_alias("m", "champion", 2)
    workspace.models.delete_alias("m", "backup")
    assert workspace.models.set_stage("m:1", "archived", "withdrawn").stage == "archived"
    assert workspace.models.get_version("m@champion").version == 2


def test_approved_needs_approvals(workspace: Workspace, tmp_path: Path) -> None:
    workspace.models.register("m", make_skops_model(tmp_path / "m.skops"), "sklearn")
    validate(workspace, "m:1")
    with pytest.raises(PermissionDeniedError, match="approval"):
        workspace.models.set_stage("m:1", "approved")


def test_viewer_cannot_register(workspace: Workspace, tmp_path: Path) -> None:
    viewer = workspace.as_principal(Principal("vic", Role.VIEWER))
    with pytest.raises(PermissionDeniedError, match="contributor"):
        viewer.models.register("m", make_skops_model(tmp_path / "m.skops"), "sklearn")


def test_tampered_artifact_is_refused(workspace: Workspace, tmp_path: Path) -> None:
    mv = workspace.models.register("m", make_skops_model(tmp_path / "m.skops"), "sklearn")
    digest = mv.artifact_digest
    blob = Path(workspace.artifacts.url.removeprefix("file://")) / "sha256" / digest[:2] / digest[2:]
    data = bytearray(blob.read_bytes())
    data[100] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(ArtifactIntegrityError) as exc:
        workspace.models.load_artifact("m:1")
    assert mv.artifact_digest in str(exc.value) and "got" in str(exc.value)


def _register_one(db_url: str, root: str, model: str, barrier: object) -> int:
    ws = Workspace.open(root, settings=Settings(db_url=db_url, actor="worker"))
    barrier.wait()  # type: ignore[attr-defined]
    mv = ws.models.register("race", Path(model), "sklearn", inspect=False)
    ws.close()
    return mv.version


@pytest.mark.slow
def test_eight_concurrent_registrations_get_1_to_8(workspace: Workspace, db_url: str, tmp_path: Path) -> None:
    model = make_skops_model(tmp_path / "m.skops")
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(8)
        with ctx.Pool(8) as pool:
            versions = pool.starmap(_register_one, [(db_url, str(workspace.root), str(model), barrier)] * 8)
    assert sorted(versions) == list(range(1, 9))
    detail = workspace.models.get_model("race")
    assert [v.version for v in detail.versions] == list(range(1, 9))
    from shipyard.governance.audit import iter_events, verify_chain

    with workspace.db.read() as conn:
        assert verify_chain(iter_events(conn)).ok
