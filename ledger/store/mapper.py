"""Stores each event as its canonical envelope bytes, so the stored bytes *are* the leaf bytes.

eventsourcing's default mapper stores its own JSON of the event object; ours stores the RFC 8785
envelope instead. The integrator then hashes the stored bytes as they are, the audit recomputes
the same hash from the same bytes, and there is no second encoding that could drift.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import CanInitAggregate, DomainEventProtocol
from eventsourcing.persistence import Mapper, MapperDeserialisationError, StoredEvent
from eventsourcing.utils import get_topic

from domain.envelope import parse_at
from domain.events import aggregate_class, event_class
from verifiers.canonical import parse_canonical
from verifiers.errors import VerificationError


class EnvelopeMapper(Mapper[Any]):
    def to_stored_event(self, domain_event: DomainEventProtocol[Any]) -> StoredEvent:
        event: Any = domain_event
        return StoredEvent(
            originator_id=event.originator_id,
            originator_version=event.originator_version,
            topic=get_topic(type(event)),
            state=event.canonical(),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[Any]:
        try:
            envelope = parse_canonical(stored_event.state)
            cls: Any = event_class(envelope["type"], envelope["version"])
            state: dict[str, Any] = dict(envelope["data"])
            state.update(
                originator_id=stored_event.originator_id,
                originator_version=stored_event.originator_version,
                timestamp=parse_at(envelope["at"]),
                actor=envelope["actor"],
                prev=envelope["prev"],
                _canonical=stored_event.state,
            )
        except (VerificationError, KeyError, TypeError, ValueError) as exc:
            raise MapperDeserialisationError(
                f"stored event {stored_event.originator_id} v{stored_event.originator_version} "
                f"is not a valid envelope: {exc}"
            ) from exc
        if str(envelope["record"]) != str(stored_event.originator_id) or (
            envelope["version"] != stored_event.originator_version
        ):
            raise MapperDeserialisationError(
                f"stored event {stored_event.originator_id} v{stored_event.originator_version} "
                f"holds the envelope of {envelope['record']} v{envelope['version']}"
            )
        if issubclass(cls, CanInitAggregate):
            # A created event names the aggregate class it constructs.
            state["originator_topic"] = get_topic(aggregate_class(cls))
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", state)
        return event  # type: ignore[no-any-return]
