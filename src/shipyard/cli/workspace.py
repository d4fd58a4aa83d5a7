"""`shipyard init`."""

from __future__ import annotations

from pathlib import Path

import typer

from shipyard.cli.context import state


def register(app: typer.Typer) -> None:
    @app.command("init")
    def init(
        ctx: typer.Context,
        path: Path = typer.Argument(None, help="Folder to initialise (default: --workspace or here)."),
        example: str | None = typer.Option(None, "--example",
                                           help="Write a runnable example: credit | regression | wine (multi-class)."),
        name: str | None = typer.Option(None, "--name", help="Workspace name (default: folder name)."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Create shipyard.yaml and .shipyard/ (SQLite database + artifact folder)."""
        from shipyard.cli.output import out, print_json
        from shipyard.config import Settings
        from shipyard.workspace import Workspace

        root = path or state(ctx).workspace
        written: list[str] = []
        if example:
            from shipyard.pipeline.examples import write_example

            written = write_example(root, example)
        # Creating a workspace is not an authorised action: a SHIPYARD_TOKEN or SHIPYARD_AUTH=required meant
        # for another workspace must not make `init` fail ("unknown token") — a new database has no tokens.
        ws = Workspace.init(root, name=name, settings=Settings().model_copy(update={"token": None,
                                                                                     "auth": "optional"}))
        result = {"root": str(ws.root), "db_url": ws.db.safe_url(), "artifacts_url": ws.artifacts.url,
                  "example": example, "files": written}
        ws.close()
        if as_json:
            print_json(result)
        else:
            out(f"Initialised workspace [bold]{result['root']}[/]")
            out(f"  database   {result['db_url']}")
            out(f"  artifacts  {result['artifacts_url']}")
            for f in written:
                out(f"  wrote      {f}")
