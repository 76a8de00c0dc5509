"""The Merkle log: dense leaves, proofs from stored nodes, checkpoints, the key."""

from __future__ import annotations

import base64
import os
import stat

import pytest

from domain.errors import DomainError
from ledger.config import Settings
from ledger.service import Ledger
from tests.conftest import Clock
from tests.ledger.builders import AGENCY, create
from verifiers.merkle import leaf_hash, root_of, verify_consistency, verify_inclusion
from verifiers.note import open_note, parse_checkpoint, parse_verifier_key


@pytest.fixture
def ledger(settings: Settings, clock: Clock) -> Ledger:
    with Ledger(settings, clock=clock) as ledger:
        yield ledger


def _write(ledger: Ledger, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        rid = create(ledger, i)
        ledger.records.do(AGENCY, "record.hold.place", record=rid, hold="H", reason="r")


def test_leaves_are_the_events_in_order_dense_and_once(ledger: Ledger) -> None:
    _write(ledger, 20)
    assert ledger.log.integrate().count == 40
    assert ledger.log.integrate().count == 0  # nothing twice
    leaves = ledger.log.leaves(0, 40)
    assert [i for i, _ in leaves] == list(range(40))
    with ledger.store.transaction() as tx:
        events = tx.events_after(0, 100)
    assert [state for *_, state in events] == [leaf for _, leaf in leaves]


def test_every_proof_from_stored_nodes_verifies(ledger: Ledger) -> None:
    _write(ledger, 19)  # 38 leaves: an odd-shaped tree
    ledger.log.integrate()
    size = ledger.log.size()
    leaf_hashes = [leaf_hash(leaf) for _, leaf in ledger.log.leaves(0, size)]
    for n in (1, 2, 3, 7, 8, 9, 31, 38):
        root = ledger.log.root(n)
        assert root == root_of(leaf_hashes[:n])
        for i in range(n):
            proof = ledger.log.prove_inclusion(i, n)
            verify_inclusion(i, n, leaf_hashes[i],
                             [base64.b64decode(p) for p in proof["proof"]], root)
        for m in range(1, n + 1):
            proof = ledger.log.prove_consistency(m, n)
            verify_consistency(m, n, [base64.b64decode(p) for p in proof["proof"]],
                               ledger.log.root(m), root)


def test_proof_requests_outside_the_log_are_refused(ledger: Ledger) -> None:
    _write(ledger, 2)
    ledger.log.integrate()
    for call in (lambda: ledger.log.prove_inclusion(4, 4), lambda: ledger.log.prove_inclusion(0, 9),
                 lambda: ledger.log.prove_consistency(3, 2), lambda: ledger.log.leaves(3, 9)):
        with pytest.raises(DomainError) as refused:
            call()
        assert refused.value.code == "out_of_range"


def test_checkpoint_policy_every_n_entries_or_t_seconds(settings: Settings, clock: Clock) -> None:
    from dataclasses import replace

    with Ledger(replace(settings, checkpoint_every=10, checkpoint_interval=60),
                clock=clock) as ledger:
        _write(ledger, 2)
        ledger.log.integrate()
        first = ledger.log.checkpoint()
        assert first is not None and first.size == 4  # the first is always due
        _write(ledger, 2, start=10)
        ledger.log.integrate()
        assert ledger.log.checkpoint() is None  # 4 new entries, 0 s: not due
        clock.advance(seconds=61)
        second = ledger.log.checkpoint()
        assert second is not None and second.size == 8  # interval passed
        _write(ledger, 5, start=20)
        ledger.log.integrate()
        third = ledger.log.checkpoint()
        assert third is not None and third.size == 18  # 10 entries arrived
        assert ledger.log.checkpoint(force=True) is None  # never two for one size
        with ledger.store.transaction() as tx:
            assert [c[0] for c in tx.checkpoints()] == [4, 8, 18]


def test_checkpoint_is_a_signed_note_under_the_log_key(ledger: Ledger, settings: Settings) -> None:
    _write(ledger, 3)
    cp = ledger.log.sync()
    assert cp is not None
    key = parse_verifier_key(ledger.key.verifier)
    assert key.name == settings.origin
    body = parse_checkpoint(open_note(cp.note, [key]).text)
    assert (body.origin, body.size, body.root) == (settings.origin, 6, ledger.log.root(6))
    key_file = settings.data_dir / "checkpoint-key.pem"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    # The key survives a restart: the same verifier key.
    with Ledger(settings) as again:
        assert again.key.verifier == ledger.key.verifier


def test_a_checkpoint_inconsistent_with_the_last_is_never_signed(ledger: Ledger) -> None:
    _write(ledger, 3)
    ledger.log.sync()
    _write(ledger, 1, start=9)
    ledger.log.integrate()
    with ledger.store.transaction() as tx:  # forge history under the last checkpoint
        tx.execute("UPDATE stele_leaves SET hash = ? WHERE idx = 0".replace(
            "stele_leaves", ledger.store.prefix + "stele_leaves"), (b"\x00" * 32,))
        tx.execute(f"DELETE FROM {ledger.store.prefix}stele_nodes")
    with pytest.raises(DomainError) as refused:
        ledger.log.checkpoint(force=True)
    assert refused.value.code == "corrupt_store"


def test_a_log_keeps_its_origin_and_key(settings: Settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    Ledger(settings).close()
    with pytest.raises(DomainError) as refused:
        Ledger(replace(settings, origin="other.example/log"))
    assert refused.value.code == "bad_config"
    with pytest.raises(DomainError) as refused:  # another data dir: another key
        Ledger(replace(settings, data_dir=tmp_path / "elsewhere"))
    assert refused.value.code == "bad_config"
