"""The Python SDK entry point: ``Workspace.open(path)`` exposes the services the CLI uses."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.clock import Clock, SystemClock
from shipyard.config import CONFIG_FILE, STATE_DIR, ProjectConfig, Settings, load_project
from shipyard.core.permissions import Principal
from shipyard.data.service import DatasetService
from shipyard.errors import InvalidInputError
from shipyard.governance.service import UserService
from shipyard.registry.service import RegistryService
from shipyard.store.artifacts.base import ArtifactStore
from shipyard.store.sql.engine import Database

if TYPE_CHECKING:
    from shipyard.governance.audit_service import AuditService
    from shipyard.registry.approvals import ApprovalService
    from shipyard.rollout.endpoints import EndpointService
    from shipyard.rollout.notifiers import WebhookNotifier
    from shipyard.rollout.service import RolloutService

DEFAULT_CONFIG = """\
# shipyard workspace configuration; see docs/design.md for every key.
name: {name}
# store:
#   db_url: postgresql://user@host:5432/shipyard   # default: SQLite in .shipyard/
#   artifacts_url: s3://bucket/prefix              # default: .shipyard/artifacts
auth: optional        # 'required': every command needs SHIPYARD_TOKEN
approval:
  required: 1
"""


def find_root(start: Path) -> Path | None:
    start = start.resolve()
    for p in (start, *start.parents):
        if (p / CONFIG_FILE).is_file() or (p / STATE_DIR).is_dir():
            return p
    return None


class Workspace:
    """A workspace: its config, its database, its artifact store and the acting principal."""

    def __init__(self, root: Path, config: ProjectConfig, settings: Settings, db: Database,
                 artifacts: ArtifactStore, actor: Principal, clock: Clock) -> None:
        self.root, self.config, self.settings = root, config, settings
        self.db, self.artifacts, self.actor, self.clock = db, artifacts, actor, clock

    @classmethod
    def open(cls, path: str | Path = ".", *, settings: Settings | None = None, clock: Clock | None = None,
             create: bool = False) -> Workspace:
        """Open the workspace at ``path`` (or the nearest parent holding ``shipyard.yaml``)."""
        from shipyard import wiring

        settings = settings or Settings()
        start = Path(path)
        root = find_root(start)
        if root is None:
            if not create:
                raise InvalidInputError(
                    f"no shipyard workspace at {start.resolve()} or its parents; run `shipyard init` first",
                    field="workspace", value=str(start), expected=f"a folder with {CONFIG_FILE}",
                )
            root = start.resolve()
        config = load_project(root)
        clock = clock or SystemClock()
        db = wiring.make_database(root, settings, config)
        db.migrate()
        artifacts = wiring.make_artifacts(root, settings, config)
        actor = wiring.resolve_principal(db, settings, config, clock)
        return cls(root, config, settings, db, artifacts, actor, clock)

    @classmethod
    def init(cls, path: str | Path = ".", *, name: str | None = None, settings: Settings | None = None) -> Workspace:
        """Create ``shipyard.yaml`` (unless present) and ``.shipyard/``, then open the workspace."""
        root = Path(path).resolve()
        if root.exists() and not root.is_dir():
            raise InvalidInputError(field="path", value=str(path),
                                    expected="a folder for the workspace (this is a file)")
        try:
            root.mkdir(parents=True, exist_ok=True)
            (root / STATE_DIR).mkdir(exist_ok=True)
            cfg = root / CONFIG_FILE
            if not cfg.exists():
                cfg.write_text(DEFAULT_CONFIG.format(name=name or root.name), encoding="utf-8")
            gitignore = root / STATE_DIR / ".gitignore"
            if not gitignore.exists():
                gitignore.write_text("*\n", encoding="utf-8")
        except OSError as exc:
            raise InvalidInputError(f"path: cannot create a workspace in {root}: {exc.strerror or exc}", field="path",
                                    value=str(path), expected="a folder this user can write") from None
        return cls.open(root, settings=settings, create=True)

    def as_principal(self, actor: Principal) -> Workspace:
        """The same workspace acting as someone else (the API server uses this per request)."""
        other = Workspace(self.root, self.config, self.settings, self.db, self.artifacts, actor, self.clock)
        other.__dict__["notifier"] = self.notifier  # one webhook thread per process, not per request
        return other

    @cached_property
    def datasets(self) -> DatasetService:
        return DatasetService(self.db, self.artifacts, self.actor, self.clock)

    @cached_property
    def models(self) -> RegistryService:
        from shipyard.flavors.sandbox import SandboxLimits

        sb = self.config.sandbox
        return RegistryService(self.db, self.artifacts, self.actor, self.clock,
                               approvals_required=self.config.approval.required,
                               trusted_types=self.config.trusted_types,
                               sandbox=SandboxLimits.from_mb(sb.timeout_s, sb.memory_mb))

    @cached_property
    def endpoints(self) -> EndpointService:
        from shipyard.rollout.endpoints import EndpointService

        return EndpointService(self.db, self.actor, self.clock, registry=self.models, artifacts=self.artifacts)

    @cached_property
    def rollouts(self) -> RolloutService:
        from shipyard.config import DeploySpec
        from shipyard.rollout.service import RolloutService

        return RolloutService(self.db, self.actor, self.clock, self.endpoints, self.config.deploy or DeploySpec(),
                              notifier=self.notifier)

    @cached_property
    def notifier(self) -> WebhookNotifier:
        """Rollout webhooks (a background thread, started on the first message)."""
        from shipyard.rollout.notifiers import WebhookNotifier

        return WebhookNotifier()

    @cached_property
    def users(self) -> UserService:
        return UserService(self.db, self.actor, self.clock)

    @cached_property
    def approvals(self) -> ApprovalService:
        from shipyard.registry.approvals import ApprovalService

        return ApprovalService(self.db, self.models, self.actor, self.clock, required=self.config.approval.required)

    @cached_property
    def audit(self) -> AuditService:
        from shipyard.governance.audit_service import AuditService

        return AuditService(self.db, self.actor, self.clock)

    def close(self) -> None:
        if "notifier" in self.__dict__:
            self.notifier.close()  # deliver queued webhooks (bounded) before the process exits
        self.db.dispose()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
