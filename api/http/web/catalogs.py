"""The shared catalogs' search page (open data, no login): a catalog's latest version held,
searched with case and Vietnamese diacritics folded, and one code's history."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.http.web.render import ledger_of, page
from domain.catalog import NAMES, SCHEMAS
from domain.errors import DomainError

router = APIRouter(include_in_schema=False)


def fold(text: str) -> str:
    """Text as searched: case and Vietnamese diacritics folded ("tai chinh" finds "Tài
    chính")."""
    decomposed = unicodedata.normalize("NFD", text.casefold().replace("đ", "d"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@router.get("/catalogs", response_class=HTMLResponse)
def catalogs_page(request: Request,
                  catalog: Annotated[str, Query(max_length=40)] = "agencies",
                  q: Annotated[str, Query(max_length=200)] = "",
                  code: Annotated[str | None, Query(max_length=100)] = None) -> HTMLResponse:
    ledger = ledger_of(request)
    held = {c["catalog"] for c in ledger.catalogs.list()}
    shown: dict[str, Any] = {
        "names": NAMES, "catalog": catalog, "q": q, "code": code, "held": catalog in held,
        "fields": list(SCHEMAS.get(catalog, {})), "problem": None, "history": None,
        "latest": None, "entries": [], "status": None}
    if catalog not in held:
        return page(request, "catalogs.html", **shown)
    if code is not None:
        try:
            shown["history"] = ledger.catalogs.code(catalog, code)["history"]
        except DomainError as exc:
            shown["problem"] = exc.message
        return page(request, "catalogs.html", **shown)
    latest = ledger.catalogs.snapshot(catalog)
    needle = fold(q.strip())
    shown.update(latest=latest, status=ledger.catalogs.status(), entries=[
        e for e in latest["entries"]
        if not needle or needle in fold(e["code"]) or needle in fold(e["name"])])
    return page(request, "catalogs.html", **shown)
