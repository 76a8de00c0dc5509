"""verifiers.cosignature against C2SP tlog-cosignature v1 (Ed25519, signature type 0x04).

The key ID, the vkey and the signed message are recomputed here from the spec's formulas
with hashlib, base64 and the `cryptography` Ed25519 primitives directly, not with the code
under test; every tampered cosignature must be refused with its exact error code.
"""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from verifiers.cosignature import (
    ALG_COSIGNATURE_V1,
    CosignatureError,
    CosignerKey,
    cosign,
    cosigned_message,
    cosigner_key_id,
    cosigner_vkey,
    parse_cosigner_key,
    verify_cosignatures,
)
from verifiers.errors import MalformedError, NoteError, VerificationError
from verifiers.note import (
    format_checkpoint,
    open_note,
    parse_verifier_key,
    sign_note,
    verifier_key,
)

ORIGIN = "example.com/behind-the-sofa"
LOG_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
WITNESS = "witness.example.com/w1"
WITNESS_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(100, 132)))
OTHER = "witness.example.com/w2"
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(200, 232)))
TEXT = format_checkpoint(ORIGIN, 20852163, base64.b64decode(
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="))
TIME = 1679315147
PROPERTY = settings(max_examples=60, deadline=None)


def _public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes_raw()


def _spec_key_id(name: str, public_key: bytes) -> bytes:
    # tlog-cosignature "Format": SHA-256(<name> || "\n" || 0x04 || 32-byte key)[:4].
    return hashlib.sha256(name.encode() + b"\n" + b"\x04" + public_key).digest()[:4]


def _spec_message(text: str, timestamp: int) -> bytes:
    # tlog-cosignature "Ed25519 signed message".
    return b"cosignature/v1\ntime " + str(timestamp).encode() + b"\n" + text.encode()


def _witness(name: str = WITNESS, key: Ed25519PrivateKey = WITNESS_KEY) -> CosignerKey:
    return parse_cosigner_key(cosigner_vkey(name, _public(key)))


def _signed() -> str:
    return sign_note(TEXT, ORIGIN, LOG_KEY)


def _line(name: str, raw: bytes) -> str:
    return f"\u2014 {name} {base64.b64encode(raw).decode()}\n"


def _raw(line: str) -> tuple[str, bytes]:
    """A signature line's name and decoded bytes (key ID || timestamp || signature)."""
    assert line.startswith("\u2014 ") and line.endswith("\n")
    name, encoded = line[2:-1].split(" ")
    return name, base64.b64decode(encoded)


# --- Keys -------------------------------------------------------------------------------


def test_key_id_is_the_spec_formula() -> None:
    public = _public(WITNESS_KEY)
    assert ALG_COSIGNATURE_V1 == 0x04
    assert cosigner_key_id(WITNESS, public) == _spec_key_id(WITNESS, public)
    assert len(cosigner_key_id(WITNESS, public)) == 4


def test_the_key_id_differs_from_the_log_signature_key_id() -> None:
    # signed-note: the type byte is in the hash, so one key and name has two IDs.
    public = _public(WITNESS_KEY)
    log_id = hashlib.sha256(WITNESS.encode() + b"\n\x01" + public).digest()[:4]
    assert cosigner_key_id(WITNESS, public) != log_id
    assert parse_verifier_key(verifier_key(WITNESS, public)).key_id == log_id


def test_vkey_is_name_hex_id_and_base64_of_type_and_key() -> None:
    public = _public(WITNESS_KEY)
    vkey = cosigner_vkey(WITNESS, public)
    expected = (f"{WITNESS}+{_spec_key_id(WITNESS, public).hex()}+"
                + base64.b64encode(b"\x04" + public).decode())
    assert vkey == expected


def test_vkey_round_trip() -> None:
    public = _public(WITNESS_KEY)
    key = parse_cosigner_key(cosigner_vkey(WITNESS, public))
    assert key == CosignerKey(WITNESS, _spec_key_id(WITNESS, public), public)
    assert str(key) == cosigner_vkey(WITNESS, public)


@PROPERTY
@given(seed=st.binary(min_size=32, max_size=32),
       name=st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Z"),
                                  exclude_characters="+"), min_size=1, max_size=30)
       .filter(lambda n: not any(c.isspace() for c in n)))
