"""Error kinds -> HTTP status and the JSON body ``{"error": {type, field, value, expected, message}}``.

The lookup walks the exception's MRO, most specific class first (``UnauthenticatedError`` is an
``InvalidInputError`` but answers 401). Anything that is not a ShipyardError is a bug: it is logged
(without request headers, so never a token) and answered 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shipyard.errors import (
    CheckFailedError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    ShipyardError,
    UnauthenticatedError,
    UnavailableError,
)

log = logging.getLogger("shipyard.api")

STATUS: dict[type[ShipyardError], int] = {
    UnauthenticatedError: 401,
    PermissionDeniedError: 403,
    NotFoundError: 404,
    ConflictError: 409,
    CheckFailedError: 409,
    InvalidInputError: 422,
    UnavailableError: 503,
    ShipyardError: 400,
}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {
                "type": {"type": "string"},
                "field": {"type": ["string", "null"]},
                "value": {},
                "expected": {"type": ["string", "null"]},
                "message": {"type": "string"},
            },
        }
    },
}


def _err(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_SCHEMA}}}


# Documented on every route so clients (and schemathesis) know the error shape.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _err("Malformed request"),
    401: _err("No token, or an unknown, expired or revoked one"),
    403: _err("The principal's role lacks the permission, or separation of duties forbids it"),
    404: _err("No such object"),
    409: _err("Conflicts with the current state"),
    422: _err("Invalid input: names the field, the value and what was expected"),
    503: _err("A backing service is unavailable"),
}


def status_for(exc: ShipyardError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def error_response(exc: ShipyardError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, UnauthenticatedError) else None
    return JSONResponse({"error": exc.to_dict()}, status_code=status_for(exc), headers=headers)


def _validation_message(exc: RequestValidationError) -> tuple[str, Any, str, str]:
    """(field, value, expected, message) for the first error pydantic found in the request."""
    errors = exc.errors()
    first = errors[0] if errors else {}
    kind, ctx = first.get("type"), first.get("ctx") or {}
    if kind == "json_invalid":
        # loc is ("body", <character offset>): the offset is where the JSON broke, not a field.
        raw = first.get("loc", ())
        at = f" at character {raw[1]}" if len(raw) > 1 and isinstance(raw[1], int) else ""
        expected = f"a valid JSON document ({ctx.get('error', 'JSON decode error')}{at})"
        return "body", None, expected, f"body: not valid JSON, expected {expected}"
    loc = [str(p) for p in first.get("loc", ())]
    where = loc[0] if loc else "request"
    field = ".".join(loc[1:]) or where
    value = first.get("input")
    if not isinstance(value, (str, int, float, bool, type(None))):
        value = None
    expected = str(first.get("msg", "a valid value")).removeprefix("Value error, ")
    if kind == "string_too_long" and isinstance(value, str):
        expected = f"at most {ctx.get('max_length')} characters"
        message = f"{field}: {len(value)} characters, expected {expected}"
    elif kind == "int_type" and isinstance(value, bool):
        expected = "an integer (true/false is not a number)"
        message = f"{field}: got {value!r}, expected {expected}"
    else:
        message = f"{field}: got {value!r}, expected {expected}"
    if isinstance(value, str) and len(value) > 200:
        value = value[:200] + "…"
    return field, value, expected, message


def install(app: FastAPI) -> None:
    @app.exception_handler(ShipyardError)
    async def _shipyard(_request: Request, exc: ShipyardError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        field, value, expected, message = _validation_message(exc)
        return error_response(InvalidInputError(message, field=field, value=value, expected=expected))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {401: "UnauthenticatedError", 403: "PermissionDeniedError", 404: "NotFoundError",
                405: "MethodNotAllowed"}.get(exc.status_code, "HTTPError")
        body = {"type": kind, "field": None, "value": None, "expected": None, "message": str(exc.detail)}
        return JSONResponse({"error": body}, status_code=exc.status_code, headers=exc.headers)

    from sqlalchemy.exc import DataError

    @app.exception_handler(DataError)
    async def _data(_request: Request, exc: DataError) -> JSONResponse:
        # The database refused a value the request carried (e.g. NUL in JSON text on PostgreSQL).
        return error_response(InvalidInputError(
            "request: a value cannot be stored (the database refused it)", field="body", value=None,
            expected="text without NUL characters and numbers within range"))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error on %s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc,
                  exc_info=exc)
        body = {"type": "InternalError", "field": None, "value": None, "expected": None,
                "message": "internal error (a bug in shipyard; the server log has the details)"}
        return JSONResponse({"error": body}, status_code=500)
