"""Records: the one entry point for writes (CLI and HTTP API alike) and the reads of records.

A write is a list of commands applied all-or-nothing: every aggregate they touch is loaded,
every rule is checked by the domain, and the new events are saved in one atomic eventsourcing
save. A refused command leaves the ledger unchanged.
"""

from __future__ import annotations

import base64
import inspect
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from domain.catalog import (
    Catalog,
    CatalogCopy,
    CatalogSet,
    catalog_id,
    check_entries,
    check_name,
    copy_id,
    parse_snapshot,
    snapshot_bytes,
)
from domain.chained import ChainedAggregate
from domain.dossier import Dossier, dossier_id
from domain.envelope import Actor
from domain.errors import InvalidInputError
from domain.events import PREMIS_EVENT_TYPES
from domain.record import Record
from domain.trust import TrustAnchor, anchor_id, check_anchor_ref
from ledger.access.policy import READ_ALL, READ_OWN, allow, may_read
from ledger.access.principals import Principal
from ledger.catalog.held import HeldCatalogs
from ledger.config import Settings
from ledger.dev.tsa import is_development_certificate
from ledger.errors import (
    ConflictError,
    ContentNotFoundError,
    DevelopmentTrustError,
    DossierNotFoundError,
    DuplicateError,
    EventTooLargeError,
    ForbiddenError,
    NotCatalogCentreError,
    RecordNotFoundError,
)
from ledger.store.application import RecordsApplication
from ledger.store.content import ContentStore
from ledger.store.recorders import Statements
from ledger.store.tables import LogStore
from ledger.trust.registry import AnchorNotFoundError
from ledger.trust.signatures import SignatureIntake
from verifiers.canonical import b64, event_hash, utc_iso
from verifiers.digest import digest_of
from verifiers.tiles import MAX_ENTRY_SIZE


@dataclass(frozen=True)
class Command:
    """One lifecycle action: `action` names it (see ACTIONS), `params` are its fields."""

    action: str
    params: dict[str, Any] = field(default_factory=dict)
    expected_version: int | None = None  # optimistic concurrency on the target aggregate


@dataclass(frozen=True)
class WrittenEvent:
    record: str
    version: int
    type: str
    hash: str  # base64 SHA-256 of the canonical bytes
    canonical: bytes

    def as_json(self) -> dict[str, Any]:
        return {
            "record": self.record,
            "version": self.version,
            "type": self.type,
            "hash": self.hash,
            "event": json.loads(self.canonical),
        }


class _UnitOfWork:
    """The aggregates a batch touches, loaded once and saved together."""

    def __init__(self, app: RecordsApplication, content: ContentStore,
                 intake: SignatureIntake | None = None, *, dev: bool = False,
                 held: HeldCatalogs | None = None) -> None:
        self.app = app
        self.held = held  # the shared catalogs' versions this node holds
        self.statements: list[tuple[str, Sequence[Any]]] = []  # run in the save's transaction
        self.dev = dev  # development trust allowed (the dev PKI's roots as anchors)
        self.content = content
        self.intake = intake
        self.touched: dict[UUID, ChainedAggregate] = {}
        self.created: list[UUID] = []
        self.new_anchors: list[str] = []  # fingerprints to index before the save
        self.contents: list[str] = []  # digests the new records name: held during the save
        self._catalogs: CatalogSet | None = None
        self._catalogs_read = False

    def load(self, aggregate_id: UUID) -> ChainedAggregate | None:
        if aggregate_id in self.touched:
            return self.touched[aggregate_id]
        try:
            aggregate: ChainedAggregate = self.app.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        self.touched[aggregate_id] = aggregate
        return aggregate

    def record(self, value: Any, expected_version: int | None) -> Record:
        rid = _uuid(value, "record")
        aggregate = self.load(rid)
        if not isinstance(aggregate, Record):
            raise RecordNotFoundError("no record with that id", record=str(rid))
        _expect(aggregate, expected_version)
        return aggregate

    def dossier(self, code: Any, expected_version: int | None) -> Dossier:
        if not isinstance(code, str):
            raise InvalidInputError("dossier must be a dossier code", value=code)
        aggregate = self.load(dossier_id(code))
        if not isinstance(aggregate, Dossier):
            raise DossierNotFoundError("no dossier with that code", dossier=code)
        _expect(aggregate, expected_version)
        return aggregate

    def anchor(self, fingerprint: Any, expected_version: int | None) -> TrustAnchor:
        aggregate = self.load(anchor_id(check_anchor_ref(fingerprint)))
        if not isinstance(aggregate, TrustAnchor):
            raise AnchorNotFoundError("no trust anchor with that fingerprint",
                                      anchor=fingerprint)
        _expect(aggregate, expected_version)
        return aggregate

    @property
    def catalogs(self) -> CatalogSet | None:
        """The catalog versions in force for this unit of work (read once). Not a
        functools.cached_property: before Python 3.12 that holds one lock for every instance
        while it computes, which made concurrent requests wait on each other's reads."""
        if not self._catalogs_read:
            self._catalogs = None if self.held is None else self.held.in_force()
            self._catalogs_read = True
        return self._catalogs

    def new(self, aggregate: ChainedAggregate, kind: str) -> None:
        """A new aggregate. One already stored is caught by the store's unique key on save
        (no read per create); `duplicates()` then names it."""
        if aggregate.id in self.touched:
            raise DuplicateError(f"that {kind} is already registered", id=str(aggregate.id))
        self.touched[aggregate.id] = aggregate
        self.created.append(aggregate.id)

    def duplicates(self) -> list[UUID]:
        """Which of the aggregates created in this unit of work were already stored."""
        return [i for i in self.created if self.app.recorder.select_events(i, limit=1)]


