"""The Record aggregate: one document's whole life, from registration to destruction.

Rules follow DOMAIN.md (Law on Archives 2024, Decree 30/2020, Circular 05/2025). Each command
checks every rule first and only then triggers its event, so a refused command changes nothing.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from domain import errors
from domain.catalog import CatalogSet
from domain.chained import ChainedAggregate, aggregate_id
from domain.envelope import Actor
from domain.metadata import (
    ACCESS_LEVELS,
    PERMANENT,
    Retention,
    check_agency_code,
    check_choice,
    check_date,
    check_digest,
    check_metadata,
    check_positive_int,
    check_retention,
    check_text,
    retention_end,
)
from verifiers.canonical import canonical_bytes
from verifiers.digest import is_digest

VIETNAM = timezone(timedelta(hours=7))  # retention periods run on the legal calendar (UTC+7)
RECORD_NAMESPACE = UUID("6f1c3a52-8f0e-5d0b-9a51-3b7a6f1e2c40")
SIGNATURE_FORMATS = ("pades", "cms")
SIGNER_CLASSES = ("individual", "organization")
VERDICTS = ("PASSED", "FAILED", "INDETERMINATE")
DESTINATION_KINDS = ("agency_archive", "historical_archive")
APPRAISAL_DECISIONS = ("retain", "destroy")
INSPECTOR = "inspector"  # the role of inspection and judicial authorities (holds on any record)


def record_id(metadata: dict[str, Any]) -> UUID:
    """A record's id, derived from its registration key (number, notation, issuer, year), which
    Decree 30 makes unique: registering the same document twice is refused as a duplicate."""
    return _registration_id(check_metadata(metadata))


def _registration_id(meta: dict[str, Any]) -> UUID:
    year = meta["issued"][:4]
    key = canonical_bytes([meta["issuer"], year, meta["number"], meta["notation"]])
    return aggregate_id(RECORD_NAMESPACE, key.decode("utf-8"))


def check_legal_basis(value: Any) -> dict[str, str] | None:
    """The authorising decision, where one exists: {"number", "code", "date"}."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"number", "code", "date"}:
        raise errors.InvalidInputError(
            "legal_basis must be an object with number, code and date", value=value
        )
    return {
        "number": check_text(value.get("number"), "legal_basis.number", max_len=100),
        "code": check_text(value.get("code", value.get("number")), "legal_basis.code", max_len=100),
        "date": check_date(value.get("date"), "legal_basis.date").isoformat(),
    }


def check_counts(value: Any) -> dict[str, int]:
    if not isinstance(value, dict) or set(value) != {"dossiers", "documents", "bytes"}:
        raise errors.InvalidInputError(
            "counts must have exactly dossiers, documents and bytes", value=value
        )
    return {k: check_positive_int(value[k], f"counts.{k}", zero=True) for k in sorted(value)}


