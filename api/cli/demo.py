"""`stele demo --dev`: every lifecycle action on N sample records, then a checkpoint and an audit.

Documents are real PDFs signed with the data directory's development PKI (`stele dev-pki`),
validated by the ledger as any signature is."""

from __future__ import annotations

import secrets
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from api.cli.common import StoreOptions, open_ledger, print_failures, progress_bar, store_options
from api.cli.exits import exit_for
from domain.envelope import Actor
from ledger.dev.pki import DevPki, blank_pdf, register_roots, sign_pdf
from ledger.errors import DevelopmentTrustError
from ledger.records import Command
from ledger.service import Ledger
from verifiers.canonical import b64
from verifiers.report import Verdict

AGENCY = Actor("demo-clerk", "agency", "000.00.00.G01")  # a ministry's records office
ARCHIVE = Actor("demo-archivist", "archivist", "000.00.00.H01")  # a historical archive
COURT = Actor("demo-inspector", "inspector", "000.00.00.T01")
COMMITTEE = Actor("demo-committee", "committee", "000.00.00.B01")  # the Cipher Committee


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


def _pki(ledger: Ledger) -> DevPki:
    """The data directory's development PKI (made on the first demo), its roots registered
    as trust anchors by the committee."""
    directory = ledger.settings.data_dir / "dev-pki"
    if (directory / "pki.json").exists():
        pki = DevPki.load(directory)
    else:
        pki = DevPki.create(directory, datetime.now(UTC) - timedelta(days=1), signer_days=3650)
    register_roots(ledger, pki, COMMITTEE)
    return pki


def _revocation(ledger: Ledger, pki: DevPki) -> dict[str, list[str]]:
    """Today's CRLs and OCSP answers for the two signers, uploaded once per demo run."""
    now = datetime.now(UTC)
    crls = {ca: ledger.records.put_content(pki.crl(ca, now), agency=AGENCY.agency)
            for ca in ("NEAC", "NEAC CA", "BCY")}
    return {
        "individual": [crls["NEAC CA"], crls["NEAC"],
                       ledger.records.put_content(pki.ocsp_response("individual", now),
                                                  agency=AGENCY.agency)],
        "agency": [crls["BCY"], ledger.records.put_content(pki.ocsp_response("agency", now),
                                                         agency=AGENCY.agency)],
    }


def _document(pki: DevPki, run: str, i: int) -> bytes:
    """A decision, signed (PAdES) by the official who signs it, then by the agency's seal."""
    pdf = blank_pdf(f"QUYET DINH so {i + 1}/QD-{run}\n(demo document {i + 1} of run {run})")
    pdf = sign_pdf(pdf, pki.party("individual"), pki=pki, field="Individual")
    return sign_pdf(pdf, pki.party("agency"), pki=pki, field="Agency")


def run_demo(ledger: Ledger, records: int) -> DemoResult:
    run = secrets.token_hex(3).upper()  # a fresh notation per run: a second run adds records
    started = time.perf_counter()
    written = 0
    dossier = f"{AGENCY.agency}.2010.HS-{run}"
    written += len(ledger.records.do(AGENCY, "dossier.open", code=dossier,
                                     title=f"Hồ sơ demo {run}", retention=10))
    pki = _pki(ledger)
    revocation = _revocation(ledger, pki)
    for i in range(records):
        content = _document(pki, run, i)
        digest = ledger.records.put_content(content, agency=AGENCY.agency)
        created = ledger.records.do(AGENCY, "record.create", metadata=_metadata(run, i),
                                    retention=10,
                                    schedule="Circular 05/2025 table 1 item 12",
                                    content={"digest": digest, "size": len(content),
                                             "media_type": "application/pdf"})
        rid = created[0].record
        steps = [
            Command("record.sign", {"record": rid, "signer_class": "individual",
                                    "field": "Individual",
                                    "validation_data": revocation["individual"]}),
            Command("record.sign", {"record": rid, "signer_class": "organization",
                                    "field": "Agency", "validation_data": revocation["agency"]}),
            Command("record.file", {"record": rid, "dossier": dossier}),
        ]
        written += len(created) + len(ledger.records.execute(AGENCY, steps))
        written += _life(ledger, i, rid, digest, len(content), run)
    written += len(ledger.records.do(AGENCY, "dossier.close", dossier=dossier))
    return DemoResult(records, written, time.perf_counter() - started, run)


