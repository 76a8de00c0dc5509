"""`stele bench --transfer N`: a transfer of N records between two nodes, timed phase by phase.

Two ledgers in a scratch directory, each its own data directory, key and store (SQLite files,
or two PostgreSQL schemas of the database given), pinning each other as peers. The sender
registers N text records in dossiers of 100, closes them and anchors its log (not timed).
Then, timed: initiating the transfer (every record's evidence bundle, Dublin Core, PREMIS and
the transfer list built and frozen), exporting the E-ARK ZIP, and receiving it on the other
node (the package checked, every record's and dossier's bundle re-proved against the pinned
key, all records registered, the receipt signed); then the receipt concluded on the sender.
Peak memory: the process's resident set size at its highest during each phase (sampled every
10 ms), less what it was when the phase began.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from domain.envelope import Actor
from ledger.config import Settings, parse_database_url
from ledger.dev.tsa import load_or_create
from ledger.log.keys import LogKey
from ledger.service import Ledger
from verifiers.canonical import b64

AGENCY = Actor("bench-clerk", "agency", "000.00.00.G01")
ARCHIVE = Actor("bench-archivist", "archivist", "000.00.00.H01")
COMMITTEE = Actor("bench-committee", "committee", "000.00.00.B01")
PER_DOSSIER = 100


def _rss() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


@contextmanager
def _peak() -> Iterator[dict[str, float]]:
    """Sample the resident set size while the block runs: {"mib"} is its peak over the start."""
    start, peak, done = _rss(), [0], threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            peak[0] = max(peak[0], _rss())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out: dict[str, float] = {}
    try:
        yield out
    finally:
        done.set()
        sampler.join()
        out["mib"] = round(max(0, max(peak[0], _rss()) - start) / 2**20, 1)


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    with _peak() as memory:
        began = time.perf_counter()
        value = fn()
        seconds = time.perf_counter() - began
    return value, seconds, memory["mib"]


def _nodes(settings: Settings, root: Path) -> tuple[Settings, Settings]:
    made = []
    for name in ("sender", "receiver"):
        home = root / name
        home.mkdir(parents=True)
        if settings.database.kind == "postgres":
            database = replace(settings.database, schema=f"{settings.database.schema}_{name}")
        else:
            database = parse_database_url(None, home)
        made.append(replace(settings, data_dir=home, database=database, dev=True,
                            origin=f"bench-{name}.localhost/log", tiles=None,
                            checkpoint_interval=3600.0, checkpoint_every=10**9,
                            witness=False, witness_policy=None))
    sender, receiver = made
    for node, peer in ((sender, receiver), (receiver, sender)):
        key = LogKey.load_or_create(peer.data_dir, peer.origin).verifier
        (node.data_dir / "peers.policy").write_text(f"log {key}\n", encoding="utf-8")
    return (replace(sender, peer_logs=sender.data_dir / "peers.policy"),
            replace(receiver, peer_logs=receiver.data_dir / "peers.policy"))


def _records(ledger: Ledger, count: int) -> list[str]:
    """`count` text records in closed dossiers of PER_DOSSIER, each save a batch."""
    codes = []
    for start in range(0, count, PER_DOSSIER):
        code = f"{AGENCY.agency}.2010.BENCH-{start // PER_DOSSIER:05d}"
        ledger.records.do(AGENCY, "dossier.open", code=code, title="Bench dossier",
                          retention=10)
        for n in range(start, min(count, start + PER_DOSSIER)):
            data = f"Bench document {n}\n".encode()
            digest = ledger.records.put_content(data, agency=AGENCY.agency)
            rid = ledger.records.do(AGENCY, "record.create", metadata={
                "doc_type": "Công văn", "number": str(n + 1), "notation": f"{n + 1}/BENCH",
                "issued": "2010-03-15", "issuer": AGENCY.agency, "subject": f"Bench {n}",
                "language": "vi", "pages": 1, "access": "open", "reliability": "born_digital"},
                retention=10, schedule="S-1",
                content={"digest": digest, "size": len(data), "media_type": "text/plain"},
            )[0].record
            ledger.records.do(AGENCY, "record.file", record=rid, dossier=code)
        ledger.records.do(AGENCY, "dossier.close", dossier=code)
        codes.append(code)
    return codes


def run_transfer_bench(settings: Settings, *, records: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="stele-bench-transfer-"))
    try:
        sending, receiving = _nodes(settings, root)
        with Ledger(sending) as sender, Ledger(receiving) as receiver:
            tsa = load_or_create(sending.data_dir / "tsa").root.public_bytes(Encoding.DER)
            receiver.records.do(COMMITTEE, "trust.register", pki="sender TSA",
                                certificate=b64(tsa), purposes=["timestamping"])
            codes = _records(sender, records)
            sender.log.sync()
            initiated, initiate_s, initiate_mib = _timed(lambda: sender.transfers.initiate(
                AGENCY, transfer="TR-BENCH", destination=ARCHIVE.agency,
                destination_kind="historical_archive", destination_log=receiving.origin,
                registration="NL-BENCH", dossiers=codes))
            package = root / "package.zip"
            _, export_s, export_mib = _timed(
                lambda: sender.transfers.export("TR-BENCH", package))
            note, receive_s, receive_mib = _timed(
                lambda: receiver.transfers.receive(ARCHIVE, package, sending.origin))
            concluded, conclude_s, _ = _timed(
                lambda: sender.transfers.conclude(AGENCY, note, transfer="TR-BENCH"))
            assert concluded["outcome"] == "received"
            return {
                "store": settings.database.kind, "records": records,
                "dossiers": len(codes), "package_bytes": package.stat().st_size,
                "package_digest": initiated.package_digest,
                "initiate": {"seconds": round(initiate_s, 2),
                             "records_per_s": round(records / initiate_s),
                             "peak_rss_mib": initiate_mib},
                "export": {"seconds": round(export_s, 2),
                           "records_per_s": round(records / export_s),
                           "peak_rss_mib": export_mib},
                "initiate_and_export_records_per_s": round(records / (initiate_s + export_s)),
                "receive": {"seconds": round(receive_s, 2),
                            "records_per_s": round(records / receive_s),
                            "peak_rss_mib": receive_mib},
                "conclude": {"seconds": round(conclude_s, 2)},
            }
    finally:
        shutil.rmtree(root, ignore_errors=True)
