"""`shipyard users ...`: principals and API tokens."""

from __future__ import annotations

from datetime import timedelta

import typer

from shipyard.cli.context import open_workspace

app = typer.Typer(help="Users (principals), roles and API tokens.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens: shown once, stored hashed.", no_args_is_help=True)
app.add_typer(token_app, name="token")
JSON = typer.Option(False, "--json", help="Print JSON.")


@app.command("add")
def add(ctx: typer.Context, name: str = typer.Argument(...),
        role: str = typer.Option(..., "--role", help="viewer | contributor | approver | deployer | admin"),
        as_json: bool = JSON) -> None:
    """Add a user with a role."""
    from shipyard.cli.output import out, print_json

    u = open_workspace(ctx).users.add(name, role)
    print_json(u.to_dict()) if as_json else out(f"added user {u.name} with role {u.role}")


@app.command("role")
def role(ctx: typer.Context, name: str = typer.Argument(...),
         new_role: str = typer.Argument(..., metavar="ROLE", help="viewer | contributor | approver | deployer | admin"),
         as_json: bool = JSON) -> None:
    """Change a user's role (the last admin cannot step down)."""
    from shipyard.cli.output import out, print_json

    u = open_workspace(ctx).users.set_role(name, new_role)
    print_json(u.to_dict()) if as_json else out(f"{u.name} now has role {u.role}")


@app.command("disable")
def disable(ctx: typer.Context, name: str = typer.Argument(...), as_json: bool = JSON) -> None:
    """Disable a user: their tokens stop working at once; their history stays (enable undoes it)."""
    _set_disabled(ctx, name, True, as_json)


@app.command("enable")
def enable(ctx: typer.Context, name: str = typer.Argument(...), as_json: bool = JSON) -> None:
    """Enable a disabled user again (their unexpired, unrevoked tokens work again)."""
    _set_disabled(ctx, name, False, as_json)


def _set_disabled(ctx: typer.Context, name: str, disabled: bool, as_json: bool) -> None:
    from shipyard.cli.output import out, print_json

    u = open_workspace(ctx).users.set_disabled(name, disabled)
    print_json(u.to_dict()) if as_json else out(f"{'disabled' if disabled else 'enabled'} user {u.name} ({u.role})")


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JSON) -> None:
    """List users."""
    from shipyard.cli.output import out, print_json, table

    users = open_workspace(ctx).users.list()
    if as_json:
        print_json([u.to_dict() for u in users])
    else:
        out(table(None, ["user", "role", "disabled", "created"],
                  [[u.name, u.role, u.disabled, u.created_at[:19]] for u in users]))


@token_app.command("create")
def token_create(ctx: typer.Context, user: str = typer.Argument(...),
                 name: str = typer.Option("", "--name", help="A label for the token."),
                 expires_days: float | None = typer.Option(None, "--expires-days", help="Lifetime in days."),
                 as_json: bool = JSON) -> None:
    """Create a token for USER; it is printed once and only its hash is stored."""
    import math

    from shipyard.cli.output import out, print_json
    from shipyard.errors import InvalidInputError

    if expires_days is not None and not (math.isfinite(expires_days) and 0 < expires_days <= 3660):
        raise InvalidInputError(field="--expires-days", value=expires_days,
                                expected="a number of days > 0 and at most 3660 (omit it for no expiry)")
    ttl = timedelta(days=expires_days) if expires_days is not None else None
    nt = open_workspace(ctx).users.create_token(user, name=name, expires_in=ttl)
    if as_json:
        print_json(nt.to_dict())
    else:
        out(f"token for {user} (id {nt.info.id}); copy it now, it is not shown again:")
        print(nt.token)


@token_app.command("revoke")
def token_revoke(ctx: typer.Context, token_id: int = typer.Argument(...), as_json: bool = JSON) -> None:
    """Revoke a token by id."""
    from shipyard.cli.output import out, print_json

    info = open_workspace(ctx).users.revoke_token(token_id)
    print_json(info.to_dict()) if as_json else out(f"revoked token {info.id} of {info.user}")


@token_app.command("list")
def token_list(ctx: typer.Context, user: str | None = typer.Argument(None), as_json: bool = JSON) -> None:
    """List tokens (prefix only)."""
    from shipyard.cli.output import out, print_json, table

    items = open_workspace(ctx).users.list_tokens(user)
    if as_json:
        print_json([i.to_dict() for i in items])
    else:
        out(table(None, ["id", "user", "name", "prefix", "expires", "revoked"],
                  [[i.id, i.user, i.name, i.prefix + "…", i.expires_at or "-", i.revoked_at or "-"] for i in items]))
