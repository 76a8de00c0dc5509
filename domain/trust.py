"""The TrustAnchor aggregate: the Government Cipher Committee's registry of trusted roots.

Viet Nam has several roots at once (NEAC's public root, re-keyed in 2025, whose old root stays
valid for what it signed; the Government Cipher Committee's root for official duty), so an
anchor is versioned and time-scoped: registered with a PKI name, its purposes and a window of
signing times it vouches for; suspended and reinstated; retired. Only committee principals act,
and nothing is ever deleted. Every validation asks `in_force(signing_time, known_at)`: the
anchor as it stood at `known_at`, for a signature made at `signing_time`.
"""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from domain import errors
from domain.chained import ChainedAggregate, aggregate_id
from domain.envelope import Actor
from domain.metadata import check_choice, check_digest, check_text
from verifiers.canonical import utc_iso
from verifiers.certs import certificate_facts
from verifiers.errors import VerificationError

TRUST_NAMESPACE = UUID("0c9d8e27-4b1a-5f63-8e2d-71a9c4b6f058")
PURPOSES = ("signing", "timestamping")
COMMITTEE = "committee"
STATUSES = ("active", "suspended", "retired")


def anchor_id(fingerprint: str) -> UUID:
    return aggregate_id(TRUST_NAMESPACE, "anchor:" + fingerprint)


