"""The witness (when `STELE_WITNESS=on`): C2SP tlog-witness `add-checkpoint`, and what it holds.

`POST /add-checkpoint` takes no token, as the spec says: the log's signature on the checkpoint
is the request's authority. What the witness holds is public: its key, the head of each log,
every checkpoint it cosigned and the equivocation evidence it kept.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.http.deps import LedgerDep
from ledger.service import Ledger
from ledger.witness.service import Witness

router = APIRouter(tags=["witness"])
Origin = Annotated[str, Query(min_length=1, max_length=1000)]
MAX_REQUEST = 64 * 1024  # a checkpoint note and at most 63 proof lines fit many times over


def _witness(ledger: Ledger) -> Witness:
    assert ledger.witness is not None  # the router is included only with the witness on
    return ledger.witness


@router.post("/add-checkpoint", summary="Cosign a checkpoint (C2SP tlog-witness)",
             response_class=Response,
             responses={200: {"content": {"text/plain": {}}},
                        409: {"content": {"text/x.tlog.size": {}}}})
async def add_checkpoint(request: Request, ledger: LedgerDep) -> Response:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_REQUEST:
            return Response("request body too large\n", status_code=413,
                            media_type="text/plain; charset=utf-8")
    answer = await run_in_threadpool(_witness(ledger).add_checkpoint, body)
    # The Content-Type exactly as given: Starlette would add "; charset=utf-8" to a text/*
    # media type, and clients compare text/x.tlog.size as a whole (Tessera does).
    return Response(answer.body.encode("utf-8"), status_code=answer.status,
                    headers={"Content-Type": answer.content_type})


@router.get("/v1/witness", summary="The witness: its cosigner key and the head of each log")
def witness(ledger: LedgerDep) -> dict[str, Any]:
    w = _witness(ledger)
    return {"name": w.key.name, "key": w.key.cosigner, "logs": sorted(w.logs),
            "heads": w.heads()}


@router.get("/v1/witness/cosigned", summary="Every checkpoint this witness cosigned for a log")
def cosigned(ledger: LedgerDep, origin: Origin) -> dict[str, Any]:
    return {"origin": origin, "cosigned": _witness(ledger).cosigned(origin)}


@router.get("/v1/witness/evidence",
            summary="Equivocation evidence: conflicting checkpoints the witness refused")
def evidence(ledger: LedgerDep, origin: Origin | None = None) -> dict[str, Any]:
    return {"origin": origin, "evidence": _witness(ledger).evidence(origin)}
