"""When the committee stops trusting the root a TSA in use chains to, every evidence record is
renewed by a TSA under another anchor (RFC 4998 §5.2), and never by a TSA it distrusts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.config import Settings
from ledger.dev.pki import DevPki
from ledger.errors import LedgerError
from ledger.longterm.anchoring import AnchorPolicy
from ledger.service import Ledger
from tests.bundles import dev_tsa
from tests.conftest import Clock
from tests.ledger.builders import create
from tests.pki import COMMITTEE, PKI_TIME, register_roots
from verifiers.report import Verdict


@pytest.fixture
def ledger(settings: Settings, clock: Clock) -> Iterator[Ledger]:
    with Ledger(settings, clock=clock) as ledger:
        yield ledger


@pytest.fixture(scope="module")
def second_pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    """Another PKI: its TSA chains to another root than the session PKI's."""
    return DevPki.create(Path(tmp_path_factory.mktemp("pki2")) / "pki", PKI_TIME)


def test_a_stopped_tsa_anchor_triggers_renewal_under_another(
        ledger: Ledger, clock: Clock, dev_pki: DevPki, second_pki: DevPki) -> None:
    first, second = dev_tsa(dev_pki, "tsa", clock), dev_tsa(second_pki, "tsa", clock)
    _, bcy = register_roots(ledger, dev_pki)  # BCY vouches for the first TSA
    register_roots(ledger, second_pki, "BCY", purposes=("timestamping",))
    ledger.longterm.set_anchor_policy(AnchorPolicy([first], 1, []))
    create(ledger, 1)
    ledger.log.sync()
    assert ledger.longterm.renew_if_due() is None  # nothing expires soon, every anchor vouches

    clock.advance(days=1)
    ledger.records.do(COMMITTEE, "trust.retire", anchor=bcy, reason="BCY root re-keyed")
    # Due now, but not by the first TSA: its root no longer vouches for new tokens.
    with pytest.raises(LedgerError):
        ledger.longterm.renew_if_due()
    ledger.longterm.set_anchor_policy(AnchorPolicy([first, second], 1, []))
    renewed = ledger.longterm.renew_if_due()
    assert renewed is not None and renewed.tsa == second.url
    ledger.log.sync()
    # the newest timestamps rest on an anchor in force
    assert ledger.longterm.renew_if_due() is None
    # The retired root still vouches for the tokens made before it retired.
    assert ledger.log.audit().bottom_line is Verdict.PASSED
    shown = ledger.trust.show(bcy)
    assert shown["depends"]["timestamps"]["count"] >= 1


def test_a_suspended_tsa_anchor_vouches_for_nothing_until_reinstated(
        ledger: Ledger, clock: Clock, dev_pki: DevPki, second_pki: DevPki) -> None:
    first, second = dev_tsa(dev_pki, "tsa", clock), dev_tsa(second_pki, "tsa", clock)
    _, bcy = register_roots(ledger, dev_pki)
    register_roots(ledger, second_pki, "BCY", purposes=("timestamping",))
    ledger.longterm.set_anchor_policy(AnchorPolicy([first, second], 1, []))
    create(ledger, 1)
    ledger.log.sync()
    clock.advance(hours=1)
    ledger.records.do(COMMITTEE, "trust.suspend", anchor=bcy, reason="suspected key compromise")
    renewed = ledger.longterm.renew_if_due()
    assert renewed is not None and renewed.tsa == second.url
    ledger.log.sync()
    # Its tokens are in doubt while it is suspended: the audit cannot vouch for them.
    assert ledger.log.audit().bottom_line is not Verdict.PASSED
    ledger.records.do(COMMITTEE, "trust.reinstate", anchor=bcy, reason="compromise ruled out")
    ledger.log.sync()
    assert ledger.log.audit().bottom_line is Verdict.PASSED


def test_a_retired_tsa_anchor_vouches_only_for_tokens_made_before_it_retired(
        ledger: Ledger, clock: Clock, dev_pki: DevPki) -> None:
    """The audit applies the registry's windows per token: a token the first TSA made after
    its root retired (stored by a bug, or by someone with the database) is not vouched for,
    while the tokens it made before still are."""
    from ledger.longterm.anchoring import note_digest
    from ledger.longterm.tsa_client import request_token
    from verifiers.ers import new_evidence_record

    first = dev_tsa(dev_pki, "tsa", clock)
    _, bcy = register_roots(ledger, dev_pki)
    ledger.longterm.set_anchor_policy(AnchorPolicy([first], 1, []))
    create(ledger, 1)
    ledger.log.sync()
    clock.advance(days=1)
    ledger.records.do(COMMITTEE, "trust.retire", anchor=bcy, reason="BCY root re-keyed")
    ledger.log.sync(anchor=False)
    assert ledger.log.audit().bottom_line is Verdict.PASSED  # made before: still vouched for
    clock.advance(hours=1)
    latest = ledger.checkpointer.latest()
    assert latest is not None
    late = request_token(first, note_digest(latest.note)).der  # made after the retirement
    with ledger.store.transaction() as tx:
        tx.add_timestamp(latest.size, "late-tsa", late, clock().isoformat(),
                         new_evidence_record(None, late, "sha256"), clock().isoformat(),
                         "2099-01-01T00:00:00Z")
    report = ledger.log.audit()
    failed = {c.name: c.code for c in report.failures}
    assert failed == {f"evidence[{latest.size}:late-tsa]": "tsa_untrusted"}, failed
