"""Principals, for admins: create (the token is shown once), list, revoke."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from api.http.deps import LedgerDep, require
from api.http.models import PrincipalRequest
from ledger.access.principals import Principal

router = APIRouter(prefix="/v1/principals", tags=["principals"])
Admin = Annotated[Principal, Depends(require("admin"))]


@router.post("", status_code=201, summary="Create a principal; its token is shown only here")
def create(body: PrincipalRequest, admin: Admin, ledger: LedgerDep) -> dict[str, Any]:
    principal, token = ledger.principals.add(name=body.name, role=body.role, agency=body.agency)
    return {"principal": principal.as_json(), "token": token}


@router.get("", summary="Every principal (never a token)")
def list_all(admin: Admin, ledger: LedgerDep) -> dict[str, Any]:
    return {"items": [p.as_json() for p in ledger.principals.list()]}


@router.post("/{principal_id}/revoke", summary="Revoke a principal's token")
def revoke(principal_id: str, admin: Admin, ledger: LedgerDep) -> dict[str, Any]:
    return {"principal": ledger.principals.revoke(principal_id).as_json()}