class Record(ChainedAggregate):
    """A document under the ledger's custody rules."""

    class Event(ChainedAggregate.Event):
        pass

    class Created(Event, ChainedAggregate.Created):
        TYPE: ClassVar[str] = "record.created"
        metadata: dict[str, Any]
        retention: Retention
        schedule: str
        content: dict[str, Any]
        custodian: str
        # The shared catalogs' versions the metadata was checked against (catalog ->
        # version); left out of the envelope where the node held no catalog.
        used_catalogs: dict[str, int] | None = None

        def data(self) -> dict[str, Any]:
            data = super().data()
            if data.get("used_catalogs") is None:
                data.pop("used_catalogs", None)
            return data

        def apply(self, aggregate: Any) -> None:
            aggregate.metadata = self.metadata
            aggregate.retention = self.retention
            aggregate.schedule = self.schedule
            aggregate.content = self.content
            aggregate.custodian = self.custodian
            aggregate.creator = self.custodian  # the registering agency, for its own reads
            aggregate.dossier = None
            aggregate.signatures = []
            aggregate.transfer = None
            aggregate.holds = {}
            aggregate.appraisal = None
            aggregate.destruction = None
            aggregate.destroyed = False

    class Received(Event, ChainedAggregate.Created):
        """The first event of a record on the archive that received it from another log: the
        record's state as the sender's proven events left it, and where they are. Its `prev`
        is the hash of the sender's last event in the package, so the chain runs on across
        the two logs from the agency's `record.created`."""

        TYPE: ClassVar[str] = "record.received"
        metadata: dict[str, Any]
        retention: Retention
        schedule: str
        content: dict[str, Any]
        custodian: str
        source: dict[str, Any]
        signatures: list[dict[str, Any]]
        dossier: dict[str, str] | None

        def expected_prev(self, aggregate: Any) -> str | None:
            # The sender's last event, which this log does not hold: the link is checked by
            # the receiving service (against the verified package) and by every verifier
            # (against the sender's bundle that the record's bundle carries).
            return str(self.source["head"]) if aggregate is None else aggregate.head

        def apply(self, aggregate: Any) -> None:
            Record.Created.apply(self, aggregate)  # type: ignore[arg-type]
            aggregate.signatures = [dict(s) for s in self.signatures]
            aggregate.dossier = None if self.dossier is None else dict(self.dossier)

    class Signed(Event):
        TYPE: ClassVar[str] = "record.signed"
        format: str
        signer_class: str
        signed_digest: str
        signer: str
        chain: list[str]
        signing_time: str
        signature: str
        validation: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            aggregate.signatures.append(
                {
                    "version": self.originator_version,
                    "signer_class": self.signer_class,
                    "signer": self.signer,
                    "verdict": self.validation["verdict"],
                }
            )

    class Filed(Event):
        TYPE: ClassVar[str] = "record.filed"
        dossier: str
        dossier_code: str

        def apply(self, aggregate: Any) -> None:
            aggregate.dossier = {"id": self.dossier, "code": self.dossier_code}

    class TransferInitiated(Event):
        TYPE: ClassVar[str] = "record.transfer_initiated"
        transfer: str
        destination: str
        destination_kind: str
        registration: str
        package_digest: str
        counts: dict[str, int]
        legal_basis: dict[str, str] | None

        def apply(self, aggregate: Any) -> None:
            aggregate.transfer = {
                "id": self.transfer,
                "destination": self.destination,
                "destination_kind": self.destination_kind,
                "package_digest": self.package_digest,
                "counts": self.counts,
            }

    class TransferReceived(Event):
        TYPE: ClassVar[str] = "record.transfer_received"
        transfer: str
        package_digest: str
        counts: dict[str, int]
        content_digest: str
        receipt: str

        def apply(self, aggregate: Any) -> None:
            aggregate.custodian = aggregate.transfer["destination"]
            aggregate.transfer = None
            # A destruction decision is the old custodian's: the new one decides afresh.
            aggregate.destruction = None

    class TransferRejected(Event):
        TYPE: ClassVar[str] = "record.transfer_rejected"
        transfer: str
        reason: str
        receipt: str

        def apply(self, aggregate: Any) -> None:
            aggregate.transfer = None

    class AccessChanged(Event):
        TYPE: ClassVar[str] = "record.access_changed"
        access: str
        previous: str
        legal_basis: dict[str, str] | None

        def apply(self, aggregate: Any) -> None:
            aggregate.metadata = dict(aggregate.metadata, access=self.access)

    class Appraised(Event):
        TYPE: ClassVar[str] = "record.appraised"
        council: str
        minutes: str
        decision: str
        retention: Retention
        legal_basis: dict[str, str] | None

        def apply(self, aggregate: Any) -> None:
            aggregate.retention = self.retention
            aggregate.appraisal = {
                "minutes": self.minutes,
                "decision": self.decision,
                "version": self.originator_version,
            }
            # A later appraisal supersedes an earlier destruction decision.
            aggregate.destruction = None

    class HoldPlaced(Event):
        TYPE: ClassVar[str] = "record.hold_placed"
        hold: str
        reason: str
        legal_basis: dict[str, str] | None

        def apply(self, aggregate: Any) -> None:
            # The authority that placed it is the one that may release it.
            aggregate.holds[self.hold] = {"reason": self.reason, "agency": self.actor["agency"]}

    class HoldReleased(Event):
        TYPE: ClassVar[str] = "record.hold_released"
        hold: str
        reason: str

        def apply(self, aggregate: Any) -> None:
            del aggregate.holds[self.hold]

    class DestructionApproved(Event):
        TYPE: ClassVar[str] = "record.destruction_approved"
        decision: str
        appraisal: str
        legal_basis: dict[str, str] | None

        def apply(self, aggregate: Any) -> None:
            aggregate.destruction = {"decision": self.decision, "appraisal": self.appraisal}

    class Destroyed(Event):
        TYPE: ClassVar[str] = "record.destroyed"
        decision: str
        minutes: str
        replicas_purged: int

        def apply(self, aggregate: Any) -> None:
            aggregate.destroyed = True

    if TYPE_CHECKING:  # state, set by the events above
        metadata: dict[str, Any]
        retention: Retention
        schedule: str
        content: dict[str, Any]
        custodian: str
        creator: str
        dossier: dict[str, str] | None
        signatures: list[dict[str, Any]]
        transfer: dict[str, Any] | None
        holds: dict[str, dict[str, str]]  # hold id -> reason, placing agency
        appraisal: dict[str, Any] | None
        destruction: dict[str, str] | None
        destroyed: bool

    # -- create ---------------------------------------------------------------------------
    @classmethod
    def register(
        cls,
        *,
        actor: Actor,
        at: datetime,
        metadata: dict[str, Any],
        retention: Any,
        schedule: str,
        content: dict[str, Any],
        catalogs: CatalogSet | None = None,
    ) -> Record:
        """Register a document the actor's agency issued; with `catalogs` (the versions in
        force on this node), its issuer, type, access level and retention schedule must be in
        force there on its issue date, and the event names those versions."""
        meta = check_metadata(metadata)
        if not isinstance(content, dict) or set(content) != {"digest", "size", "media_type"}:
            raise errors.InvalidInputError(
                "content must have exactly digest, size and media_type", value=content
            )
        check_agency_code(actor.agency, "actor.agency")
        if meta["issuer"] != actor.agency:  # a record's id is its registration: never squat one
            raise errors.NotIssuerError(
                "an agency registers only the documents it issued", actor=actor.agency)
        schedule = check_text(schedule, "schedule", max_len=200)
        retention = check_retention(retention)
        if catalogs is not None:
            catalogs.check_record(meta, retention, schedule)
        return cls._create(
            cls.Created,
            id=_registration_id(meta),
            timestamp=at,
            actor=actor.as_dict(),
            prev=None,
            metadata=meta,
            retention=retention,
            schedule=schedule,
            content={
                "digest": check_digest(content["digest"], "content.digest"),
                "size": check_positive_int(content["size"], "content.size", zero=True),
                "media_type": check_text(content["media_type"], "content.media_type", max_len=255),
            },
            custodian=actor.agency,
            used_catalogs=None if catalogs is None else catalogs.used(),
        )

    @classmethod
    def receive(cls, *, actor: Actor, at: datetime, events: list[dict[str, Any]],
                source: dict[str, Any]) -> Record:
        """Open the record on the archive that received it: `events` are the sender's
        envelopes of its history (already proven against the sender's pinned log key),
        `source` says where they are (origin, transfer, package digest, checkpoint, the leaf
        index of each, the digest of the sender's bundle). The state carried over is what
        those events made of the record; custody is the receiving agency's."""
        check_agency_code(actor.agency, "actor.agency")
        state = carried_state(events)
        if events[-1]["version"] != len(events) or not isinstance(source.get("leaves"), list) \
                or len(source["leaves"]) != len(events):
            raise errors.InvalidInputError("source must give the leaf index of every event",
                                           events=len(events))
        return cls._create(
            cls.Received, id=UUID(events[0]["record"]), timestamp=at, actor=actor.as_dict(),
            prev=check_text(source.get("head"), "source.head", max_len=100),
            metadata=state["metadata"], retention=state["retention"],
            schedule=state["schedule"], content=state["content"], custodian=actor.agency,
            source=dict(source), signatures=state["signatures"], dossier=state["dossier"],
        )

    # -- derived state --------------------------------------------------------------------
    @property
    def issued(self) -> bool:
        """The legal value of an original (Decree 30 Art. 5): a valid individual signature and a
        valid agency signature."""
        classes = {s["signer_class"] for s in self.signatures if s["verdict"] == "PASSED"}
        return set(SIGNER_CLASSES) <= classes

    @property
    def status(self) -> str:
        if self.destroyed:
            return "destroyed"
        if self.destruction is not None:
            return "destruction_approved"
        if self.transfer is not None:
            return "transfer_pending"
        return "issued" if self.issued else "registered"

    def retention_end(self) -> date | None:
        return retention_end(date.fromisoformat(self.metadata["issued"]), self.retention)

    # -- guards ---------------------------------------------------------------------------
    def _alive(self) -> None:
        if self.destroyed:
            raise errors.RecordDestroyedError(
                "the record was destroyed; its history is a tombstone", record=str(self.id)
            )

    def _custodian(self, actor: Actor) -> None:
        """Checked before any rule about the record's state: one who may not act on a record
        learns nothing of its state (nor who holds it) from the refusal."""
        if actor.agency != self.custodian:
            raise errors.NotCustodianError("only the custodian may do this", actor=actor.agency)

    # -- sign -----------------------------------------------------------------------------
    def check_may_sign(self, actor: Actor) -> None:
        """The rules of `sign` that need no signature: checked before validating one."""
        self._custodian(actor)
        self._alive()

    def sign(
        self,
        *,
        actor: Actor,
        at: datetime,
        format: str,
        signer_class: str,
        signed_digest: str,
        signer: str,
        chain: list[str],
        signing_time: str,
        signature: str,
        validation: dict[str, Any],
    ) -> None:
        self._custodian(actor)
        self._alive()
        check_choice(format, "format", SIGNATURE_FORMATS)
        check_choice(signer_class, "signer_class", SIGNER_CLASSES)
        check_digest(signed_digest, "signed_digest")
        if signed_digest != self.content["digest"]:
            raise errors.DigestMismatchError(
                "the signature covers other content",
                expected=self.content["digest"],
                found=signed_digest,
            )
        check_digest(signer, "signer")
        if not isinstance(chain, list):
            raise errors.InvalidInputError("chain must be a list of certificate digests")
        for i, fingerprint in enumerate(chain):
            check_digest(fingerprint, f"chain[{i}]")
        check_digest(signature, "signature")
        if not isinstance(validation, dict):
            raise errors.InvalidInputError("validation must be an object")
        check_choice(validation.get("verdict"), "validation.verdict", VERDICTS)
        # The certificate chains to an anchor in force at signing time (the ledger checked
        # which; the event names it).
        if not is_digest(validation.get("anchor")):
            raise errors.UntrustedSignerError(
                "a signature is recorded only with the trust anchor that vouched for it",
                anchor=validation.get("anchor"))
        self._next(
            self.Signed,
            actor=actor.as_dict(),
            timestamp=at,
            format=format,
            signer_class=signer_class,
            signed_digest=signed_digest,
            signer=signer,
            chain=list(chain),
            signing_time=check_text(signing_time, "signing_time", max_len=40),
            signature=signature,
            validation=dict(validation),
        )

    # -- file -----------------------------------------------------------------------------
    def file(self, *, actor: Actor, at: datetime, dossier: Any) -> None:
        """File this record into `dossier` (a Dossier aggregate, which records the member)."""
        self._custodian(actor)
        self._alive()
        dossier.check_custodian(actor)
        if self.dossier is not None:
            raise errors.AlreadyFiledError(
                "a record belongs to one dossier", dossier=self.dossier["code"]
            )
        dossier.add_member(actor=actor, at=at, record=self.id, digest=self.content["digest"])
        self._next(
            self.Filed, actor=actor.as_dict(), timestamp=at, dossier=str(dossier.id),
            dossier_code=dossier.code,
        )

    # -- transfer -------------------------------------------------------------------------
    def initiate_transfer(
        self,
        *,
        actor: Actor,
        at: datetime,
        transfer: str,
        destination: str,
        destination_kind: str,
        registration: str,
        package_digest: str,
        counts: dict[str, int],
        legal_basis: dict[str, str] | None = None,
    ) -> None:
        self.check_may_transfer(actor, destination, destination_kind)
        self._next(
            self.TransferInitiated,
            actor=actor.as_dict(),
            timestamp=at,
            transfer=check_text(transfer, "transfer", max_len=100),
            destination=destination,
            destination_kind=destination_kind,
            registration=check_text(registration, "registration", max_len=100),
            package_digest=check_digest(package_digest, "package_digest"),
            counts=check_counts(counts),
            legal_basis=check_legal_basis(legal_basis),
        )

    def check_may_transfer(self, actor: Actor, destination: str, destination_kind: str) -> None:
        """The rules of `initiate_transfer` that need no package: checked before one is
        built."""
        self._custodian(actor)
        self._alive()
        if self.transfer is not None:
            raise errors.TransferPendingError(
                "a transfer is already under way", transfer=self.transfer["id"]
            )
        check_agency_code(destination, "destination")
        check_choice(destination_kind, "destination_kind", DESTINATION_KINDS)
        if destination == self.custodian:
            raise errors.InvalidInputError("a record cannot be transferred to its custodian")
        if destination_kind == "historical_archive" and self.metadata["access"] == "classified":
            raise errors.ClassifiedRecordError(
                "declassify the record before it goes to a historical archive",
                access=self.metadata["access"],
            )

    def _pending(self, actor: Actor, transfer: str) -> dict[str, Any]:
        # Who first: only the destination of a pending transfer learns anything about it.
        if self.transfer is None or actor.agency != self.transfer["destination"]:
            raise errors.NotDestinationError(
                "only the destination of a pending transfer answers it", actor=actor.agency)
        if self.transfer["id"] != transfer:
            raise errors.NoTransferPendingError(
                "no such transfer is pending", transfer=transfer, pending=self.transfer["id"])
        return self.transfer

    def receive_transfer(
        self,
        *,
        actor: Actor,
        at: datetime,
        transfer: str,
        package_digest: str,
        counts: dict[str, int],
        content_digest: str,
        receipt: str,
    ) -> None:
        """Custody changes here, and only when the receiver's recomputed digests and counts
        match what was sent (Circular 05/2025 Art. 23). `receipt`: the digest of the
        receiver's signed receipt, which the ledger verified and keeps."""
        pending = self._pending(actor, transfer)
        counts = check_counts(counts)
        check_digest(package_digest, "package_digest")
        check_digest(content_digest, "content_digest")
        mismatches: dict[str, tuple[Any, Any]] = {}
        if package_digest != pending["package_digest"]:
            mismatches["package_digest"] = (pending["package_digest"], package_digest)
        if counts != pending["counts"]:
            mismatches["counts"] = (pending["counts"], counts)
        if content_digest != self.content["digest"]:
            mismatches["content_digest"] = (self.content["digest"], content_digest)
        if mismatches:
            raise errors.ReceiptMismatchError(
                "the receipt does not match the package; reject the transfer instead",
                **{k: f"expected {a}, found {b}" for k, (a, b) in mismatches.items()},
            )
        self._next(
            self.TransferReceived, actor=actor.as_dict(), timestamp=at, transfer=transfer,
            package_digest=package_digest, counts=counts, content_digest=content_digest,
            receipt=check_digest(receipt, "receipt"),
        )

    def reject_transfer(self, *, actor: Actor, at: datetime, transfer: str, reason: str,
                        receipt: str) -> None:
        self._pending(actor, transfer)
        self._next(
            self.TransferRejected, actor=actor.as_dict(), timestamp=at, transfer=transfer,
            reason=check_text(reason, "reason"), receipt=check_digest(receipt, "receipt"),
        )

    def change_access(
        self,
        *,
        actor: Actor,
        at: datetime,
        access: str,
        legal_basis: dict[str, str] | None = None,
    ) -> None:
        """Change the access level, e.g. declassify a record before it goes to a historical
        archive. Custodian only, on an authorising decision (its legal basis is required)."""
        self._custodian(actor)
        self._alive()
        check_choice(access, "access", ACCESS_LEVELS)
        if access == self.metadata["access"]:
            raise errors.InvalidInputError("the record already has that access level",
                                           access=access)
        if legal_basis is None:
            raise errors.InvalidInputError("changing the access level needs a legal basis")
        self._next(
            self.AccessChanged, actor=actor.as_dict(), timestamp=at, access=access,
            previous=self.metadata["access"], legal_basis=check_legal_basis(legal_basis),
        )

    # -- appraise -------------------------------------------------------------------------
    def appraise(
        self,
        *,
        actor: Actor,
        at: datetime,
        council: str,
        minutes: str,
        decision: str,
        retention: Any,
        legal_basis: dict[str, str] | None = None,
    ) -> None:
        """An appraisal council's decision: the only way a retention period changes."""
        self._custodian(actor)
        self._alive()
        check_choice(decision, "decision", APPRAISAL_DECISIONS)
        retention = check_retention(retention)
        if self.retention == PERMANENT and (retention != PERMANENT or decision != "retain"):
            raise errors.RetentionPermanentError(
                "a permanent record stays permanent", requested=retention, decision=decision
            )
        if decision == "destroy" and retention == PERMANENT:
            raise errors.InvalidInputError("a permanent retention cannot end in destruction")
        self._next(
            self.Appraised, actor=actor.as_dict(), timestamp=at,
            council=check_text(council, "council"), minutes=check_text(minutes, "minutes"),
            decision=decision, retention=retention, legal_basis=check_legal_basis(legal_basis),
        )

    def place_hold(
        self,
        *,
        actor: Actor,
        at: datetime,
        hold: str,
        reason: str,
        legal_basis: dict[str, str] | None = None,
    ) -> None:
        """A hold forbids destruction until released. An inspection or judicial authority
        (an inspector) places one on any agency's record, citing its decision in
        `legal_basis`; the custodian places one on its own records. Only the agency that placed
        a hold releases it."""
        if actor.role != INSPECTOR:
            self._custodian(actor)
        self._alive()
        check_text(hold, "hold", max_len=100)
        if hold in self.holds:
            raise errors.HoldExistsError("that hold is already active", hold=hold)
        self._next(
            self.HoldPlaced, actor=actor.as_dict(), timestamp=at, hold=hold,
            reason=check_text(reason, "reason"), legal_basis=check_legal_basis(legal_basis),
        )

    def release_hold(self, *, actor: Actor, at: datetime, hold: str, reason: str) -> None:
        """Release a hold: only the agency that placed it (the inspectorate or court whose
        decision it was, or the custodian for its own hold)."""
        if actor.role != INSPECTOR:
            self._custodian(actor)
        self._alive()
        check_text(hold, "hold", max_len=100)
        if hold not in self.holds:
            raise errors.HoldNotFoundError("no active hold has that id", hold=hold)
        if actor.agency != self.holds[hold]["agency"]:
            raise errors.NotHoldAuthorityError(
                "only the agency that placed a hold releases it", hold=hold, actor=actor.agency)
        self._next(
            self.HoldReleased, actor=actor.as_dict(), timestamp=at, hold=hold,
            reason=check_text(reason, "reason"),
        )

    # -- destroy --------------------------------------------------------------------------
    def _destructible(self, at: datetime) -> None:
        if self.retention == PERMANENT:
            raise errors.RecordPermanentError("a permanent record is never destroyed")
        if self.appraisal is None or self.appraisal["decision"] != "destroy":
            raise errors.AppraisalRequiredError(
                "no appraisal has decided that the record's value has ended",
                last_decision=self.appraisal["decision"] if self.appraisal else None,
            )
        end = self.retention_end()
        if end is not None and at.astimezone(VIETNAM).date() < end:
            raise errors.RetentionNotExpiredError(
                "the retention period runs until " + end.isoformat(), until=end.isoformat()
            )
        if self.holds:
            raise errors.RecordOnHoldError("a hold is active", holds=sorted(self.holds))
        if self.transfer is not None:
            raise errors.TransferPendingError(
                "a transfer is under way", transfer=self.transfer["id"]
            )

    def approve_destruction(
        self,
        *,
        actor: Actor,
        at: datetime,
        decision: str,
        legal_basis: dict[str, str] | None = None,
    ) -> None:
        self._custodian(actor)
        self._alive()
        self._destructible(at)
        assert self.appraisal is not None
        self._next(
            self.DestructionApproved, actor=actor.as_dict(), timestamp=at,
            decision=check_text(decision, "decision"), appraisal=self.appraisal["minutes"],
            legal_basis=check_legal_basis(legal_basis),
        )

    def destroy(
        self, *, actor: Actor, at: datetime, minutes: str, replicas_purged: int
    ) -> None:
        """Execute destruction. The ledger purges the content; the record and its whole event
        chain stay as a tombstone, forever provable."""
        self._custodian(actor)
        self._alive()
        if self.destruction is None:
            raise errors.DestructionNotApprovedError("approve the destruction first")
        self._destructible(at)
        self._next(
            self.Destroyed, actor=actor.as_dict(), timestamp=at,
            decision=self.destruction["decision"], minutes=check_text(minutes, "minutes"),
            replicas_purged=check_positive_int(replicas_purged, "replicas_purged", zero=True),
        )


