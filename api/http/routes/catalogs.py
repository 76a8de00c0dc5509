"""The shared catalogs, public (open data): the list, any version held, a code's history (the
page that searches them is with the other pages, api/http/web/catalogs.py). Each answer has
an ETag (a version's is its snapshot digest), so a client or cache revalidates with
If-None-Match. Publishing is a write route (records.py)."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.http.deps import LedgerDep

router = APIRouter(tags=["catalogs"])
Version = Annotated[int | None, Query(ge=1, le=2**63 - 1)]
At = Annotated[str | None, Query(max_length=40, description="A date or an ISO 8601 time: the "
                                 "version this node held then")]


def _answer(request: Request, body: Any, etag: str | None = None) -> Response:
    data = json.dumps(body, ensure_ascii=False, sort_keys=True).encode("utf-8")
    tag = '"' + (etag or hashlib.sha256(data).hexdigest()[:32]) + '"'
    headers = {"ETag": tag, "Cache-Control": "public, max-age=60"}
    matches = request.headers.get("if-none-match", "")
    if tag in [t.strip().removeprefix("W/") for t in matches.split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type="application/json", headers=headers)


@router.get("/v1/catalogs", summary="The catalogs this node holds, and the sync they rest on",
            responses={304: {"description": "Not modified"}})
def list_catalogs(request: Request, ledger: LedgerDep) -> Response:
    return _answer(request, {"items": ledger.catalogs.list(),
                             "status": ledger.catalogs.status()})


@router.get("/v1/catalogs/{catalog}", summary="A catalog version: the latest, a given one, "
            "or the one in force at a time", responses={304: {"description": "Not modified"}})
def get_catalog(catalog: str, request: Request, ledger: LedgerDep, version: Version = None,
                at: At = None) -> Response:
    found = ledger.catalogs.snapshot(catalog, version=version, at=at)
    return _answer(request, found, found["digest"].removeprefix("sha-256:"))


@router.get("/v1/catalogs/{catalog}/{code}", summary="One code across the versions held",
            responses={304: {"description": "Not modified"}})
def get_code(catalog: str, code: str, request: Request, ledger: LedgerDep) -> Response:
    return _answer(request, ledger.catalogs.code(catalog, code))


# -- the page -----------------------------------------------------------------------------------

