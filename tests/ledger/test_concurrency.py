"""Reads that span several queries see one state of the log while another connection writes,
integrates, cuts checkpoints and anchors: the live audit stays clean, no checkpoint is skipped
by the anchorer, and exports and record reads never fail on a half-seen write (both stores;
PostgreSQL is where READ COMMITTED made them go wrong)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest

from domain.errors import DomainError
from ledger.bundle import export
from ledger.config import Settings
from ledger.service import Ledger
from ledger.store.tables import Tx
from tests.ledger.builders import AGENCY, create
from verifiers.bundle import read_bundle, verify_bundle
from verifiers.report import Verdict

pytestmark = pytest.mark.slow


@contextmanager
def _writing(settings: Settings, step: Callable[[Ledger, int], None]) -> Iterator[list[int]]:
    """Run `step(ledger, n)` for n = 0, 1, ... on a connection of its own until the block ends;
    yields the list of steps done (its length, once the block ends)."""
    done: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def run() -> None:
        try:
            with Ledger(settings) as ledger:
                n = 0
                while not stop.is_set():
                    step(ledger, n)
                    done.append(n)
                    n += 1
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        yield done
    finally:
        stop.set()
        thread.join(timeout=120)
    assert not errors, errors


def _write_and_cut(ledger: Ledger, n: int) -> None:
    rid = create(ledger, 10_000 + n)
    ledger.records.do(AGENCY, "record.hold.place", record=rid, hold="H", reason="r")
    ledger.log.integrate()
    ledger.log.checkpoint(force=True)


def _commit_between(monkeypatch: pytest.MonkeyPatch, method: str, other: Ledger) -> list[int]:
    """Make another connection write, integrate and cut a checkpoint right after the first
    call of `Tx.<method>` returns, inside the reader's transaction: the interleaving that
    READ COMMITTED lets a multi-query read see half of."""
    original = getattr(Tx, method)
    fired: list[int] = []

    def wrapped(self: Tx, *args: object) -> object:
        result = original(self, *args)
        if not fired:
            fired.append(1)
            _write_and_cut(other, len(fired))
        return result

    monkeypatch.setattr(Tx, method, wrapped)
    return fired


def test_live_audit_sees_one_state_while_a_checkpoint_lands(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    with Ledger(settings) as ledger, Ledger(settings) as other:
        create(ledger, 1)
        ledger.log.sync()
        fired = _commit_between(monkeypatch, "head", other)
        report = ledger.log.audit()
        assert fired
        assert report.bottom_line is Verdict.PASSED, [c.line() for c in report.failures]
        assert other.log.size() > report.summary["leaves"]  # the new leaves came after the audit


def test_a_checkpoint_cut_while_the_anchorer_reads_is_anchored_later(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    with Ledger(settings) as ledger, Ledger(settings) as other:
        create(ledger, 1)
        ledger.log.sync(anchor=False)
        fired = _commit_between(monkeypatch, "checkpoints_after", other)
        ledger.longterm.anchor()
        assert fired
        monkeypatch.undo()
        ledger.longterm.anchor()  # the next run takes the checkpoint cut meanwhile
        latest = other.checkpointer.latest()
        assert latest is not None
        with ledger.store.transaction() as tx:
            assert tx.timestamps(latest.size), "a checkpoint with new events was skipped"


def test_no_checkpoint_is_skipped_while_checkpoints_are_cut(settings: Settings) -> None:
    """One connection anchors in a loop while another cuts checkpoints: when both stop,
    every checkpoint with new events has its timestamp (none marked scanned unanchored)."""
    with Ledger(settings) as ledger:
        with _writing(settings, _write_and_cut) as done:
            while len(done) < 30:
                ledger.longterm.anchor()
        ledger.log.sync()
        with ledger.store.transaction() as tx:
            checkpoints = [size for size, _, _, _ in tx.checkpoints()]
            stamped = {size for size, _, _ in tx.evidence_records()}
        previous = 0
        unanchored = []
        for size in checkpoints:
            kinds = [leaf.rsplit(b'"type":"', 1)[1].split(b'"')[0]
                     for _, leaf in ledger.log.leaves(previous, size)]
            if any(k not in (b"log.anchored", b"log.renewed") for k in kinds) and (
                    size not in stamped):
                unanchored.append(size)
            previous = size
        assert unanchored == []
        assert ledger.longterm.anchoring_status()["waiting"] == []


def test_export_and_show_while_the_record_grows(settings: Settings) -> None:
    """Each bundle exported while holds are placed on the record is one version of it, and
    verifies; an export that catches an event not yet anchored is refused with its code."""
    with Ledger(settings) as ledger:
        rid = create(ledger, 1)
        ledger.log.sync()
        roots = ledger.longterm.anchorer.policy.trust_roots

        def grow(other: Ledger, n: int) -> None:
            other.records.do(AGENCY, "record.hold.place", record=rid, hold=f"H{n}", reason="r")
            other.log.sync()

        verified = refused = 0
        with _writing(settings, grow) as done:
            while len(done) < 15:
                shown = ledger.records.describe(rid)
                assert len(shown["events"]) == shown["state"]["version"]
                try:
                    bundle = export(ledger, rid)
                except DomainError as exc:
                    if exc.code != "not_anchored":
                        raise
                    refused += 1
                    continue
                report = verify_bundle(read_bundle(bundle), trust_roots=list(roots),
                                       at=datetime.now(UTC), log_key=ledger.key.verifier)
                assert report.bottom_line is Verdict.PASSED, [c.line() for c in report.failures]
                verified += 1
        assert verified >= 1, (verified, refused)
