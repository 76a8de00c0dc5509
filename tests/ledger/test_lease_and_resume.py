"""One owner for anchoring and renewal (a lease in the store), and renewal resumed where a
crash left it: no record renewed twice, no needless request to a TSA (both stores)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from asn1crypto import cms

import ledger.longterm.renewal as renewal
from ledger.config import Settings
from ledger.dev.tsa import LocalTsa, TimeStampAuthority, load_or_create
from ledger.longterm.anchoring import AnchorPolicy
from ledger.longterm.renewal import renew
from ledger.service import Ledger
from ledger.store.lease import ANCHORING, Lease
from tests.ledger.builders import AGENCY, create
from verifiers.ers import verify_binding
from verifiers.report import Verdict


class CountingTsa:
    """The data directory's development TSA, counting the requests it answers."""

    def __init__(self, inner: LocalTsa) -> None:
        self.inner = inner
        self.url = inner.url
        self.calls = 0

    def exchange(self, query: bytes, timeout: float) -> bytes:
        self.calls += 1
        return self.inner.exchange(query, timeout)


class Crash(Exception):
    """Stands for kill -9 at that point: nothing after it runs."""


def _anchored(ledger: Ledger, settings: Settings, **kwargs: str) -> CountingTsa:
    identity = load_or_create(settings.data_dir / "tsa")
    counting = CountingTsa(LocalTsa(TimeStampAuthority(identity, **kwargs)))
    ledger.longterm.set_anchor_policy(AnchorPolicy([counting], 1,
                                                   ledger.longterm.anchorer.policy.trust_roots))
    for n in range(2):
        rid = create(ledger, n)
        ledger.records.do(AGENCY, "record.hold.place", record=rid, hold="H", reason="r")
        ledger.log.sync()
    return counting


def _timestamps_per_record(ledger: Ledger) -> list[int]:
    with ledger.store.transaction() as tx:
        return [len(verify_binding(r).timestamps()) for _, _, r in tx.evidence_records()]


def _renewal_leaves(ledger: Ledger) -> int:
    ledger.log.sync(anchor=False)
    return sum(b'"type":"log.renewed"' in leaf for _, leaf in ledger.log.leaves(0,
                                                                                ledger.log.size()))


def test_a_renewal_stopped_after_its_token_resumes_without_asking_again(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    with Ledger(settings) as ledger:
        tsa = _anchored(ledger, settings)
        before, records = tsa.calls, _timestamps_per_record(ledger)
        assert records == [1, 1]

        def crash(*_: object) -> None:
            raise Crash

        monkeypatch.setattr(renewal, "_apply", crash)  # the token is stored; then the crash
        with pytest.raises(Crash):
            renew(ledger.longterm.anchorer, reason="scheduled")
        assert tsa.calls == before + 1
        monkeypatch.undo()
        done = renew(ledger.longterm.anchorer, reason="another run")  # resumes the stored renewal
        assert tsa.calls == before + 1  # no second token
        assert done.records == 2
        assert _timestamps_per_record(ledger) == [2, 2]  # each record renewed once
        assert _renewal_leaves(ledger) == 1
        assert ledger.log.audit().bottom_line is Verdict.PASSED


def test_a_renewal_stopped_before_its_entry_logs_it_once(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    with Ledger(settings) as ledger:
        tsa = _anchored(ledger, settings)
        calls = tsa.calls
        save = ledger.longterm.anchorer.save

        def crash(*_: object) -> None:
            raise Crash

        monkeypatch.setattr(ledger.longterm.anchorer, "save", crash)  # applied; the entry not saved
        with pytest.raises(Crash):
            renew(ledger.longterm.anchorer, reason="scheduled")
        monkeypatch.setattr(ledger.longterm.anchorer, "save", save)
        renew(ledger.longterm.anchorer, reason="scheduled")
        assert tsa.calls == calls + 1
        assert _timestamps_per_record(ledger) == [2, 2]
        assert _renewal_leaves(ledger) == 1
        with ledger.store.transaction() as tx:
            assert tx.open_renewal() is None and tx.renewals_done() == 1


def test_only_the_lease_holder_anchors(settings: Settings) -> None:
    with Ledger(settings) as first, Ledger(settings) as second:
        tsa = _anchored(first, settings)
        second.longterm.set_anchor_policy(first.longterm.anchorer.policy)
        assert first.longterm.lease.hold()
        create(second, 99)
        second.log.sync(anchor=False)
        calls = tsa.calls
        assert second.longterm.anchor(leased=True) == []  # not the holder: no request
        assert second.longterm.renew_if_due() is None
        assert tsa.calls == calls
        assert [a.size for a in first.longterm.anchor(leased=True)] == [second.log.size()]
    with Ledger(settings) as third:  # the holder closed: it handed the lease over
        assert third.longterm.lease.hold()


def test_an_expired_lease_is_taken_over(settings: Settings) -> None:
    with Ledger(settings) as ledger:
        short = timedelta(seconds=0.3)
        holder = Lease(ledger.store, ANCHORING, ttl=short, owner="holder")
        other = Lease(ledger.store, ANCHORING, ttl=short, owner="other")
        assert holder.hold() and not other.hold()
        time.sleep(0.4)  # the holder stopped extending it (it died, or hangs)
        assert other.hold()
        holder._until = None  # its own view is stale too: it asks the store
        assert not holder.hold()


def test_a_token_naming_its_tsa_by_key_identifier_is_anchored(settings: Settings) -> None:
    """RFC 5652 §5.3 lets a SignerInfo name its certificate by subject key identifier."""
    with Ledger(settings) as ledger:
        _anchored(ledger, settings, signer_id="subject_key_identifier")
        with ledger.store.transaction() as tx:
            tokens = [token for size, _, _ in tx.evidence_records()
                      for _, token, _ in tx.timestamps(size)]
        assert len(tokens) == 2
        for token in tokens:
            signer = cms.ContentInfo.load(token)["content"]["signer_infos"][0]
            assert signer["sid"].name == "subject_key_identifier"
        assert ledger.log.audit().bottom_line is Verdict.PASSED
        assert renew(ledger.longterm.anchorer, reason="scheduled").records == 2
