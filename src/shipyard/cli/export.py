"""`shipyard export k8s|kserve ENDPOINT -o DIR`: a Dockerfile and Kubernetes / KServe manifests."""

from __future__ import annotations

from pathlib import Path

import typer

from shipyard.cli.context import open_workspace


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export(
        ctx: typer.Context,
        target: str = typer.Argument(..., metavar="k8s|kserve", help="What to write manifests for."),
        endpoint: str = typer.Argument(..., help="Endpoint to package."),
        out_dir: Path = typer.Option(..., "-o", "--output", help="Folder for the Dockerfile and manifests."),
        image: str | None = typer.Option(None, "--image", help="Image reference (default NAME-shipyard:VERSION)."),
        name: str | None = typer.Option(None, "--name", help="Kubernetes name (default: the endpoint's)."),
        as_json: bool = typer.Option(False, "--json", help="Print the written files as JSON."),
    ) -> None:
        """Write a Dockerfile, shipyard.yaml and manifests (gateway, control plane; KServe InferenceService)."""
        from shipyard.cli.output import out, print_json
        from shipyard.packaging.service import export as run

        res = run(open_workspace(ctx), target, endpoint, out_dir, image=image, name=name)
        if as_json:
            print_json(res.to_dict())
            return
        out(f"[green]exported[/] {res.endpoint} for {res.target} to {out_dir}: {', '.join(res.files)}")
        out(f"  next: build {res.image}, create the Secret {res.secret} (see {out_dir / 'README.md'})")
