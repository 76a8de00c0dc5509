"""Per-record hash chains: each event's `prev` is base64 SHA-256 of the previous event's bytes.

`ChainFollower` checks events one at a time, for any number of records interleaved (as they
appear in the log); `verify_chain` checks one record's complete history.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from verifiers.canonical import b64, event_hash, parse_canonical
from verifiers.errors import ChainError, MalformedError

ENVELOPE_FIELDS = frozenset({"v", "record", "version", "type", "at", "actor", "prev", "data"})


def parse_envelope(event: bytes) -> dict[str, Any]:
    """Parse canonical envelope bytes and check the envelope's shape (docs/formats.md)."""
    value = parse_canonical(event)
    if set(value) != ENVELOPE_FIELDS:
        raise MalformedError("envelope fields differ from v, record, version, type, at, actor,"
                             " prev, data", fields=sorted(value))
    if value["v"] != 1:
        raise MalformedError("unknown envelope version", v=value["v"])
    if not isinstance(value["version"], int) or isinstance(value["version"], bool) or (
        value["version"] < 1
    ):
        raise MalformedError("version must be a positive integer", version=value["version"])
    if not isinstance(value["record"], str) or not isinstance(value["type"], str):
        raise MalformedError("record and type must be strings")
    if not isinstance(value["data"], dict) or not isinstance(value["actor"], dict):
        raise MalformedError("data and actor must be objects")
    if value["prev"] is not None and not isinstance(value["prev"], str):
        raise MalformedError("prev must be base64 text or null")
    return value


RECEIVED = "record.received"  # a record's first event on the log of the archive it moved to


def _source_head(envelope: dict[str, Any]) -> str | None:
    """What a record's first event on this log links to: nothing, or, for a record received
    from another log, the sender's last event (`data.source.head`), which only the sender's
    bundle can show (verifiers/bundle.py checks that link)."""
    if envelope["type"] != RECEIVED:
        return None
    source = envelope["data"].get("source") if isinstance(envelope["data"], dict) else None
    head = source.get("head") if isinstance(source, dict) else None
    if not isinstance(head, str):
        raise MalformedError("a received record's first event names no source head")
    return head


class ChainFollower:
    """Follows every record's chain through a stream of events."""

    def __init__(self) -> None:
        self.heads: dict[str, tuple[int, str]] = {}  # record -> (version, base64 hash)

    def follow(self, event: bytes) -> dict[str, Any]:
        """Check `event` continues its record's chain; return its parsed envelope."""
        envelope = parse_envelope(event)
        record, version, prev = envelope["record"], envelope["version"], envelope["prev"]
        head = self.heads.get(record)
        expected_version = 1 if head is None else head[0] + 1
        expected_prev = head[1] if head is not None else _source_head(envelope)
        if version != expected_version:
            raise ChainError(
                "event version does not follow the previous one",
                record=record, expected=expected_version, found=version,
            )
        if prev != expected_prev:
            raise ChainError(
                "prev does not name the previous event's hash",
                record=record, version=version, expected=expected_prev, found=prev,
            )
        self.heads[record] = (version, b64(event_hash(event)))
        return envelope


def verify_chain(events: Sequence[bytes]) -> list[dict[str, Any]]:
    """Check one record's complete history, from its first event (prev null) to the last."""
    if not events:
        raise ChainError("no events")
    follower = ChainFollower()
    envelopes = [follower.follow(e) for e in events]
    if len(follower.heads) != 1:
        raise ChainError("events of more than one record", records=sorted(follower.heads))
    return envelopes
