"""Users and tokens on each SQL backend: expiry bounds, revoking twice, listing one's own tokens, the last admin."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shipyard.core.permissions import Principal, Role
from shipyard.errors import ConflictError, InvalidInputError, PermissionDeniedError


def test_token_lifetime_must_be_positive_and_bounded(workspace) -> None:  # type: ignore[no-untyped-def]
    workspace.users.add("ana", "viewer")
    for bad in (timedelta(0), timedelta(days=-1), timedelta(days=4000)):
        with pytest.raises(InvalidInputError) as err:
            workspace.users.create_token("ana", expires_in=bad)
        assert err.value.field == "expires"
    assert workspace.users.list_tokens("ana") == []  # nothing half-created
    assert workspace.users.create_token("ana", expires_in=timedelta(days=1)).info.expires_at
    assert workspace.users.create_token("ana").info.expires_at is None
    with pytest.raises(InvalidInputError) as err:
        workspace.users.create_token("ana", name="n" * 201)
    assert "201 characters" in str(err.value)


def test_revoking_twice_is_a_conflict_and_keeps_the_first_time(workspace) -> None:  # type: ignore[no-untyped-def]
    workspace.users.add("ana", "viewer")
    tid = workspace.users.create_token("ana").info.id
    first = workspace.users.revoke_token(tid)
    with pytest.raises(ConflictError) as err:
        workspace.users.revoke_token(tid)
    assert err.value.field == "token" and "already revoked" in str(err.value)
    assert [t.revoked_at for t in workspace.users.list_tokens("ana")] == [first.revoked_at]
    assert [e.action for e in workspace.audit.log()].count("token.revoke") == 1


def test_anyone_lists_their_own_tokens_admins_list_everyones(workspace) -> None:  # type: ignore[no-untyped-def]
    workspace.users.add("ana", "viewer")
    workspace.users.add("bo", "viewer")
    workspace.users.create_token("ana", name="laptop")
    workspace.users.create_token("bo", name="ci")
    ana = workspace.as_principal(Principal("ana", Role.VIEWER))
    assert [t.name for t in ana.users.list_tokens()] == ["laptop"]
    with pytest.raises(PermissionDeniedError):
        ana.users.list_tokens("bo")
    assert sorted(t.name for t in workspace.users.list_tokens()) == ["ci", "laptop"]


def test_the_last_admin_cannot_step_down(workspace) -> None:  # type: ignore[no-untyped-def]
    workspace.users.add("root", "admin")
    with pytest.raises(ConflictError) as err:
        workspace.users.set_role("root", "viewer")
    assert "last admin" in str(err.value)
    workspace.users.add("second", "admin")
    assert workspace.users.set_role("root", "viewer").role == "viewer"
    with pytest.raises(ConflictError):
        workspace.users.set_role("second", "deployer")


def test_a_disabled_users_tokens_stop_working_until_enabled(workspace) -> None:  # type: ignore[no-untyped-def]
    from shipyard.governance.errors import InvalidTokenError
    from shipyard.governance.service import authenticate

    workspace.users.add("ana", "deployer")
    token = workspace.users.create_token("ana").token
    assert authenticate(workspace.db, token, workspace.clock).name == "ana"
    info = workspace.users.set_disabled("ana", True)
    assert (info.name, info.role, info.disabled) == ("ana", "deployer", True)
    with pytest.raises(InvalidTokenError, match="user disabled"):
        authenticate(workspace.db, token, workspace.clock)
    assert [u.disabled for u in workspace.users.list() if u.name == "ana"] == [True]
    assert workspace.users.set_disabled("ana", False).disabled is False
    assert authenticate(workspace.db, token, workspace.clock).name == "ana"  # the same token works again
    actions = [(e.action, e.before, e.after) for e in workspace.audit.log(subject="user:ana")]
    assert ("user.disable", '{"disabled":false}', '{"disabled":true}') in actions
    assert ("user.enable", '{"disabled":true}', '{"disabled":false}') in actions


def test_the_last_enabled_admin_cannot_be_disabled(workspace) -> None:  # type: ignore[no-untyped-def]
    workspace.users.add("root", "admin")
    with pytest.raises(ConflictError, match="last admin") as err:
        workspace.users.set_disabled("root", True)
    assert err.value.field == "disabled"
    assert [u.disabled for u in workspace.users.list() if u.name == "root"] == [False]
    workspace.users.add("second", "admin")
    assert workspace.users.set_disabled("root", True).disabled
    with pytest.raises(ConflictError):  # "second" is now the only enabled admin
        workspace.users.set_role("second", "viewer")
    with pytest.raises(PermissionDeniedError):
        workspace.as_principal(Principal("x", Role.DEPLOYER)).users.set_disabled("second", True)