def carried_state(events: list[dict[str, Any]]) -> dict[str, Any]:
    """What a record's history (decoded envelopes, in order) made of it, as a receiving
    archive takes it over: metadata (with access changes), retention and schedule (with
    appraisals), content, signatures, dossier. The history must start with the record's
    creation, be the record's own, and leave it alive with no transfer under way."""
    if not events or events[0].get("type") != "record.created":
        raise errors.InvalidInputError("a received history starts with record.created")
    created = events[0]["data"]
    meta = check_metadata(created["metadata"])
    if str(_registration_id(meta)) != events[0]["record"]:
        raise errors.InvalidInputError("the record's id is not its registration's",
                                       record=events[0]["record"])
    state: dict[str, Any] = {
        "metadata": meta, "retention": check_retention(created["retention"]),
        "schedule": created["schedule"], "content": dict(created["content"]),
        "signatures": [], "dossier": None,
    }
    for event in events[1:]:
        kind, data = event["type"], event["data"]
        if kind == "record.signed":
            state["signatures"].append({
                "version": event["version"], "signer_class": data["signer_class"],
                "signer": data["signer"], "verdict": data["validation"]["verdict"]})
        elif kind == "record.filed":
            state["dossier"] = {"id": data["dossier"], "code": data["dossier_code"]}
        elif kind == "record.access_changed":
            state["metadata"] = dict(state["metadata"], access=data["access"])
        elif kind == "record.appraised":
            state["retention"] = data["retention"]
        elif kind in ("record.destroyed", "record.transfer_initiated"):
            raise errors.InvalidInputError(
                f"a record whose history ends with {kind} cannot be received", type=kind)
    return state
