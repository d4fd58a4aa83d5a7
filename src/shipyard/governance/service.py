"""Users (principals) and API tokens. Tokens are shown once and stored as sha256 hashes."""

from __future__ import annotations

import builtins
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Row, func, select

from shipyard.clock import Clock, iso
from shipyard.core.hashing import sha256_bytes
from shipyard.core.limits import NAME_MAX, check_int, check_length
from shipyard.core.permissions import Permission, Principal, Role, TokenGrant, authorize, can, parse_role
from shipyard.errors import ConflictError, InvalidInputError
from shipyard.governance import audit
from shipyard.governance.errors import InvalidTokenError, PrincipalExistsError, PrincipalNotFoundError
from shipyard.store.sql import tables as t
from shipyard.store.sql.engine import Database

TOKEN_PREFIX = "shp_"
MAX_TOKEN_LIFETIME = timedelta(days=10 * 366)


def hash_token(token: str) -> str:
    return sha256_bytes(token.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class UserInfo:
    name: str
    role: str
    disabled: bool
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: int
    user: str
    name: str
    prefix: str
    created_at: str
    expires_at: str | None
    revoked_at: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class NewToken:
    token: str  # shown once, never stored
    info: TokenInfo

    def to_dict(self) -> dict[str, Any]:
        return {"token": self.token, **self.info.to_dict()}


def _iso(v: datetime | None) -> str | None:
    return iso(v) or None


def _aware(v: datetime | None) -> datetime | None:
    from datetime import UTC

    if v is None:
        return None
    return v if v.tzinfo else v.replace(tzinfo=UTC)


class UserService:
    def __init__(self, db: Database, actor: Principal, clock: Clock) -> None:
        self.db, self.actor, self.clock = db, actor, clock

    def add(self, name: str, role: str) -> UserInfo:
        authorize(self.actor, Permission.ADMIN)
        r = parse_role(role)
        check_length("name", name or "", NAME_MAX)
        if not name or any(c.isspace() for c in name):
            raise InvalidInputError(field="name", value=name, expected="a non-empty name without spaces")
        now = self.clock.now()
        with self.db.begin() as conn:
            if conn.execute(select(t.principals.c.id).where(t.principals.c.name == name)).first():
                raise PrincipalExistsError(field="name", value=name, expected="a user name not yet taken")
            conn.execute(t.principals.insert().values(name=name, role=r.value, disabled=False, created_at=now))
            audit.append(conn, self.actor.name, "user.add", f"user:{name}", None, {"role": r.value}, self.clock)
        return UserInfo(name, r.value, False, now.isoformat())

    def set_role(self, name: str, role: str) -> UserInfo:
        authorize(self.actor, Permission.ADMIN)
        r = parse_role(role)
        with self.db.begin() as conn:
            row = self._row(conn, name)
            if r is not Role.ADMIN:
                self._keep_an_admin(conn, row, "role", r.value, "make someone else admin first")
            conn.execute(t.principals.update().where(t.principals.c.id == row.id).values(role=r.value))
            audit.append(conn, self.actor.name, "user.role", f"user:{name}", {"role": row.role},
                         {"role": r.value}, self.clock)
        return UserInfo(name, r.value, bool(row.disabled), _iso(row.created_at) or "")

    def set_disabled(self, name: str, disabled: bool) -> UserInfo:
        """Disable a user (every token of theirs stops working at once; nothing is deleted) or enable them again."""
        authorize(self.actor, Permission.ADMIN)
        with self.db.begin() as conn:
            row = self._row(conn, name)
            if disabled:
                self._keep_an_admin(conn, row, "disabled", True, "make someone else admin before disabling them")
            conn.execute(t.principals.update().where(t.principals.c.id == row.id).values(disabled=disabled))
            audit.append(conn, self.actor.name, "user.disable" if disabled else "user.enable", f"user:{name}",
                         {"disabled": bool(row.disabled)}, {"disabled": disabled}, self.clock)
        return UserInfo(name, row.role, disabled, _iso(row.created_at) or "")

    @staticmethod
    def _keep_an_admin(conn: Any, row: Any, field: str, value: Any, advice: str) -> None:
        """Refuse the change that would leave the workspace without an enabled admin."""
        if row.role != Role.ADMIN.value or row.disabled:
            return
        admins = conn.execute(select(func.count()).select_from(t.principals).where(
            t.principals.c.role == Role.ADMIN.value, t.principals.c.disabled.is_(False))).scalar()
        if int(admins or 0) <= 1:
            raise ConflictError(f"{field}: {row.name} is the last admin; {advice}", field=field, value=value,
                                expected="another enabled admin first (a workspace always keeps one)")

    def list(self) -> list[UserInfo]:
        authorize(self.actor, Permission.READ)
        with self.db.read() as conn:
            rows = conn.execute(select(t.principals).order_by(t.principals.c.name)).all()
        return [UserInfo(r.name, r.role, bool(r.disabled), _iso(r.created_at) or "") for r in rows]

    def _row(self, conn: Any, name: str) -> Any:
        row = conn.execute(select(t.principals).where(t.principals.c.name == name)).first()
        if row is None:
            raise PrincipalNotFoundError(field="user", value=name,
                                         expected="an existing user (see `shipyard users list`)")
        return row

    def create_token(self, user: str, *, name: str = "", expires_in: timedelta | None = None) -> NewToken:
        """Create a token for ``user``; admins may create for anyone, others only for themselves."""
        if user != self.actor.name:
            authorize(self.actor, Permission.ADMIN)
        check_length("token name", name, NAME_MAX)
        if expires_in is not None and not (timedelta(0) < expires_in <= MAX_TOKEN_LIFETIME):
            raise InvalidInputError(field="expires", value=str(expires_in),
                                    expected=f"a lifetime > 0 and at most {MAX_TOKEN_LIFETIME.days} days "
                                             "(leave it unset for a token that does not expire)")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self.clock.now()
        expires = now + expires_in if expires_in is not None else None
        with self.db.begin() as conn:
            row = self._row(conn, user)
            tid = cast("Row[Any]", conn.execute(t.tokens.insert().values(
                principal_id=row.id, name=name, prefix=token[:10], token_hash=hash_token(token),
                created_at=now, expires_at=expires,
            )).inserted_primary_key)[0]
            audit.append(conn, self.actor.name, "token.create", f"user:{user}", None,
                         {"token_id": tid, "prefix": token[:10], "expires_at": _iso(expires)}, self.clock)
        return NewToken(token, TokenInfo(int(tid), user, name, token[:10], now.isoformat(), _iso(expires), None))

    def revoke_token(self, token_id: int) -> TokenInfo:
        check_int("token", token_id)
        now = self.clock.now()
        with self.db.begin() as conn:
            row = conn.execute(
                select(t.tokens, t.principals.c.name.label("user"))
                .join(t.principals, t.principals.c.id == t.tokens.c.principal_id)
                .where(t.tokens.c.id == token_id)
            ).first()
            if row is None:
                raise PrincipalNotFoundError(field="token", value=token_id, expected="an existing token id")
            if row.user != self.actor.name:
                authorize(self.actor, Permission.ADMIN)
            if row.revoked_at is not None:
                raise ConflictError(f"token {token_id}: already revoked at {_iso(row.revoked_at)}", field="token",
                                    value=token_id, expected="a token that is not revoked")
            conn.execute(t.tokens.update().where(t.tokens.c.id == token_id).values(revoked_at=now))
            audit.append(conn, self.actor.name, "token.revoke", f"user:{row.user}", {"token_id": token_id},
                         {"token_id": token_id, "revoked_at": now.isoformat()}, self.clock)
        return TokenInfo(token_id, row.user, row.name, row.prefix, _iso(row.created_at) or "",
                         _iso(row.expires_at), now.isoformat())

    def list_tokens(self, user: str | None = None) -> builtins.list[TokenInfo]:
        """``user``'s tokens; without a user, everyone's for an admin and one's own for anyone else."""
        if user is None and not can(self.actor, Permission.ADMIN):
            user = self.actor.name
        if user != self.actor.name:
            authorize(self.actor, Permission.ADMIN)
        q = select(t.tokens, t.principals.c.name.label("user")).join(
            t.principals, t.principals.c.id == t.tokens.c.principal_id).order_by(t.tokens.c.id)
        if user:
            q = q.where(t.principals.c.name == user)
        with self.db.read() as conn:
            rows = conn.execute(q).all()
        return [TokenInfo(r.id, r.user, r.name, r.prefix, _iso(r.created_at) or "", _iso(r.expires_at),
                          _iso(r.revoked_at)) for r in rows]


def authenticate(db: Database, token: str, clock: Clock) -> Principal:
    """Resolve a bearer token to its principal, or raise InvalidTokenError (never echoing the token)."""
    if not token or not token.startswith(TOKEN_PREFIX):
        raise InvalidTokenError("token: not a shipyard token", field="token", value="<redacted>",
                                expected="a token created by `shipyard users token create`")
    with db.read() as conn:
        row = conn.execute(
            select(t.tokens.c.expires_at, t.tokens.c.revoked_at, t.principals.c.name, t.principals.c.role,
                   t.principals.c.disabled)
            .join(t.principals, t.principals.c.id == t.tokens.c.principal_id)
            .where(t.tokens.c.token_hash == hash_token(token))
        ).first()
    now = clock.now()
    if row is None:
        raise InvalidTokenError("token: unknown token", field="token", value="<redacted>", expected="a valid token")
    if row.revoked_at is not None:
        raise InvalidTokenError("token: revoked", field="token", value="<redacted>",
                                expected="a token that is not revoked")
    exp = _aware(row.expires_at)
    if exp is not None and exp <= now:
        raise InvalidTokenError("token: expired", field="token", value="<redacted>", expected="an unexpired token")
    if row.disabled:
        raise InvalidTokenError("token: user disabled", field="token", value="<redacted>", expected="an enabled user")
    return Principal(row.name, Role(row.role))


def token_grants(db: Database, clock: Clock, permission: Permission) -> dict[str, TokenGrant]:
    """Every token valid now (not revoked, not expired, its user enabled), by sha256, with whether its role
    grants ``permission``: what a gateway polls to check bearer tokens without touching SQL per request."""
    now = clock.now()
    with db.read() as conn:
        rows = conn.execute(
            select(t.tokens.c.token_hash, t.tokens.c.expires_at, t.principals.c.name, t.principals.c.role)
            .join(t.principals, t.principals.c.id == t.tokens.c.principal_id)
            .where(t.tokens.c.revoked_at.is_(None), t.principals.c.disabled.is_(False))
        ).all()
    grants: dict[str, TokenGrant] = {}
    for r in rows:
        exp = _aware(r.expires_at)
        if exp is not None and exp <= now:
            continue
        try:
            role = Role(r.role)
        except ValueError:  # a role this version does not know grants nothing
            continue
        grants[r.token_hash] = TokenGrant(r.name, role.value, exp.timestamp() if exp is not None else None,
                                          can(Principal(r.name, role), permission))
    return grants
