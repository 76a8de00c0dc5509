"""Transfers between two ledgers, each with its own data directory, key and store (SQLite, or
a PostgreSQL schema of its own): package, re-proof, registration, receipt, custody."""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from domain.envelope import Actor
from domain.errors import NotDestinationError
from ledger.bench.transfer import run_transfer_bench
from ledger.bundle import export as export_bundle
from ledger.config import Database, Settings
from ledger.dev.pki import DevPki
from ledger.dev.tsa import load_or_create
from ledger.errors import (
    DossierOpenError,
    DuplicateError,
    NotAnchoredError,
    PeerNotPinnedError,
    ReceiptMismatchError,
    TransferRejectedError,
)
from ledger.log.keys import LogKey
from ledger.service import Ledger
from tests.conftest import drop_schema, postgres_database
from tests.ledger.builders import AGENCY, ARCHIVE, create
from tests.pki import COMMITTEE, register_roots, sign_both
from verifiers.bundle import read_bundle, verify_bundle
from verifiers.canonical import b64, event_hash
from verifiers.receipt import ReceiptError, open_receipt
from verifiers.report import Verdict

SENDER_ORIGIN = "north.test/log"
RECEIVER_ORIGIN = "archive.test/log"
SENDER_AGENCY = AGENCY
DOSSIER = f"{AGENCY.agency}.2010.HS-01"


@dataclass
class Pair:
    sender: Ledger
    receiver: Ledger
    root: Path
    roots: list[bytes]  # what a court trusts: the signing PKI's roots and both nodes' TSAs

    def reopen_receiver(self, **changes: object) -> None:
        settings = replace(self.receiver.settings, **changes)  # type: ignore[arg-type]
        self.receiver.close()
        self.receiver = Ledger(settings)


def _key(directory: Path, origin: str) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    return LogKey.load_or_create(directory, origin).verifier


def _peers(path: Path, *keys: str) -> Path:
    path.write_text("".join(f"log {k}\n" for k in keys), encoding="utf-8")
    return path


@pytest.fixture
def pair(settings: Settings, tmp_path: Path, dev_pki: DevPki) -> Iterator[Pair]:
    receiver_db = (Database(kind="sqlite", path=tmp_path / "receiver.sqlite3")
                   if settings.database.kind == "sqlite" else postgres_database())
    sending = replace(settings, origin=SENDER_ORIGIN, checkpoint_interval=0.0001)
    receiving = replace(settings, data_dir=tmp_path / "receiver", database=receiver_db,
                        origin=RECEIVER_ORIGIN, checkpoint_interval=0.0001)
    for s in (sending, receiving):
        s.data_dir.mkdir(parents=True, exist_ok=True)
    sender_key = LogKey.load_or_create(sending.data_dir, SENDER_ORIGIN).verifier
    receiver_key = LogKey.load_or_create(receiving.data_dir, RECEIVER_ORIGIN).verifier
    sending = replace(sending, peer_logs=_peers(tmp_path / "sender-peers", receiver_key))
    receiving = replace(receiving, peer_logs=_peers(tmp_path / "receiver-peers", sender_key))
    sender, receiver = Ledger(sending), Ledger(receiving)
    made = Pair(sender, receiver, tmp_path, [])
    try:
        tsa_root = load_or_create(sending.data_dir / "tsa").root.public_bytes(Encoding.DER)
        for node in (sender, receiver):
            register_roots(node, dev_pki)
        receiver.records.do(COMMITTEE, "trust.register", pki="sender's development TSA",
                            certificate=b64(tsa_root), purposes=["timestamping"])
        own_tsa = load_or_create(receiving.data_dir / "tsa").root.public_bytes(Encoding.DER)
        made.roots = [*(r.der for r in receiver.trust.vouching("signing", datetime.now(UTC))),
                      tsa_root, own_tsa]
        yield made
    finally:
        sender.close()
        made.receiver.close()
        if receiver_db.kind == "postgres":
            drop_schema(receiver_db)


