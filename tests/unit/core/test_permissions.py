"""The permission matrix, role by role (the table in docs/design.md, "Governance")."""

from __future__ import annotations

import pytest

from shipyard.core.permissions import MATRIX, Permission, Principal, Role, authorize, can, parse_role
from shipyard.errors import InvalidInputError, PermissionDeniedError

P = Permission
EXPECTED: dict[Role, set[Permission]] = {
    Role.VIEWER: {P.READ},
    Role.CONTRIBUTOR: {P.READ, P.DATA_WRITE, P.MODEL_WRITE, P.FEEDBACK},
    Role.APPROVER: {P.READ, P.MODEL_APPROVE, P.AUDIT_READ},
    Role.DEPLOYER: {P.READ, P.MODEL_STAGE, P.DEPLOY, P.FEEDBACK},
    Role.ADMIN: set(Permission),
}


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("permission", list(Permission))
def test_matrix(role: Role, permission: Permission) -> None:
    allowed = permission in EXPECTED[role]
    assert can(Principal("x", role), permission) is allowed
    if allowed:
        authorize(Principal("x", role), permission)
    else:
        with pytest.raises(PermissionDeniedError) as exc:
            authorize(Principal("x", role), permission)
        # The message names who, the role, the permission and the roles that would do.
        assert "x (role " + role.value in str(exc.value) and permission.value in str(exc.value)
        assert "admin" in str(exc.value)


def test_every_role_is_in_the_matrix_and_only_admin_administers() -> None:
    assert set(MATRIX) == set(Role)
    assert [r for r in Role if P.ADMIN in MATRIX[r]] == [Role.ADMIN]
    assert all(P.READ in perms for perms in MATRIX.values())


def test_approver_cannot_register_and_contributor_cannot_approve() -> None:
    # Separation of duties starts in the matrix: no non-admin role both writes and approves models.
    for role in Role:
        if role is not Role.ADMIN:
            assert not {P.MODEL_WRITE, P.MODEL_APPROVE} <= MATRIX[role]


@pytest.mark.parametrize("text, role", [("viewer", Role.VIEWER), ("ADMIN", Role.ADMIN), ("Approver", Role.APPROVER)])
def test_parse_role(text: str, role: Role) -> None:
    assert parse_role(text) is role


def test_parse_role_names_the_choices() -> None:
    with pytest.raises(InvalidInputError, match="viewer | contributor | approver | deployer | admin"):
        parse_role("owner")
