"""Three `stele worker` processes share one store and one TSA: one anchors and renews at a
time (the lease), kill -9 of the holder mid-renewal hands over, and in the end every
checkpoint was requested once from the TSA and every evidence record was renewed once."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from asn1crypto import tsp

from ledger.config import Settings
from ledger.dev.tsa import TimeStampAuthority, load_or_create, serve
from ledger.service import Ledger
from ledger.store.lease import ANCHORING
from ledger.store.tables import LogStore
from tests.conftest import database_url
from tests.ledger.builders import create
from tests.waiting import until
from verifiers.ers import verify_binding
from verifiers.report import Verdict

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


class WatchedTsa:
    """An RFC 3161 TSA over HTTP that counts requests by imprint, and holds the first request
    whose imprint is not a checkpoint note's (the renewal's) unanswered."""

    def __init__(self, authority: TimeStampAuthority, notes: Callable[[], set[bytes]]) -> None:
        self.authority = authority
        self.notes = notes
        self.requests: Counter[bytes] = Counter()
        self.renewal_asked = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()

    def respond(self, query: bytes) -> bytes:
        imprint = tsp.TimeStampReq.load(query)["message_imprint"]["hashed_message"].native
        with self.lock:
            self.requests[imprint] += 1
            first_renewal = imprint not in self.notes() and not self.renewal_asked.is_set()
            if first_renewal:
                self.renewal_asked.set()
        if first_renewal:
            self.release.wait(120)  # the holder is killed while it waits for this answer
        return self.authority.respond(query)


@contextmanager
def _serve(tsa: WatchedTsa) -> Iterator[str]:
    server = serve(tsa, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        tsa.release.set()
        server.shutdown()
        server.server_close()


def test_three_workers_one_anchors_and_a_killed_holder_hands_over(settings: Settings) -> None:
    identity = load_or_create(settings.data_dir / "tsa")  # the audit trusts this TSA's root
    roots = settings.data_dir / "tsa-roots.pem"
    roots.write_bytes(identity.chain_pem())
    with Ledger(settings) as ledger:
        for n in range(3):
            create(ledger, n)
        ledger.log.integrate()
        ledger.log.checkpoint(force=True)
    store = LogStore(settings.database)

    def notes() -> set[bytes]:
        with store.transaction() as tx:
            return {hashlib.sha256(n.encode()).digest() for _, _, n, _ in tx.checkpoints()}

    tsa = WatchedTsa(TimeStampAuthority(identity), notes)
    with _serve(tsa) as url:
        env = dict(os.environ, PYTHONPATH=str(ROOT), STELE_ENV="dev",
                   STELE_DATABASE_URL=database_url(settings.database),
                   STELE_DATA_DIR=str(settings.data_dir), STELE_LOG_ORIGIN=settings.origin,
                   STELE_CREATE_TABLES="0", STELE_TSA_URLS=url, STELE_TSA_ROOTS=str(roots),
                   STELE_LEASE_SECONDS="2", STELE_RENEWAL_MARGIN_DAYS="100000")
        workers = [subprocess.Popen([sys.executable, "-m", "api.cli", "worker"], cwd=ROOT,
                                    env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True) for _ in range(3)]
        try:
            until(tsa.renewal_asked.is_set, "the holder to ask for the renewal token", timeout=90)
            with store.transaction() as tx:
                owner = tx.lease_owner(ANCHORING, datetime.now(UTC).isoformat())
            assert owner is not None
            pid = int(owner.split(":")[1])
            holder = next(w for w in workers if w.pid == pid)
            holder.send_signal(signal.SIGKILL)  # mid-renewal: its plan is stored, no token
            holder.wait(timeout=30)

            def renewed() -> bool:
                with store.transaction() as tx:
                    return tx.renewals_done() == 1
            until(renewed, "another worker to take over and finish the renewal", timeout=90)
            with Ledger(settings) as ledger:  # the survivors anchor new writes too
                create(ledger, 10)
                ledger.log.integrate()
                latest = ledger.log.checkpoint(force=True)
            assert latest is not None

            def anchored() -> bool:
                with store.transaction() as tx:
                    return bool(tx.timestamps(latest.size))
            until(anchored, "the new holder to anchor a new checkpoint", timeout=90)
        finally:
            for w in workers:
                if w.poll() is None:
                    w.send_signal(signal.SIGTERM)
            errors = [w.communicate(timeout=60)[1] for w in workers]
        assert [w.returncode for w in workers if w is not holder] == [0, 0], errors

    with store.transaction() as tx:
        stamped = {hashlib.sha256(note.encode()).digest() for size, _, note, _ in
                   tx.checkpoints() if tx.timestamps(size)}
        records = [len(verify_binding(r).timestamps()) for _, _, r in tx.evidence_records()]
    store.close()
    assert stamped and all(tsa.requests[d] == 1 for d in stamped), tsa.requests
    renewal_requests = sum(n for d, n in tsa.requests.items() if d not in stamped)
    assert renewal_requests == 2  # the killed holder's, and the one that finished it
    assert records == [2, 1]  # renewed once; the checkpoint anchored after it, not yet
    with Ledger(settings) as ledger:
        ledger.log.sync(anchor=False)
        kinds = [leaf for _, leaf in ledger.log.leaves(0, ledger.log.size())
                 if b'"type":"log.renewed"' in leaf]
        assert len(kinds) == 1
        report = ledger.log.audit()
        assert report.bottom_line is Verdict.PASSED, [c.line() for c in report.failures]