def test_vkey_round_trip_for_any_name_and_key(seed: bytes, name: str) -> None:
    public = _public(Ed25519PrivateKey.from_private_bytes(seed))
    key = parse_cosigner_key(cosigner_vkey(name, public))
    assert (key.name, key.key_id, key.public_key) == (name, _spec_key_id(name, public), public)


def _vkey_parts(name: str = WITNESS,
                key: Ed25519PrivateKey = WITNESS_KEY) -> tuple[str, str, bytes]:
    public = _public(key)
    return name, _spec_key_id(name, public).hex(), b"\x04" + public


def _vkey(name: str, hex_id: str, data: bytes) -> str:
    return f"{name}+{hex_id}+{base64.b64encode(data).decode()}"


def _refusals() -> list[object]:
    name, hex_id, data = _vkey_parts()
    public = data[1:]
    log_id = hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4].hex()
    wrong_id = f"{int(hex_id, 16) ^ 1:08x}"
    return [
        pytest.param(_vkey(name, log_id, b"\x01" + public), id="log-type-0x01"),
        pytest.param(_vkey(name, hex_id, b"\x01" + public), id="type-0x01-with-0x04-id"),
        pytest.param(_vkey(name, hex_id, b"\x02" + public), id="type-0x02"),
        pytest.param(_vkey(name, wrong_id, data), id="wrong-key-id"),
        pytest.param(_vkey(name, hex_id.upper(), data), id="upper-case-key-id"),
        pytest.param(_vkey(name, hex_id[:7], data), id="short-key-id"),
        pytest.param(_vkey(name, "zzzzzzzz", data), id="non-hex-key-id"),
        pytest.param(f"{name}+{hex_id}+" + base64.b64encode(data).decode()[:-1], id="bad-pad"),
        pytest.param(f"{name}+{hex_id}+!!!!", id="bad-base64"),
        pytest.param(_vkey(name, hex_id, data[:-1]), id="key-31-bytes"),
        pytest.param(_vkey(name, hex_id, data + b"\x00"), id="key-33-bytes"),
        pytest.param(_vkey(name, hex_id, b""), id="no-key-data"),
        pytest.param(_vkey(name, hex_id, b"\x04"), id="type-byte-only"),
        pytest.param(f"{name}+{hex_id}", id="two-parts"),
        pytest.param(_vkey("", hex_id, data), id="empty-name"),
        pytest.param(_vkey("a b", _spec_key_id("a b", public).hex(), data), id="name-space"),
        pytest.param(42, id="not-a-string"),
    ]


@pytest.mark.parametrize("text", _refusals())
def test_parse_refuses_malformed_cosigner_keys(text: str) -> None:
    with pytest.raises(MalformedError) as caught:
        parse_cosigner_key(text)
    assert caught.value.code == "malformed"


def test_a_log_vkey_is_not_a_cosigner_vkey_and_back() -> None:
    public = _public(WITNESS_KEY)
    with pytest.raises(MalformedError):
        parse_cosigner_key(verifier_key(WITNESS, public))
    with pytest.raises(MalformedError):
        parse_verifier_key(cosigner_vkey(WITNESS, public))


# --- The signed message and the signature line ------------------------------------------


