"""Tampering with the stored log, row by row: `audit` must fail with the right code."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ledger.config import Settings
from ledger.service import Ledger
from ledger.store.tables import Tx
from tests.ledger.builders import AGENCY, create
from verifiers.report import Verdict


@pytest.fixture
def ledger(settings: Settings) -> Ledger:
    with Ledger(settings) as ledger:
        for i in range(6):
            rid = create(ledger, i)
            ledger.records.do(AGENCY, "record.hold.place", record=rid, hold="H", reason="r")
        ledger.log.sync()
        for i in range(6, 9):
            create(ledger, i)
        ledger.log.sync()  # two checkpoints: 12 and 15 leaves
        assert ledger.log.audit().bottom_line is Verdict.PASSED
        yield ledger


def _flip_event(tx: Tx) -> None:
    s = tx._store
    row = tx.execute(f"SELECT {s.nid}, state FROM {s.prefix}{s.events} ORDER BY {s.nid} "
                     "LIMIT 1 OFFSET 5").fetchone()
    edited = bytes(row[1]).replace(b'"reason":"r"', b'"reason":"R"')
    assert edited != bytes(row[1])
    tx.execute(f"UPDATE {s.prefix}{s.events} SET state = ? WHERE {s.nid} = ?", (edited, row[0]))


def _drop_event(tx: Tx) -> None:
    s = tx._store
    tx.execute(f"DELETE FROM {s.prefix}{s.events} WHERE {s.nid} = "
               f"(SELECT notification_id FROM {s.prefix}stele_leaves WHERE idx = 3)")


def _swap_events(tx: Tx) -> None:
    """Reorder two leaves: point each at the other's event."""
    p = tx._store.prefix
    a, b = (tx.execute(f"SELECT notification_id FROM {p}stele_leaves WHERE idx = ?",
                       (i,)).fetchone()[0] for i in (2, 3))
    tx.execute(f"UPDATE {p}stele_leaves SET notification_id = -1 WHERE idx = 2")
    tx.execute(f"UPDATE {p}stele_leaves SET notification_id = ? WHERE idx = 3", (a,))
    tx.execute(f"UPDATE {p}stele_leaves SET notification_id = ? WHERE idx = 2", (b,))


def _flip_leaf(tx: Tx) -> None:
    p = tx._store.prefix
    tx.execute(f"UPDATE {p}stele_leaves SET hash = ? WHERE idx = 5", (b"\x01" * 32,))


def _flip_node(tx: Tx) -> None:
    p = tx._store.prefix
    tx.execute(f"UPDATE {p}stele_nodes SET hash = ? WHERE level = 2 AND idx = 1", (b"\x02" * 32,))


def _drop_node(tx: Tx) -> None:
    tx.execute(f"DELETE FROM {tx._store.prefix}stele_nodes WHERE level = 1 AND idx = 0")


def _flip_checkpoint_root(tx: Tx) -> None:
    p = tx._store.prefix
    tx.execute(f"UPDATE {p}stele_checkpoints SET root = ? WHERE size = 12", (b"\x03" * 32,))


def _forge_checkpoint_note(tx: Tx) -> None:
    p = tx._store.prefix
    note = tx.execute(f"SELECT note FROM {p}stele_checkpoints WHERE size = 12").fetchone()[0]
    tx.execute(f"UPDATE {p}stele_checkpoints SET note = ? WHERE size = 12",
               (note.replace("\n12\n", "\n13\n"),))


def _drop_leaf(tx: Tx) -> None:
    tx.execute(f"DELETE FROM {tx._store.prefix}stele_leaves WHERE idx = 7")


TAMPERS: dict[str, tuple[Callable[[Tx], None], set[str]]] = {
    "edited event row": (_flip_event, {"leaf_mismatch"}),
    "dropped event row": (_drop_event, {"leaf_event_missing", "event_not_in_log"}),
    "reordered events": (_swap_events, {"leaf_mismatch", "chain_broken"}),
    "edited leaf hash": (_flip_leaf, {"leaf_mismatch"}),
    "edited tree node": (_flip_node, {"node_mismatch"}),
    "dropped tree node": (_drop_node, {"node_missing"}),
    "edited checkpoint root": (_flip_checkpoint_root, {"checkpoint_root_mismatch"}),
    "forged checkpoint note": (_forge_checkpoint_note, {"checkpoint_signature_invalid"}),
    "dropped leaf": (_drop_leaf, {"leaf_missing"}),
}


@pytest.mark.parametrize("tamper", list(TAMPERS))
def test_audit_detects(ledger: Ledger, tamper: str) -> None:
    edit, expected = TAMPERS[tamper]
    with ledger.store.transaction() as tx:
        edit(tx)
    report = ledger.log.audit()
    assert report.bottom_line is Verdict.FAILED
    codes = {c.code for c in report.failures}
    assert expected <= codes, (expected, codes)
