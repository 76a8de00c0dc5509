"""`stele demo`: every lifecycle action on N sample records, then a checkpoint and an audit."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from domain.envelope import Actor
from ledger.service import Command, Ledger

AGENCY = Actor("demo-clerk", "agency", "000.00.00.G01")  # a ministry's records office
ARCHIVE = Actor("demo-archivist", "archivist", "000.00.00.H01")  # a historical archive
COURT = Actor("demo-inspector", "inspector", "000.00.00.T01")


@dataclass(frozen=True)
class DemoResult:
    records: int
    events: int
    seconds: float
    run: str


def _metadata(run: str, i: int) -> dict[str, Any]:
    return {
        "doc_type": "Quyết định",
        "number": str(i + 1),
        "notation": f"{i + 1}/QĐ-{run}",
        "issued": "2010-03-15",
        "issuer": AGENCY.agency,
        "subject": f"Quyết định số {i + 1} (demo {run})",
        "language": "vi",
        "pages": 1 + i % 7,
        "access": "open",
        "reliability": "born_digital",
    }


def _signature(ledger: Ledger, digest: str, who: str, signer_class: str) -> dict[str, Any]:
    # Signature metadata only: pyHanko validation of real signatures comes with issue 4.
    sig = ledger.put_content(f"demo signature by {who} over {digest}".encode())
    return {
        "format": "pades", "signer_class": signer_class, "signed_digest": digest,
        "signer": ledger.put_content(f"demo certificate of {who}".encode()),
        "chain": [], "signing_time": "2010-03-15T09:00:00Z", "signature": sig,
        "validation": {"verdict": "PASSED", "note": "demo metadata, not validated"},
    }


def run_demo(ledger: Ledger, records: int) -> DemoResult:
    run = secrets.token_hex(3).upper()  # a fresh notation per run: a second run adds records
    started = time.perf_counter()
    written = 0
    dossier = f"{AGENCY.agency}.2010.HS-{run}"
    written += len(ledger.do(AGENCY, "dossier.open", code=dossier,
                             title=f"Hồ sơ demo {run}", retention=10))
    for i in range(records):
        content = f"Demo document {i + 1} of run {run}\n".encode() * (1 + i % 3)
        digest = ledger.put_content(content)
        created = ledger.do(AGENCY, "record.create", metadata=_metadata(run, i), retention=10,
                            schedule="Circular 05/2025 table 1 item 12",
                            content={"digest": digest, "size": len(content),
                                     "media_type": "text/plain"})
        rid = created[0].record
        steps = [
            Command("record.sign", {"record": rid, **_signature(ledger, digest, "clerk",
                                                                "individual")}),
            Command("record.sign", {"record": rid, **_signature(ledger, digest, "ministry",
                                                                "organization")}),
            Command("record.file", {"record": rid, "dossier": dossier}),
        ]
        written += len(created) + len(ledger.execute(AGENCY, steps))
        written += _life(ledger, i, rid, digest, len(content), run)
    written += len(ledger.do(AGENCY, "dossier.close", dossier=dossier))
    return DemoResult(records, written, time.perf_counter() - started, run)


def _life(ledger: Ledger, i: int, rid: str, digest: str, size: int, run: str) -> int:
    """Take record `i` down one of five paths, so that every action runs."""
    path = i % 5
    n = 0
    if path == 0:  # an inspection hold, placed and released
        n += len(ledger.do(COURT, "record.hold.place", record=rid, hold=f"INSP-{run}-{i}",
                           reason="inspection of 2010 decisions"))
        n += len(ledger.do(COURT, "record.hold.release", record=rid, hold=f"INSP-{run}-{i}",
                           reason="inspection closed"))
    elif path in (1, 2):  # transfer to a historical archive: received, or rejected
        transfer = f"TR-{run}-{i}"
        n += len(ledger.do(
            AGENCY, "record.transfer.initiate", record=rid, transfer=transfer,
            destination=ARCHIVE.agency, destination_kind="historical_archive",
            registration=f"NL-{run}", package_digest=digest,
            counts={"dossiers": 1, "documents": 1, "bytes": size},
        ))
        if path == 1:
            n += len(ledger.do(ARCHIVE, "record.transfer.receive", record=rid, transfer=transfer,
                               package_digest=digest,
                               counts={"dossiers": 1, "documents": 1, "bytes": size},
                               content_digest=digest))
        else:
            n += len(ledger.do(ARCHIVE, "record.transfer.reject", record=rid, transfer=transfer,
                               reason="package incomplete: finding aid missing"))
    elif path == 3:  # appraised as of no further value, then destroyed (content purged)
        n += len(ledger.execute(AGENCY, [
            Command("record.appraise", {"record": rid, "council": "Hội đồng xác định giá trị",
                                        "minutes": f"BB-{run}-{i}", "decision": "destroy",
                                        "retention": 10}),
            Command("record.destruction.approve", {"record": rid,
                                                   "decision": f"QĐ-HUY-{run}-{i}"}),
        ]))
        n += len(ledger.do(AGENCY, "record.destruction.execute", record=rid,
                           minutes=f"BB-HUY-{run}-{i}", replicas_purged=2))
    else:  # appraised as permanent: collected for the historical archive one day
        n += len(ledger.do(AGENCY, "record.appraise", record=rid,
                           council="Hội đồng xác định giá trị", minutes=f"BB-{run}-{i}",
                           decision="retain", retention="permanent"))
    return n
