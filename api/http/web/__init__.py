"""The web pages `stele serve` answers beside the API: for inspectors (`/`), the Cipher
Committee (`/committee`), auditors (`/audit`), archivists and agencies (`/records`,
`/transfers`), and the shared catalogs (`/catalogs`). Server-rendered (Jinja2, autoescaped),
Vietnamese first and English; small plain scripts from `/static`, no inline script."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from api.http.web import archivist, auditor, auth, catalogs, committee, inspector
from api.http.web.render import SECURITY_HEADERS, STATIC, PageError, refusal


def install(app: FastAPI) -> None:
    for module in (inspector, auth, catalogs, committee, auditor, archivist):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageError)
        return refusal(request, exc)

    app.add_exception_handler(PageError, refused)

    @app.middleware("http")
    async def security_headers(request: Request,
                               call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if response.headers.get("content-type", "").startswith("text/html"):
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
        return response
