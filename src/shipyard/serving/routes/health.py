"""Server health (OIP v2: 200 = true, 400 = false, empty body), metrics and the OpenAPI document."""

from __future__ import annotations

from typing import Any

import orjson

from shipyard.serving.http import Request, Response


async def live(gw: Any, req: Request, parts: tuple[str, ...]) -> Response:
    return Response(200, b"")


async def ready(gw: Any, req: Request, parts: tuple[str, ...]) -> Response:
    return Response(200 if gw.state.ready else 400, b"")


async def server_metadata(gw: Any, req: Request, parts: tuple[str, ...]) -> Response:
    from shipyard import __version__

    return Response(200, orjson.dumps({"name": "shipyard", "version": __version__, "extensions": []}))


async def metrics(gw: Any, req: Request, parts: tuple[str, ...]) -> Response:
    body, ctype = gw.metrics.render()
    return Response(200, body, content_type=ctype.encode())


async def openapi(gw: Any, req: Request, parts: tuple[str, ...]) -> Response:
    from shipyard.serving.openapi import document

    return Response(200, orjson.dumps(document(sorted(gw.state.endpoints))))


ROUTES: dict[tuple[str, ...], tuple[tuple[str, ...], Any]] = {
    ("v2", "health", "live"): (("GET",), live),
    ("v2", "health", "ready"): (("GET",), ready),
    ("v2",): (("GET",), server_metadata),
    ("metrics",): (("GET",), metrics),
    ("openapi.json",): (("GET",), openapi),
}