def _time(value: Any, field: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise errors.InvalidInputError(f"{field} must be an ISO 8601 time", value=value) from None
    if parsed.utcoffset() is None:
        raise errors.InvalidInputError(f"{field} needs a time zone", value=value)
    return parsed


class TrustAnchor(ChainedAggregate):
    if TYPE_CHECKING:
        fingerprint: str
        certificate: str
        subject: str
        pki: str
        purposes: list[str]
        not_before: str
        not_after: str
        registered_at: str
        status: str
        transitions: list[tuple[str, str]]  # (at, status), oldest first

    class Event(ChainedAggregate.Event):
        def at(self) -> str:
            return utc_iso(self.timestamp)

    class Registered(Event, ChainedAggregate.Created):
        TYPE: ClassVar[str] = "trust.anchor_registered"
        certificate: str  # base64 of the DER: the log itself says which root was trusted
        fingerprint: str
        subject: str
        pki: str
        purposes: list[str]  # "signing" (document signers), "timestamping" (TSAs)
        not_before: str  # the window of signing (or time-stamping) times it vouches for
        not_after: str

        def apply(self, aggregate: Any) -> None:
            for name in ("certificate", "fingerprint", "subject", "pki", "purposes",
                         "not_before", "not_after"):
                setattr(aggregate, name, getattr(self, name))
            aggregate.registered_at = self.at()
            aggregate.status = "active"
            aggregate.transitions = [(self.at(), "active")]

    class _Transition(Event):
        STATUS: ClassVar[str] = ""
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate.status = self.STATUS
            aggregate.transitions = [*aggregate.transitions, (self.at(), self.STATUS)]

    class Suspended(_Transition):
        TYPE: ClassVar[str] = "trust.anchor_suspended"
        STATUS: ClassVar[str] = "suspended"

    class Reinstated(_Transition):
        TYPE: ClassVar[str] = "trust.anchor_reinstated"
        STATUS: ClassVar[str] = "active"

    class Retired(_Transition):
        TYPE: ClassVar[str] = "trust.anchor_retired"
        STATUS: ClassVar[str] = "retired"

    # -- commands ------------------------------------------------------------------------------
    @classmethod
    def register(cls, *, actor: Actor, at: datetime, certificate: str, pki: str,
                 purposes: list[str], not_before: str | None = None,
                 not_after: str | None = None) -> TrustAnchor:
        """Register a root (PEM or base64 DER) as trusted for `purposes`, by PKI name
        (e.g. NEAC, BCY), for signatures made within [not_before, not_after] (default: the
        certificate's own validity)."""
        _committee(actor)
        try:
            facts = certificate_facts(certificate)
        except VerificationError as exc:
            raise errors.InvalidInputError(
                f"certificate: {exc.message}", **exc.evidence) from None
        if not isinstance(purposes, list) or not purposes:
            raise errors.InvalidInputError(f"purposes must be a non-empty list of {PURPOSES}")
        for purpose in purposes:
            check_choice(purpose, "purposes", PURPOSES)
        check_text(pki, "pki", max_len=40)
        start = _time(not_before, "not_before") if not_before else facts.not_before
        end = _time(not_after, "not_after") if not_after else facts.not_after
        if not start < end:
            raise errors.InvalidInputError("not_before must precede not_after",
                                           not_before=utc_iso(start), not_after=utc_iso(end))
        return cls._create(
            cls.Registered, id=anchor_id(facts.fingerprint), timestamp=at,
            actor=actor.as_dict(), prev=None,
            certificate=base64.b64encode(facts.der).decode(), fingerprint=facts.fingerprint,
            subject=facts.subject, pki=pki.strip(),
            purposes=sorted(set(purposes)),
            not_before=utc_iso(start), not_after=utc_iso(end))

    def suspend(self, *, actor: Actor, at: datetime, reason: str) -> None:
        """Stop trusting the anchor until it is reinstated (a suspected compromise, a review)."""
        self._transition(actor, at, reason, self.Suspended, allowed=("active",))

    def reinstate(self, *, actor: Actor, at: datetime, reason: str) -> None:
        """Trust a suspended anchor again."""
        self._transition(actor, at, reason, self.Reinstated, allowed=("suspended",))

    def retire(self, *, actor: Actor, at: datetime, reason: str) -> None:
        """Retire the anchor for good: it still vouches for what was signed before now."""
        self._transition(actor, at, reason, self.Retired, allowed=("active", "suspended"))

    def _transition(self, actor: Actor, at: datetime, reason: str,
                    event: type[TrustAnchor._Transition], *, allowed: tuple[str, ...]) -> None:
        _committee(actor)
        if self.status not in allowed:
            raise errors.AnchorStateError(
                f"a {self.status} anchor cannot be {event.STATUS}", anchor=self.fingerprint,
                status=self.status)
        self._next(event, actor=actor.as_dict(), timestamp=at,
                   reason=check_text(reason, "reason", max_len=500))

    # -- queries -------------------------------------------------------------------------------
    def status_at(self, known_at: datetime) -> str | None:
        """The anchor's status as it stood at `known_at` (None: not yet registered)."""
        status = None
        for at, value in self.transitions:
            if _time(at, "at") > known_at:
                break
            status = value
        return status

    def in_force(self, signing_time: datetime, known_at: datetime) -> str | None:
        """None if the anchor vouches, at `known_at`, for a signature (or token) made at
        `signing_time`; otherwise why not. The one vouching rule: `window` is its other form."""
        status = self.status_at(known_at)
        if status is None:
            return "not registered at that time"
        if status == "suspended":
            return "suspended"
        retired_at = self._retired_at(known_at)
        if retired_at is not None and signing_time >= retired_at:
            return "retired before the signature was made"
        if not (_time(self.not_before, "not_before") <= signing_time
                <= _time(self.not_after, "not_after")):
            return "the signature was made outside the anchor's window"
        return None

    def window(self, known_at: datetime) -> tuple[datetime, datetime] | None:
        """As known at `known_at`: the times [start, end] of what this anchor vouches for
        (made within its window and before its retirement), or None if it vouches for nothing
        (not registered yet, or suspended). `in_force(t, known_at)` is None exactly when
        the window holds t (a retirement ends the window just before its own time)."""
        status = self.status_at(known_at)
        if status is None or status == "suspended":
            return None
        end = _time(self.not_after, "not_after")
        retired_at = self._retired_at(known_at)
        if retired_at is not None:
            end = min(end, retired_at - timedelta(microseconds=1))
        return _time(self.not_before, "not_before"), end

    def _retired_at(self, known_at: datetime) -> datetime | None:
        if self.status_at(known_at) != "retired":
            return None
        return next(_time(at, "at") for at, s in self.transitions if s == "retired")

    def summary(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "subject": self.subject, "pki": self.pki,
                "purposes": self.purposes, "status": self.status,
                "not_before": self.not_before, "not_after": self.not_after,
                "registered_at": self.registered_at, "version": self.version}


def _committee(actor: Actor) -> None:
    if actor.role != COMMITTEE:
        raise errors.CommitteeOnlyError(
            "only committee principals manage trust anchors", role=actor.role)


def check_anchor_ref(value: Any) -> str:
    return check_digest(value, "anchor")
