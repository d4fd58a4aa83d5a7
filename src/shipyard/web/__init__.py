"""The web dashboard: one page of HTML and plain JavaScript modules that call ``/api/v1`` with the user's token.

Everything ships in the package (``web/static``; uPlot vendored under ``static/vendor``, MIT): no CDN, no build
step. ``mount(app)`` serves the page at ``/`` and the assets at ``/static``; every answer carries a strict
Content-Security-Policy (scripts and connections to this server only), so the page talks to no other host.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

STATIC = Path(__file__).parent / "static"
CSP = ("default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; "
       "style-src 'self' 'unsafe-inline'; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
       "form-action 'self'; object-src 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
           "Cache-Control": "no-cache"}


def mount(app: Any) -> None:
    """Serve the dashboard on a FastAPI ``app``: ``GET /`` (the page) and ``/static/...`` (its assets)."""
    from fastapi.responses import Response
    from fastapi.staticfiles import StaticFiles

    index = (STATIC / "index.html").read_bytes()

    def dashboard() -> Response:
        return Response(index, media_type="text/html; charset=utf-8", headers=HEADERS)

    app.add_api_route("/", dashboard, methods=["GET"], include_in_schema=False)

    class _Static(StaticFiles):
        async def get_response(self, path: str, scope: Any) -> Any:
            response = await super().get_response(path, scope)
            response.headers.update(HEADERS)
            return response

    app.mount("/static", _Static(directory=STATIC), name="static")