def _dossier(ledger: Ledger, signed_pdf: bytes, dev_pki: DevPki, *, count: int = 3,
             code: str = DOSSIER, first: int = 1, close: bool = True) -> list[str]:
    """A dossier of `count` records (the first one a signed PDF, issued), anchored."""
    ledger.records.do(AGENCY, "dossier.open", code=code, title="Hồ sơ nộp lưu", retention=10)
    ids = []
    for n in range(first, first + count):
        if n == first:
            rid = create(ledger, n, body=signed_pdf)
            ledger.records.execute(AGENCY, sign_both(ledger, AGENCY, rid, dev_pki))
        else:
            rid = create(ledger, n)
        ledger.records.do(AGENCY, "record.file", record=rid, dossier=code)
        ids.append(rid)
    if close:
        ledger.records.do(AGENCY, "dossier.close", dossier=code)
    ledger.log.sync()
    return ids


def _initiate(pair: Pair, transfer: str = "TR-2026-01", dossiers: list[str] | None = None
              ) -> str:
    done = pair.sender.transfers.initiate(
        SENDER_AGENCY, transfer=transfer, destination=ARCHIVE.agency,
        destination_kind="historical_archive", destination_log=RECEIVER_ORIGIN,
        registration="NL-2026-01", dossiers=dossiers or [DOSSIER])
    return done.package_digest


def _export(pair: Pair, transfer: str = "TR-2026-01", name: str = "package.zip", **kw: object
            ) -> Path:
    out = pair.root / name
    pair.sender.transfers.export(transfer, out, **kw)  # type: ignore[arg-type]
    return out


def _received_count(ledger: Ledger) -> int:
    with ledger.store.transaction() as tx:
        return len(tx.list_records(agency=None, kind="record", after=-1, limit=10_000))


def test_a_transfer_moves_custody_on_a_receipt_and_the_receiver_proves_both_histories(
        pair: Pair, signed_pdf: bytes, dev_pki: DevPki) -> None:
    ids = _dossier(pair.sender, signed_pdf, dev_pki)
    digest = _initiate(pair)
    package = _export(pair)
    note = pair.receiver.transfers.receive(ARCHIVE, package, SENDER_ORIGIN)

    signer, body = open_receipt(note, [_vkey(pair.receiver)])
    assert signer == RECEIVER_ORIGIN
    assert body["outcome"] == "received" and body["package_digest"] == digest
    assert body["counts"]["documents"] == 3 and body["counts"]["dossiers"] == 1
    assert [r["id"] for r in body["records"]] == ids
    assert pair.sender.records.record(ids[0]).custodian == AGENCY.agency  # not yet

    assert pair.sender.transfers.conclude(SENDER_AGENCY, note, transfer="TR-2026-01")[
        "outcome"] == "received"
    for rid in ids:
        sent, held = pair.sender.records.record(rid), pair.receiver.records.record(rid)
        assert sent.custodian == held.custodian == ARCHIVE.agency
        assert held.content == sent.content
        assert pair.receiver.content.has(held.content["digest"])
    received = json.loads(pair.receiver.records.history(ids[0])[0])
    sender_history = pair.sender.records.history(ids[0])
    initiated = [json.loads(e)["type"] for e in sender_history].index(
        "record.transfer_initiated")
    assert received["type"] == "record.received"
    assert received["prev"] == b64(event_hash(sender_history[initiated - 1]))
    assert received["data"]["source"]["origin"] == SENDER_ORIGIN
    assert pair.receiver.records.record(ids[0]).issued  # both signatures carried over

    for node in (pair.sender, pair.receiver):
        node.log.sync()
        assert node.log.audit().bottom_line is Verdict.PASSED
    files = read_bundle(export_bundle(pair.receiver, ids[0], with_content=True))
    keys = {SENDER_ORIGIN: pair.sender.key.verifier}
    report = verify_bundle(files, trust_roots=pair.roots, at=datetime.now(UTC),
                           log_key=pair.receiver.key.verifier, source_keys=keys)
    assert report.bottom_line is Verdict.PASSED, [c.line() for c in report.checks
                                                  if c.verdict is not Verdict.PASSED]
    assert {"source.link", "source.signature[2]", "log.key"} <= {c.name for c in report.checks}
    unpinned = verify_bundle(files, trust_roots=pair.roots, at=datetime.now(UTC),
                             log_key=pair.receiver.key.verifier)
    assert unpinned.bottom_line is Verdict.INDETERMINATE
    assert "log_key_not_pinned" in {c.code for c in unpinned.checks}