def _life(ledger: Ledger, i: int, rid: str, digest: str, size: int, run: str) -> int:
    """Take record `i` down one of five paths, so that every action runs."""
    path = i % 5
    n = 0
    if path == 0:  # an inspection hold, placed and released
        n += len(ledger.records.do(COURT, "record.hold.place", record=rid, hold=f"INSP-{run}-{i}",
                                   reason="inspection of 2010 decisions"))
        n += len(ledger.records.do(COURT, "record.hold.release", record=rid, hold=f"INSP-{run}-{i}",
                                   reason="inspection closed"))
    elif path in (1, 2):  # transfer to a historical archive: received, or rejected
        transfer = f"TR-{run}-{i}"
        n += len(ledger.records.do(
            AGENCY, "record.transfer.initiate", record=rid, transfer=transfer,
            destination=ARCHIVE.agency, destination_kind="historical_archive",
            registration=f"NL-{run}", package_digest=digest,
            counts={"dossiers": 1, "documents": 1, "bytes": size},
        ))
        if path == 1:
            n += len(ledger.records.do(ARCHIVE, "record.transfer.receive", record=rid,
                                       transfer=transfer,
                                       package_digest=digest,
                                       counts={"dossiers": 1, "documents": 1, "bytes": size},
                                       content_digest=digest))
        else:
            n += len(ledger.records.do(ARCHIVE, "record.transfer.reject", record=rid,
                                       transfer=transfer,
                                       reason="package incomplete: finding aid missing"))
    elif path == 3:  # appraised as of no further value, then destroyed (content purged)
        n += len(ledger.records.execute(AGENCY, [
            Command("record.appraise", {"record": rid, "council": "Hội đồng xác định giá trị",
                                        "minutes": f"BB-{run}-{i}", "decision": "destroy",
                                        "retention": 10}),
            Command("record.destruction.approve", {"record": rid,
                                                   "decision": f"QĐ-HUY-{run}-{i}"}),
        ]))
        n += len(ledger.records.do(AGENCY, "record.destruction.execute", record=rid,
                                   minutes=f"BB-HUY-{run}-{i}", replicas_purged=2))
    else:  # appraised as permanent: collected for the historical archive one day
        n += len(ledger.records.do(AGENCY, "record.appraise", record=rid,
                                   council="Hội đồng xác định giá trị", minutes=f"BB-{run}-{i}",
                                   decision="retain", retention="permanent"))
    return n


@click.command()
@click.option("--records", default=25, show_default=True, type=click.IntRange(1, 100_000),
              help="How many sample records to take through their lives.")
@store_options
def demo(store: StoreOptions, records: int) -> None:
    """Run every lifecycle action on sample records, checkpoint, audit, summarise (with
    --dev: the demo signs with the development PKI and anchors with the built-in TSA)."""
    if not store.settings().dev:
        raise DevelopmentTrustError("the demo runs on development trust (its own PKI and TSA):"
                                    " run stele demo --dev")

    with open_ledger(store) as ledger:
        result = run_demo(ledger, records)
        checkpoint = ledger.log.sync()  # integrate, checkpoint, anchor, checkpoint the anchors
        with progress_bar(ledger.log.size(), "auditing") as bar:
            report = ledger.log.audit(progress=bar.update)
        assert checkpoint is not None
        settings = ledger.settings
        click.echo(f"Stele demo {result.run}: {result.records} records taken through their "
                   f"lives, {result.events} events in {result.seconds:.2f} s")
        click.echo(f"log: {checkpoint.size} leaves, checkpoint at size {checkpoint.size}, "
                   f"root {b64(checkpoint.root)}")
        anchoring = ledger.longterm.anchoring_status()
        click.echo(f"anchored: {anchoring['anchored_checkpoints']} checkpoints, "
                   f"{anchoring['tokens']} RFC 3161 tokens from {', '.join(anchoring['tsas'])}")
        click.echo(f"audit: {report.bottom_line.value} ({report.summary['leaves']} events "
                   f"re-proved in {report.summary['seconds']} s)")
        click.echo(f"ledger: {settings.database.url}; data in {settings.data_dir}/")
        click.echo("next: stele log checkpoint | stele log key | stele audit | "
                   "stele record show <id>")
        if report.bottom_line is not Verdict.PASSED:
            print_failures(report)
            sys.exit(exit_for(report.bottom_line))
