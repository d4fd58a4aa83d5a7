"""Request-body size limits for the control plane, enforced before and while the body is read.

FastAPI reads a JSON body whole before validating it, so without a limit one request could make
the server hold gigabytes. ``BodyLimit`` answers 413 with the usual error body when the declared
``Content-Length`` is over the limit for that route (nothing is read), and stops reading a body
without a declared length (chunked) as soon as it passes the limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    json: int = 1 * MiB  # every JSON route
    model_upload: int = 1024 * MiB  # POST /models/{name}/versions: the artifact, base64 in JSON
    dataset_upload: int = 2048 * MiB  # POST /datasets/{name}/versions: raw CSV/Parquet bytes

    def for_path(self, path: str) -> tuple[int, str]:
        parts = path.rstrip("/").split("/")
        if len(parts) == 6 and parts[-1] == "versions" and parts[3] in ("models", "datasets"):
            if parts[3] == "models":
                return self.model_upload, "model_upload"
            return self.dataset_upload, "dataset_upload"
        return self.json, "json"


class BodyLimit:
    """ASGI middleware: 413 JSON for bodies over ``limits.for_path(path)``. A declared length within the
    limit passes through untouched (the HTTP server frames the body by it); a body without one (chunked)
    is read here up to the limit, then replayed to the app."""

    def __init__(self, app: Any, limits: Limits) -> None:
        self.app, self.limits = app, limits

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        limit, kind = self.limits.for_path(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit():
            if int(declared) > limit:
                await _reply_413(send, limit, kind, int(declared))
                return
            await self.app(scope, receive, send)
            return
        chunks, size = [], 0
        while True:
            msg = await receive()
            if msg["type"] != "http.request":  # the client went away
                return
            chunk = msg.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _reply_413(send, limit, kind, None)
                return
            chunks.append(chunk)
            if not msg.get("more_body"):
                break
        replay = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replayed() -> Any:
            return replay.pop() if replay else await receive()

        await self.app(scope, replayed, send)


async def _reply_413(send: Any, limit: int, kind: str, declared: int | None) -> None:
    body = orjson.dumps({"error": {
        "type": "InvalidInputError", "field": "body", "value": declared,
        "expected": f"at most {limit} bytes ({kind} limit)",
        "message": f"body: larger than the {kind} limit of {limit} bytes"}})
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