def _vkey(ledger: Ledger) -> object:
    from verifiers.note import parse_verifier_key

    return parse_verifier_key(ledger.key.verifier)


def test_receiving_again_answers_the_same_receipt_and_registers_nothing_twice(
        pair: Pair, signed_pdf: bytes, dev_pki: DevPki) -> None:
    _dossier(pair.sender, signed_pdf, dev_pki)
    _initiate(pair)
    first = pair.receiver.transfers.receive(ARCHIVE, _export(pair), SENDER_ORIGIN)
    events = pair.receiver.log.size()
    bagged = _export(pair, name="bag", format="bagit", as_zip=False)
    assert pair.receiver.transfers.receive(ARCHIVE, bagged, SENDER_ORIGIN) == first
    assert pair.receiver.log.size() == events
    assert _received_count(pair.receiver) == 3
    pair.sender.transfers.conclude(SENDER_AGENCY, first)
    pair.sender.log.integrate()
    size = pair.sender.log.size()
    assert pair.sender.transfers.conclude(SENDER_AGENCY, first)["events"] == 0
    pair.sender.log.integrate()
    assert pair.sender.log.size() == size


def test_the_same_transfer_exports_byte_identical_packages(
        pair: Pair, signed_pdf: bytes, dev_pki: DevPki) -> None:
    _dossier(pair.sender, signed_pdf, dev_pki)
    digest = _initiate(pair)
    for fmt in ("eark", "bagit"):
        one = _export(pair, name=f"one-{fmt}.zip", format=fmt).read_bytes()
        two = _export(pair, name=f"two-{fmt}.zip", format=fmt).read_bytes()
        assert one == two
    listed = pair.sender.transfers.listing("TR-2026-01")
    assert "sha-256:" + hashlib.sha256(listed).hexdigest() == digest
    with zipfile.ZipFile(pair.root / "one-eark.zip") as z:  # one folder, named for the transfer
        assert z.read("TR-2026-01/documentation/transfer-list.json") == listed


def _rejected(pair: Pair, package: Path, origin: str = SENDER_ORIGIN) -> TransferRejectedError:
    """Receive `package`, expecting a rejection that registers nothing."""
    pair.receiver.log.integrate()
    before = pair.receiver.log.size()
    with pytest.raises(TransferRejectedError) as caught:
        pair.receiver.transfers.receive(ARCHIVE, package, origin)
    pair.receiver.log.integrate()
    assert pair.receiver.log.size() == before
    assert _received_count(pair.receiver) == 0
    return caught.value


