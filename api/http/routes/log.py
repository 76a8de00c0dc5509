"""The Merkle log: checkpoints, the key, proofs (public), leaves (auditors)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from api.http.deps import CurrentPrincipal, LedgerDep
from api.http.problems import ApiError
from ledger.access.policy import LOG_LEAVES, MAX_INDEX, allow
from verifiers.canonical import b64

router = APIRouter(prefix="/v1/log", tags=["log"])
Index = Annotated[int, Query(ge=0, le=MAX_INDEX)]
Size = Annotated[int | None, Query(ge=1, le=MAX_INDEX)]


@router.get("/checkpoint", response_class=PlainTextResponse,
            summary="The signed checkpoint note (C2SP tlog-checkpoint), byte for byte")
def checkpoint(ledger: LedgerDep, size: Size = None) -> PlainTextResponse:
    note = ledger.log.checkpoint_at(size).note
    return PlainTextResponse(note, media_type="text/plain; charset=utf-8")


@router.get("/checkpoint/witnessed", response_class=PlainTextResponse,
            summary="The latest checkpoint the witnesses' quorum cosigned, with cosignatures")
def witnessed(ledger: LedgerDep) -> PlainTextResponse:
    return PlainTextResponse(ledger.log.witnessed().note, media_type="text/plain; charset=utf-8")


@router.get("/key", response_class=PlainTextResponse, summary="The checkpoint verifier key")
def key(ledger: LedgerDep) -> PlainTextResponse:
    return PlainTextResponse(ledger.key.verifier + "\n")


@router.get("/proof/inclusion", summary="RFC 9162 inclusion proof")
def inclusion(ledger: LedgerDep, index: Index,
              size: Size = None) -> dict[str, Any]:
    if size is None:
        latest = ledger.checkpointer.latest()
        size = latest.size if latest else ledger.log.size()
    return ledger.log.prove_inclusion(index, size)


@router.get("/proof/consistency", summary="RFC 9162 consistency proof")
def consistency(ledger: LedgerDep, first: Index,
                second: Index) -> dict[str, Any]:
    return ledger.log.prove_consistency(first, second)


@router.get("/leaves", summary="Leaf bytes (canonical events), for auditors")
def leaves(principal: CurrentPrincipal, ledger: LedgerDep, start: Index,
           end: Index) -> dict[str, Any]:
    allow(principal, LOG_LEAVES, "read leaves")
    if end - start > 1000:
        raise ApiError("out_of_range", "at most 1000 leaves per request", start=start, end=end)
    return {"leaves": [{"index": i, "leaf": b64(leaf)} for i, leaf in ledger.log.leaves(start,
                                                                                        end)]}


@router.get("/status", summary="Size, latest checkpoint, backlogs")
def status(ledger: LedgerDep) -> dict[str, Any]:
    out = ledger.log.status()
    out.pop("database", None)  # deployment detail, not for the public
    catalogs = ledger.catalogs.status()
    catalogs.pop("last_refused", None)  # the operator's (stele catalog status)
    return {**out, "catalogs": catalogs}
