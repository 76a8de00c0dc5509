"""Canonical bytes (RFC 8785 JSON Canonicalization Scheme) and the hashes made over them."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

import rfc8785

from verifiers.errors import MalformedError

_SAFE_INT = 2**53 - 1  # I-JSON range: beyond it RFC 8785 (ES6 numbers) loses precision


def _needs_utf16_order(value: Any) -> bool:
    """Check `value` is Stele JSON: objects with text keys, lists, text, booleans, null and
    integers within +-(2**53 - 1), exact types. No fractional numbers: RFC 8785 writes 1e20
    as digits that read back as an integer out of range, so a float could be hashed but never
    re-read. Returns True if an object key is non-ASCII (RFC 8785 then orders keys by UTF-16
    code unit, which only `rfc8785` does); raises MalformedError for anything else.
    Iterative, with exact type tests: this runs on every event written."""
    utf16 = False
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if not -_SAFE_INT <= item <= _SAFE_INT:
                raise MalformedError("integer outside +-(2**53 - 1)", value=item)
        elif kind is dict:
            for key in item:
                if type(key) is not str:
                    raise MalformedError("object key is not text", key=repr(key))
                if not key.isascii():
                    utf16 = True
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        else:
            raise MalformedError(f"{kind.__name__} has no place in Stele's JSON")
    return utf16


def canonical_bytes(value: Any) -> bytes:
    """RFC 8785 canonical JSON of `value`, which must be Stele JSON (see `_needs_utf16_order`).

    With ASCII keys, Python's sorted compact JSON is byte-identical to RFC 8785 (keys sort the
    same by code point as by UTF-16 unit; both escape exactly `"`, `\\` and the C0 controls,
    as \\b \\f \\n \\r \\t or else \\u00xx) and five times faster than the reference
    `rfc8785` package, against which it is tested byte for byte; non-ASCII keys go through
    `rfc8785` itself.
    """
    try:
        if _needs_utf16_order(value):
            return rfc8785.dumps(value)
        return json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")
    except (rfc8785.CanonicalizationError, TypeError, ValueError, UnicodeEncodeError) as exc:
        raise MalformedError(f"value has no canonical JSON form: {exc}") from None


def parse_canonical(data: bytes) -> dict[str, Any]:
    """Parse a JSON object and insist that `data` is already in its RFC 8785 form.

    Refusing non-canonical bytes means a hash recomputed by anyone, from the parsed value, is
    the same hash: there is only one byte string per value.
    """
    try:
        value = json.loads(data.decode("utf-8"))  # from text: faster, and UTF-8 only
    except (ValueError, UnicodeDecodeError, AttributeError) as exc:
        raise MalformedError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise MalformedError("not a JSON object")
    if canonical_bytes(value) != data:
        raise MalformedError("JSON is not in RFC 8785 canonical form")
    return value


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def b64(data: bytes) -> str:
    """Standard base64 with padding (RFC 4648 §4), as used in envelopes, notes and proofs."""
    return base64.b64encode(data).decode("ascii")


# Standard base64 (RFC 4648 section 4), padded: whole quanta of four characters.
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


def unb64(text: str, *, length: int | None = None) -> bytes:
    """Decode standard base64 in its one canonical form (padded, nothing else in it, the pad
    bits zero: RFC 4648 section 3.5), so that one value has one spelling and every Python
    gives the same answer; with `length`, insist on that many bytes."""
    ascii_text = text.encode("ascii", "replace").decode("ascii")
    if not _BASE64.fullmatch(ascii_text) or ascii_text != text:
        raise MalformedError("bad base64: not padded standard base64")
    data = base64.b64decode(text)
    if base64.b64encode(data).decode("ascii") != text:
        raise MalformedError("bad base64: the pad bits are not zero")
    if length is not None and len(data) != length:
        raise MalformedError(f"expected {length} bytes, got {len(data)}")
    return data


def utc_iso(moment: datetime) -> str:
    """An aware time as RFC 3339 text in UTC, `Z`-suffixed (2026-11-27T08:00:00Z)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def event_hash(event_bytes: bytes) -> bytes:
    """SHA-256 over an event's canonical bytes: what the next event's `prev` names."""
    return sha256(event_bytes)
