"""For inspectors and courts: is this document registered, in what state, with which proofs?"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import LedgerDep
from api.models import VerifyRequest
from domain.metadata import check_digest

router = APIRouter(prefix="/v1", tags=["verify"])


@router.post("/verify", summary="Look a document up by its digest (public)")
def verify(body: VerifyRequest, ledger: LedgerDep) -> dict[str, Any]:
    """Answers whether a document with this SHA-256 is registered, each record's status, and
    for each of its events the leaf index and an inclusion proof to the latest checkpoint, so
    the answer can be checked offline against the signed note returned with it. Record
    metadata is not shown: only who holds it, its status and its proofs."""
    digest = check_digest(body.digest, "digest")
    cp = ledger.checkpointer.latest()
    with ledger.store.transaction() as tx:
        found = tx.records_by_digest(digest)
    records = []
    for record_id, _ in found:
        shown = ledger.describe(record_id)
        events = []
        for e in shown["events"]:
            item = {"version": e["version"], "type": e["event"]["type"], "hash": e["hash"],
                    "leaf_index": e["leaf_index"]}
            if cp is not None and e["leaf_index"] is not None and e["leaf_index"] < cp.size:
                item["inclusion"] = ledger.prove_inclusion(e["leaf_index"], cp.size)
            events.append(item)
        state = shown["state"]
        records.append({"record": record_id, "status": state["status"],
                        "custodian": state["custodian"], "issued": state["issued"],
                        "events": events})
    return {"digest": digest, "registered": bool(records), "records": records,
            "checkpoint": cp.note if cp else None, "log_key": ledger.key.verifier}
