"""`shipyard server`: the control-plane REST API (FastAPI + uvicorn) over this workspace's store."""

from __future__ import annotations

import typer

from shipyard.cli.context import state


def register(app: typer.Typer) -> None:
    @app.command("server")
    def server(
        ctx: typer.Context,
        host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
        port: int = typer.Option(8700, "--port", min=1, max=65535, help="TCP port."),
        log_level: str = typer.Option("info", "--log-level", help="critical | error | warning | info | debug"),
        controller: bool = typer.Option(True, "--controller/--no-controller",
                                        help="Run the rollout controller here (one leader among all that run)."),
        gateway: str | None = typer.Option(None, "--gateway", help="Gateway URL blue-green smoke tests replay "
                                                                   "logged requests against."),
    ) -> None:
        """Serve /api/v1 (OpenAPI at /api/v1/openapi.json); every request needs a bearer token. Also drives
        rollouts (the rollout controller) unless --no-controller."""
        import uvicorn

        from shipyard.api.app import create_app
        from shipyard.config import Settings
        from shipyard.workspace import Workspace

        # The server's own principal is never used for requests (each request authenticates),
        # so opening does not need a token even under `auth: required`.
        settings = Settings().model_copy(update={"server": None, "token": None, "auth": "optional"})
        ws = Workspace.open(state(ctx).workspace, settings=settings)
        loop = None
        if controller:
            from shipyard.rollout.controller import for_workspace

            loop = for_workspace(ws, gateway_url=gateway, notifier=ws.notifier)
            loop.start()
        try:
            uvicorn.run(create_app(ws), host=host, port=port, log_level=log_level, access_log=True,
                        server_header=False)
        finally:
            if loop is not None:
                loop.stop()
            ws.close()
