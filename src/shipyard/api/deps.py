"""Request dependencies: the bearer token -> Principal -> the server's workspace acting as them."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BeforeValidator

from shipyard.core.limits import ALIAS_MAX, MAX_INT, NAME_MAX
from shipyard.core.permissions import Permission, authorize
from shipyard.errors import UnauthenticatedError
from shipyard.workspace import Workspace

__all__ = ["MAX_INT", "NAME_PATTERN", "ALIAS_PATTERN", "REF_PATTERN", "NameParam", "VersionParam", "AliasParam",
           "WS", "needs", "principal_workspace", "server_workspace"]

bearer = HTTPBearer(auto_error=False, description="A token from `shipyard users token create`.")

# Path parameter shapes: strict enough that nothing odd reaches the database. The lengths and MAX_INT
# are core.limits' (the column sizes); pydantic matches these patterns with Rust regex, where '$' is
# the end of the text (a trailing newline does not match), and [0-9] is ASCII.
NAME_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{NAME_MAX - 1}}}$"
ALIAS_PATTERN = rf"^[A-Za-z][A-Za-z0-9_-]{{0,{ALIAS_MAX - 1}}}$"
_VERSION = rf"[0-9]{{1,{len(str(MAX_INT))}}}"  # its range is checked by parse_ref (1..MAX_INT)
REF_PATTERN = (rf"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{NAME_MAX - 1}}}"  # NAME, NAME:VERSION, NAME@ALIAS
               rf"(:{_VERSION}|@[A-Za-z][A-Za-z0-9_-]{{0,{ALIAS_MAX - 1}}})?$")


def _ascii_int(value: object) -> object:
    """A path integer as ASCII digits only: pydantic alone reads '1_0' as 10 and '1.0' or ' +1' as 1."""
    if isinstance(value, str) and not re.fullmatch(r"[0-9]+", value):
        raise ValueError(f"ASCII digits (an integer 1..{MAX_INT})")
    return value


NameParam = Annotated[str, Path(max_length=NAME_MAX, pattern=NAME_PATTERN,
                                 description="A model, dataset or user name.")]
VersionParam = Annotated[int, BeforeValidator(_ascii_int), Path(ge=1, le=MAX_INT, description="A version number.")]
AliasParam = Annotated[str, Path(max_length=ALIAS_MAX, pattern=ALIAS_PATTERN,
                                  description="An alias (champion, challenger, ...).")]


def server_workspace(request: Request) -> Workspace:
    ws: Workspace = request.app.state.open_workspace()
    return ws


def principal_workspace(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Workspace:
    """The server's workspace acting as the token's principal; 401 without a valid token."""
    from shipyard.governance.service import authenticate

    ws = server_workspace(request)
    if credentials is None or not credentials.credentials:
        raise UnauthenticatedError(
            "authorization: a bearer token is required (Authorization: Bearer <token>)",
            field="Authorization", value=None, expected="Bearer <token from `shipyard users token create`>",
        )
    principal = authenticate(ws.db, credentials.credentials, ws.clock)
    return ws.as_principal(principal)


WS = Annotated[Workspace, Depends(principal_workspace)]


def needs(permission: Permission) -> Any:
    """A route dependency (``dependencies=[needs(Permission.DEPLOY)]``) that authorizes the caller first:
    FastAPI solves dependencies before it reports body and parameter errors, so a signed-in caller without
    the role gets its 403, not a 422 describing the body it may not send (issue 18). The service checks
    again (the SDK and CLI have no route)."""

    def authorized(ws: WS) -> None:
        authorize(ws.actor, permission)

    return Depends(authorized)
