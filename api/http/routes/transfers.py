"""Transfers between archives (docs/transfers.md): initiate and export on the sending node,
receive a package on the receiving node, record the receiver's signed answer on the sender."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from api.http.deps import CurrentPrincipal, LedgerDep, actor_of
from api.http.problems import problem
from ledger.access.policy import TRANSFER, allow
from ledger.errors import TransferRejectedError

router = APIRouter(prefix="/v1/transfers", tags=["transfers"])

_ZIP = {"application/zip": {"schema": {"type": "string", "format": "binary"}}}
_NOTE = {"text/plain": {"schema": {"type": "string"}}}


class TransferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    transfer: str = Field(min_length=1, max_length=100, description="The sender's id")
    destination: str = Field(description="The receiving agency's 13-character code")
    destination_kind: Literal["agency_archive", "historical_archive"]
    destination_log: str = Field(description="The receiving node's log origin (a peer log)")
    registration: str = Field(min_length=1, max_length=100)
    dossiers: list[str] = Field(default_factory=list, max_length=10_000,
                                description="Codes of closed dossiers, each with its records")
    records: list[str] = Field(default_factory=list, max_length=100_000,
                               description="Single records (ids)")
    legal_basis: dict[str, str] | None = None


@router.post("", status_code=201, summary="Initiate a transfer: build and freeze its package")
def initiate(body: TransferRequest, principal: CurrentPrincipal,
             ledger: LedgerDep) -> dict[str, Any]:
    """Builds every file of the package once, keeps them, and logs `transfer_initiated` on
    every record with the package digest (the SHA-256 of its transfer list). 409
    `not_anchored` until every event is in an anchored checkpoint."""
    allow(principal, TRANSFER, "initiate a transfer")
    return ledger.transfers.initiate(
        actor_of(principal), transfer=body.transfer, destination=body.destination,
        destination_kind=body.destination_kind, destination_log=body.destination_log,
        registration=body.registration, dossiers=body.dossiers, records=body.records,
        legal_basis=body.legal_basis).as_json()


@router.get("/{transfer}", summary="A transfer this node sent, and its answer")
def status(transfer: str, principal: CurrentPrincipal, ledger: LedgerDep) -> dict[str, Any]:
    allow(principal, TRANSFER | {"auditor"}, "read a transfer")
    return ledger.transfers.status(actor_of(principal), transfer)


@router.get("/{transfer}/package", summary="The transfer's package (a ZIP)",
            response_class=FileResponse, responses={200: {"content": _ZIP}})
def package(transfer: str, principal: CurrentPrincipal, ledger: LedgerDep,
            format: Annotated[Literal["eark", "bagit"], Query(
                description="E-ARK SIP 2.1 (default) or the same package as a BagIt bag")
            ] = "eark") -> FileResponse:
    """The same bytes at every export: the package is frozen at initiation."""
    allow(principal, TRANSFER, "export a transfer package")
    ledger.transfers.status(actor_of(principal), transfer)  # the sender's own transfers only
    scratch = Path(tempfile.mkdtemp(dir=ledger.settings.data_dir, prefix=".export-"))
    out = scratch / f"{transfer}.zip"
    try:
        ledger.transfers.export(transfer, out, format=format, as_zip=True)
    except BaseException:
        _remove(scratch)
        raise
    return FileResponse(out, media_type="application/zip", filename=f"{transfer}.zip",
                        background=BackgroundTask(_remove, scratch))


def _remove(scratch: Path) -> None:
    for child in scratch.iterdir():
        child.unlink()
    scratch.rmdir()


@router.post("/incoming", summary="Receive a package from a peer log; answers the receipt",
             response_class=PlainTextResponse,
             responses={200: {"content": _NOTE, "description": "The signed receipt"},
                        422: {"description": "Rejected: `code` says why; `receipt` is the "
                                             "signed rejection"}},
             openapi_extra={"requestBody": {"required": True, "content": _ZIP}})
async def incoming(request: Request, principal: CurrentPrincipal, ledger: LedgerDep,
                   origin: Annotated[str, Query(alias="from", min_length=1, max_length=255,
                                                description="The sending log's origin")],
                   ) -> Response:
    """Checks the package, re-proves every record's evidence against the sending log's
    pinned key, and registers the records in one transaction; the same package again
    answers the same receipt."""
    allow(principal, TRANSFER, "receive a transfer")
    fd, tmp = tempfile.mkstemp(dir=ledger.settings.data_dir, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as f:
            async for chunk in request.stream():  # bounded by api/http/limits
                f.write(chunk)
        try:
            note = await run_in_threadpool(ledger.transfers.receive, actor_of(principal),
                                           Path(tmp), origin)
        except TransferRejectedError as exc:
            return problem(422, exc.code, exc.message, evidence=exc.evidence,
                           receipt=exc.receipt)
    finally:
        os.unlink(tmp)
    return PlainTextResponse(note)


@router.post("/{transfer}/receipt", summary="Record the receiving node's signed answer",
             openapi_extra={"requestBody": {"required": True, "content": _NOTE}})
async def receipt(transfer: str, request: Request, principal: CurrentPrincipal,
                  ledger: LedgerDep) -> dict[str, Any]:
    """A receipt moves custody on every record (`transfer_received`); a rejection leaves it
    (`transfer_rejected`). Only a note that the destination's pinned log key signed, for this
    transfer and its package, counts; the same answer twice changes nothing."""
    allow(principal, TRANSFER, "record a transfer's receipt")
    note = (await request.body()).decode("utf-8", "replace")
    return await run_in_threadpool(ledger.transfers.conclude, actor_of(principal), note,
                                   transfer=transfer)
