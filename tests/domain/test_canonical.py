"""verifiers.canonical against the reference RFC 8785 implementation (package `rfc8785`).

`canonical_bytes` takes a standard-library fast path where it can; whatever the path, its bytes
must be rfc8785's. Where rfc8785 has no canonical form (integers beyond 2**53 - 1, NaN,
infinities, lone surrogates) it must refuse with MalformedError, never a builtin error; it may
also refuse fractional numbers, which Stele's JSON does not use. Whatever it writes,
`parse_canonical` must read back: it accepts exactly the bytes `canonical_bytes` writes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import rfc8785
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from verifiers.canonical import canonical_bytes, parse_canonical
from verifiers.errors import MalformedError

SAFE = 2**53 - 1

# Characters where JSON serialisers disagree: C0 controls and their short escapes, quote and
# backslash, '/', DEL, the C1 range, U+2028/9 (raw in RFC 8785, escaped by some), BMP edges,
# non-BMP (a UTF-16 surrogate pair, which changes key order), and non-ASCII letters.
TRICKY = [chr(c) for c in range(0x20)] + [
    '"', "\\", "/", "\x7f", "\x80", "\x9f", "\u00e9", "\u0110", "\u1ec7", "\u2028", "\u2029",
    "\ud7ff", "\ue000", "\ufeff", "\uffff", "\U00010000", "\U0001f600", "\U0010ffff", "a", "Z",
]

texts = st.text() | st.text(alphabet=st.sampled_from(TRICKY), max_size=12)
keys = st.text(max_size=8) | st.text(alphabet=st.sampled_from(TRICKY), max_size=4)
integers = st.integers() | st.integers(-(2**60), 2**60) | st.sampled_from(
    [0, -1, SAFE, -SAFE, SAFE + 1, -SAFE - 1, 2**63, -(2**63), 2**64, 10**30]
)
floats = st.floats() | st.sampled_from(
    [0.0, -0.0, 1.0, 0.1, 1e21, 1e-7, 5e-324, 1.7976931348623157e308, float("nan"), float("inf")]
)
scalars = st.none() | st.booleans() | integers | floats | texts
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(keys, children, max_size=5),
    max_leaves=25,
)

# Values the fast path takes: ASCII keys, safe integers, any strings, no floats.
plain_scalars = st.none() | st.booleans() | st.integers(-SAFE, SAFE) | texts
plain_values = st.recursive(
    plain_scalars,
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=8), children,
                      max_size=5),
    max_leaves=25,
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(has_float(v) for v in value.values())
    if isinstance(value, list):
        return any(has_float(v) for v in value)
    return False


def reference(value: Any) -> bytes | None:
    """rfc8785's bytes, or None where it finds no canonical form."""
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        return None


def check_matches_reference(value: Any) -> None:
    expected = reference(value)
    try:
        written = canonical_bytes(value)
    except MalformedError:
        # Refused: right where RFC 8785 has no form; allowed for fractional numbers.
        assert expected is None or has_float(value), value
        return
    assert written == expected
    # What is written can be read back to the same bytes (json.loads is how anyone reads it).
    assert canonical_bytes(json.loads(written)) == written


@SETTINGS
@given(json_values)
@example({"é": 1, "e": 2, "\U0001f600": 3, "\uffff": 4})  # UTF-16 order: U+FFFF after U+1F600
@example({"\u0080": "\x00\x1f\x7f\u2028", "a/b": "</script>"})
@example([SAFE, -SAFE, 0.5, -0.0])
@example({"n": SAFE + 1})
@example([float("nan")])
@example(-(2**53))
def test_canonical_bytes_equal_rfc8785(value: Any) -> None:
    check_matches_reference(value)


@SETTINGS
@given(plain_values)
def test_fast_path_equals_rfc8785(value: Any) -> None:
    assert canonical_bytes(value) == rfc8785.dumps(value)


@pytest.mark.parametrize(
    "value", [SAFE + 1, -(SAFE + 1), 2**64, [1, {"a": 2**53}], float("nan"), float("-inf")]
)
def test_values_outside_i_json_are_refused(value: Any) -> None:
    assert reference(value) is None
    with pytest.raises(MalformedError):
        canonical_bytes(value)


