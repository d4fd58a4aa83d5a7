"""Minimal HTTP primitives for the gateway's raw ASGI app: request, response, error bodies.

The gateway does not use a web framework on the request path: a request is a few attributes and
a response is bytes. Error bodies follow the protocol the client spoke: OIP v2 ``{"error": "..."}``
(the message names the field), shipyard ``/v1`` ``{"error": {"type", "field", "value", "expected",
"message"}}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from shipyard.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    ShipyardError,
    UnauthenticatedError,
    UnavailableError,
)

JSON = b"application/json"
STATUS: dict[type[ShipyardError], int] = {
    UnauthenticatedError: 401,
    InvalidInputError: 400,
    NotFoundError: 404,
    ConflictError: 409,
    PermissionDeniedError: 403,
    UnavailableError: 503,
}


def status_for(exc: ShipyardError) -> int:
    explicit = getattr(exc, "status", None)
    if isinstance(explicit, int):
        return explicit
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


@dataclass(slots=True)
class Request:
    method: str
    path: str
    headers: dict[bytes, bytes]
    body: bytes
    request_id: str
    query: bytes = b""


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: bytes = JSON
    version: str = "none"
    extra: list[tuple[bytes, bytes]] = field(default_factory=list)


class ModelError(ShipyardError):
    """The model's own code raised while predicting: HTTP 500 carrying the model's message (a bug in the
    model, not in shipyard and not in the request)."""

    status = 500


class HttpError(Exception):
    """Raised by route code; carries the status and a ShipyardError describing the field."""

    def __init__(self, status: int, error: ShipyardError, version: str = "none") -> None:
        super().__init__(str(error))
        self.status, self.error, self.version = status, error, version


def jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)[:200]


def oip_error(status: int, exc: ShipyardError, version: str = "none") -> Response:
    body: dict[str, str] = {"error": str(exc)}
    if isinstance(exc, ModelError):
        body["type"] = "ModelError"  # OIP's error body is one message; this says whose fault it is
    return Response(status, orjson.dumps(body), version=version)


def v1_error(status: int, exc: ShipyardError, version: str = "none") -> Response:
    body = {"error": {"type": type(exc).__name__, "field": exc.field, "value": jsonable(exc.value),
                      "expected": exc.expected, "message": str(exc)}}
    return Response(status, orjson.dumps(body), version=version)


def parse_json(body: bytes) -> Any:
    """orjson first; on failure the stdlib parser (accepts NaN/Infinity, so the signature can name them)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        import json

        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise InvalidInputError(f"body: malformed JSON ({exc})", field="body", value=body[:60].decode(
                "utf-8", "replace"), expected="a JSON document") from None


def object_body(body: bytes) -> dict[str, Any]:
    doc = parse_json(body)
    if not isinstance(doc, dict):
        raise InvalidInputError(field="body", value=type(doc).__name__, expected="a JSON object")
    return doc
