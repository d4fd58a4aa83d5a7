"""Test harness for the control plane: uvicorn in a thread on a free loopback port, role tokens."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from tests.builders import free_port

from shipyard.core.permissions import Role
from shipyard.workspace import Workspace


@dataclass
class LiveServer:
    url: str
    tokens: dict[str, str] = field(default_factory=dict)  # role (or label) -> token

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


@contextmanager
def serve(app: object, log_level: str = "warning", **config: object) -> Iterator[str]:
    """Run ``app`` with uvicorn in a thread on a free loopback port; yield its base URL."""
    import uvicorn

    port = free_port()
    config = {"lifespan": "off", **config}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level=log_level,  # type: ignore[arg-type]
                                           **config))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def mint_role_tokens(ws: Workspace) -> dict[str, str]:
    """One user per role (``u-<role>``) with a token; plus 'revoked' and 'expired' tokens of an admin."""
    tokens: dict[str, str] = {}
    for role in Role:
        ws.users.add(f"u-{role.value}", role.value)
        tokens[role.value] = ws.users.create_token(f"u-{role.value}").token
    ws.users.add("u-gone", "admin")
    revoked = ws.users.create_token("u-gone", name="revoked")
    ws.users.revoke_token(revoked.info.id)
    tokens["revoked"] = revoked.token
    tokens["expired"] = ws.users.create_token("u-gone", name="expired", expires_in=timedelta(microseconds=1)).token
    return tokens


@contextmanager
def live_api(ws: Workspace) -> Iterator[LiveServer]:
    """The control plane over ``ws`` with role tokens minted."""
    from shipyard.api.app import create_app

    tokens = mint_role_tokens(ws)
    with serve(create_app(ws)) as url:
        yield LiveServer(url, tokens)
