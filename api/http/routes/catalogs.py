"""The shared catalogs, public (open data): the list, any version held, a code's history, and
a page to search them. Each answer has an ETag (a version's is its snapshot digest), so a
client or cache revalidates with If-None-Match. Publishing is a write route (records.py)."""

from __future__ import annotations

import hashlib
import html
import json
import unicodedata
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.http.deps import LedgerDep
from domain.catalog import NAMES, SCHEMAS
from domain.errors import DomainError

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

_STYLE = """body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:72rem;
padding:0 1rem}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #ddd;padding:.35rem;
text-align:left;vertical-align:top}th{background:#f4f4f4}.expired{color:#777}
form{display:flex;gap:.5rem;margin:1rem 0}input[type=search]{flex:1;padding:.3rem}
.note{color:#555}"""


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f'<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>{html.escape(title)}'
        f'</title><meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>")


def _fold(text: str) -> str:
    """Text as searched: case and Vietnamese diacritics folded ("tai chinh" finds "Tài
    chính")."""
    decomposed = unicodedata.normalize("NFD", text.casefold().replace("đ", "d"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _cell(value: Any) -> str:
    return "" if value is None else html.escape(str(value))


def _table(catalog: str, entries: list[dict[str, Any]]) -> str:
    fields = list(SCHEMAS[catalog])
    head = "".join(f"<th>{html.escape(f)}</th>" for f in fields)
    rows = []
    for entry in entries:
        link = "/catalogs?" + urlencode({"catalog": catalog, "code": entry["code"]})
        cells = [f'<td><a href="{html.escape(link)}">{_cell(entry["code"])}</a></td>',
                 *(f"<td>{_cell(entry[f])}</td>" for f in fields[1:])]
        kind = ' class="expired"' if entry.get("valid_to") else ""
        rows.append(f"<tr{kind}>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


@router.get("/catalogs", response_class=HTMLResponse, summary="Search the shared catalogs")
def page(ledger: LedgerDep,
         catalog: Annotated[str, Query(max_length=40)] = "agencies",
         q: Annotated[str, Query(max_length=200)] = "",
         code: Annotated[str | None, Query(max_length=100)] = None) -> HTMLResponse:
    held = {c["catalog"]: c for c in ledger.catalogs.list()}
    options = "".join(
        f'<option value="{n}"{" selected" if n == catalog else ""}>{n}</option>' for n in NAMES)
    form = (f'<form method="get" action="/catalogs" role="search"><select name="catalog" '
            f'aria-label="catalog">{options}</select><input type="search" name="q" '
            f'value="{html.escape(q)}" placeholder="code or name" aria-label="search">'
            f'<button type="submit">Search</button></form>')
    if catalog not in held:
        return _page("Shared catalogs", form + '<p class="note">This node holds no version of '
                     f"{html.escape(catalog)}.</p>")
    if code is not None:
        try:
            found = ledger.catalogs.code(catalog, code)
        except DomainError as exc:
            return _page("Shared catalogs", form + f'<p class="note">{html.escape(exc.message)}'
                         "</p>")
        rows = "".join(
            f"<tr><td>{h['version']}</td><td>{_cell(h['held_at'])}</td><td>"
            + ("removed" if h["entry"] is None else
               "; ".join(f"{html.escape(k)}: {_cell(v)}" for k, v in h["entry"].items()))
            + "</td></tr>" for h in found["history"])
        return _page(f"{catalog} {code}", form + "<h2>History</h2><table><thead><tr>"
                     "<th>version</th><th>held since</th><th>entry</th></tr></thead><tbody>"
                     f"{rows}</tbody></table>")
    latest = ledger.catalogs.snapshot(catalog)
    needle = _fold(q.strip())
    entries = [e for e in latest["entries"] if not needle
               or needle in _fold(e["code"]) or needle in _fold(e["name"])]
    status = ledger.catalogs.status()
    index = status["index"]
    about = (f'<p class="note">Version {latest["version"]} ({html.escape(latest["digest"])}), '
             f"held since {_cell(latest['held_at'])}"
             + (f"; centre index expires {_cell(index['expires'])}" if index else "")
             + (" — <strong>stale</strong>" if status["stale"] else "")
             + f". {len(entries)} of {len(latest['entries'])} entries.</p>")
    return _page("Shared catalogs", form + about + _table(catalog, entries))
