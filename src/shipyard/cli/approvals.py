"""`shipyard approve` / `shipyard reject`: human decisions on a model version."""

from __future__ import annotations

from typing import Any

import typer

from shipyard.cli.context import open_workspace

JSON = typer.Option(False, "--json", help="Print JSON.")


def _report(mv: Any, verb: str, as_json: bool) -> None:
    from shipyard.cli.output import out, print_json

    if as_json:
        print_json(mv.to_dict())
        return
    n = sum(1 for a in mv.approvals if a["decision"] == "approve")
    out(f"{verb} {mv.model}:{mv.version}; stage [cyan]{mv.stage}[/] ({n} approval(s))")


def register(app: typer.Typer) -> None:
    @app.command("approve")
    def approve(ctx: typer.Context, ref: str = typer.Argument(..., help="NAME:VERSION or NAME@ALIAS"),
                reason: str = typer.Option("", "--reason", help="Why (kept with the decision)."),
                as_json: bool = JSON) -> None:
        """Approve a validated version (not your own); it becomes approved once enough approvers agree."""
        _report(open_workspace(ctx).approvals.approve(ref, reason), "approved", as_json)

    @app.command("reject")
    def reject(ctx: typer.Context, ref: str = typer.Argument(..., help="NAME:VERSION or NAME@ALIAS"),
               reason: str = typer.Option(..., "--reason", help="Why (required)."), as_json: bool = JSON) -> None:
        """Reject a version with a reason; it moves to stage rejected."""
        _report(open_workspace(ctx).approvals.reject(ref, reason), "rejected", as_json)
