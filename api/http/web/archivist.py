"""The archivists' and agencies' pages: search the records they may read, a record's page
(its verdict, life, documents and dossier), and the transfers they sent and received."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse

from api.http.deps import actor_of
from api.http.web.catalogs import fold
from api.http.web.inspector import record_view
from api.http.web.render import PageError, ledger_of, need, page
from domain.errors import DomainError
from ledger.access.policy import READ_ALL, READ_OWN, TRANSFER, may_read

router = APIRouter(include_in_schema=False)
READERS = tuple(READ_ALL | READ_OWN)
SCANNED = 1000  # records a search reads at most, newest registrations first
SHOWN = 100
Text = Annotated[str, Query(max_length=200)]


@router.get("/records", response_class=HTMLResponse)
def search(request: Request, number: Text = "", notation: Text = "", subject: Text = "",
           dossier: Text = "", date_from: Annotated[str, Query(alias="from", max_length=10)] = "",
           date_to: Annotated[str, Query(alias="to", max_length=10)] = "",
           custodian: Text = "",
           kind: Annotated[str, Query(pattern="^(record|dossier)$")] = "record") -> HTMLResponse:
    who = need(request, *READERS)
    assert who.principal is not None
    ledger = ledger_of(request)
    agency = None if who.role in READ_ALL else who.principal.agency
    rows = ledger.records.list_records(agency=agency, kind=kind, after=-1, limit=1 << 30
                                       )[-SCANNED:][::-1]
    query = {"number": number, "notation": notation, "subject": subject, "dossier": dossier,
             "from": date_from, "to": date_to, "custodian": custodian, "kind": kind}
    found = []
    for record_id, *_ in rows:
        state = ledger.records.describe(record_id)["state"]
        if kind == "dossier":
            # a dossier: its code and title, searched as the dossier and subject fields
            state = {**state, "metadata": {"subject": state["title"]},
                     "dossier": {"code": state["code"]}}
        if _matches(state, query):
            found.append({"id": record_id, "metadata": state["metadata"],
                          "custodian": state["custodian"], "status": state.get("status"),
                          "dossier": (state.get("dossier") or {}).get("code")})
            if len(found) >= SHOWN:
                break
    return page(request, "records.html", who=who, query=query, found=found,
                scanned=len(rows))


def _matches(state: dict[str, Any], query: dict[str, str]) -> bool:
    meta = state.get("metadata") or {}
    issued = str(meta.get("issued", ""))
    checks = [
        not query["number"] or query["number"].strip() == str(meta.get("number", "")),
        not query["notation"] or fold(query["notation"]) in fold(str(meta.get("notation", ""))),
        not query["subject"] or fold(query["subject"]) in fold(str(meta.get("subject", ""))),
        not query["dossier"] or fold(query["dossier"]) in fold(
            str((state.get("dossier") or {}).get("code", ""))),
        not query["from"] or issued >= query["from"],
        not query["to"] or issued <= query["to"],
        not query["custodian"] or query["custodian"].strip() == state.get("custodian"),
    ]
    return all(checks)


@router.get("/records/{record}", response_class=HTMLResponse)
def record_page(record: str, request: Request) -> HTMLResponse:
    who = need(request, *READERS)
    assert who.principal is not None
    ledger = ledger_of(request)
    try:
        state = ledger.records.describe(record)["state"]
    except DomainError:
        raise PageError(404, "not_found") from None
    if not may_read(who.principal, state.get("creator", state["custodian"]), state["custodian"]):
        raise PageError(403, "forbidden", role=who.role)
    return page(request, "record.html", who=who, r=record_view(request, record, who))


@router.get("/records/{record}/document")
def document(record: str, request: Request) -> FileResponse:
    who = need(request, *READERS)
    assert who.principal is not None
    ledger = ledger_of(request)
    try:
        state = ledger.records.describe(record)["state"]
        path = ledger.records.content_for(who.principal, state["content"]["digest"])
    except (DomainError, KeyError, TypeError):
        raise PageError(404, "not_found") from None
    media = state["content"]["media_type"]
    return FileResponse(path, media_type=media,
                        filename=f"{record}.pdf" if media == "application/pdf" else record)


@router.get("/transfers", response_class=HTMLResponse)
def transfers(request: Request) -> HTMLResponse:
    who = need(request, *tuple(TRANSFER))
    assert who.principal is not None
    ledger = ledger_of(request)
    with ledger.store.transaction() as tx:
        sent_ids, receipts = tx.transfers(SHOWN * 5), tx.receipts(SHOWN)
    sent = []
    for transfer in sent_ids:
        try:
            sent.append(ledger.transfers.status(actor_of(who.principal), transfer))
        except DomainError:  # another agency's
            continue
    return page(request, "transfers.html", who=who, sent=sent[:SHOWN], receipts=receipts)
