"""The dashboard: the page web/ builds (scripts/setup) served at `/` on the HTTP port.

Only `/` and `/assets/...` belong to it, so every API path (/api/..., /limiquantix...,
/healthz, /readyz, /metrics) keeps its own answers, unknown paths included. Assets carry a
content hash in their names and are cached for good; the page itself is always revalidated,
so a new build shows at the next load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

# web/dist of this checkout (src/quantix_lb/api/web.py → the repository root).
BUILD_DIR = Path(__file__).resolve().parents[3] / "web" / "dist"

IMMUTABLE = "public, max-age=31536000, immutable"
# Same origin only: the page talks to the API it came from.
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
NOT_BUILT = (
    "The quantix-lb dashboard is not built here ({index} is missing).\n"
    "Run scripts/setup (it builds web/ into web/dist), then reload.\n"
    "The API is served all the same: /api/v1/load-balancers, /healthz.\n"
)


class _Assets(StaticFiles):
    async def check_config(self) -> None:
        """No build yet: 404s (StaticFiles would fail the request with a 500)."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = IMMUTABLE
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def routes(build_dir: Path = BUILD_DIR) -> list[BaseRoute]:
    """The page's routes; put them after the API's. The build is looked for at each
    request, so building while the server runs needs no restart."""
    index = build_dir / "index.html"

    async def page(request: Request) -> Response:
        if not index.is_file():
            return PlainTextResponse(
                NOT_BUILT.format(index=index), status_code=503, headers={"Retry-After": "60"}
            )
        return FileResponse(index, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    assets = _Assets(directory=build_dir / "assets", check_dir=False)
    return [
        Route("/", page, methods=["GET", "HEAD"]),
        Mount("/assets", app=GZipMiddleware(assets, minimum_size=1024)),
    ]
