"""A write of megabytes in one save (a transfer of thousands of records is one): on PostgreSQL it
is sent as plain statements rather than pipelined (ledger/store/recorders.py), and it must stay
one transaction: every event and every statement of ours, or nothing."""

from __future__ import annotations

import pytest

from ledger.config import Settings
from ledger.errors import DuplicateError
from ledger.records import Command
from ledger.service import Ledger
from ledger.store.recorders import PIPELINED_BYTES
from tests.ledger.builders import AGENCY, metadata

COUNT = 1800  # record.created events of about 700 bytes: more than PIPELINED_BYTES in all


def _creates(ledger: Ledger, numbers: range) -> list[Command]:
    data = b"one document named by many records"
    digest = ledger.records.put_content(data, agency=AGENCY.agency)
    return [Command("record.create", {
        "metadata": metadata(n), "retention": 10, "schedule": "S-1",
        "content": {"digest": digest, "size": len(data), "media_type": "text/plain"}})
        for n in numbers]


def test_a_save_of_megabytes_is_one_transaction(settings: Settings) -> None:
    with Ledger(settings) as ledger:
        marker = ledger.store.put_meta_statement("large-save", "done")
        written = ledger.records.execute(AGENCY, _creates(ledger, range(1, COUNT + 1)),
                                         also=lambda _: [marker])
        assert sum(len(w.canonical) for w in written) > PIPELINED_BYTES
        with ledger.store.transaction() as tx:
            assert tx.meta("large-save") == "done"
            assert tx.event_count() == COUNT
        assert ledger.log.integrate().count == COUNT

        # one duplicate among thousands: nothing of the batch is kept, nor the statement
        again = ledger.store.put_meta_statement("large-save", "again")
        with pytest.raises(DuplicateError):
            ledger.records.execute(AGENCY, _creates(ledger, range(COUNT, 2 * COUNT)),
                                   also=lambda _: [again])
        with ledger.store.transaction() as tx:
            assert tx.meta("large-save") == "done"
            assert tx.event_count() == COUNT
