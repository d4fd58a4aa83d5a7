"""`shipyard ci init github`: write `.github/workflows/shipyard.yml` for this workspace."""

from __future__ import annotations

import typer

ci_app = typer.Typer(help="Continuous-integration workflows.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(ci_app, name="ci")


@ci_app.command("init")
def init(
    ctx: typer.Context,
    provider: str = typer.Argument(..., metavar="github", help="CI system."),
    branch: str = typer.Option("main", "--branch", help="Branch whose pushes register and request approval."),
    environment: str = typer.Option("production", "--environment", help="Protected GitHub environment for deploys."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing workflow file."),
    as_json: bool = typer.Option(False, "--json", help="Print the written path as JSON."),
) -> None:
    """Write the workflow: PR checks with gates, register + approval request on BRANCH, manual deploy."""
    import platform

    from shipyard.cli.context import state
    from shipyard.cli.output import out, print_json, write_file
    from shipyard.config import load_project
    from shipyard.errors import ConflictError, InvalidInputError
    from shipyard.packaging.dockerfile import current_image
    from shipyard.packaging.github import WORKFLOW_PATH, Project, render
    from shipyard.workspace import find_root

    if provider != "github":
        raise InvalidInputError(field="provider", value=provider, expected="github")
    root = find_root(state(ctx).workspace)
    if root is None:
        raise InvalidInputError(field="workspace", value=str(state(ctx).workspace),
                                expected="a folder with shipyard.yaml (run `shipyard init` first)")
    cfg = load_project(root)
    if cfg.data is None:
        raise InvalidInputError(field="data", value=None, expected="data: {train, target} in shipyard.yaml")
    model = cfg.model or root.name
    flavor = getattr(cfg.pipeline, "flavor", "sklearn") if cfg.pipeline is not None else "sklearn"
    extras = ("postgres", "s3", *((flavor,) if flavor in ("xgboost", "lightgbm", "onnx") else ()))
    spec = current_image(extras)
    project = Project(model=model, dataset=cfg.data.dataset or model, train=cfg.data.train,
                      requirement=spec.requirement, python=".".join(platform.python_version_tuple()[:2]),
                      branch=branch, environment=environment)
    path = root / WORKFLOW_PATH
    if path.exists() and not force:
        raise ConflictError(field="workflow", value=str(path), expected="no workflow there yet (or pass --force)")
    write_file("workflow", path, render(project))
    if as_json:
        print_json({"path": str(path), "model": model, "dataset": project.dataset})
    else:
        out(f"[green]wrote[/] {path}; set the store secrets and protect the '{environment}' environment")