def _expect(aggregate: ChainedAggregate, expected_version: int | None) -> None:
    if expected_version is not None and aggregate.version != expected_version:
        raise ConflictError(
            "the aggregate changed since you read it",
            expected_version=expected_version, current_version=aggregate.version,
        )


def _uuid(value: Any, name: str) -> UUID:
    try:
        return value if isinstance(value, UUID) else UUID(str(value))
    except ValueError:
        raise InvalidInputError(f"{name} must be a UUID", value=value) from None


# -- the actions -------------------------------------------------------------------------------
# Each handler takes the unit of work, the actor, the time, the expected version, and the
# command's own params (checked against the handler's signature before it runs).

Handler = Callable[..., None]


def _create(uow: _UnitOfWork, actor: Actor, at: datetime, ev: int | None, *,
            metadata: dict[str, Any], retention: Any, schedule: str,
            content: dict[str, Any]) -> None:
    record = Record.register(actor=actor, at=at, metadata=metadata, retention=retention,
                             schedule=schedule, content=content, catalogs=uow.catalogs)
    uow.new(record, "record")
    uow.contents.append(record.content["digest"])


def _on_record(method: str) -> Handler:
    def handler(uow: _UnitOfWork, actor: Actor, at: datetime, ev: int | None, *, record: Any,
                **params: Any) -> None:
        getattr(uow.record(record, ev), method)(actor=actor, at=at, **params)

    handler.__name__ = method
    handler.__doc__ = getattr(Record, method).__doc__ or method
    handler.__signature__ = _signature_of(getattr(Record, method))  # type: ignore[attr-defined]
    return handler


def _signature_of(method: Callable[..., Any]) -> inspect.Signature:
    """The command's params: `record` plus the domain method's own, less actor and at."""
    params = [
        p for name, p in inspect.signature(method).parameters.items()
        if name not in ("self", "actor", "at")
    ]
    record = inspect.Parameter("record", inspect.Parameter.KEYWORD_ONLY)
    return inspect.Signature([record, *params])


def _sign(uow: _UnitOfWork, actor: Actor, at: datetime, ev: int | None, *, record: str,
          signer_class: str, signature: str | None = None, field: str | None = None,
          validation_data: list[str] | None = None) -> None:
    """Sign: validate a signature over the record's content and record it with its verdict.
    A signed PDF is the record's content itself (leave `signature` out); a detached CMS
    signature is uploaded first and named by its digest. `validation_data`: digests of
    uploaded CRLs, OCSP responses and certificates. `field`: which PDF signature."""
    target = uow.record(record, ev)
    target.check_may_sign(actor)  # custody first: validation is work, and tells nothing
    assert uow.intake is not None
    target.sign(actor=actor, at=at, **uow.intake.sign_params(
        target, at, signer_class=signer_class, signature=signature, field=field,
        validation_data=validation_data or []))


def _register_anchor(uow: _UnitOfWork, actor: Actor, at: datetime, ev: int | None, *,
                     certificate: str, pki: str, purposes: list[str], not_before: str | None = None,
                     not_after: str | None = None) -> None:
    """Register a trusted root (PEM or base64 DER) for `purposes` (signing, timestamping),
    by PKI name (NEAC, BCY...), for what was made within [not_before, not_after]."""
    anchor = TrustAnchor.register(actor=actor, at=at, certificate=certificate, pki=pki,
                                  purposes=purposes, not_before=not_before, not_after=not_after)
    if not uow.dev and is_development_certificate(base64.b64decode(anchor.certificate)):
        raise DevelopmentTrustError(
            "this is a root of Stele's development PKI or TSA; production never trusts it "
            "(run with --dev for development)", anchor=anchor.fingerprint)
    uow.new(anchor, "trust anchor")
    uow.new_anchors.append(anchor.fingerprint)


