"""Bearer tokens at the gateway (feedback, when the workspace says ``auth: required``).

The gateway never queries SQL on the request path: a background poll (every
``poll_interval_s``, like routing) fetches the sha256 of every currently valid token (not
revoked, its user enabled, not expired) with whether its role grants ``feedback``
(``governance.service.token_grants``). A request's token is hashed and looked up in that
mapping; the expiry is checked again at request time, so a token that expires between two polls
stops working on time. Looking a digest up in a dict leaks nothing useful through timing: an
attacker controls the token, not its sha256. A token revoked or a user disabled stops working
within one poll (~0.5 s). If the store cannot be reached the last mapping stays in force.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable

from shipyard.core.permissions import Permission, Principal, Role, TokenGrant, authorize
from shipyard.errors import PermissionDeniedError, UnauthenticatedError
from shipyard.serving.http import HttpError

log = logging.getLogger("shipyard.serving")
CHALLENGE = [(b"www-authenticate", b"Bearer")]
TokenSource = Callable[[], dict[str, TokenGrant]]


class TokenCheck:
    """Checks ``Authorization: Bearer`` against the polled token digests (when ``source`` is set)."""

    def __init__(self, source: TokenSource | None, interval_s: float = 0.5) -> None:
        self.source, self.interval_s = source, interval_s
        self.grants: dict[str, TokenGrant] = {}

    @property
    def required(self) -> bool:
        return self.source is not None

    def refresh(self) -> None:
        """One poll (in a thread): replace the mapping with one assignment, read without a lock."""
        if self.source is not None:
            self.grants = self.source()

    async def first_poll(self) -> None:
        """At start-up; a failure is logged: feedback answers 401 until a poll succeeds (predictions go on)."""
        if self.source is not None:
            try:
                await asyncio.to_thread(self.refresh)
            except Exception as exc:
                log.error("cannot read the valid tokens (auth: required): %s: %s", type(exc).__name__, exc)

    async def run(self) -> None:
        """Poll until cancelled; a failing poll keeps the previous mapping."""
        if self.source is None:
            return
        while True:
            await asyncio.sleep(self.interval_s)  # the gateway's start-up did the first poll
            try:
                await asyncio.to_thread(self.refresh)
            except Exception as exc:  # the store is briefly unreachable: keep what we have
                log.warning("token poll failed: %s: %s", type(exc).__name__, exc)

    def check(self, headers: dict[bytes, bytes], permission: Permission, what: str) -> None:
        """Raise an HttpError 401 (no, malformed, unknown, revoked or expired token; with ``WWW-Authenticate:
        Bearer``) or 403 (the token's role lacks ``permission``); return when the caller may go on."""
        if self.source is None:
            return
        raw = headers.get(b"authorization")
        scheme, _, token = (raw or b"").partition(b" ")
        token = token.strip()
        if raw is None or scheme.lower() != b"bearer" or not token:
            raise HttpError(401, UnauthenticatedError(
                f"{what}: this gateway requires a bearer token (auth: required); send Authorization: Bearer <token>",
                field="Authorization", value=None if raw is None else "<redacted>",
                expected="Bearer <token> of a user allowed to " + permission.value), extra=CHALLENGE)
        grant = self.grants.get(hashlib.sha256(token).hexdigest())
        if grant is None or (grant.expires_at is not None and grant.expires_at <= time.time()):
            raise HttpError(401, UnauthenticatedError(
                f"{what}: unknown, revoked or expired token (or its user is disabled)", field="Authorization",
                value="<redacted>", expected="a valid token from `shipyard users token create`"), extra=CHALLENGE)
        if not grant.allowed:
            try:
                authorize(Principal(grant.user, Role(grant.role)), permission)
            except PermissionDeniedError as exc:
                raise HttpError(403, exc) from None
            raise HttpError(403, PermissionDeniedError(  # the poll and this check disagree: refuse
                field="role", value=grant.role, expected=f"a role that may {permission.value}"))
