"""The eventsourcing application behind the ledger: aggregates saved as canonical envelopes."""

from __future__ import annotations

from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import Mapper

from ledger.store.mapper import EnvelopeMapper


class RecordsApplication(Application[Any]):
    name = "Stele"  # PostgreSQL table `stele_events` (see LogStore.events)
    is_snapshotting_enabled = False

    def construct_mapper(self) -> Mapper[Any]:
        return EnvelopeMapper(transcoder=self.construct_transcoder())
