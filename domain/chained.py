"""The base of every Stele aggregate: events that carry `prev`, so each history is a hash chain.

An event's `prev` is base64 of SHA-256 over the canonical bytes of the aggregate's previous
event (null for the first). Every load re-checks the links, so a stored event that was edited,
dropped or reordered stops the aggregate from loading with `chain_broken`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.envelope import envelope
from domain.errors import InvalidInputError
from verifiers.canonical import b64, canonical_bytes, event_hash
from verifiers.errors import ChainError, VerificationError

# Attributes of an eventsourcing event that the envelope carries outside `data`.
_ENVELOPE_ATTRS = frozenset(
    {"originator_id", "originator_version", "timestamp", "actor", "prev", "originator_topic"}
)
_CANONICAL = "_canonical"  # cache of the canonical bytes, set once per event object


class ChainedAggregate(Aggregate):
    """An eventsourcing aggregate whose events form a hash chain."""

    # Aggregate state is declared under TYPE_CHECKING only: eventsourcing turns an aggregate
    # class with annotations into a dataclass, which is not what our aggregates are.
    if TYPE_CHECKING:
        head: str | None  # base64 hash of the latest event; the next event's `prev`
    head = None

    class Event(Aggregate.Event):
        actor: dict[str, str]
        prev: str | None

        TYPE: ClassVar[str] = ""  # the envelope's `type`, e.g. "record.signed"

        def data(self) -> dict[str, Any]:
            """The event's own fields: the envelope's `data` member."""
            return {
                k: v
                for k, v in vars(self).items()
                if k not in _ENVELOPE_ATTRS and not k.startswith("_")
            }

        def envelope(self) -> dict[str, Any]:
            return envelope(
                record=self.originator_id,
                version=self.originator_version,
                type_=self.TYPE,
                at=self.timestamp,
                actor=self.actor,
                prev=self.prev,
                data=self.data(),
            )

        def canonical(self) -> bytes:
            """RFC 8785 bytes of the envelope: what is hashed, chained and logged."""
            cached: bytes | None = self.__dict__.get(_CANONICAL)
            if cached is None:
                cached = canonical_bytes(self.envelope())
                object.__setattr__(self, _CANONICAL, cached)
            return cached

        def expected_prev(self, aggregate: Any) -> str | None:
            """What `prev` must be: the aggregate's head (null for its first event)."""
            return aggregate.head if aggregate is not None else None

        def mutate(self, aggregate: Any) -> Any:
            # Hash first: an event that cannot be hashed (bad data, a naive time) is refused
            # before it changes anything.
            try:
                digest = b64(event_hash(self.canonical()))
            except VerificationError as exc:
                raise InvalidInputError(
                    f"event data is not valid JSON for hashing: {exc.message}", **exc.evidence
                ) from None
            expected = self.expected_prev(aggregate)
            if self.prev != expected:
                raise ChainError(
                    "event does not link to the previous event",
                    record=str(self.originator_id),
                    version=self.originator_version,
                    expected=expected,
                    found=self.prev,
                )
            mutated = super().mutate(aggregate)
            assert mutated is not None
            mutated.head = digest
            return mutated

    def _next(self, event_class: type[ChainedAggregate.Event], **kwargs: Any) -> None:
        """Trigger the next event in the chain: `prev` is always our head."""
        self.trigger_event(event_class, prev=self.head, **kwargs)


def aggregate_id(namespace: UUID, key: str) -> UUID:
    """A deterministic id from a natural key (UUIDv5), so a key cannot be registered twice."""
    return uuid5(namespace, key)
