"""The HTTP API: FastAPI app factory, request logging, limits, error mapping, lifecycle."""

from __future__ import annotations

import json
import logging
import secrets
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.http import web
from api.http.limits import BoundedBody, PublicRateLimit, TokenBuckets
from api.http.openapi import complete
from api.http.problems import (
    domain_error,
    http_error,
    internal_error,
    printable,
    problem,
    unexpected_error,
    validation_error,
)
from api.http.routes import (
    catalogs,
    content,
    log,
    principals,
    records,
    tiles,
    transfers,
    trust,
    verify,
    witness,
)
from api.http.worker import WorkerProcess
from domain.errors import DomainError
from ledger.config import Settings
from ledger.service import Ledger
from verifiers.errors import VerificationError


def _json_line(event: Any, **kw: Any) -> str:
    # A lone surrogate (from an exception's message, say) must not make the line unprintable.
    return printable(json.dumps(event, **kw))


def log_processors() -> list[Any]:
    """Level, time, the traceback of a logged exception (never its local variables), JSON."""
    return [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        structlog.processors.JSONRenderer(serializer=_json_line, ensure_ascii=False),
    ]


def configure_logging() -> None:
    """JSON lines on stdout: one per request, one per ledger write, one per 500 with its
    traceback. Never a token or content."""
    structlog.configure(
        processors=log_processors(),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        cache_logger_on_first_use=True,
    )


class RequestContext:
    """The request's id (`X-Request-Id`, taken from the request or made, and given back), one
    log line per request, and the last-resort 500 answer. Plain ASGI: Starlette's
    BaseHTTPMiddleware costs a task group and two streams per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log = structlog.get_logger("stele.request")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = Headers(scope=scope).get("x-request-id") or secrets.token_hex(8)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.perf_counter()
        status = 0

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()),
                                      (b"x-request-id", request_id.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, answer)
        except Exception as exc:  # reached only if a handler's error escaped the handlers
            if status:  # the answer has begun: too late for another
                raise
            await internal_error(request_id, exc)(scope, receive, answer)
        route = scope.get("route")
        self.log.info(
            "request", request_id=request_id, method=scope["method"],
            route=getattr(route, "path", scope["path"]), status=status,
            principal=state.get("principal"),
            ms=round((time.perf_counter() - started) * 1000, 2))


def create_app(settings: Settings, *, background: bool = True) -> FastAPI:

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ledger = Ledger(settings)
        app.state.ledger = ledger
        worker = WorkerProcess(settings) if background else None
        if worker is not None:
            worker.start()
        try:
            yield
        finally:
            # Graceful: requests have drained; integrate and checkpoint everything written.
            if worker is not None:
                worker.stop()
            ledger.close()

    app = FastAPI(title="Stele", version="0.1.0", lifespan=lifespan,
                  description="Event-sourced records ledger with integrity proofs.")
    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(VerificationError, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)
    # Inside out: bodies bounded and parsed strictly, then (before any body is read) the rate
    # limit, then the request's id, log line and last-resort error answer.
    app.add_middleware(BoundedBody, content_limit=settings.max_content_bytes,
                       package_limit=settings.max_package_bytes)
    app.state.rate_limits = (TokenBuckets(settings.rate_limit) if settings.rate_limit
                             else None)
    if app.state.rate_limits is not None:
        app.add_middleware(PublicRateLimit, buckets=app.state.rate_limits)

    app.add_middleware(RequestContext)

    @app.get("/healthz", tags=["health"], summary="The process is up")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="The database answers (and whether the "
             "shared catalogs are stale)")
    def readyz(request: Request) -> Response:
        try:
            ledger = request.app.state.ledger
            size = ledger.log.size()
            held = ledger.catalogs.status()
        except Exception as exc:
            return problem(503, "not_ready", f"database unavailable: {type(exc).__name__}")
        # A node whose catalogs are stale still serves reads: it says so, and the writes a
        # catalog checks fail with catalog_stale until it syncs.
        body = {"status": "ready", "tree_size": size,
                "catalogs": {k: held[k] for k in ("expired", "stale", "stale_at")}}
        return Response(json.dumps(body), media_type="application/json")

    for router in (records.router, content.router, log.router, verify.router,
                   principals.router, trust.router, tiles.router, transfers.router,
                   catalogs.router):
        app.include_router(router)
    if settings.witness:
        app.include_router(witness.router)
    web.install(app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(get_openapi(
                title=app.title, version=app.version, description=app.description,
                routes=app.routes))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def create_app_from_env() -> FastAPI:
    """For uvicorn --factory (several workers): settings from the environment."""
    configure_logging()
    return create_app(Settings.from_env())
