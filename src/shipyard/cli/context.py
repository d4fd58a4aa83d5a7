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


def open_workspace(ctx: typer.Context) -> Workspace:
    from shipyard.config import Settings
    from shipyard.workspace import Workspace

    st = state(ctx)
    settings = Settings()
    if st.server:
        settings = settings.model_copy(update={"server": st.server})
    if settings.server:  # --server / SHIPYARD_SERVER: act through the control plane's API
        from shipyard.api.client import RemoteWorkspace

        return RemoteWorkspace(settings.server, settings.token, root=st.workspace)  # type: ignore[return-value]
    return Workspace.open(st.workspace, settings=settings)
