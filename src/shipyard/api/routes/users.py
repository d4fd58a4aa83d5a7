"""Users (principals) and API tokens. Creating a token answers it once; only its hash is stored."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from pydantic import Field

from shipyard.api.deps import MAX_INT, WS, needs
from shipyard.api.errors import ERROR_RESPONSES
from shipyard.api.schemas import Body, ShortText
from shipyard.core.permissions import Permission

router = APIRouter(tags=["users"], responses=ERROR_RESPONSES)
RoleName = Literal["viewer", "contributor", "approver", "deployer", "admin"]
USER_PATTERN = r"^[^\s\x00]{1,200}$"
UserParam = Annotated[str, PathParam(pattern=USER_PATTERN, description="A user name.")]


class UserBody(Body):
    name: Annotated[str, Field(pattern=USER_PATTERN)]
    role: RoleName


class RoleBody(Body):
    role: RoleName


class DisabledBody(Body):
    disabled: bool


class TokenBody(Body):
    name: ShortText = ""
    expires_in_seconds: float | None = Field(None, gt=0, le=10 * 366 * 86400)


@router.get("/users", summary="Users and their roles")
def list_users(ws: WS) -> list[dict[str, Any]]:
    return [u.to_dict() for u in ws.users.list()]


@router.post("/users", summary="Add a user (needs admin)", dependencies=[needs(Permission.ADMIN)])
def add_user(body: UserBody, ws: WS) -> dict[str, Any]:
    return ws.users.add(body.name, body.role).to_dict()


@router.put("/users/{name}/role", summary="Change a user's role (needs admin)",
            dependencies=[needs(Permission.ADMIN)])
def set_role(name: UserParam, body: RoleBody, ws: WS) -> dict[str, Any]:
    return ws.users.set_role(name, body.role).to_dict()


@router.put("/users/{name}/disabled", summary="Disable or enable a user; a disabled user's tokens stop working "
            "(needs admin)", dependencies=[needs(Permission.ADMIN)])
def set_disabled(name: UserParam, body: DisabledBody, ws: WS) -> dict[str, Any]:
    return ws.users.set_disabled(name, body.disabled).to_dict()


@router.post("/users/{name}/tokens", summary="Create a token (admin, or the user for themselves); shown once")
def create_token(name: UserParam, body: TokenBody, ws: WS) -> dict[str, Any]:
    ttl = timedelta(seconds=body.expires_in_seconds) if body.expires_in_seconds else None
    return ws.users.create_token(name, name=body.name, expires_in=ttl).to_dict()


@router.get("/tokens", summary="Tokens (prefix only); all needs admin, your own needs only a token")
def list_tokens(ws: WS, user: Annotated[str | None, Query(pattern=USER_PATTERN)] = None) -> list[dict[str, Any]]:
    return [t.to_dict() for t in ws.users.list_tokens(user)]


@router.delete("/tokens/{token_id}", summary="Revoke a token (admin, or the token's owner)")
def revoke_token(token_id: Annotated[int, PathParam(ge=1, le=MAX_INT)], ws: WS) -> dict[str, Any]:
    return ws.users.revoke_token(token_id).to_dict()
