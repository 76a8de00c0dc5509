"""The web pages `stele serve` answers beside the API: for inspectors (`/`), the Cipher
Committee (`/committee`), auditors (`/audit`), archivists and agencies (`/records`,
`/transfers`), and the shared catalogs (`/catalogs`). Server-rendered (Jinja2, autoescaped),
Vietnamese first and English; small plain scripts from `/static`, no inline script."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
    app.add_middleware(SecurityHeaders)


class SecurityHeaders:
    """`X-Content-Type-Options: nosniff` on every answer, and on every page the security
    headers (CSP and the rest) that the page did not set itself. Plain ASGI."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                if headers.get("content-type", "").startswith("text/html"):
                    for name, value in SECURITY_HEADERS.items():
                        headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, secured)
