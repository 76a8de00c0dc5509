"""Errors as RFC 9457 problem details: one mapping from our stable codes to HTTP statuses."""

from __future__ import annotations

import math
from typing import Any

import structlog
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.errors import DomainError
from verifiers.errors import VerificationError

PROBLEM = "application/problem+json"
log = structlog.get_logger("stele.error")

STATUS: dict[str, int] = {
    "invalid_input": 422,
    "invalid_json": 422,
    "digest_mismatch": 422,
    "malformed": 422,
    "idempotency_key_reused": 422,
    "out_of_range": 400,
    "no_checkpoint": 404,
    "unauthenticated": 401,
    "forbidden": 403,
    "not_custodian": 403,
    "not_destination": 403,
    "committee_only": 403,
    "not_issuer": 403,
    "not_hold_authority": 403,
    "anchor_not_found": 404,
    "anchor_state": 409,
    "not_anchored": 409,
    "untrusted_signer": 422,
    "signature_malformed": 422,
    "duplicate": 409,
    "conflict": 409,
    "idempotency_in_progress": 409,
    "too_large": 413,
    "rate_limited": 429,
    "development_trust": 422,
    "peer_not_pinned": 422,
    "receipt_invalid": 422,
    "receipt_transfer_mismatch": 422,
    "catalog_code_unknown": 422,
    "catalog_code_not_yet_valid": 422,
    "catalog_code_expired": 422,
    "catalog_retention_mismatch": 422,
    "catalog_manager_only": 403,
    "catalog_stale": 503,  # the node must sync first; reads go on
    "bad_config": 500,
    "corrupt_store": 500,
    "internal": 500,
}


class ApiError(DomainError):
    """An error of the HTTP layer itself (authentication, authorization, limits)."""

    def __init__(self, code: str, message: str, **evidence: Any) -> None:
        super().__init__(message, **evidence)
        self.code = code


def status_of(code: str) -> int:
    if code in STATUS:
        return STATUS[code]
    if code.endswith("not_found"):
        return 404
    return 409  # every other domain rule: the request conflicts with the record's state


def printable(text: str) -> str:
    """`text` as it can be shown in an answer or a log line: a lone surrogate (which no UTF-8
    encoder takes) becomes its escape, e.g. `\\ud800`."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def jsonable(value: Any) -> Any:
    """`value` made safe for a JSON answer: text printable, non-finite numbers as text, any
    other object as its str(). Answers can then never fail to encode (a 500 instead of the
    error they explain)."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, bool | int | None):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {printable(str(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return printable(str(value))


def problem(status: int, code: str, detail: str, *, headers: dict[str, str] | None = None,
            **extra: Any) -> JSONResponse:
    body = {"type": f"https://stele.example/problems/{code}", "title": code.replace("_", " "),
            "status": status, "code": code, "detail": detail, **extra}
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(jsonable(body), status_code=status, media_type=PROBLEM,
                        headers=headers or None)


def internal_error(request_id: str | None, exc: BaseException) -> JSONResponse:
    """A 500: its cause, with the traceback, to the server log under the request id the answer
    gives; never to the client."""
    log.error("internal_error", request_id=request_id,
              error=printable(f"{type(exc).__name__}: {exc}"), exc_info=exc)
    return problem(500, "internal", "internal error; see the server log", request_id=request_id)


async def domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError | VerificationError)
    return problem(status_of(exc.code), exc.code, exc.message, evidence=exc.evidence)


def field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    """A validation error's location as a dotted field name (`metadata.issuer`, `actions.0`)."""
    return ".".join(printable(str(p)) for p in loc if p != "body")


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """Never the input itself: only where it is wrong and what is wrong with it."""
    assert isinstance(exc, RequestValidationError)
    errors = [{"field": field_of(e["loc"]), "message": printable(str(e["msg"]))}
              for e in exc.errors()]
    fields = ", ".join(e["field"] for e in errors)
    return problem(422, "invalid_input", f"invalid request: {fields}", errors=errors)


_HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed",
               415: "unsupported_media_type"}


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own errors (unknown path or method, an unparseable body) as problems."""
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return problem(exc.status_code, code, str(exc.detail))


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # Never a stack trace to the client; the server log has it, under the request id.
    return internal_error(getattr(request.state, "request_id", None), exc)
