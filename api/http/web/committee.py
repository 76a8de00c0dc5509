"""The Cipher Committee's review: every trust anchor with its history, window, purposes and
what depends on it; what expires in the next twelve months; and the committee's actions
(register, suspend, reinstate, retire), each confirmed on a page that shows its consequences."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.http.deps import actor_of
from api.http.web.render import PageError, form, ledger_of, need, page
from domain.errors import DomainError
from ledger.access.policy import check_action
from ledger.records import Command

router = APIRouter(include_in_schema=False)
COMMITTEE = "committee"
TRANSITIONS = ("suspend", "reinstate", "retire")
PEM = re.compile(r"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.S)


@router.get("/committee", response_class=HTMLResponse)
def review(request: Request, done: str = "") -> HTMLResponse:
    who = need(request, COMMITTEE)
    ledger = ledger_of(request)
    now = datetime.now(UTC)
    anchors = [ledger.trust.show(a.fingerprint) for a in ledger.trust.anchors()]
    expiring = ledger.trust.expiring(timedelta(days=365), now)
    chart = {"labels": [a["subject"] for a in expiring],
             "ends": [_epoch(a["not_after"]) for a in expiring],
             "records": [a["depends"]["records"] for a in expiring], "now": now.timestamp()}
    return page(request, "committee.html", who=who, anchors=anchors, expiring=expiring,
                chart=json.dumps(chart), done=done == "1")


@router.post("/committee/confirm", response_class=HTMLResponse)
async def confirm(request: Request) -> HTMLResponse:
    """The consequences of an action on an anchor, before it is taken."""
    who = need(request, COMMITTEE)
    values = await form(request, who)
    action = values.get("action", "")
    if action not in TRANSITIONS:
        raise PageError(400, "invalid_input", field="action")
    try:
        anchor = ledger_of(request).trust.show(values.get("anchor", ""))
    except DomainError:
        raise PageError(404, "not_found") from None
    depends = anchor["depends"]
    return page(request, "committee_confirm.html", who=who, anchor=anchor, action=action,
                reason=values.get("reason", ""), records=depends["records"],
                signatures=depends["signatures"]["count"],
                timestamps=depends["timestamps"]["count"])


@router.post("/committee/act")
async def act(request: Request) -> Response:
    who = need(request, COMMITTEE)
    values = await form(request, who)
    action = values.get("action", "")
    if action == "register":
        command = Command("trust.register", {
            "certificate": _certificate(values.get("certificate", "")),
            "pki": values.get("pki", "").strip(),
            "purposes": [p for p in ("signing", "timestamping") if values.get(p)],
            "not_before": values.get("not_before", "").strip() or None,
            "not_after": values.get("not_after", "").strip() or None})
    elif action in TRANSITIONS:
        command = Command(f"trust.{action}", {"anchor": values.get("anchor", ""),
                                              "reason": values.get("reason", "")})
    else:
        raise PageError(400, "invalid_input", field="action")
    assert who.principal is not None
    ledger = ledger_of(request)
    try:
        check_action(who.principal, command.action)
        ledger.records.execute(actor_of(who.principal), [command])
    except DomainError as exc:
        raise PageError(400 if exc.code != "forbidden" else 403, "rejected",
                        message=f"{exc.code}: {exc.message}") from None
    return RedirectResponse("/committee?done=1", 303)


def _certificate(text: str) -> str:
    """A PEM certificate, or base64 DER (what the page's file picker gives for a DER file)."""
    found = PEM.search(text)
    body = found.group(1) if found else text
    compact = "".join(body.split())
    try:
        base64.b64decode(compact, validate=True)
    except ValueError:
        raise PageError(400, "invalid_input", field="certificate") from None
    return compact


def _epoch(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()

