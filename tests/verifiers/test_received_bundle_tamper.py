"""The tamper cases of a received record's evidence bundle, which carries the sender's bundle
(`source/bundle.zip`, kind `source_bundle`) and whose first event, `record.received`, names it by
digest (verifiers/bundle.py step (2b); docs/evidence-bundle.md).

The ground, built once per module on SQLite: a sender and a receiver ledger, each with its own
log key, the sender's dossier of one record signed (PAdES) by an individual and an agency,
transferred and received, and the receiver's bundle of that record. Every case is verified as
an auditor does: both logs' published keys pinned (`log_key=` the receiver's, `source_keys=`
the sender's) and the real roots trusted; each expects its exact findings and bottom line.

As in the ordinary tamper matrix (test_bundle_tamper.py), a file is tampered with *raw* (the
manifest left as exported) or as a *consistent forgery* (the manifest's SHA-256 and size
relisted, so that only the deeper checks can catch it). The sender's bundle cannot be forged
consistently from the outside: the receiving log binds its digest in `record.received`, so a
consistent edit of it must edit that event too, and then the receiver's own inclusion proof
no longer holds.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from ledger.bundle import export
from ledger.config import Settings
from ledger.dev.pki import DevPki
from ledger.dev.tsa import load_or_create
from ledger.log.keys import LogKey
from ledger.service import Ledger
from tests.bundles import sqlite_settings
from tests.ledger.builders import AGENCY, ARCHIVE, create
from tests.pki import COMMITTEE, register_roots, sign_both
from verifiers.bundle import read_bundle, verify_bundle
from verifiers.canonical import b64, canonical_bytes, event_hash
from verifiers.note import verifier_key
from verifiers.report import Report, Verdict

Files = dict[str, bytes]
Finding = tuple[str, Verdict, str]  # a check's name, verdict and stable code
PASSED, FAILED, INDETERMINATE = Verdict.PASSED, Verdict.FAILED, Verdict.INDETERMINATE
SENDER_ORIGIN = "north.test/log"
RECEIVER_ORIGIN = "archive.test/log"
DOSSIER = f"{AGENCY.agency}.2010.HS-01"


@dataclass(frozen=True)
class Received:
    files: Files  # the receiver's bundle of the received record
    roots: list[bytes]  # what a court trusts: the signing PKI's roots and both nodes' TSAs
    at: datetime
    receiver_key: str
    sender_key: str

    def manifest(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.files["manifest.json"])
        return value

    def source_path(self) -> str:
        return str(self.manifest()["source"])

    def event_path(self) -> str:
        """The path of `record.received`, the record's first (and only) event here."""
        (entry,) = self.manifest()["events"]
        return str(entry["event"])

    def source(self) -> Files:
        """The files of the sender's bundle."""
        return read_bundle(self.files[self.source_path()])

    def source_manifest(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.source()["manifest.json"])
        return value

    def source_checkpoint(self) -> int:
        (entry,) = self.source_manifest()["checkpoints"]
        size: int = entry["size"]
        return size


def _node(root: Path, origin: str) -> tuple[Settings, str]:
    """The settings of a ledger of its own under `root`, and its log's verifier key."""
    settings = replace(sqlite_settings(root, origin=origin), checkpoint_interval=0.0001)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings, LogKey.load_or_create(settings.data_dir, origin).verifier