def _on_anchor(method: str) -> Handler:
    def handler(uow: _UnitOfWork, actor: Actor, at: datetime, ev: int | None, *, anchor: str,
                reason: str) -> None:
        getattr(uow.anchor(anchor, ev), method)(actor=actor, at=at, reason=reason)

    handler.__name__ = method + "_anchor"
    handler.__doc__ = getattr(TrustAnchor, method).__doc__
    return handler


def _file(uow: _UnitOfWork, actor: Actor, at: datetime, ev: int | None, *, record: Any,
          dossier: str) -> None:
    """File a record into an open dossier of its custodian."""
    uow.record(record, ev).file(actor=actor, at=at, dossier=uow.dossier(dossier, None))


def _open_dossier(uow: _UnitOfWork, actor: Actor, at: datetime, ev: int | None, *, code: str,
                  title: str, retention: Any) -> None:
    """Open a dossier: code <agency code>.<year>.<notation>, title, retention."""
    uow.new(Dossier.open(actor=actor, at=at, code=code, title=title, retention=retention),
            "dossier")


def _close_dossier(uow: _UnitOfWork, actor: Actor, at: datetime, ev: int | None, *,
                   dossier: str) -> None:
    """Close a dossier: its membership is frozen and sealed with a Merkle root."""
    uow.dossier(dossier, ev).close(actor=actor, at=at)


def _publish_catalog(uow: _UnitOfWork, actor: Actor, at: datetime, ev: int | None, *,
                     catalog: str, entries: list[dict[str, Any]]) -> None:
    """Publish a new version of a shared catalog (on the centre): its entries, whole."""
    assert uow.held is not None
    name = check_name(catalog)
    checked = check_entries(name, entries)
    if uow.held.is_consumer():
        raise NotCatalogCentreError("this node takes its catalogs from a centre: publish there")
    current = uow.load(catalog_id(name))
    if current is None:
        aggregate = Catalog.publish_first(actor=actor, at=at, name=name, entries=checked)
        uow.new(aggregate, "catalog")
    else:
        assert isinstance(current, Catalog)
        _expect(current, ev)
        previous = list(uow.held.version(name, current.version).entries)
        current.publish(actor=actor, at=at, entries=checked, previous=previous)
        aggregate = current
    uow.statements.append(uow.held.add_statement(
        name, aggregate.version, aggregate.digest,
        snapshot_bytes(name, aggregate.version, checked), utc_iso(at)))


def _sync_catalog(uow: _UnitOfWork, actor: Actor, at: datetime, ev: int | None, *,
                  snapshot: bytes, leaf: int, centre: dict[str, Any],
                  index: dict[str, str]) -> None:
    """Take a catalog version from the centre (verified by the catalog service)."""
    assert uow.held is not None
    name, version, _ = parse_snapshot(snapshot)
    digest = digest_of(snapshot)
    synced = {"catalog": name, "catalog_version": version, "digest": digest,
              "leaf": leaf, "centre": centre, "index": index}
    copy = uow.load(copy_id(name))
    if copy is None:
        uow.new(CatalogCopy.first(actor=actor, at=at, **synced), "catalog copy")
    else:
        assert isinstance(copy, CatalogCopy)
        copy.sync(actor=actor, at=at, **synced)
    uow.statements.append(uow.held.add_statement(name, version, digest, snapshot, utc_iso(at)))


ACTIONS: dict[str, Handler] = {
    "record.create": _create,
    "record.sign": _sign,
    "record.file": _file,
    "dossier.open": _open_dossier,
    "dossier.close": _close_dossier,
    "record.access.change": _on_record("change_access"),
    "record.appraise": _on_record("appraise"),
    "record.hold.place": _on_record("place_hold"),
    "record.hold.release": _on_record("release_hold"),
    "record.destruction.approve": _on_record("approve_destruction"),
    "record.destruction.execute": _on_record("destroy"),
    "trust.register": _register_anchor,
    "trust.suspend": _on_anchor("suspend"),
    "trust.reinstate": _on_anchor("reinstate"),
    "trust.retire": _on_anchor("retire"),
    "catalog.publish": _publish_catalog,
}


