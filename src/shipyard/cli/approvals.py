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

    @app.command("approvals")
    def approvals(ctx: typer.Context, as_json: bool = JSON) -> None:
        """The approval queue: validated versions waiting for approvers, with their gate evidence."""
        from shipyard.cli.output import out, print_json, table

        items = open_workspace(ctx).approvals.pending()
        if as_json:
            print_json(items)
            return
        out(table("waiting for approval", ["version", "author", "approvals", "evidence", "MAC"],
                  [[i["ref"], i["created_by"], f"{i['approvals']}/{i['required']}", i["evidence"]["source"],
                    "verified" if i["evidence"]["verified"] else f"NOT verified: {i['evidence']['reason']}"]
                   for i in items]))

    @app.command("reject")
    def reject(ctx: typer.Context, ref: str = typer.Argument(..., help="NAME:VERSION or NAME@ALIAS"),
               reason: str = typer.Option(..., "--reason", help="Why (required)."), as_json: bool = JSON) -> None:
        """Reject a version with a reason; it moves to stage rejected."""
        _report(open_workspace(ctx).approvals.reject(ref, reason), "rejected", as_json)