@pytest.fixture(scope="module")
def received(tmp_path_factory: pytest.TempPathFactory, dev_pki: DevPki,
             signed_pdf: bytes) -> Received:
    """A dossier of one signed record, sent, received, and the receiver's bundle of it."""
    root = tmp_path_factory.mktemp("received")
    sending, sender_key = _node(root / "sender", SENDER_ORIGIN)
    receiving, receiver_key = _node(root / "receiver", RECEIVER_ORIGIN)
    (root / "sender.peers").write_text(f"log {receiver_key}\n", encoding="utf-8")
    (root / "receiver.peers").write_text(f"log {sender_key}\n", encoding="utf-8")
    sending = replace(sending, peer_logs=root / "sender.peers")
    receiving = replace(receiving, peer_logs=root / "receiver.peers")
    with Ledger(sending) as sender, Ledger(receiving) as receiver:
        sender_tsa = load_or_create(sending.data_dir / "tsa").root.public_bytes(Encoding.DER)
        own_tsa = load_or_create(receiving.data_dir / "tsa").root.public_bytes(Encoding.DER)
        for node in (sender, receiver):
            register_roots(node, dev_pki)
        receiver.records.do(COMMITTEE, "trust.register", pki="sender's development TSA",
                            certificate=b64(sender_tsa), purposes=["timestamping"])
        sender.records.do(AGENCY, "dossier.open", code=DOSSIER, title="Hồ sơ nộp lưu",
                          retention=10)
        record = create(sender, 1, body=signed_pdf)
        sender.records.execute(AGENCY, sign_both(sender, AGENCY, record, dev_pki))
        sender.records.do(AGENCY, "record.file", record=record, dossier=DOSSIER)
        sender.records.do(AGENCY, "dossier.close", dossier=DOSSIER)
        sender.log.sync()
        sender.transfers.initiate(
            AGENCY, transfer="TR-2026-01", destination=ARCHIVE.agency,
            destination_kind="historical_archive", destination_log=RECEIVER_ORIGIN,
            registration="NL-2026-01", dossiers=[DOSSIER])
        package = root / "package.zip"
        sender.transfers.export("TR-2026-01", package)
        receiver.transfers.receive(ARCHIVE, package, SENDER_ORIGIN)
        receiver.log.sync()
        files = read_bundle(export(receiver, record, with_content=True))
        at = datetime.now(UTC)
        roots = [*(r.der for r in receiver.trust.vouching("signing", at)), sender_tsa, own_tsa]
    return Received(files, roots, at, receiver_key, sender_key)


# -- helpers -------------------------------------------------------------------------------------
def _verify(received: Received, files: Files, **kw: Any) -> Report:
    """verify_bundle as an auditor runs it: both logs' keys pinned unless `kw` says otherwise;
    it must not raise, whatever it is given."""
    kw.setdefault("log_key", received.receiver_key)
    kw.setdefault("source_keys", {SENDER_ORIGIN: received.sender_key})
    try:
        return verify_bundle(files, trust_roots=received.roots, at=received.at, **kw)
    except Exception as exc:  # a finding, never a crash
        pytest.fail(f"verify_bundle raised {type(exc).__name__}: {exc}")


def _findings(report: Report) -> list[Finding]:
    """What is wrong, in the report's order: every check that did not pass."""
    return [(c.name, c.verdict, str(c.code)) for c in report.failures]


def _shown(report: Report) -> str:
    return "\n".join(c.line() for c in report.failures) or "(every check PASSED)"


def _assert_findings(report: Report, expected: list[Finding], bottom_line: Verdict) -> None:
    assert report.bottom_line is bottom_line, _shown(report)
    assert _findings(report) == expected, _shown(report)


def _check(report: Report, name: str) -> Any:
    (check,) = (c for c in report.checks if c.name == name)
    return check


def _flip(data: bytes, i: int) -> bytes:
    return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]