def _receive(uow: _UnitOfWork, actor: Actor, at: datetime, ev: int | None, *,
             events: list[dict[str, Any]], source: dict[str, Any]) -> None:
    """Open a record received from another log (its proven history, and where it is)."""
    record = Record.receive(actor=actor, at=at, events=events, source=source)
    uow.new(record, "record")
    uow.contents.append(record.content["digest"])


# Actions that only the ledger's own services issue, after the checks that are theirs: a
# transfer is initiated with the package the transfer service built, answered with a receipt
# it verified, and a received record is opened from a package it re-proved. No API route,
# batch or CLI command takes them.
SERVICE_ACTIONS: dict[str, Handler] = {
    "record.transfer.initiate": _on_record("initiate_transfer"),
    "record.transfer.receive": _on_record("receive_transfer"),
    "record.transfer.reject": _on_record("reject_transfer"),
    "record.receive": _receive,
    "catalog.sync": _sync_catalog,
}


def _keyword_signature(handler: Handler) -> inspect.Signature:
    signature = getattr(handler, "__signature__", None) or inspect.signature(handler)
    own = [p for p in signature.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    return inspect.Signature(own)


# The params each action takes: checked before its handler runs, and shown by the CLI.
ACTION_PARAMS: dict[str, inspect.Signature] = {
    action: _keyword_signature(handler) for action, handler in (ACTIONS | SERVICE_ACTIONS).items()
}
# (required, allowed) names per action: a set check is ten times cheaper than Signature.bind.
_PARAM_NAMES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    action: (
        frozenset(n for n, p in sig.parameters.items() if p.default is inspect.Parameter.empty),
        frozenset(sig.parameters),
    )
    for action, sig in ACTION_PARAMS.items()
}


def _bind(action: str, params: dict[str, Any], service: bool) -> Handler:
    handler = ACTIONS.get(action) or (SERVICE_ACTIONS.get(action) if service else None)
    if handler is None:
        raise InvalidInputError(f"unknown action {action!r}", known=sorted(ACTIONS))
    required, allowed = _PARAM_NAMES[action]
    missing, unknown = required - params.keys(), params.keys() - allowed
    if missing or unknown:
        raise InvalidInputError(
            f"{action}: missing {sorted(missing)}, unknown {sorted(unknown)}",
            action=action, missing=sorted(missing), unknown=sorted(unknown),
        )
    return handler


