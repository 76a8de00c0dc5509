"""The same bytes in a destroyed record and a new one: a purge never deletes what a live record
needs, however the purge and the new record's write interleave (both stores)."""

from __future__ import annotations

import threading

import pytest

from ledger.config import Settings
from ledger.service import Ledger
from tests.conftest import Clock
from tests.ledger.builders import AGENCY, create


@pytest.fixture
def ledger(settings: Settings, clock: Clock) -> Ledger:
    with Ledger(settings, clock=clock) as ledger:
        yield ledger


def _destroy(ledger: Ledger, rid: str) -> None:
    ledger.records.do(AGENCY, "record.appraise", record=rid, council="HĐ", minutes="BB",
                      decision="destroy", retention=10)
    ledger.records.do(AGENCY, "record.destruction.approve", record=rid, decision="QĐ")
    ledger.records.do(AGENCY, "record.destruction.execute", record=rid, minutes="BB2",
                      replicas_purged=1)


def _integrate_without_purge(ledger: Ledger) -> None:
    while ledger.integrator._batch()[1]:
        pass


def test_purge_spares_bytes_of_a_record_written_after_the_destruction(ledger: Ledger) -> None:
    gone = create(ledger, 1, body=b"the same bytes")
    digest = ledger.records.record(gone).content["digest"]
    _destroy(ledger, gone)
    _integrate_without_purge(ledger)  # the destruction is in the log: its bytes are queued
    with ledger.store.transaction() as tx:
        assert tx.pending_purges() == [digest]
    kept = create(ledger, 2, body=b"the same bytes")  # written, not yet integrated
    assert ledger.integrator.purge() == []  # the new record's pending event holds the bytes
    assert ledger.content.has(digest)
    ledger.log.sync()
    assert ledger.content.has(ledger.records.record(kept).content["digest"])
    with ledger.store.transaction() as tx:
        assert tx.pending_purges() == []  # the bytes are the live record's now


def test_purge_spares_freshly_uploaded_bytes(ledger: Ledger) -> None:
    gone = create(ledger, 1, body=b"uploaded again")
    _destroy(ledger, gone)
    _integrate_without_purge(ledger)
    # an upload whose create is on its way
    digest = ledger.records.put_content(b"uploaded again", agency=AGENCY.agency)
    assert ledger.integrator.purge() == []
    assert ledger.content.has(digest)
    with ledger.store.transaction() as tx:  # still queued: purged once the pin is stale
        assert tx.pending_purges() == [digest]
        tx.execute(f"UPDATE {ledger.store.prefix}stele_content_pins SET uploaded_at = ?",
                   ("2000-01-01T00:00:00+00:00",))
    assert ledger.integrator.purge() == [digest]
    assert not ledger.content.has(digest)


def test_purge_deletes_bytes_once_their_record_is_destroyed(ledger: Ledger) -> None:
    gone = create(ledger, 1, body=b"only here")
    digest = ledger.records.record(gone).content["digest"]
    _destroy(ledger, gone)
    ledger.log.sync()
    assert not ledger.content.has(digest)


def test_purge_racing_new_records_never_loses_live_content(settings: Settings,
                                                           clock: Clock) -> None:
    """Two processes' worth of connections: one purges in a loop while the other registers
    the destroyed records' bytes again. Every live record keeps its content."""
    rounds = 12
    with Ledger(settings, clock=clock) as setup:
        doomed = [create(setup, n, body=f"bytes {n}".encode()) for n in range(rounds)]
        for rid in doomed:
            _destroy(setup, rid)
        _integrate_without_purge(setup)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def purger() -> None:
        try:
            with Ledger(settings, clock=clock) as ledger:
                start.wait()
                for _ in range(rounds * 4):
                    ledger.integrator.purge()
        except BaseException as exc:  # reported below
            errors.append(exc)

    def writer() -> None:
        try:
            with Ledger(settings, clock=clock) as ledger:
                start.wait()
                for n in range(rounds):
                    create(ledger, 1000 + n, body=f"bytes {n}".encode())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=purger), threading.Thread(target=writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    with Ledger(settings, clock=clock) as ledger:
        ledger.log.sync()
        live = [r for r, *_ in ledger.records.list_records(agency=None, kind="record", after=-1,
                                                           limit=10_000) if r not in doomed]
        for rid in live:
            assert ledger.content.has(ledger.records.record(rid).content["digest"]), rid
        report = ledger.log.audit()
        assert not report.failures, [c.line() for c in report.failures]


def test_a_purge_waits_for_a_create_between_its_check_and_its_save(
        settings: Settings, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """The window a purge once fell into: the create has seen the bytes, its event is not
    saved yet. The purge (another connection) waits for the save, then sees the new event."""
    with Ledger(settings, clock=clock) as ledger, Ledger(settings, clock=clock) as other:
        gone = create(ledger, 1, body=b"contested bytes")
        digest = ledger.records.record(gone).content["digest"]
        _destroy(ledger, gone)
        _integrate_without_purge(ledger)
        save = ledger.app.save
        purged: list[list[str]] = []
        waited: list[bool] = []

        def slow_save(*events: object, **kwargs: object) -> object:
            purge = threading.Thread(target=lambda: purged.append(other.integrator.purge()))
            purge.start()
            purge.join(0.5)
            waited.append(purge.is_alive())  # blocked on the create's hold
            result = save(*events, **kwargs)  # type: ignore[arg-type]
            threading.Thread(target=purge.join, args=(30,)).start()
            return result

        monkeypatch.setattr(ledger.app, "save", slow_save)
        kept = create(ledger, 2, body=b"contested bytes")
        monkeypatch.undo()
        for _ in range(300):
            if purged:
                break
            threading.Event().wait(0.1)
        assert waited == [True] and purged == [[]]
        ledger.log.sync()
        assert ledger.content.has(ledger.records.record(kept).content["digest"]) and digest
