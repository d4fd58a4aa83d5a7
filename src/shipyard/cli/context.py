"""Per-invocation state: where the workspace is, output mode; opens the workspace on demand."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from shipyard.workspace import Workspace


@dataclass
class CliState:
    workspace: Path = Path(".")
    debug: bool = False
    server: str | None = None


def state(ctx: typer.Context) -> CliState:
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj


def open_workspace(ctx: typer.Context, *, local_only: str | None = None) -> Workspace:
    """The workspace, or its remote twin when --server / SHIPYARD_SERVER names a control plane.

    ``local_only``: why the command needs this workspace's own store (it trains here, or serves from
    the store); with a server configured that is a usage error naming the setting, not a silent switch
    to a different registry.
    """
    from shipyard.config import Settings
    from shipyard.workspace import Workspace

    st = state(ctx)
    settings = Settings()
    if st.server:
        settings = settings.model_copy(update={"server": st.server})
    if settings.server and local_only:
        from shipyard.errors import InvalidInputError

        command = ctx.command_path.removeprefix(ctx.find_root().info_name or "").strip() or ctx.info_name
        expected = (f"unset for `shipyard {command}` (to share a registry, point shipyard.yaml's store at the "
                    "team's database and artifact store)")
        raise InvalidInputError(
            f"shipyard {command} {local_only}, so it cannot act through the server {settings.server} "
            f"(--server / SHIPYARD_SERVER); expected it {expected}", field="SHIPYARD_SERVER",
            value=settings.server, expected=expected)
    if settings.server:  # --server / SHIPYARD_SERVER: act through the control plane's API
        from shipyard.api.client import RemoteWorkspace

        return RemoteWorkspace(settings.server, settings.token, root=st.workspace)  # type: ignore[return-value]
    return Workspace.open(st.workspace, settings=settings)