class Records:
    """Writes (commands) and the reads of records and dossiers."""

    def __init__(self, *, settings: Settings, clock: Callable[[], datetime], store: LogStore,
                 app: RecordsApplication, content: ContentStore,
                 intake: SignatureIntake, held: HeldCatalogs) -> None:
        self.settings = settings
        self.held = held
        self.clock = clock
        self.store = store
        self.app = app
        self.content = content
        self.intake = intake

    def execute(self, actor: Actor, commands: Sequence[Command], *,
                also: Callable[[list[WrittenEvent]], Statements] | None = None,
                service: bool = False) -> list[WrittenEvent]:
        """Apply `commands` in order, all or nothing; return the new events. `also` gives
        statements to run in the transaction that saves them (the answer to store).
        `service`: the caller is one of the ledger's services, which may issue
        SERVICE_ACTIONS."""
        if not commands:
            raise InvalidInputError("no commands")
        at = self.clock()
        uow = _UnitOfWork(self.app, self.content, self.intake, dev=self.settings.dev,
                          held=self.held)
        for command in commands:
            handler = _bind(command.action, command.params, service)
            handler(uow, actor, at, command.expected_version, **command.params)
        pending = [e for a in uow.touched.values() for e in a.collect_events()]
        written = [_written(e) for e in pending]
        for w in written:  # every leaf must fit a tlog-tiles entry bundle
            if len(w.canonical) > MAX_ENTRY_SIZE:
                raise EventTooLargeError(
                    f"the event would be {len(w.canonical)} bytes; a log entry holds at most "
                    f"{MAX_ENTRY_SIZE}", type=w.type, size=len(w.canonical))
        statements = [*uow.statements, *(also(written) if also is not None else ())]
        if uow.new_anchors:
            with self.store.transaction() as tx:
                tx.index_anchors(uow.new_anchors)
        # Held from the check to the save: a purge cannot delete what a new record names.
        with self.content.holding(uow.contents, actor.agency) as missing:
            if missing:  # or another agency's: the same answer, which tells nothing of them
                raise ContentNotFoundError("upload the content before registering the record",
                                           digests=missing)
            try:
                self.app.save(*pending, statements=statements)
            except IntegrityError:
                duplicates = uow.duplicates()
                if duplicates:
                    raise DuplicateError(
                        "already registered", ids=[str(i) for i in duplicates]
                    ) from None
                raise ConflictError(
                    "another writer changed one of these aggregates first; read and retry"
                ) from None
        return written

    def do(self, actor: Actor, action: str, expected_version: int | None = None,
           **params: Any) -> list[WrittenEvent]:
        """One command, from in-process code (the services, the demo): SERVICE_ACTIONS too."""
        return self.execute(actor, [Command(action, params, expected_version)], service=True)

    def put_content(self, data: bytes, *, agency: str, expected: str | None = None) -> str:
        """Store a document that `agency` presents (for its records to name)."""
        return self.content.put(data, expected, owner=agency)

    def record(self, value: Any) -> Record:
        return _UnitOfWork(self.app, self.content).record(value, None)

    def dossier(self, code: str) -> Dossier:
        return _UnitOfWork(self.app, self.content).dossier(code, None)

    def history(self, aggregate: Any) -> list[bytes]:
        """The canonical bytes of an aggregate's events, in order."""
        rid = _uuid(aggregate, "record")
        events = self.app.recorder.select_events(rid)
        if not events:
            raise RecordNotFoundError("no record with that id", record=str(rid))
        return [e.state for e in events]

    def leaf_indexes(self, aggregate: Any) -> list[int | None]:
        """Leaf index of each of an aggregate's events (None until integrated)."""
        with self.store.transaction() as tx:
            return [idx for _, _, idx in tx.record_leaves(_uuid(aggregate, "record"))]

    def describe(self, aggregate: Any, loaded: ChainedAggregate | None = None
                 ) -> dict[str, Any]:
        """A record's (or dossier's) current state and its event chain, for `record show`.
        `loaded`: the aggregate as the caller just loaded it (described at that version)."""
        rid = _uuid(aggregate, "record")
        uow = _UnitOfWork(self.app, self.content)
        current = loaded if loaded is not None else uow.load(rid)
        if not isinstance(current, Record | Dossier):  # a trust anchor is no record
            raise RecordNotFoundError("no record with that id", record=str(rid))
        # Events are only ever appended: read after the state, the history and the leaf
        # indexes hold at least its events; later ones (a write meanwhile) are left out, so the
        # state and the chain shown are one version.
        history = self.history(rid)[:current.version]
        indexes = self.leaf_indexes(rid)[:current.version]
        events = []
        for i, raw in enumerate(history):
            event = json.loads(raw)
            events.append({"version": i + 1, "hash": b64(event_hash(raw)),
                           "leaf_index": indexes[i],
                           "premis": PREMIS_EVENT_TYPES.get(event["type"]), "event": event})
        state = {k.lstrip("_"): v for k, v in vars(current).items()
                 if k not in ("_pending_events", "_created_on", "_modified_on", "_id")}
        if isinstance(current, Record):
            state.update(status=current.status, issued=current.issued,
                         retention_end=str(current.retention_end() or "never"),
                         content_present=self.content.has(current.content["digest"]))
        return {"id": str(rid), "kind": type(current).__name__.lower(), "state": state,
                "events": events}

    def list_records(self, *, agency: str | None, kind: str, after: int,
                     limit: int) -> list[tuple[str, str, str, int, int | None]]:
        """(id, creator, custodian, first leaf, destroyed leaf) in log order after `after`."""
        with self.store.transaction() as tx:
            return tx.list_records(agency=agency, kind=kind, after=after, limit=limit)

    def records_with(self, digest: str) -> list[str]:
        """The ids of every integrated record registered with this content, in log order."""
        with self.store.transaction() as tx:
            return [rid for rid, _ in tx.records_by_digest(digest)]

    def content_for(self, principal: Principal, digest: str) -> str:
        """The path of a document's bytes, if this principal may read some record holding
        them whose registering agency presented them (auditors read all; agencies what they
        registered or hold)."""
        if principal.role not in READ_ALL:
            allow(principal, READ_OWN, "download content")
            with self.store.transaction() as tx:
                rows = [tx.record_row(rid) for rid, _ in tx.records_by_digest(digest)]
                owners = tx.content_owners(digest)
            if not any(r is not None and r[3] in owners and may_read(principal, r[3], r[4])
                       for r in rows):
                raise ForbiddenError("no record of your agency holds this content")
        path = self.content.path_of(digest)
        if not os.path.exists(path):
            raise ContentNotFoundError("no content with that digest (or it was purged)",
                                       digest=digest)
        return path


def _written(event: Any) -> WrittenEvent:
    canonical: bytes = event.canonical()
    return WrittenEvent(
        record=str(event.originator_id), version=event.originator_version, type=event.TYPE,
        hash=b64(event_hash(canonical)), canonical=canonical,
    )