def _relisted(files: Files, changed: Mapping[str, bytes | None]) -> Files:
    """`files` with `changed` applied (None: dropped) and the manifest's `files` made to
    agree (the SHA-256 and size relisted, or the entry removed)."""
    out = dict(files)
    manifest = json.loads(files["manifest.json"])
    for path, data in changed.items():
        if data is None:
            del out[path]
            manifest["files"] = [f for f in manifest["files"] if f["path"] != path]
            continue
        out[path] = data
        (entry,) = (f for f in manifest["files"] if f["path"] == path)
        entry.update(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    out["manifest.json"] = json.dumps(manifest, indent=1).encode()
    return out


def _edited(files: Files, edit: Callable[[dict[str, Any]], object]) -> Files:
    """`files` with the manifest edited in place by `edit`."""
    manifest = json.loads(files["manifest.json"])
    edit(manifest)
    return {**files, "manifest.json": json.dumps(manifest, indent=1).encode()}


def _event_edited(files: Files, path: str, edit: Callable[[dict[str, Any]], object]
                  ) -> dict[str, bytes | None]:
    """The change that puts the event at `path`, edited by `edit`, back in canonical form."""
    event = json.loads(files[path])
    edit(event)
    return {path: canonical_bytes(event)}


def _zip(files: Files) -> bytes:
    out = BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in sorted(files.items()):
            archive.writestr(zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return out.getvalue()


def _digest(data: bytes) -> str:
    return "sha-256:" + hashlib.sha256(data).hexdigest()


def _forged_source(received: Received) -> Files:
    """The sender's bundle with its last event (the one `record.received` continues) by
    another clerk, in canonical form, and its manifest relisted: consistent at file level."""
    source = received.source()
    path = received.source_manifest()["events"][-1]["event"]

    def by_another_clerk(event: dict[str, Any]) -> None:
        event["actor"]["id"] = "clerk-9"

    return _relisted(source, _event_edited(source, path, by_another_clerk))


# -- the ground ----------------------------------------------------------------------------------
def test_the_untampered_bundle_verifies_with_both_keys_pinned(received: Received) -> None:
    report = _verify(received, received.files)
    _assert_findings(report, [], PASSED)
    events = len(received.source_manifest()["events"])
    assert _check(report, "source.link").evidence == {"origin": SENDER_ORIGIN, "events": events}
    # the sender's checks ran in full, the signatures among them
    assert {"source.log.key", "source.signature[2]", "source.signature[3]",
            "log.key"} <= {c.name for c in report.checks}


def test_without_the_senders_key_the_source_is_not_proven(received: Received) -> None:
    report = _verify(received, received.files, source_keys=None)
    _assert_findings(report, [
        ("source.log.key", INDETERMINATE, "log_key_not_pinned"),
        (f"source.checkpoint[{received.source_checkpoint()}]", INDETERMINATE,
         "log_key_not_pinned")], INDETERMINATE)


def test_the_senders_origin_pinned_to_another_key(received: Received) -> None:
    """A forger's log of the sender's name: the sender's notes are not its key's."""
    other = verifier_key(SENDER_ORIGIN, b"\x01" * 32)
    report = _verify(received, received.files, source_keys={SENDER_ORIGIN: other})
    versions = range(1, len(received.source_manifest()["events"]) + 1)
    _assert_findings(report, [
        ("source.log.key", FAILED, "log_key_mismatch"),
        (f"source.checkpoint[{received.source_checkpoint()}]", FAILED,
         "checkpoint_key_mismatch"),
        *[(f"source.event[{v}].inclusion", FAILED, "checkpoint_missing") for v in versions]],
        FAILED)


# -- the sender's bundle: changed, removed -------------------------------------------------------
@pytest.mark.parametrize("variant", ["raw", "consistent"])
def test_a_byte_of_the_senders_bundle_flipped(received: Received, variant: str) -> None:
    """Any byte: the digest is compared before the ZIP is read."""
    path = received.source_path()
    flipped = _flip(received.files[path], len(received.files[path]) // 2)
    if variant == "raw":
        report = _verify(received, {**received.files, path: flipped})
        listed = [("bundle.files", FAILED, "file_digest_mismatch")]
    else:
        report = _verify(received, _relisted(received.files, {path: flipped}))
        listed = []
    _assert_findings(report, [*listed, ("source.bundle", FAILED, "source_digest_mismatch")],
                     FAILED)


@pytest.mark.parametrize("removed", ["raw", "file", "manifest_key", "file_and_manifest_key"])
def test_the_senders_bundle_removed(received: Received, removed: str) -> None:
    """raw: the file dropped, the manifest as exported; otherwise consistently: the file
    dropped and delisted, the manifest's `source` key dropped, or both."""
    path = received.source_path()
    files = received.files
    if removed == "raw":
        files = {p: d for p, d in files.items() if p != path}
    if removed in ("file", "file_and_manifest_key"):
        files = _relisted(files, {path: None})
    if removed in ("manifest_key", "file_and_manifest_key"):
        files = _edited(files, lambda m: m.pop("source"))
    listed = [("bundle.files", FAILED, "file_missing")] if removed == "raw" else []
    _assert_findings(_verify(received, files),
                     [*listed, ("source.bundle", FAILED, "source_missing")], FAILED)


def test_an_event_of_the_senders_bundle_altered_and_relisted(received: Received) -> None:
    """The inner and the outer manifest relisted: every file agrees with its manifest, but the
    receiving log registered another bundle, so the digest it binds stops the forgery."""
    forged = _forged_source(received)
    # the forgery on its own, with the document as step (2b) gives it (the package's bundles
    # do not hold one)
    alone = _verify(received, forged, log_key=received.sender_key,
                    document=received.files[received.manifest()["document"]])
    assert _check(alone, "bundle.files").verdict is PASSED
    last = len(received.source_manifest()["events"])
    assert _findings(alone) == [(f"event[{last}].inclusion", FAILED, "leaf_mismatch")]
    report = _verify(received, _relisted(received.files, {received.source_path(): _zip(forged)}))
    _assert_findings(report, [("source.bundle", FAILED, "source_digest_mismatch")], FAILED)


# -- the link from the sender's last event to `record.received` ----------------------------------
def _leaves_shifted(event: dict[str, Any]) -> None:
    event["data"]["source"]["leaves"] = [i + 1 for i in event["data"]["source"]["leaves"]]


def _continues_an_earlier_event(received: Received) -> Callable[[dict[str, Any]], None]:
    """The received event said to continue the sender's next-to-last event (a history cut
    short): its `prev` and `data.source.head` together, so the chain still holds."""
    source = received.source()
    head = b64(event_hash(source[received.source_manifest()["events"][-2]["event"]]))

    def edit(event: dict[str, Any]) -> None:
        event["prev"] = event["data"]["source"]["head"] = head

    return edit


@pytest.mark.parametrize("broken", ["leaves", "prev"])
def test_the_received_event_does_not_continue_the_senders_history(received: Received,
                                                                  broken: str) -> None:
    """`record.received` edited and relisted. Its bytes are then not the leaf the receiving
    log holds, so its inclusion proof fails too (`leaf_mismatch`: the proof names the old
    leaf hash); the chain still holds, the event being the record's only one here and its
    `prev` its `source.head`. Nothing else is found: the sender's bundle is untouched."""
    edit = _leaves_shifted if broken == "leaves" else _continues_an_earlier_event(received)
    files = _relisted(received.files, _event_edited(received.files, received.event_path(),
                                                    edit))
    report = _verify(received, files)
    _assert_findings(report, [("source.link", FAILED, "source_link_broken"),
                              ("event[1].inclusion", FAILED, "leaf_mismatch")], FAILED)
    assert _check(report, "source.link").evidence["broken"] == [broken]


# -- a received event re-pointed at another sender's bundle --------------------------------------
def _no_first_proof(received: Received) -> bytes:
    source = received.source()
    return _zip(_relisted(source, {received.source_manifest()["events"][0]["proof"]: None}))


SUBSTITUTES: dict[str, Callable[[Received], bytes]] = {
    "altered": lambda r: _zip(_forged_source(r)),
    "not_a_bundle": lambda r: b"not a ZIP",
    "without_a_proof": _no_first_proof,
}


@pytest.mark.parametrize("substitute", sorted(SUBSTITUTES))
def test_a_senders_bundle_that_does_not_read_stops_no_check_of_the_receiving_log(
        received: Received, substitute: str) -> None:
    """`record.received` re-pointed (`data.source.bundle`) at a substitute, file and event
    relisted: the digest matches, so the substitute's own checks run and say what is wrong
    with it, and the receiver's inclusion proof shows the event is not the one it logged.
    Regression: a substitute that is no bundle, or lacks a proof the link needs, raised in
    step (2b), which stopped the verification before the receiving log's checks ran."""
    data = SUBSTITUTES[substitute](received)
    path = received.source_path()

    def repointed(event: dict[str, Any]) -> None:
        event["data"]["source"]["bundle"] = _digest(data)

    files = _relisted(received.files, {
        **_event_edited(received.files, received.event_path(), repointed), path: data})
    last = len(received.source_manifest()["events"])
    source_findings = {
        "altered": [(f"source.event[{last}].inclusion", FAILED, "leaf_mismatch"),
                    ("source.link", FAILED, "source_link_broken")],
        "not_a_bundle": [("source.bundle", FAILED, "malformed")],
        "without_a_proof": [("source.event[1].inclusion", FAILED, "proof_missing"),
                            ("source.link", FAILED, "malformed")],
    }[substitute]
    _assert_findings(_verify(received, files),
                     [*source_findings, ("event[1].inclusion", FAILED, "leaf_mismatch")], FAILED)
