"""Roles and the permission matrix (documented in docs/design.md)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from shipyard.core.limits import ACTOR_MAX, check_length
from shipyard.errors import InvalidInputError, PermissionDeniedError


class Role(StrEnum):
    VIEWER = "viewer"
    CONTRIBUTOR = "contributor"
    APPROVER = "approver"
    DEPLOYER = "deployer"
    ADMIN = "admin"


class Permission(StrEnum):
    READ = "read"                    # list/show anything but the audit log and users
    DATA_WRITE = "data:write"        # add dataset versions
    MODEL_WRITE = "model:write"      # register versions, tags, run pipelines
    MODEL_APPROVE = "model:approve"  # approve / reject versions
    MODEL_STAGE = "model:stage"      # move stages, set aliases
    DEPLOY = "deploy"                # endpoints, routing, rollouts
    AUDIT_READ = "audit:read"        # read/export/verify the audit log
    FEEDBACK = "feedback"            # send labels to a gateway's /v1/endpoints/{e}/feedback (auth: required)
    ADMIN = "admin"                  # users and tokens


_BASE = frozenset({Permission.READ})
MATRIX: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: _BASE,
    Role.CONTRIBUTOR: _BASE | {Permission.DATA_WRITE, Permission.MODEL_WRITE, Permission.FEEDBACK},
    Role.APPROVER: _BASE | {Permission.MODEL_APPROVE, Permission.AUDIT_READ},
    Role.DEPLOYER: _BASE | {Permission.MODEL_STAGE, Permission.DEPLOY, Permission.FEEDBACK},
    Role.ADMIN: frozenset(Permission),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who acts: a name and a role. The name is stored as created_by/actor (``ACTOR_MAX`` characters)."""

    name: str
    role: Role

    def __post_init__(self) -> None:
        # SHIPYARD_ACTOR (or the OS user) becomes this name; beyond the column it would fail at the database.
        check_length("actor", self.name, ACTOR_MAX, hint=" (SHIPYARD_ACTOR or the user name)")


class TokenGrant(NamedTuple):
    """What a gateway knows of one valid token (keyed by its sha256): whose it is, when it expires (epoch
    seconds, None: never) and whether its role grants the permission the gateway asked about."""

    user: str
    role: str
    expires_at: float | None
    allowed: bool


def parse_role(value: str) -> Role:
    try:
        return Role(value.lower())
    except ValueError:
        raise InvalidInputError(
            field="role", value=value, expected=" | ".join(r.value for r in Role)
        ) from None


def can(principal: Principal, permission: Permission) -> bool:
    return permission in MATRIX[principal.role]


def authorize(principal: Principal, permission: Permission) -> None:
    """Raise PermissionDeniedError unless the principal's role grants ``permission``."""
    if not can(principal, permission):
        roles = sorted(r.value for r, perms in MATRIX.items() if permission in perms)
        raise PermissionDeniedError(
            f"{principal.name} (role {principal.role.value}) may not {permission.value}; "
            f"roles allowed: {', '.join(roles)}",
            field="role", value=principal.role.value, expected=" | ".join(roles),
        )
