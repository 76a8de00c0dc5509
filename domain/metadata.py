"""Validation of the fields a record is created with (Decree 30/2020 Annex VI, Circular
05/2025): checked at the door, so every stored `created` event is well-formed."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from domain.errors import InvalidInputError
from verifiers.digest import is_digest

# Text: no C0 control character but tab, line feed and carriage return; no lone surrogate.
_PRINTABLE = re.compile(r"[^\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]*")
AGENCY_CODE = re.compile(r"^\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}$")  # 13 characters, e.g. 000.00.00.G01
ACCESS_LEVELS = ("open", "conditional", "classified")
RELIABILITY = ("born_digital", "digitized", "mixed")
RETENTION_YEARS = (10, 20, 30, 50, 70)
PERMANENT = "permanent"

Retention = int | str  # a number of years from RETENTION_YEARS, or "permanent"


def check_agency_code(value: Any, field: str = "agency") -> str:
    if not isinstance(value, str) or not AGENCY_CODE.match(value):
        raise InvalidInputError(
            f"{field} must be a 13-character agency code like 000.00.00.G01",
            field=field,
            value=value,
        )
    return value


def check_digest(value: Any, field: str = "digest") -> str:
    if not is_digest(value):
        raise InvalidInputError(
            f"{field} must be 'sha-256:' followed by 64 lowercase hex digits",
            field=field,
            value=value,
        )
    return value


def check_retention(value: Any, field: str = "retention") -> Retention:
    if value == PERMANENT or (
        isinstance(value, int) and not isinstance(value, bool) and value in RETENTION_YEARS
    ):
        return value  # type: ignore[no-any-return]
    raise InvalidInputError(
        f"{field} must be 'permanent' or one of {RETENTION_YEARS} years", field=field, value=value
    )


def check_text(value: Any, field: str, *, max_len: int = 1000) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise InvalidInputError(f"{field} must be non-empty text", field=field, value=value)
    if not _PRINTABLE.fullmatch(value):  # not echoed: it may not even be encodable
        raise InvalidInputError(f"{field} holds a NUL, a control character or a lone surrogate",
                                field=field)
    return value


def check_choice(value: Any, field: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InvalidInputError(f"{field} must be one of {choices}", field=field, value=value)
    return str(value)


def check_positive_int(value: Any, field: str, *, zero: bool = False) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < (0 if zero else 1):
        raise InvalidInputError(f"{field} must be a positive integer", field=field, value=value)
    return value


def check_date(value: Any, field: str) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"{field} must be a date YYYY-MM-DD", field=field, value=value
        ) from None


def check_metadata(meta: Any) -> dict[str, Any]:
    """The document's descriptive metadata; returns a normalised copy or raises."""
    if not isinstance(meta, dict):
        raise InvalidInputError("metadata must be an object")
    out: dict[str, Any] = {
        "doc_type": check_text(meta.get("doc_type"), "doc_type", max_len=100),
        "number": check_text(meta.get("number"), "number", max_len=20),
        "notation": check_text(meta.get("notation"), "notation", max_len=100),
        "issued": check_date(meta.get("issued"), "issued").isoformat(),
        "issuer": check_agency_code(meta.get("issuer"), "issuer"),
        "subject": check_text(meta.get("subject"), "subject", max_len=2000),
        "language": check_text(meta.get("language", "vi"), "language", max_len=35),
        "pages": check_positive_int(meta.get("pages"), "pages"),
        "access": check_choice(meta.get("access"), "access", ACCESS_LEVELS),
        "reliability": check_choice(meta.get("reliability"), "reliability", RELIABILITY),
    }
    unknown = set(meta) - set(out)
    if unknown:
        raise InvalidInputError("unknown metadata fields", fields=sorted(unknown))
    return out


def retention_end(issued: date, retention: Retention) -> date | None:
    """First day on which a record's retention has run out (None if permanent).

    The period counts from 1 January of the year after the document was issued, as archive
    practice counts from the year after the work ends (Circular 05/2025 tables).
    """
    if retention == PERMANENT:
        return None
    assert isinstance(retention, int)
    return date(issued.year + 1 + retention, 1, 1)