def test_signed_message_is_header_time_line_and_text() -> None:
    assert cosigned_message(TEXT, TIME) == (
        b"cosignature/v1\ntime 1679315147\n"
        b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n")
    assert cosigned_message(TEXT, 0).startswith(b"cosignature/v1\ntime 0\n")


def test_the_line_holds_the_key_id_the_big_endian_time_and_a_signature_of_the_message() -> None:
    line = cosign(TEXT, WITNESS, WITNESS_KEY, TIME)
    name, raw = _raw(line)
    assert name == WITNESS
    assert len(raw) == 4 + 8 + 64
    assert raw[:4] == _spec_key_id(WITNESS, _public(WITNESS_KEY))
    assert raw[4:12] == TIME.to_bytes(8, "big")
    # Verified with the primitive itself, over the message built here from the spec.
    WITNESS_KEY.public_key().verify(raw[12:], _spec_message(TEXT, TIME))


@pytest.mark.parametrize("timestamp", [-1, 2**63, 2**64, True, 1.5, "1"])
def test_cosign_refuses_timestamps_outside_the_spec(timestamp: object) -> None:
    with pytest.raises(MalformedError):
        cosign(TEXT, WITNESS, WITNESS_KEY, timestamp)  # type: ignore[arg-type]


def test_cosign_takes_the_largest_timestamp() -> None:
    note = _signed() + cosign(TEXT, WITNESS, WITNESS_KEY, 2**63 - 1)
    assert verify_cosignatures(note, [_witness()]) == {WITNESS: 2**63 - 1}


@pytest.mark.parametrize("text", ["no final newline", "a\x01b\n", 7])
def test_cosign_refuses_text_that_is_no_note_text(text: object) -> None:
    with pytest.raises(MalformedError):
        cosign(text, WITNESS, WITNESS_KEY, TIME)  # type: ignore[arg-type]


def test_cosign_refuses_bad_names_and_keys() -> None:
    with pytest.raises(MalformedError):
        cosign(TEXT, "a+b", WITNESS_KEY, TIME)
    with pytest.raises(MalformedError):
        cosign(TEXT, WITNESS, b"\x00" * 32, TIME)  # type: ignore[arg-type]


# --- Verifying ----------------------------------------------------------------------------


def test_round_trip() -> None:
    note = _signed() + cosign(TEXT, WITNESS, WITNESS_KEY, TIME)
    assert verify_cosignatures(note, [_witness()]) == {WITNESS: TIME}
    assert verify_cosignatures(note.encode(), [_witness()]) == {WITNESS: TIME}
    # The log's own signature still opens, and the cosignature line is ignored by it.
    assert open_note(note, [parse_verifier_key(verifier_key(ORIGIN, _public(LOG_KEY)))]
                     ).verified_by == (ORIGIN,)


def test_two_witnesses_and_unknown_cosigners_are_ignored() -> None:
    stranger = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)
    note = (_signed() + cosign(TEXT, WITNESS, WITNESS_KEY, TIME)
            + cosign(TEXT, "stranger.example/w", stranger, 5)
            + cosign(TEXT, OTHER, OTHER_KEY, TIME + 1))
    both = [_witness(), _witness(OTHER, OTHER_KEY)]
    assert verify_cosignatures(note, both) == {WITNESS: TIME, OTHER: TIME + 1}
    assert verify_cosignatures(note, [_witness(OTHER, OTHER_KEY)]) == {OTHER: TIME + 1}
    assert verify_cosignatures(note, []) == {}


def test_a_cosignature_by_another_key_under_a_trusted_name_is_ignored() -> None:
    # signed-note: same name, other key ID: unknown, ignored (not an error).
    note = _signed() + cosign(TEXT, WITNESS, OTHER_KEY, TIME)
    assert verify_cosignatures(note, [_witness()]) == {}


def test_a_log_signature_line_by_the_witness_key_and_name_is_not_a_cosignature() -> None:
    # The witness's own Ed25519 note signature (type 0x01): same name and key, other key ID.
    note = _signed() + sign_note(TEXT, WITNESS, WITNESS_KEY).removeprefix(TEXT + "\n")
    assert verify_cosignatures(note, [_witness()]) == {}
    # ... and a cosignature line is not a log signature to open_note.
    cosigned = _signed() + cosign(TEXT, WITNESS, WITNESS_KEY, TIME)
    witness_as_log = parse_verifier_key(verifier_key(WITNESS, _public(WITNESS_KEY)))
    with pytest.raises(NoteError):
        open_note(cosigned, [witness_as_log])


