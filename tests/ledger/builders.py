"""Sample data for ledger tests: actors, metadata, and a helper to register records."""

from __future__ import annotations

from typing import Any

from domain.envelope import Actor
from ledger.service import Ledger

AGENCY = Actor("clerk-1", "agency", "000.00.00.G01")
OTHER_AGENCY = Actor("clerk-2", "agency", "000.00.00.G02")
ARCHIVE = Actor("archivist-1", "archivist", "000.00.00.H01")


def metadata(number: int, *, issued: str = "2010-03-15", access: str = "open",
             issuer: str = AGENCY.agency, subject: str | None = None) -> dict[str, Any]:
    return {
        "doc_type": "Quyết định", "number": str(number), "notation": f"{number}/QĐ-TEST",
        "issued": issued, "issuer": issuer, "subject": subject or f"Test decision {number}",
        "language": "vi", "pages": 2, "access": access, "reliability": "born_digital",
    }


def create(ledger: Ledger, number: int, *, actor: Actor = AGENCY, retention: Any = 10,
           body: bytes | None = None, **meta: Any) -> str:
    data = body if body is not None else f"document {number}".encode()
    digest = ledger.records.put_content(data, agency=actor.agency)
    events = ledger.records.do(actor, "record.create", metadata=metadata(number, **meta),
                               retention=retention, schedule="S-1",
                               content={"digest": digest, "size": len(data),
                                        "media_type": "text/plain"})
    return events[0].record
