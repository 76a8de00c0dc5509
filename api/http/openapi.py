"""The OpenAPI description, completed with what FastAPI cannot infer: the bearer scheme, which
operations are public, and the RFC 9457 problem answers each operation gives."""

from __future__ import annotations

import copy
from typing import Any

from api.http.limits import RATE_LIMITED
from api.http.problems import PROBLEM
from ledger.access.policy import PUBLIC

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "code", "detail"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "code": {"type": "string", "description": "Stable error code, e.g. not_custodian"},
        "detail": {"type": "string"},
        "evidence": {"type": "object"},
        "errors": {"type": "array", "items": {"type": "object", "properties": {
            "field": {"type": "string"}, "message": {"type": "string"}}}},
        "request_id": {"type": ["string", "null"]},
        "receipt": {"type": "string", "description": "A refused transfer package: the "
                    "receiving log's signed rejection, for the sender to record"},
    },
}


def problem_statuses(method: str, path: str) -> set[int]:
    """The problem answers an operation gives besides success and 500."""
    found: set[int] = set()
    if (method, path) not in PUBLIC:
        found |= {401, 403}
    if method == "POST":
        found |= {400, 413, 422}  # an unparseable body, too large, malformed
    if (method, path) in RATE_LIMITED:
        found.add(429)  # callers without a token, over the rate limit
    if (method, path) in {("GET", "/v1/principals"), ("GET", "/healthz"), ("GET", "/readyz"),
                          ("GET", "/v1/log/key"), ("GET", "/v1/log/status")}:
        return found | ({503} if path == "/readyz" else set())
    found.add(422)
    if path.startswith(("/v1/records/", "/v1/dossiers", "/v1/batch", "/v1/content/",
                        "/v1/principals/", "/v1/trust/anchors/", "/v1/log/tiles/",
                        "/v1/catalogs/")) or (
            path in ("/v1/log/checkpoint", "/v1/log/checkpoint/witnessed")) or (
            # a transfer not sent from here (or not the caller's); a dossier or record to send
            path.startswith("/v1/transfers") and path != "/v1/transfers/incoming"):
        found.add(404)
    if method == "POST" and path in ("/v1/records", "/v1/batch"):
        found.add(503)  # catalog_stale: a node that syncs its catalogs has not, in time
    if (method == "POST" and path.startswith(("/v1/records", "/v1/dossiers", "/v1/batch",
                                             "/v1/trust/", "/v1/transfers",
                                             "/v1/catalogs/"))) or (
            path.endswith("/evidence")):
        # transfers: not_anchored, a duplicate id, an open dossier, a record's state; a
        # package registered or a receipt recorded by a concurrent request
        found.add(409)
    if path.startswith(("/v1/log/proof/", "/v1/log/leaves")):
        found.add(400)
    return found


def complete(spec: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(spec)
    components = out.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer",
                                                "description": "A principal's token (stl_...)"}}
    ref = {"$ref": "#/components/schemas/Problem"}
    for path, operations in out["paths"].items():
        for method, operation in operations.items():
            if (method.upper(), path) not in PUBLIC:
                operation["security"] = [{"bearer": []}]
            for status in sorted(problem_statuses(method.upper(), path)):
                # A route's own word on an answer is kept (not FastAPI's generic one).
                said = operation["responses"].get(str(status), {}).get("description")
                operation["responses"][str(status)] = {
                    "description": said if said not in (None, "Validation Error")
                    else "RFC 9457 problem details",
                    "content": {PROBLEM: {"schema": ref}}}
    # FastAPI's own validation schemas are replaced by Problem above.
    for name in ("HTTPValidationError", "ValidationError"):
        components["schemas"].pop(name, None)
    return out
