"""Errors as RFC 9457 problem details: one mapping from our stable codes to HTTP statuses."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.errors import DomainError
from verifiers.errors import VerificationError

PROBLEM = "application/problem+json"

STATUS: dict[str, int] = {
    "invalid_input": 422,
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
    "anchor_not_found": 404,
    "anchor_state": 409,
    "not_anchored": 409,
    "untrusted_signer": 422,
    "signature_malformed": 422,
    "duplicate": 409,
    "conflict": 409,
    "idempotency_in_progress": 409,
    "too_large": 413,
    "development_trust": 422,
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


def problem(status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": f"https://stele.example/problems/{code}", "title": code.replace("_", " "),
            "status": status, "code": code, "detail": detail, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


async def domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError | VerificationError)
    evidence = {k: v if isinstance(v, str | int | bool | None | list | dict) else str(v)
                for k, v in exc.evidence.items()}
    return problem(status_of(exc.code), exc.code, exc.message, evidence=evidence)


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"field": ".".join(str(p) for p in e["loc"] if p != "body"), "message": e["msg"]}
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
    # Never a stack trace to the client; the request log has the request id to look it up.
    return problem(500, "internal", "internal error; see the server log",
                   request_id=getattr(request.state, "request_id", None))
