from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from ledger.bundle import export
from ledger.dev.pki import DevPki
from ledger.dev.tsa import load_or_create
from ledger.log.keys import LogKey
from ledger.service import Ledger
from tests.bundles import sqlite_settings
from tests.ledger.builders import AGENCY, ARCHIVE, create
from tests.pki import COMMITTEE, register_roots, sign_both
from verifiers.bundle import read_bundle, verify_bundle
from verifiers.canonical import b64
from verifiers.report import Report, Verdict

SENDER_ORIGIN = "north.test/log"
RECEIVER_ORIGIN = "archive.test/log"
DOSSIER = f"{AGENCY.agency}.2010.HS-01"
Files = dict[str, bytes]


@dataclass(frozen=True)
class Received:
    files: Files
    roots: list[bytes]
    at: datetime
    receiver_key: str
    sender_key: str


def _node(root: Path, origin: str) -> tuple[Any, str]:
    settings = replace(sqlite_settings(root, origin=origin), checkpoint_interval=0.0001)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings, LogKey.load_or_create(settings.data_dir, origin).verifier


@pytest.fixture(scope="module")
def received(tmp_path_factory: pytest.TempPathFactory, dev_pki: DevPki,
             signed_pdf: bytes) -> Received:
    root = tmp_path_factory.mktemp("received")
    sending, sender_key = _node(root / "sender", SENDER_ORIGIN)
    receiving, receiver_key = _node(root / "receiver", RECEIVER_ORIGIN)
    (root / "sender.peers").write_text(f"log {receiver_key}\n", encoding="utf-8")
    (root / "receiver.peers").write_text(f"log {sender_key}\n", encoding="utf-8")
    sending = replace(sending, peer_logs=root / "sender.peers")
    receiving = replace(receiving, peer_logs=root / "receiver.peers")
    with Ledger(sending) as sender, Ledger(receiving) as receiver:
        sender_tsa = load_or_create(sending.data_dir / "tsa").root.public_bytes(Encoding.DER)
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
        own_tsa = load_or_create(receiving.data_dir / "tsa").root.public_bytes(Encoding.DER)
        at = datetime.now(UTC)
        roots = [*(r.der for r in receiver.trust.vouching("signing", at)), sender_tsa, own_tsa]
    return Received(files, roots, at, receiver_key, sender_key)


def test_explore(received: Received) -> None:
    r = verify_bundle(received.files, trust_roots=received.roots, at=received.at,
                      log_key=received.receiver_key,
                      source_keys={SENDER_ORIGIN: received.sender_key})
    for c in r.checks:
        print(c.line())
    m = json.loads(received.files["manifest.json"])
    print(json.dumps({k: v for k, v in m.items() if k != "files"}, indent=1)[:3000])
    for f in m["files"]:
        print(f["path"], f["kind"])
    for e in m["events"]:
        print(received.files[e["event"]][:400])
    assert False
