"""The trust-anchor registry, read side: what the committee reviews. Any principal may read it
(the roots a ledger trusts are no secret); only committee principals change it (the write
routes are with every other action, in records.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.http.deps import CurrentPrincipal, LedgerDep

router = APIRouter(prefix="/v1/trust", tags=["trust"])


@router.get("/anchors", summary="Every trust anchor ever registered, oldest first")
def list_anchors(
    principal: CurrentPrincipal, ledger: LedgerDep,
    purpose: Annotated[str | None, Query(pattern="^(signing|timestamping)$")] = None,
) -> dict[str, Any]:
    return {"items": [a.summary() for a in ledger.trust.anchors(purpose)]}


@router.get("/anchors/{anchor}", summary="An anchor: its certificate, history and dependants")
def show_anchor(anchor: str, principal: CurrentPrincipal, ledger: LedgerDep) -> dict[str, Any]:
    return ledger.trust.show(anchor)


@router.get("/expiring", summary="Anchors whose window ends soon, with what depends on them")
def expiring(
    principal: CurrentPrincipal, ledger: LedgerDep,
    within_days: Annotated[int, Query(ge=1, le=36_500)] = 730,
) -> dict[str, Any]:
    return {"items": ledger.trust.expiring(timedelta(days=within_days), datetime.now(UTC))}
