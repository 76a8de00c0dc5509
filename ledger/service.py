"""The lifecycle service: the one entry point for writes (CLI now, HTTP API later) and reads.

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
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from domain.chained import ChainedAggregate
from domain.dossier import Dossier, dossier_id
from domain.envelope import Actor
from domain.errors import InvalidInputError
from domain.events import PREMIS_EVENT_TYPES
from domain.record import Record
from domain.trust import TrustAnchor, anchor_id, check_anchor_ref
from ledger.access.policy import READ_ALL, READ_OWN, allow, may_read
from ledger.access.principals import Principal, Principals
from ledger.config import Settings
from ledger.dev.tsa import is_development_certificate
from ledger.errors import (
    ConfigError,
    ConflictError,
    ContentNotFoundError,
    DevelopmentTrustError,
    DossierNotFoundError,
    DuplicateError,
    ForbiddenError,
    LogRangeError,
    NoCheckpointError,
    NotAnchoredError,
    RecordNotFoundError,
)
from ledger.log.audit import audit
from ledger.log.checkpoints import Checkpoint, Checkpointer
from ledger.log.integrator import Integrated, Integrator
from ledger.log.keys import LogKey
from ledger.log.tree import consistency_proof, inclusion_proof, root_at
from ledger.longterm.anchoring import Anchored, Anchorer, AnchorPolicy, anchor_policy
from ledger.longterm.renewal import Renewal, due, renew
from ledger.store.application import RecordsApplication
from ledger.store.content import ContentStore
from ledger.store.lease import ANCHORING, Lease
from ledger.store.tables import LogStore
from ledger.trust.registry import AnchorNotFoundError, TrustRegistry
from ledger.trust.signatures import SignatureIntake
from verifiers.canonical import b64, event_hash
from verifiers.certs import fingerprint
from verifiers.note import parse_verifier_key
from verifiers.report import Report
from verifiers.timestamp import TrustedRoot


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
                 intake: SignatureIntake | None = None, *, dev: bool = False) -> None:
        self.app = app
        self.dev = dev  # development trust allowed (the dev PKI's roots as anchors)
        self.content = content
        self.intake = intake
        self.touched: dict[UUID, ChainedAggregate] = {}
        self.created: list[UUID] = []
        self.new_anchors: list[str] = []  # fingerprints to index before the save
        self.contents: list[str] = []  # digests the new records name: held during the save

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
    if isinstance(content, dict) and not uow.content.has(content.get("digest", "")):
        raise ContentNotFoundError(
            "upload the content before registering the record", digest=content.get("digest")
        )
    record = Record.register(actor=actor, at=at, metadata=metadata, retention=retention,
                             schedule=schedule, content=content)
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


ACTIONS: dict[str, Handler] = {
    "record.create": _create,
    "record.sign": _sign,
    "record.file": _file,
    "dossier.open": _open_dossier,
    "dossier.close": _close_dossier,
    "record.transfer.initiate": _on_record("initiate_transfer"),
    "record.transfer.receive": _on_record("receive_transfer"),
    "record.transfer.reject": _on_record("reject_transfer"),
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
}


def _keyword_signature(handler: Handler) -> inspect.Signature:
    signature = getattr(handler, "__signature__", None) or inspect.signature(handler)
    own = [p for p in signature.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    return inspect.Signature(own)


# The params each action takes: checked before its handler runs, and shown by the CLI.
ACTION_PARAMS: dict[str, inspect.Signature] = {
    action: _keyword_signature(handler) for action, handler in ACTIONS.items()
}
# (required, allowed) names per action: a set check is ten times cheaper than Signature.bind.
_PARAM_NAMES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    action: (
        frozenset(n for n, p in sig.parameters.items() if p.default is inspect.Parameter.empty),
        frozenset(sig.parameters),
    )
    for action, sig in ACTION_PARAMS.items()
}


def _bind(action: str, params: dict[str, Any]) -> Handler:
    handler = ACTIONS.get(action)
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


class Ledger:
    """The ledger of one data directory and database."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime] | None = None) -> None:
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = LogStore(settings.database)
        try:
            with self.store.schema_lock():
                if settings.create_tables:
                    self.store.create_tables()  # first: on PostgreSQL this makes the schema
                self.app = RecordsApplication(
                    env=settings.database.eventsourcing_env()
                    | {"CREATE_TABLE": "y" if settings.create_tables else "n"})
            self.content = ContentStore(settings.data_dir / "content", self.store)
            self.key = LogKey.load_or_create(settings.data_dir, settings.origin)
            self._check_identity()
        except BaseException:  # a refused start leaves no connection open
            self.store.close()
            if hasattr(self, "app"):
                self.app.close()
            raise
        self.principals = Principals(self.store)
        self.trust = TrustRegistry(self.store, self.app)
        self.intake = SignatureIntake(self.content, self.trust)
        self.integrator = Integrator(self.store, self.content)
        self.checkpointer = Checkpointer(
            self.store, self.key, settings.origin, settings.checkpoint_every,
            settings.checkpoint_interval, self.clock,
        )
        self._anchorer: Anchorer | None = None
        self._lease: Lease | None = None

    def _check_identity(self) -> None:
        """A log has one origin and one checkpoint key, for life: refuse to sign its
        checkpoints under another name or key (a misconfigured node, a wrong data dir)."""
        with self.store.transaction(exclusive=True) as tx:
            origin = tx.claim_meta("origin", self.settings.origin)
            verifier = tx.claim_meta("verifier_key", self.key.verifier)
        if origin != self.settings.origin:
            raise ConfigError(
                f"this log's origin is {origin!r}, but STELE_LOG_ORIGIN says "
                f"{self.settings.origin!r}"
            )
        if verifier != self.key.verifier:
            raise ConfigError(
                "the checkpoint key in the data directory is not this log's key",
                log_key=verifier, data_dir_key=self.key.verifier,
            )

    def close(self) -> None:
        """Close the connections; hand the anchoring lease over at once if this held it."""
        try:
            if self._lease is not None:
                self._lease.release()
        finally:
            self.store.close()
            self.app.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes ----------------------------------------------------------------------------------
    def execute(self, actor: Actor, commands: Sequence[Command]) -> list[WrittenEvent]:
        """Apply `commands` in order, all or nothing; return the new events."""
        if not commands:
            raise InvalidInputError("no commands")
        at = self.clock()
        uow = _UnitOfWork(self.app, self.content, self.intake, dev=self.settings.dev)
        for command in commands:
            handler = _bind(command.action, command.params)
            handler(uow, actor, at, command.expected_version, **command.params)
        pending = [e for a in uow.touched.values() for e in a.collect_events()]
        if uow.new_anchors:
            with self.store.transaction() as tx:
                tx.index_anchors(uow.new_anchors)
        missing = self.content.hold(uow.contents)  # a purge may have run since the check
        try:
            if missing:
                raise ContentNotFoundError("upload the content before registering the record",
                                           digests=missing)
            self.app.save(*pending)
        except IntegrityError:
            duplicates = uow.duplicates()
            if duplicates:
                raise DuplicateError(
                    "already registered", ids=[str(i) for i in duplicates]
                ) from None
            raise ConflictError(
                "another writer changed one of these aggregates first; read and retry"
            ) from None
        finally:
            self.content.release(uow.contents)
        return [_written(e) for e in pending]

    def do(self, actor: Actor, action: str, expected_version: int | None = None,
           **params: Any) -> list[WrittenEvent]:
        return self.execute(actor, [Command(action, params, expected_version)])

    def put_content(self, data: bytes, expected: str | None = None) -> str:
        return self.content.put(data, expected)

    def integrate(self, progress: Callable[[int], None] | None = None) -> Integrated:
        return self.integrator.run(progress)

    def checkpoint(self, *, force: bool = False) -> Checkpoint | None:
        return self.checkpointer.cut(force=force)

    @property
    def anchorer(self) -> Anchorer:
        """Made on first use: the built-in TSA's key is created only when it is needed."""
        if self._anchorer is None:
            self.set_anchor_policy(anchor_policy(self.settings))
        assert self._anchorer is not None
        return self._anchorer

    def set_anchor_policy(self, policy: AnchorPolicy) -> None:
        """Anchor with these TSAs from now on (instead of the configured ones)."""
        self._anchorer = Anchorer(
            self.store, self._save, policy, self.settings.origin,
            Actor("stele:log", "system", self.settings.operator_agency), self.clock,
            self.trust.tsa_roots)

    def _save(self, aggregate: ChainedAggregate) -> None:
        self.app.save(aggregate)

    def anchor(self, *, leased: bool = False) -> list[Anchored]:
        """Timestamp every checkpoint with new events (k of n TSAs); see ledger/longterm.
        `leased`: only if this process holds the anchoring lease (the background workers,
        so that N of them make one request per checkpoint and TSA, not N)."""
        return self.anchorer.run(self.lease.hold if leased else lambda: True)

    def sync(self, *, anchor: bool = True) -> Checkpoint | None:
        """Integrate everything written, cut a checkpoint covering it all, anchor it, and
        cut a last checkpoint that covers the anchor entries too."""
        self.integrate()
        self.checkpoint(force=True)
        if anchor:
            self.anchor()
            self.integrate()
            self.checkpoint(force=True)
        return self.checkpointer.latest()

    # -- reads -----------------------------------------------------------------------------------
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

    def describe(self, aggregate: Any) -> dict[str, Any]:
        """A record's (or dossier's) current state and its event chain, for `record show`."""
        rid = _uuid(aggregate, "record")
        uow = _UnitOfWork(self.app, self.content)
        current = uow.load(rid)
        if current is None:
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

    def status(self) -> dict[str, Any]:
        """Size, latest checkpoint and integration backlog."""
        with self.store.transaction() as tx:
            size, cursor = tx.head()
            backlog = tx.event_count() - tx.events_up_to(cursor)
            latest = tx.latest_checkpoint()
        return {
            "origin": self.settings.origin,
            "database": self.settings.database.url,
            "tree_size": size,
            "integration_backlog": backlog,
            "checkpoint": None if latest is None else {
                "size": latest[0], "root": b64(latest[1]), "cut_at": latest[3]},
            "checkpoint_backlog": size - (latest[0] if latest else 0),
            "anchoring": self.anchoring_status(),
        }

    def anchoring_status(self) -> dict[str, Any]:
        """Anchored checkpoints, those waiting for a TSA, and evidence records due renewal."""
        with self.store.transaction() as tx:
            counts = tx.anchoring_counts()
        try:
            anchorer = self.anchorer
        except ConfigError as exc:  # no TSA configured: say so, the rest still reads
            return {**counts, "configured": False, "reason": exc.message}
        return {**counts, "configured": True, "waiting": anchorer.backlog(),
                "tsas": [t.url for t in anchorer.policy.tsas],
                "quorum": anchorer.policy.quorum,
                "renewal_due": [{"size": s, "tsa": t, "tsa_certificate_expires": e}
                                for s, t, e in due(anchorer, self.renewal_margin)]}

    @property
    def renewal_margin(self) -> timedelta:
        return timedelta(days=self.settings.renewal_margin_days)

    @property
    def lease(self) -> Lease:
        """The anchoring lease of this process: only its holder calls the TSAs."""
        if self._lease is None:
            self._lease = Lease(self.store, ANCHORING,
                                ttl=timedelta(seconds=self.settings.lease_seconds))
        return self._lease

    def renew_if_due(self) -> Renewal | None:
        """The scheduled renewal job, for the anchoring lease's holder: finish a renewal a
        crash left under way; else, at most every renewal_check_seconds across all processes,
        renew every evidence record if any TSA certificate in use expires within the margin,
        or if the committee stopped trusting the root a TSA in use chains to."""
        if not self.lease.hold():
            return None
        with self.store.transaction() as tx:
            resume = tx.open_renewal()
        if resume is not None:
            return renew(self.anchorer, reason=str(resume[4]), hold=self.lease.hold)
        now = self.clock()
        with self.store.transaction() as tx:  # the lease holder alone writes it
            checked = tx.meta("renewal_checked_at")
            if checked is not None and now < datetime.fromisoformat(checked) + timedelta(
                    seconds=self.settings.renewal_check_seconds):
                return None
            tx.put_meta("renewal_checked_at", now.isoformat())
        stopped = self.trust.stopped_tsa_anchors(self.clock())
        if stopped:
            names = ", ".join(f"{a.pki} {a.fingerprint} ({a.status})" for a in stopped)
            return renew(self.anchorer, reason=f"a TSA in use chains to an anchor that no "
                         f"longer vouches: {names}", hold=self.lease.hold)
        if not due(self.anchorer, self.renewal_margin):
            return None
        return renew(self.anchorer, reason="a TSA certificate in use expires within "
                     f"{self.settings.renewal_margin_days} days", hold=self.lease.hold)

    def size(self) -> int:
        with self.store.transaction() as tx:
            return tx.size()

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
        them (auditors read all; agencies what they registered or hold)."""
        if principal.role not in READ_ALL:
            allow(principal, READ_OWN, "download content")
            with self.store.transaction() as tx:
                rows = [tx.record_row(rid) for rid, _ in tx.records_by_digest(digest)]
            if not any(r is not None and may_read(principal, r[3], r[4]) for r in rows):
                raise ForbiddenError("no record of your agency holds this content")
        path = self.content.path_of(digest)
        if not os.path.exists(path):
            raise ContentNotFoundError("no content with that digest (or it was purged)",
                                       digest=digest)
        return path

    def checkpoint_at(self, size: int | None = None) -> Checkpoint:
        """The checkpoint of tree size `size` (default: the latest)."""
        cp = self.checkpointer.latest() if size is None else self.checkpointer.at(size)
        if cp is None:
            raise NoCheckpointError("no checkpoint" + (f" of size {size}" if size else " yet"),
                                    size=size)
        return cp

    def anchored(self, size: int, tsa: str | None = None) -> tuple[bytes, bytes]:
        """(RFC 3161 token, RFC 4998 evidence record) of checkpoint `size` from `tsa`
        (default: the first TSA that answered)."""
        with self.store.transaction() as tx:
            found = [(token, record) for url, token, record in tx.anchored(size)
                     if tsa in (None, url)]
        if not found:
            raise NotAnchoredError(f"checkpoint {size} is not anchored"
                                   + (f" by {tsa}" if tsa else ""), size=size, tsa=tsa)
        return found[0]

    def leaves(self, start: int, end: int) -> list[tuple[int, bytes]]:
        with self.store.transaction() as tx:
            size = tx.size()
            if not 0 <= start <= end <= size:
                raise LogRangeError(
                    f"range {start}..{end} is outside the log (size {size})", size=size
                )
            return [(idx, state) for idx, _, _, state in tx.leaves(start, end)]

    def prove_inclusion(self, index: int, size: int | None = None) -> dict[str, Any]:
        with self.store.transaction() as tx:
            size = tx.size() if size is None else size
            proof = inclusion_proof(tx, index, size)
            (_, _, stored, _), = tx.leaves(index, index + 1)
        return {"index": index, "tree_size": size, "leaf_hash": b64(stored),
                "proof": [b64(p) for p in proof]}

    def prove_consistency(self, first: int, second: int) -> dict[str, Any]:
        with self.store.transaction() as tx:
            proof = consistency_proof(tx, first, second)
        return {"first": first, "second": second, "proof": [b64(p) for p in proof]}

    def audit(self, progress: Callable[[int], None] | None = None, *,
              saved_checkpoint: str | None = None, at: datetime | None = None) -> Report:
        return audit(self.store, parse_verifier_key(self.key.verifier), self.settings.origin,
                     progress, tsa_roots=self.audit_tsa_roots(),
                     at=at or self.clock(), saved_checkpoint=saved_checkpoint)

    def audit_tsa_roots(self) -> list[bytes | TrustedRoot]:
        """The roots the audit checks stored timestamps against: the configured ones (the
        registry's window instead, for those also registered), and every registered
        time-stamping anchor for the tokens made while it was in force (a retired one still
        vouches for the tokens made before it retired; a suspended one for nothing)."""
        now = self.clock()
        registered = self.trust.vouching("timestamping", now)
        try:
            configured = list(self.anchorer.policy.trust_roots)
        except ConfigError:  # no TSA configured here: the registry's anchors alone
            configured = []
        known = {fingerprint(r.der) for r in registered}
        return [*registered, *(r for r in dict.fromkeys(configured)
                              if fingerprint(r) not in known)]

    def root(self, size: int | None = None) -> bytes:
        with self.store.transaction() as tx:
            return root_at(tx, tx.size() if size is None else size)


def _written(event: Any) -> WrittenEvent:
    canonical: bytes = event.canonical()
    return WrittenEvent(
        record=str(event.originator_id), version=event.originator_version, type=event.TYPE,
        hash=b64(event_hash(canonical)), canonical=canonical,
    )