def test_a_damaged_document_is_rejected_with_a_signed_rejection_and_custody_stays(
        pair: Pair, signed_pdf: bytes, dev_pki: DevPki) -> None:
    ids = _dossier(pair.sender, signed_pdf, dev_pki)
    _initiate(pair)
    package = _export(pair, name="dir", as_zip=False)
    document = next((package / "representations" / "rep1" / "data").iterdir())
    data = bytearray(document.read_bytes())
    data[len(data) // 2] ^= 1
    document.write_bytes(bytes(data))
    error = _rejected(pair, package)
    assert error.code == "package_file_altered"
    assert error.receipt is not None
    _, body = open_receipt(error.receipt, [_vkey(pair.receiver)])
    assert body["outcome"] == "rejected" and body["code"] == "package_file_altered"
    pair.sender.transfers.conclude(SENDER_AGENCY, error.receipt)
    record = pair.sender.records.record(ids[0])
    assert record.custodian == AGENCY.agency and record.transfer is None
    assert json.loads(pair.sender.records.history(ids[0])[-1])["type"] == \
        "record.transfer_rejected"


def test_a_package_from_a_log_the_receiver_does_not_pin_is_rejected(
        pair: Pair, signed_pdf: bytes, dev_pki: DevPki) -> None:
    _dossier(pair.sender, signed_pdf, dev_pki)
    _initiate(pair)
    package = _export(pair)
    assert _rejected(pair, package, origin="south.test/log").code == "source_mismatch"
    pair.reopen_receiver(peer_logs=_peers(pair.root / "none", _key(pair.root / "elsewhere",
                                                                    "elsewhere.test/log")))
    assert _rejected(pair, package).code == "peer_log_not_pinned"
    # The sender's origin pinned with another key (a forger's log of the same name): the
    # evidence does not verify against the pinned key.
    impostor = _key(pair.root / "impostor", SENDER_ORIGIN)
    pair.reopen_receiver(peer_logs=_peers(pair.root / "impostor.policy", impostor))
    assert _rejected(pair, package).code == "log_key_mismatch"


def test_a_receipt_for_another_transfer_or_from_another_key_is_refused(
        pair: Pair, signed_pdf: bytes, dev_pki: DevPki) -> None:
    _dossier(pair.sender, signed_pdf, dev_pki)
    _dossier(pair.sender, signed_pdf, dev_pki, code=f"{AGENCY.agency}.2010.HS-02", first=10)
    _initiate(pair)
    _initiate(pair, "TR-2026-02", [f"{AGENCY.agency}.2010.HS-02"])
    note = pair.receiver.transfers.receive(ARCHIVE, _export(pair), SENDER_ORIGIN)
    with pytest.raises(ReceiptMismatchError) as caught:
        pair.sender.transfers.conclude(SENDER_AGENCY, note, transfer="TR-2026-02")
    assert caught.value.code == "receipt_transfer_mismatch"
    forged = note.replace('"outcome":"received"', '"outcome":"rejected"')
    with pytest.raises(ReceiptError):
        pair.sender.transfers.conclude(SENDER_AGENCY, forged)
    assert pair.sender.transfers.status(SENDER_AGENCY, "TR-2026-02")["outcome"] == "pending"


def test_only_closed_anchored_dossiers_to_a_pinned_destination_are_sent(
        pair: Pair, signed_pdf: bytes, dev_pki: DevPki) -> None:
    _dossier(pair.sender, signed_pdf, dev_pki, close=False)
    with pytest.raises(DossierOpenError):
        _initiate(pair)
    pair.sender.records.do(AGENCY, "dossier.close", dossier=DOSSIER)
    with pytest.raises(NotAnchoredError):
        _initiate(pair)
    pair.sender.log.sync()
    with pytest.raises(PeerNotPinnedError):
        pair.sender.transfers.initiate(
            SENDER_AGENCY, transfer="TR-X", destination=ARCHIVE.agency,
            destination_kind="historical_archive", destination_log="south.test/log",
            registration="NL-X", dossiers=[DOSSIER])
    _initiate(pair)
    with pytest.raises(DuplicateError):
        _initiate(pair)


def test_the_receiving_agency_must_be_the_destination(
        pair: Pair, signed_pdf: bytes, dev_pki: DevPki) -> None:
    _dossier(pair.sender, signed_pdf, dev_pki)
    _initiate(pair)
    stranger = Actor("archivist-9", "archivist", "000.00.00.H09")
    with pytest.raises(NotDestinationError):
        pair.receiver.transfers.receive(stranger, _export(pair), SENDER_ORIGIN)


def test_the_transfer_bench_runs_and_reports(tmp_path: Path) -> None:
    """The smoke run of `stele bench --transfer` (its own two SQLite nodes): every phase
    timed, the transfer received."""
    result = run_transfer_bench(Settings(data_dir=tmp_path, dev=True), records=12)
    assert result["records"] == 12 and result["dossiers"] == 1
    for phase in ("initiate", "export", "receive"):
        assert result[phase]["records_per_s"] > 0 and result[phase]["peak_rss_mib"] >= 0
    assert result["package_digest"].startswith("sha-256:")