def test_repeated_cosignatures_report_the_latest_time() -> None:
    note = (_signed() + cosign(TEXT, WITNESS, WITNESS_KEY, TIME + 9)
            + cosign(TEXT, WITNESS, WITNESS_KEY, TIME))
    assert verify_cosignatures(note, [_witness()]) == {WITNESS: TIME + 9}


def _tampered(raw_edit: object) -> str:
    name, raw = _raw(cosign(TEXT, WITNESS, WITNESS_KEY, TIME))
    return _signed() + _line(name, raw_edit(raw))  # type: ignore[operator]


def _flip(raw: bytes, i: int) -> bytes:
    return raw[:i] + bytes([raw[i] ^ 0x01]) + raw[i + 1:]


def _resigned(timestamp: int) -> bytes:
    """A cosignature with `timestamp`, correctly signed over the spec message for it."""
    message = _spec_message(TEXT, timestamp)
    return (_spec_key_id(WITNESS, _public(WITNESS_KEY)) + timestamp.to_bytes(8, "big")
            + WITNESS_KEY.sign(message))


@pytest.mark.parametrize("note", [
    pytest.param(_signed().replace("20852163", "20852164")
                 + cosign(TEXT, WITNESS, WITNESS_KEY, TIME), id="checkpoint-size"),
    pytest.param(_signed().replace("CsUY", "CsUZ")
                 + cosign(TEXT, WITNESS, WITNESS_KEY, TIME), id="checkpoint-root"),
    pytest.param(_tampered(lambda r: _flip(r, 12)), id="signature-first-byte"),
    pytest.param(_tampered(lambda r: _flip(r, 75)), id="signature-last-byte"),
    pytest.param(_tampered(lambda r: _flip(r, 11)), id="timestamp-low-byte"),
    pytest.param(_tampered(lambda r: r[:4] + (TIME + 1).to_bytes(8, "big") + r[12:]),
                 id="timestamp-plus-one"),
    pytest.param(_tampered(lambda r: r[:4] + b"\x00" * 8 + r[12:]), id="timestamp-zero"),
    pytest.param(_tampered(lambda r: r[:-1]), id="truncated-one-byte"),
    pytest.param(_tampered(lambda r: r[:4 + 64]), id="signature-without-timestamp"),
    pytest.param(_tampered(lambda r: r[:12]), id="timestamp-only"),
    pytest.param(_tampered(lambda r: r + b"\x00"), id="one-byte-too-long"),
    pytest.param(_signed() + _line(WITNESS, _resigned(2**63)), id="timestamp-2**63"),
    pytest.param(_signed() + _line(WITNESS, _resigned(2**64 - 1)), id="timestamp-2**64-1"),
    pytest.param(_signed() + cosign(TEXT, WITNESS, WITNESS_KEY, TIME)
                 + _line(WITNESS, _flip(_raw(cosign(TEXT, WITNESS, WITNESS_KEY, TIME))[1], 40)),
                 id="bad-beside-good"),
])
def test_every_tamper_is_caught_as_cosignature_invalid(note: str) -> None:
    with pytest.raises(CosignatureError) as caught:
        verify_cosignatures(note, [_witness()])
    assert caught.value.code == "cosignature_invalid"
    assert isinstance(caught.value, NoteError)


def test_a_timestamp_of_2_63_is_refused_for_its_value_not_its_signature() -> None:
    with pytest.raises(CosignatureError, match="2\\*\\*63"):
        verify_cosignatures(_signed() + _line(WITNESS, _resigned(2**63)), [_witness()])
    # The same construction with the largest allowed value verifies.
    assert verify_cosignatures(_signed() + _line(WITNESS, _resigned(2**63 - 1)),
                               [_witness()]) == {WITNESS: 2**63 - 1}


def test_a_flipped_key_id_byte_makes_the_line_unknown() -> None:
    for i in range(4):
        assert verify_cosignatures(_tampered(lambda r, i=i: _flip(r, i)), [_witness()]) == {}


