"""For inspectors and courts: is this document registered, in what state, with which proofs?"""

from __future__ import annotations

import bisect
from typing import Any

from fastapi import APIRouter

from api.http.deps import LedgerDep, MaybePrincipal
from api.http.models import VerifyRequest
from domain.metadata import check_digest
from ledger.access.policy import may_read_evidence
from ledger.service import Ledger
from verifiers.canonical import b64

router = APIRouter(prefix="/v1", tags=["verify"])


def _first_leaf(ledger: Ledger, record: str) -> int:
    first = ledger.records.leaf_indexes(record)[0]
    assert first is not None  # records_with lists integrated records only
    return first


@router.post("/verify", summary="Look a document up by its digest (public)")
def verify(body: VerifyRequest, ledger: LedgerDep, principal: MaybePrincipal) -> dict[str, Any]:
    """Answers whether a document with this SHA-256 is registered, each record's status, and
    for each of its events the leaf bytes (the canonical event that was proved), its index and
    an inclusion proof to the latest checkpoint, so the answer can be checked offline against
    the signed note returned with it. Leaves carry the record's metadata: they are shown to
    principals who may read the record (its agencies, auditors, inspectors); anyone else gets
    the leaf hash inside each inclusion proof, and the status, holder and proofs.

    Records come in log order, `limit` at a time (20 by default, at most 100): `total` counts
    them all, `next` is the `cursor` of the following page (null on the last)."""
    digest = check_digest(body.digest, "digest")
    cp = ledger.checkpointer.latest()
    ids = ledger.records.records_with(digest)  # in log order
    # The page starts after the record whose first leaf is the cursor: a binary search.
    start = 0 if body.cursor < 0 else bisect.bisect_right(
        ids, body.cursor, key=lambda rid: _first_leaf(ledger, rid))
    page = ids[start:start + body.limit]
    records = []
    last_leaf = body.cursor
    for record_id in page:
        shown = ledger.records.describe(record_id)
        events = []
        state = shown["state"]
        readable = principal is not None and may_read_evidence(
            principal, state.get("creator", state["custodian"]), state["custodian"])
        for e, leaf in zip(shown["events"], ledger.records.history(record_id), strict=True):
            item = {"version": e["version"], "type": e["event"]["type"], "hash": e["hash"],
                    "leaf_index": e["leaf_index"]}
            if readable:
                item["leaf"] = b64(leaf)
            if cp is not None and e["leaf_index"] is not None and e["leaf_index"] < cp.size:
                item["inclusion"] = ledger.log.prove_inclusion(e["leaf_index"], cp.size)
            events.append(item)
        last_leaf = shown["events"][0]["leaf_index"]
        records.append({"record": record_id, "status": state["status"],
                        "custodian": state["custodian"], "issued": state["issued"],
                        "events": events})
    more = start + len(page) < len(ids)
    return {"digest": digest, "registered": bool(ids), "records": records, "total": len(ids),
            "next": last_leaf if more else None,
            "checkpoint": cp.note if cp else None, "log_key": ledger.key.verifier}
