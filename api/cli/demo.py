"""`stele demo --dev`: every lifecycle action on N sample records, then a checkpoint and an audit.

Documents are real PDFs signed with the data directory's development PKI (`stele dev-pki`),
validated by the ledger as any signature is."""

from __future__ import annotations

import base64
import secrets
import struct
import sys
import time
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from api.cli.common import StoreOptions, print_failures, progress_bar, store_options
from api.cli.exits import exit_for
from domain.envelope import Actor
from ledger.config import Settings, parse_database_url
from ledger.dev.pki import DevPki, blank_pdf, register_roots, sign_pdf
from ledger.errors import DevelopmentTrustError, TransferRejectedError
from ledger.log.keys import LogKey
from ledger.records import Command
from ledger.service import Ledger
from ledger.transfer.package import REP
from verifiers.canonical import b64
from verifiers.certs import fingerprint
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
    transfers: str


@contextmanager
def _nodes(settings: Settings) -> Iterator[tuple[Ledger, Ledger]]:
    """The demo's ledger and, in its data directory, the historical archive's own node (its
    own key, origin and SQLite file), each pinning the other's log key as a peer."""
    home = settings.data_dir / "historical-archive"
    home.mkdir(parents=True, exist_ok=True)
    archive = replace(settings, data_dir=home, origin=settings.origin + "/historical-archive",
                      database=parse_database_url(None, home))
    for node, peer in ((settings, archive), (archive, settings)):
        key = LogKey.load_or_create(peer.data_dir, peer.origin).verifier
        (node.data_dir / "peers.policy").write_text(f"log {key}\n", encoding="utf-8")
    with ExitStack() as stack:
        ledger = stack.enter_context(
            Ledger(replace(settings, peer_logs=settings.data_dir / "peers.policy")))
        other = stack.enter_context(Ledger(replace(archive, peer_logs=home / "peers.policy")))
        yield ledger, other


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


def _trust_sender(archive: Ledger, ledger: Ledger, pki: DevPki) -> None:
    """The archive's committee trusts what the sender's proofs rest on: the signing PKI's roots
    and the roots of the TSAs that anchor the sender's log (here the development ones)."""
    register_roots(archive, pki, COMMITTEE)
    registered = {a.fingerprint for a in archive.trust.anchors()}
    for der in ledger.longterm.anchorer.policy.trust_roots:
        if fingerprint(der) not in registered:
            archive.records.do(COMMITTEE, "trust.register", pki="Stele development TSA",
                               certificate=base64.b64encode(der).decode(),
                               purposes=["timestamping"])


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


def run_demo(ledger: Ledger, records: int, archive: Ledger) -> DemoResult:
    run = secrets.token_hex(3).upper()  # a fresh notation per run: a second run adds records
    started = time.perf_counter()
    written = 0
    dossier = f"{AGENCY.agency}.2010.HS-{run}"
    # Two dossiers go to the historical archive's node: one arrives whole and is received,
    # the other is damaged on the way and refused.
    sent = {"received": f"{AGENCY.agency}.2010.NL-{run}-A",
            "rejected": f"{AGENCY.agency}.2010.NL-{run}-B"}
    for code in (dossier, *sent.values()):
        written += len(ledger.records.do(AGENCY, "dossier.open", code=code,
                                         title=f"Hồ sơ demo {run}", retention=10))
    pki = _pki(ledger)
    _trust_sender(archive, ledger, pki)
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
            Command("record.file", {"record": rid, "dossier": _dossier_of(i, dossier, sent)}),
        ]
        written += len(created) + len(ledger.records.execute(AGENCY, steps))
        written += _life(ledger, i, rid, run)
    for code in (dossier, *sent.values()):
        written += len(ledger.records.do(AGENCY, "dossier.close", dossier=code))
    moved, outcomes = _transfers(ledger, archive, sent, run)
    return DemoResult(records, written + moved, time.perf_counter() - started, run, outcomes)


def _dossier_of(i: int, dossier: str, sent: dict[str, str]) -> str:
    return {1: sent["received"], 2: sent["rejected"]}.get(i % 5, dossier)


def _transfers(ledger: Ledger, archive: Ledger, sent: dict[str, str],
               run: str) -> tuple[int, str]:
    """Send each transfer dossier to the archive's node in a package: one is received (custody
    moves on its signed receipt), the other has a document damaged on the way and is refused
    (custody stays, on its signed rejection)."""
    ledger.log.sync()  # every event in an anchored checkpoint: the package proves them all
    written, outcomes = 0, []
    for outcome, code in sent.items():
        if not ledger.records.dossier(code).members:
            continue
        transfer = f"TR-{run}-{outcome[:3].upper()}"
        ledger.transfers.initiate(
            AGENCY, transfer=transfer, destination=ARCHIVE.agency,
            destination_kind="historical_archive", destination_log=archive.settings.origin,
            registration=f"NL-{run}", dossiers=[code])
        package = ledger.settings.data_dir / "transfers" / f"{transfer}.zip"
        package.parent.mkdir(exist_ok=True)
        ledger.transfers.export(transfer, package)
        if outcome == "rejected":
            _damage(package)
        try:
            note = archive.transfers.receive(ARCHIVE, package, ledger.settings.origin)
            why = "received, custody moved"
        except TransferRejectedError as exc:  # the package named its transfer: signed answer
            note, why = str(exc.receipt), f"rejected ({exc.code}), custody stays"
        written += ledger.transfers.conclude(AGENCY, note, transfer=transfer)["events"]
        outcomes.append(f"{transfer} {why}")
    return written, "; ".join(outcomes) or "none"


def _damage(package: Path) -> None:
    """Flip one byte of the first document in a stored (uncompressed) package ZIP."""
    with zipfile.ZipFile(package) as z:
        info = next(i for i in z.infolist() if f"representations/{REP}/data/" in i.filename)
    data = bytearray(package.read_bytes())
    at = info.header_offset  # the local header: 30 bytes, the name, then its own extra field
    name, extra = struct.unpack_from("<HH", data, at + 26)
    data[at + 30 + name + extra + info.file_size // 2] ^= 1
    package.write_bytes(bytes(data))


def _life(ledger: Ledger, i: int, rid: str, run: str) -> int:
    """Take record `i` down one of five paths, so that every action runs (paths 1 and 2 are
    the transfers, made per dossier at the end)."""
    path = i % 5
    n = 0
    if path == 0:  # an inspection hold, placed and released
        n += len(ledger.records.do(COURT, "record.hold.place", record=rid, hold=f"INSP-{run}-{i}",
                                   reason="inspection of 2010 decisions"))
        n += len(ledger.records.do(COURT, "record.hold.release", record=rid, hold=f"INSP-{run}-{i}",
                                   reason="inspection closed"))
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

    settings = store.settings()
    with _nodes(settings) as (ledger, archive):
        result = run_demo(ledger, records, archive)
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
        click.echo(f"transfers: {result.transfers}")
        click.echo(f"ledger: {settings.database.url}; data in {settings.data_dir}/; the "
                   f"historical archive's node in {archive.settings.data_dir}/")
        click.echo("next: stele log checkpoint | stele log key | stele audit | "
                   "stele record show <id>")
        if report.bottom_line is not Verdict.PASSED:
            print_failures(report)
            sys.exit(exit_for(report.bottom_line))
