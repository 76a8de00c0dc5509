"""The event envelope: the one form of an event that is hashed, chained and logged.

`{"v":1,"record":UUID,"version":N,"type":T,"at":RFC3339-UTC,"actor":{...},"prev":b64|null,
"data":{...}}`, serialised as RFC 8785 canonical JSON. docs/formats.md is the field-by-field
reference an outsider uses to recompute any hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from domain.errors import InvalidInputError

ENVELOPE_VERSION = 1
AT_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # always microseconds, always UTC: one string per instant


def format_at(at: datetime) -> str:
    if at.tzinfo is None:
        raise InvalidInputError("event time must be timezone-aware", at=str(at))
    # isoformat is several times faster than strftime; same string as AT_FORMAT.
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_at(text: str) -> datetime:
    return datetime.strptime(text, AT_FORMAT).replace(tzinfo=UTC)


@dataclass(frozen=True)
class Actor:
    """Who acted: the authenticated principal, its role and its 13-character agency code."""

    id: str
    role: str
    agency: str

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "role": self.role, "agency": self.agency}

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> Actor:
        try:
            return cls(id=str(value["id"]), role=str(value["role"]), agency=str(value["agency"]))
        except (KeyError, TypeError):
            raise InvalidInputError("actor needs id, role and agency", actor=value) from None


def envelope(
    *,
    record: UUID,
    version: int,
    type_: str,
    at: datetime,
    actor: dict[str, str],
    prev: str | None,
    data: dict[str, Any],
) -> dict[str, Any]:
    return {
        "v": ENVELOPE_VERSION,
        "record": str(record),
        "version": version,
        "type": type_,
        "at": format_at(at),
        "actor": actor,
        "prev": prev,
        "data": data,
    }
