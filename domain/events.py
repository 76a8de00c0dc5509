"""Every event type of the log, by its envelope `type`, with its PREMIS event type."""

from __future__ import annotations

from domain.anchor import LogAnchor, LogRenewal
from domain.catalog import Catalog, CatalogCopy
from domain.chained import ChainedAggregate
from domain.dossier import Dossier
from domain.record import Record
from domain.trust import TrustAnchor

EVENT_CLASSES: dict[str, type[ChainedAggregate.Event]] = {
    cls.TYPE: cls
    for cls in (
        Record.Created, Record.Received, Record.Signed, Record.Filed, Record.TransferInitiated,
        Record.TransferReceived, Record.TransferRejected, Record.AccessChanged,
        Record.Appraised, Record.HoldPlaced,
        Record.HoldReleased, Record.DestructionApproved, Record.Destroyed,
        Dossier.Opened, Dossier.MemberAdded, Dossier.Closed,
        LogAnchor.Anchored, LogRenewal.Renewed,
        TrustAnchor.Registered, TrustAnchor.Suspended, TrustAnchor.Reinstated,
        TrustAnchor.Retired, Catalog.Published, CatalogCopy.Synced,
    )
}
# A type whose first event creates its aggregate and whose later ones extend it: by version.
LATER_EVENT_CLASSES: dict[str, type[ChainedAggregate.Event]] = {
    cls.TYPE: cls for cls in (Catalog.Republished, CatalogCopy.Resynced)
}


def event_class(type_: str, version: int) -> type[ChainedAggregate.Event]:
    """The event class of an envelope's `type` at aggregate `version` (KeyError if none)."""
    if version > 1 and type_ in LATER_EVENT_CLASSES:
        return LATER_EVENT_CLASSES[type_]
    return EVENT_CLASSES[type_]


_PREMIS = "http://id.loc.gov/vocabulary/preservation/eventType/"
# PREMIS eventType (id.loc.gov) where the vocabulary has a clear match; None where it has none
# (appraisal and holds are records-management acts that PREMIS does not name).
PREMIS_EVENT_TYPES: dict[str, str | None] = {
    "record.created": _PREMIS + "cre",  # creation
    "record.received": _PREMIS + "acc",  # accession: the first event on the receiving log
    "record.signed": _PREMIS + "dig",  # digital signature generation
    "record.filed": None,
    "record.transfer_initiated": _PREMIS + "tra",  # transfer
    "record.transfer_received": _PREMIS + "acc",  # accession by the receiving archive
    "record.transfer_rejected": None,
    "record.access_changed": _PREMIS + "mem",  # metadata modification
    "record.appraised": None,
    "record.hold_placed": _PREMIS + "poa",  # policy assignment
    "record.hold_released": _PREMIS + "poa",
    "record.destruction_approved": None,
    "record.destroyed": _PREMIS + "del",  # deletion (the content; the tombstone remains)
    "dossier.opened": _PREMIS + "cre",
    "dossier.member_added": None,
    "dossier.closed": _PREMIS + "fix",  # the members' digests are sealed in a root
    "log.anchored": None,
    "log.renewed": None,
    "trust.anchor_registered": None,
    "trust.anchor_suspended": None,
    "trust.anchor_reinstated": None,
    "trust.anchor_retired": None,
    "catalog.published": None,
    "catalog.synced": _PREMIS + "rep",  # replication: a copy of the centre's catalog
}

AGGREGATE_CLASSES: tuple[type[ChainedAggregate], ...] = (
    Record, Dossier, LogAnchor, LogRenewal, TrustAnchor, Catalog, CatalogCopy)


def aggregate_class(event_class: type[ChainedAggregate.Event]) -> type[ChainedAggregate]:
    """The aggregate class whose history an event class belongs to."""
    for aggregate in AGGREGATE_CLASSES:
        if issubclass(event_class, aggregate.Event):
            return aggregate
    raise LookupError(event_class)
