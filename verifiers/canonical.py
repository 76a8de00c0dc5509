"""Canonical bytes (RFC 8785 JSON Canonicalization Scheme) and the hashes made over them."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import rfc8785

from verifiers.errors import MalformedError


_SAFE_INT = 2**53 - 1  # I-JSON range: beyond it RFC 8785 (ES6 numbers) loses precision


def _plain(value: Any) -> bool:
    """True if `value` holds only ASCII keys, strings, safe integers, booleans, nulls, lists
    and objects (exact types, not subclasses). For such values Python's sorted compact JSON is
    byte-identical to RFC 8785: ASCII keys sort the same by code point as by UTF-16 unit, and
    both escape exactly `"`, `\\` and the C0 controls (\\b \\f \\n \\r \\t, else \\u00xx).
    Iterative, with exact type tests: this runs on every event written."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if -_SAFE_INT <= item <= _SAFE_INT:
                continue
            return False
        if kind is dict:
            for key in item:
                if type(key) is not str or not key.isascii():
                    return False
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        else:
            return False
    return True


def canonical_bytes(value: Any) -> bytes:
    """RFC 8785 canonical JSON of `value`.

    Plain values (see `_plain`) take a fast path through the standard library, five times
    faster than the reference `rfc8785` package and tested byte-for-byte against it; anything
    else (floats, non-ASCII keys, big integers) goes through `rfc8785` itself.
    """
    try:
        if _plain(value):
            return json.dumps(
                value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
            ).encode("utf-8")
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError, UnicodeEncodeError) as exc:
        raise MalformedError(f"value has no canonical JSON form: {exc}") from None


def parse_canonical(data: bytes) -> dict[str, Any]:
    """Parse a JSON object and insist that `data` is already in its RFC 8785 form.

    Refusing non-canonical bytes means a hash recomputed by anyone, from the parsed value, is
    the same hash: there is only one byte string per value.
    """
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
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


def unb64(text: str, *, length: int | None = None) -> bytes:
    """Decode strict standard base64; with `length`, insist on that many bytes."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as exc:
        raise MalformedError(f"bad base64: {exc}") from None
    if length is not None and len(data) != length:
        raise MalformedError(f"expected {length} bytes, got {len(data)}")
    return data


def event_hash(event_bytes: bytes) -> bytes:
    """SHA-256 over an event's canonical bytes: what the next event's `prev` names."""
    return sha256(event_bytes)
