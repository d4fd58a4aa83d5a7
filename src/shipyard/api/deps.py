"""Request dependencies: the bearer token -> Principal -> the server's workspace acting as them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shipyard.errors import UnauthenticatedError
from shipyard.workspace import Workspace

bearer = HTTPBearer(auto_error=False, description="A token from `shipyard users token create`.")

# Path parameter shapes: strict enough that nothing odd reaches the database.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$"
ALIAS_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,99}$"
MAX_INT = 2_147_483_647
REF_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}([:@][A-Za-z0-9_-]{1,100})?$"  # NAME, NAME:VERSION, NAME@ALIAS
NameParam = Annotated[str, Path(pattern=NAME_PATTERN, description="A model, dataset or user name.")]
VersionParam = Annotated[int, Path(ge=1, le=MAX_INT, description="A version number.")]
AliasParam = Annotated[str, Path(pattern=ALIAS_PATTERN, description="An alias (champion, challenger, ...).")]


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
