"""Deploy and routing guards (issue 18, items 6 and 8) on SQLite and PostgreSQL: the stage is checked under the
write transaction, set_routing checks artifacts, a version without a signature is refused, and the stricter of
SHIPYARD_AUTH and the project's `auth:` wins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from builders import approve, make_skops_model
from shipyard.config import Settings
from shipyard.core.permissions import Principal, Role
from shipyard.errors import ConflictError, UnauthenticatedError
from shipyard.store.artifacts.base import ArtifactIntegrityError
from shipyard.workspace import Workspace


class _RejectsWhileChecking:
    """The workspace's real artifact store; the first read of ``digest`` lets another principal reject the
    version in its own transaction — exactly the window between deploy's early check and its write."""

    def __init__(self, inner: Any, ws: Workspace, ref: str) -> None:
        self.inner, self.ws, self.ref, self.fired = inner, ws, ref, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def get_bytes(self, digest: Any) -> bytes:
        if not self.fired:
            self.fired = True
            self.ws.as_principal(Principal("risk", Role.APPROVER)).approvals.reject(self.ref, "leaks the target")
        return bytes(self.inner.get_bytes(digest))


def _racing(ws: Workspace, ref: str) -> Any:
    from shipyard.rollout.endpoints import EndpointService

    return EndpointService(ws.db, ws.actor, ws.clock, registry=ws.models,
                           artifacts=_RejectsWhileChecking(ws.artifacts, ws, ref))


def test_deploy_and_routing_recheck_the_stage_inside_the_write(workspace: Workspace, tmp_path: Path) -> None:
    model = make_skops_model(tmp_path / "m.skops")
    for _ in range(3):
        workspace.models.register("m", model, "sklearn")
    for v in (1, 2, 3):
        approve(workspace, f"m:{v}")
    with pytest.raises(ConflictError, match="m:1 is rejected"):
        _racing(workspace, "m:1").deploy("m:1", "ep")
    assert workspace.endpoints.list() == []  # nothing written
    workspace.endpoints.deploy("m:2", "ep")
    table = {"routes": [{"version": 2, "weight": 50}, {"version": 3, "weight": 50}]}
    with pytest.raises(ConflictError, match="m:3 is rejected"):
        _racing(workspace, "m:3").set_routing("ep", table)
    assert workspace.endpoints.get("ep").generation == 1


def test_set_routing_checks_artifacts(workspace: Workspace, tmp_path: Path) -> None:
    workspace.models.register("m", make_skops_model(tmp_path / "a.skops"), "sklearn")
    workspace.models.register("m", make_skops_model(tmp_path / "b.skops", seed=3), "sklearn")
    for v in (1, 2):
        approve(workspace, f"m:{v}")
    workspace.endpoints.deploy("m:1", "ep")
    digest = workspace.models.get_version("m:2").artifact_digest
    blob = next(p for p in (workspace.root / ".shipyard" / "artifacts").rglob("*") if p.name == digest[2:])
    blob.write_bytes(blob.read_bytes() + b"tampered")
    with pytest.raises(ArtifactIntegrityError):
        workspace.endpoints.set_routing("ep", {"routes": [{"version": 1, "weight": 100}], "shadow": [2]})
    assert workspace.endpoints.get("ep").generation == 1


def test_a_version_without_signature_is_not_deployed(workspace: Workspace, tmp_path: Path) -> None:
    import numpy as np
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    path = tmp_path / "bare.skops"
    sio.dump(LogisticRegression().fit(X, X[:, 0] > 0), path)  # fitted on an array: no column names
    workspace.models.register("bare", path, "sklearn")
    assert workspace.models.get_version("bare:1").signature is None
    approve(workspace, "bare:1")
    with pytest.raises(ConflictError) as err:
        workspace.endpoints.deploy("bare:1")
    assert err.value.field == "signature" and type(err.value).__name__ == "UnsignedVersionError"
    assert "--signature" in str(err.value) and "--dataset" in str(err.value)
    sig = {"inputs": [{"name": f"x{i}", "type": "float"} for i in range(3)], "outputs": [{"name": "prediction"}]}
    workspace.models.register("bare", path, "sklearn", signature=sig)
    approve(workspace, "bare:2")
    assert workspace.endpoints.deploy("bare:2").routing["routes"] == [{"version": 2, "weight": 100}]
    with pytest.raises(ConflictError, match="bare:1 has no signature"):  # nor routed in, even as a shadow
        workspace.endpoints.set_routing("bare", {"routes": [{"version": 2, "weight": 100}], "shadow": [1]})


@pytest.mark.parametrize(("env", "project", "refused"), [
    ("optional", "required", True),   # the environment may not loosen the project
    ("required", "optional", True),   # ... but may tighten it
    (None, "required", True),
    ("optional", "optional", False),
])
def test_the_stricter_auth_setting_wins(tmp_path: Path, env: str | None, project: str, refused: bool) -> None:
    root = tmp_path / "ws"
    Workspace.init(root, settings=Settings(actor="alice")).close()
    cfg = root / "shipyard.yaml"
    cfg.write_text(cfg.read_text().replace("auth: optional", f"auth: {project}"))
    settings = Settings(actor="alice", auth=env)  # type: ignore[arg-type]
    if refused:
        with pytest.raises(UnauthenticatedError, match="SHIPYARD_TOKEN"):
            Workspace.open(root, settings=settings)
    else:
        ws = Workspace.open(root, settings=settings)
        assert ws.actor.role is Role.ADMIN
        ws.close()