@pytest.mark.parametrize("value", ["\ud800", {"k": "a\udfffb"}, {"\udc00": 1}, ["\ud83d"]])
def test_lone_surrogates_are_refused(value: Any) -> None:
    with pytest.raises(MalformedError):
        canonical_bytes(value)


@pytest.mark.parametrize("value", [{1: "a"}, {"a": {1, 2}}, {"a": b"bytes"}, object()])
def test_non_json_values_are_refused_with_malformed_error(value: Any) -> None:
    with pytest.raises(MalformedError):
        canonical_bytes(value)


# == parse_canonical =============================================================================


@SETTINGS
@given(st.dictionaries(keys, json_values, max_size=6))
def test_parse_canonical_accepts_exactly_canonical_bytes(value: Any) -> None:
    try:
        data = canonical_bytes(value)
    except MalformedError:
        return
    parsed = parse_canonical(data)
    assert canonical_bytes(parsed) == data
    # Any other serialisation of the same value is refused unless it is byte-identical.
    for other in (
        json.dumps(value, indent=1, ensure_ascii=False).encode("utf-8"),
        json.dumps(value, separators=(", ", ": "), ensure_ascii=False).encode("utf-8"),
        json.dumps(value, separators=(",", ":"), ensure_ascii=True).encode("ascii"),
        json.dumps(dict(reversed(list(value.items()))), separators=(",", ":"),
                   ensure_ascii=False).encode("utf-8"),
    ):
        if other != data:
            with pytest.raises(MalformedError):
                parse_canonical(other)


@pytest.mark.parametrize("value", [2.0**53, 1e20, -1e16, 1e21, 0.5, -0.0])
def test_canonical_bytes_never_writes_what_parse_canonical_refuses(value: Any) -> None:
    # Regression: RFC 8785 writes an integral float of magnitude 2**53 to 1e21 as digits,
    # which read back as an integer beyond 2**53 - 1 and were refused. Refusing the float
    # up front is a fix; writing bytes that cannot be read back is not.
    try:
        data = canonical_bytes({"a": value})
    except MalformedError:
        return
    assert canonical_bytes(parse_canonical(data)) == data


@pytest.mark.parametrize(
    "data",
    [
        b'{"a": 1}',  # whitespace after the colon
        b'{ "a":1}',
        b'{"a":1}\n',  # trailing newline
        b' {"a":1}',
        b'{"b":1,"a":2}',  # unsorted keys
        b'{"e":1,"\xc3\xa9":2,"\xef\xbf\xbf":3,"\xf0\x9f\x98\x80":4}',  # code-point, not UTF-16
        b'{"a":"\\/"}',  # escaped solidus
        b'{"a":"\\u00e9"}',  # escaped non-ASCII
        b'{"a":"\\u001F"}',  # upper-case hex escape
        b'{"a":"\\u000a"}',  # \\u escape where \\n is canonical
        b'{"a":"\\u0041"}',  # escaped ASCII letter
        b'{"a":1.0}',  # number not in shortest form
        b'{"a":1e2}',
        b'{"a":-0}',
        b'{"a":0.10}',
        b'{"a":9007199254740992}',  # beyond I-JSON
        b'{"a":NaN}',
        b'{"a":1,"a":1}',  # duplicate key
        b'\xef\xbb\xbf{"a":1}',  # byte order mark
        b'{"a":"\xff"}',  # not UTF-8
        b'{"a":true',  # not JSON
        b"[1,2]",  # not an object
        b'"text"',
        b"",
    ],
)
def test_parse_canonical_refuses_non_canonical_bytes(data: bytes) -> None:
    with pytest.raises(MalformedError):
        parse_canonical(data)


@pytest.mark.parametrize(
    "data",
    [
        b"{}",
        b'{"a":"/"}',
        b'{"a":"\\u001f\\n\\t\\b\\f\\r\\"\\\\"}',
        b'{"e":1,"\xc3\xa9":2,"\xf0\x9f\x98\x80":4,"\xef\xbf\xbf":3}',  # UTF-16 order
        b'{"a":[1,-1,0,9007199254740991,-9007199254740991,null,true,false],"b":{"c":{}}}',
    ],
)
def test_parse_canonical_accepts_canonical_bytes(data: bytes) -> None:
    assert canonical_bytes(parse_canonical(data)) == data