def test_the_timestamp_line_is_decimal_without_leading_zeros() -> None:
    # A signature over "time 0001679315147" is not one over "time 1679315147".
    message = b"cosignature/v1\ntime 0" + str(TIME).encode() + b"\n" + TEXT.encode()
    raw = (_spec_key_id(WITNESS, _public(WITNESS_KEY)) + TIME.to_bytes(8, "big")
           + WITNESS_KEY.sign(message))
    with pytest.raises(CosignatureError):
        verify_cosignatures(_signed() + _line(WITNESS, raw), [_witness()])


def test_verify_refuses_bad_arguments_and_malformed_notes() -> None:
    note = _signed() + cosign(TEXT, WITNESS, WITNESS_KEY, TIME)
    for cosigners in ("abc", [str(_witness())], _witness()):
        with pytest.raises(MalformedError):
            verify_cosignatures(note, cosigners)  # type: ignore[arg-type]
    for bad in (TEXT, note.replace("\n\n", "\n"), note + "junk", note.encode() + b"\xff", 5):
        with pytest.raises(MalformedError):
            verify_cosignatures(bad, [_witness()])  # type: ignore[arg-type]


# --- Properties ---------------------------------------------------------------------------

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Z"),
                              exclude_characters="+"), min_size=1, max_size=20
                ).filter(lambda n: not any(c.isspace() for c in n))
origins = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")),
                  min_size=1, max_size=30)
timestamps = st.integers(min_value=0, max_value=2**63 - 1)


@PROPERTY
@given(name=names, origin=origins, size=st.integers(0, 2**64 - 1),
       root=st.binary(min_size=32, max_size=32), timestamp=timestamps,
       seed=st.binary(min_size=32, max_size=32))
def test_cosign_then_verify_for_any_checkpoint(name: str, origin: str, size: int, root: bytes,
                                                timestamp: int, seed: bytes) -> None:
    key = Ed25519PrivateKey.from_private_bytes(seed)
    text = format_checkpoint(origin, size, root)
    line = cosign(text, name, key, timestamp)
    assert cosigned_message(text, timestamp) == _spec_message(text, timestamp)
    _, raw = _raw(line)
    key.public_key().verify(raw[12:], _spec_message(text, timestamp))
    note = sign_note(text, ORIGIN, LOG_KEY) + line
    trusted = parse_cosigner_key(cosigner_vkey(name, _public(key)))
    assert verify_cosignatures(note, [trusted]) == {name: timestamp}


@PROPERTY
@given(index=st.integers(0, 4 + 8 + 64 - 1), bit=st.integers(0, 7), timestamp=timestamps)
def test_any_flipped_bit_is_refused_or_ignored(index: int, bit: int, timestamp: int) -> None:
    name, raw = _raw(cosign(TEXT, WITNESS, WITNESS_KEY, timestamp))
    changed = raw[:index] + bytes([raw[index] ^ (1 << bit)]) + raw[index + 1:]
    note = _signed() + _line(name, changed)
    if index < 4:  # the key ID: no longer the trusted cosigner's line
        assert verify_cosignatures(note, [_witness()]) == {}
        return
    with pytest.raises(CosignatureError):
        verify_cosignatures(note, [_witness()])


@PROPERTY
@given(timestamp=timestamps, other=timestamps)
def test_a_cosignature_verifies_only_with_its_own_time(timestamp: int, other: int) -> None:
    name, raw = _raw(cosign(TEXT, WITNESS, WITNESS_KEY, timestamp))
    note = _signed() + _line(name, raw[:4] + struct.pack(">Q", other) + raw[12:])
    if other == timestamp:
        assert verify_cosignatures(note, [_witness()]) == {WITNESS: timestamp}
    else:
        with pytest.raises(CosignatureError):
            verify_cosignatures(note, [_witness()])


def test_only_verification_errors_escape() -> None:
    for bad in (None, b"\x00", "\u2014", "x\n\n\u2014 a b\n"):
        with pytest.raises(VerificationError):
            verify_cosignatures(bad, [_witness()])  # type: ignore[arg-type]
