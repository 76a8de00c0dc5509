"""verifiers.note: C2SP signed notes and tlog checkpoints, against fixed vectors and tampering."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from verifiers.errors import MalformedError, NoteError, VerificationError
from verifiers.note import (
    Checkpoint,
    Signature,
    VerifierKey,
    format_checkpoint,
    key_id,
    open_note,
    parse_checkpoint,
    parse_verifier_key,
    sign_note,
    verifier_key,
)

# The example of Go's golang.org/x/mod/sumdb/note package documentation.
GO_SIGNER_KEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VERIFIER_KEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n"
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvq"
    "fqdngotpRZb6KE6RyyBwJnAM=\n"
)

NAME = "stele.example/log"
SEED = bytes(range(32))
KEY = Ed25519PrivateKey.from_private_bytes(SEED)
PUBLIC = KEY.public_key().public_bytes_raw()
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(32))
TEXT = "stele.example/log\n42\n" + base64.b64encode(bytes(32)).decode() + "\n"


def trusted(key: Ed25519PrivateKey = KEY, name: str = NAME) -> VerifierKey:
    return parse_verifier_key(verifier_key(name, key.public_key().public_bytes_raw()))


# --- Keys -----------------------------------------------------------------------------------


def test_key_id_and_verifier_key_follow_the_spec() -> None:
    # c2sp.org/signed-note: key ID = SHA-256(name || 0x0A || 0x01 || public key)[:4].
    expected_id = hashlib.sha256(NAME.encode() + b"\n\x01" + PUBLIC).digest()[:4]
    assert key_id(NAME, PUBLIC) == expected_id
    encoded_key = base64.b64encode(b"\x01" + PUBLIC).decode()
    expected = f"{NAME}+{expected_id.hex()}+{encoded_key}"
    assert verifier_key(NAME, PUBLIC) == expected
    parsed = parse_verifier_key(expected)
    assert parsed == VerifierKey(NAME, expected_id, PUBLIC)
    assert str(parsed) == expected


def test_the_go_documentation_key_parses_to_its_documented_id() -> None:
    key = parse_verifier_key(GO_VERIFIER_KEY)
    assert key.name == "PeterNeumann"
    assert key.key_id.hex() == "c74f20a3"
    assert verifier_key(key.name, key.public_key) == GO_VERIFIER_KEY
    # Its signer key (algorithm byte, then the 32-byte seed; the base64 holds a "+")
    # derives the same public key.
    seed = base64.b64decode(GO_SIGNER_KEY.split("+", 4)[4])[1:]
    private = Ed25519PrivateKey.from_private_bytes(seed)
    assert private.public_key().public_bytes_raw() == key.public_key


@pytest.mark.parametrize(
    "text",
    [
        "",
        "PeterNeumann",
        "PeterNeumann+c74f20a3",
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong ID
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # upper case
        "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # 7 digits
        "PeterNeumanm+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # other name
        "PeterNeumann+c74f20a3+Apc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # bad base64
        "PeterNeumann+c74f20a3+Ahpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # algorithm 2
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10Q=",  # 31-byte key
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ],
)
def test_malformed_verifier_keys_are_refused(text: str) -> None:
    with pytest.raises(MalformedError):
        parse_verifier_key(text)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\tb", "a\u00a0b", "a\u2028b", "a\x00b"])
def test_bad_key_names_are_refused(name: str) -> None:
    with pytest.raises(MalformedError):
        key_id(name, PUBLIC)
    with pytest.raises(MalformedError):
        sign_note(TEXT, name, KEY)


# --- Signed notes ---------------------------------------------------------------------------


def test_the_go_documentation_note_opens_with_its_key() -> None:
    note = open_note(GO_NOTE, [parse_verifier_key(GO_VERIFIER_KEY)])
    assert note.text == GO_TEXT
    assert note.verified_by == ("PeterNeumann",)
    assert [(s.name, s.key_id.hex()) for s in note.signatures] == [("PeterNeumann", "c74f20a3")]
    assert open_note(GO_NOTE.encode(), [parse_verifier_key(GO_VERIFIER_KEY)]) == note


def test_signing_the_go_documentation_text_gives_the_documented_note() -> None:
    # Ed25519 is deterministic: the documented signer key must reproduce the note exactly.
    seed = base64.b64decode(GO_SIGNER_KEY.split("+", 4)[4])[1:]
    assert sign_note(GO_TEXT, "PeterNeumann", Ed25519PrivateKey.from_private_bytes(seed)) == (
        GO_NOTE
    )


def test_round_trip() -> None:
    signed = sign_note(TEXT, NAME, KEY)
    assert signed.startswith(TEXT + "\n\u2014 " + NAME + " ")
    assert signed.endswith("\n")
    note = open_note(signed, [trusted()])
    assert note.text == TEXT
    assert note.verified_by == (NAME,)
    (sig,) = note.signatures
    assert sig == Signature(NAME, key_id(NAME, PUBLIC), sig.signature)
    assert len(sig.signature) == 64


def test_text_may_hold_blank_lines_and_the_last_one_separates() -> None:
    text = "first\n\nsecond\n\n"
    note = open_note(sign_note(text, NAME, KEY), [trusted()])
    assert note.text == text


def test_cosigned_note_reports_every_signature_and_ignores_unknown_keys() -> None:
    witness = "witness.example"
    lines = [
        sign_note(TEXT, NAME, KEY).removeprefix(TEXT + "\n"),
        sign_note(TEXT, witness, OTHER).removeprefix(TEXT + "\n"),
    ]
    both = TEXT + "\n" + "".join(lines)
    note = open_note(both, [trusted(), trusted(OTHER, witness)])
    assert note.verified_by == (NAME, witness)
    only_log = open_note(both, [trusted()])
    assert only_log.verified_by == (NAME,)
    assert [s.name for s in only_log.signatures] == [NAME, witness]


def test_a_note_no_trusted_key_signed_is_refused() -> None:
    signed = sign_note(TEXT, NAME, KEY)
    with pytest.raises(NoteError):
        open_note(signed, [trusted(OTHER, "someone.else")])
    with pytest.raises(NoteError):
        open_note(signed, [])


def test_a_signature_by_another_key_under_the_same_name_is_ignored_then_refused() -> None:
    # Same name, different key: the key IDs differ, so the signature is from an unknown key.
    signed = sign_note(TEXT, NAME, OTHER)
    with pytest.raises(NoteError, match="no signature from a trusted key"):
        open_note(signed, [trusted()])


def test_a_trusted_name_and_id_whose_signature_fails_is_an_error() -> None:
    # A key claiming our name and key ID but holding another public key: the ID matches, so
    # the signature must be checked, and it fails.
    impostor = VerifierKey(NAME, key_id(NAME, PUBLIC), OTHER.public_key().public_bytes_raw())
    signed = sign_note(TEXT, NAME, KEY)
    with pytest.raises(NoteError, match="does not verify"):
        open_note(signed, [impostor])


def test_a_bad_signature_by_a_trusted_key_spoils_the_note_even_beside_a_good_one() -> None:
    good = sign_note(TEXT, NAME, KEY)
    line = good.removeprefix(TEXT + "\n")
    raw = bytearray(base64.b64decode(line.split(" ")[2]))
    raw[-1] ^= 1
    bad_line = f"\u2014 {NAME} {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(NoteError):
        open_note(good + bad_line, [trusted()])


def _flip_text_byte(signed: str) -> str:
    i = signed.index("42")
    return signed[:i] + "43" + signed[i + 2 :]


@pytest.mark.parametrize(
    ("tamper", "error"),
    [
        (_flip_text_byte, NoteError),
        (lambda s: s.replace("\n\n", "\n", 1), MalformedError),  # no blank line
        (lambda s: s[:-1], MalformedError),  # no final newline
        (lambda s: s[:-5] + "\n", NoteError),  # signature cut by 3 bytes, still base64
        (lambda s: s[:-10] + "\n", VerificationError),  # cut mid-way through base64
        (lambda s: s[:-2] + "!\n", MalformedError),  # not base64
        (lambda s: s.replace("\u2014 ", "- ", 1), MalformedError),  # hyphen, not em dash
        (lambda s: s.replace("\u2014 ", "\u2014", 1), MalformedError),
        (lambda s: s.replace(f"{NAME} ", f"{NAME}  ", 1), MalformedError),  # two spaces
        (lambda s: s + "\n", MalformedError),  # trailing blank line
        (lambda s: s.replace("42", "4\r2", 1), MalformedError),  # control character
        (lambda s: s.replace("42", "4\t2", 1), MalformedError),
        (lambda s: "\n" + s.split("\n\n")[1], MalformedError),  # only signatures
        (lambda s: s.split("\n\n")[0] + "\n\n", MalformedError),  # no signatures
    ],
)
def test_tampered_notes_are_refused(tamper: object, error: type[Exception]) -> None:
    signed = sign_note(TEXT, NAME, KEY)
    assert callable(tamper)
    changed = tamper(signed)
    assert changed != signed
    with pytest.raises(error):
        open_note(changed, [trusted()])


def test_short_signature_lines_are_malformed() -> None:
    # base64 of 4 bytes: a key ID and no signature at all.
    kid = base64.b64encode(key_id(NAME, PUBLIC)).decode()
    with pytest.raises(MalformedError):
        open_note(f"{TEXT}\n\u2014 {NAME} {kid}\n", [trusted()])


def test_non_utf8_notes_are_refused() -> None:
    signed = sign_note(TEXT, NAME, KEY).encode()
    with pytest.raises(MalformedError):
        open_note(signed.replace(b"42", b"4\xff"), [trusted()])
    with pytest.raises(MalformedError):
        open_note(signed.decode() + "\ud800", [trusted()])


def test_at_most_100_signatures() -> None:
    good = sign_note(TEXT, NAME, KEY)
    unknown = sign_note(TEXT, "other.example", OTHER).removeprefix(TEXT + "\n")
    assert open_note(good + unknown * 99, [trusted()]).verified_by == (NAME,)
    with pytest.raises(MalformedError):
        open_note(good + unknown * 100, [trusted()])


def test_sign_note_refuses_text_without_final_newline_or_with_control_characters() -> None:
    with pytest.raises(MalformedError):
        sign_note("no newline", NAME, KEY)
    with pytest.raises(MalformedError):
        sign_note("bell\x07\n", NAME, KEY)
    with pytest.raises(MalformedError):
        sign_note(TEXT, NAME, "not a key")  # type: ignore[arg-type]


def test_ambiguous_trusted_keys_are_an_error() -> None:
    impostor = VerifierKey(NAME, key_id(NAME, PUBLIC), OTHER.public_key().public_bytes_raw())
    with pytest.raises(NoteError):
        open_note(sign_note(TEXT, NAME, KEY), [trusted(), impostor])


# --- Checkpoints ----------------------------------------------------------------------------


def test_checkpoint_round_trip() -> None:
    root = hashlib.sha256(b"root").digest()
    text = format_checkpoint("example.com/log42", 20852163, root)
    assert text == f"example.com/log42\n20852163\n{base64.b64encode(root).decode()}\n"
    assert parse_checkpoint(text) == Checkpoint("example.com/log42", 20852163, root, ())
    assert parse_checkpoint(format_checkpoint("o", 0, root)).size == 0
    assert parse_checkpoint(format_checkpoint("o", 2**64 - 1, root)).size == 2**64 - 1
    signed = sign_note(text, "example.com/log42", KEY)
    opened = open_note(signed, [trusted(KEY, "example.com/log42")])
    assert parse_checkpoint(opened.text).root == root


def test_the_c2sp_example_checkpoint_parses() -> None:
    text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    checkpoint = parse_checkpoint(text)
    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.size == 20852163
    assert base64.b64encode(checkpoint.root).decode() == text.split("\n")[2]


def test_checkpoint_extension_lines() -> None:
    text = format_checkpoint("o", 1, bytes(32)) + "ext one\next two\n"
    assert parse_checkpoint(text).extensions == ("ext one", "ext two")


ROOT64 = base64.b64encode(bytes(32)).decode()


@pytest.mark.parametrize(
    "text",
    [
        f"o\n1\n{ROOT64}",  # no final newline
        "o\n1\n",  # two lines
        f"\n1\n{ROOT64}\n",  # empty origin
        f"o\n01\n{ROOT64}\n",  # leading zero
        f"o\n-1\n{ROOT64}\n",
        f"o\n+1\n{ROOT64}\n",
        f"o\n 1\n{ROOT64}\n",
        f"o\n\u0661\n{ROOT64}\n",  # Arabic-Indic digit one
        f"o\n{2**64}\n{ROOT64}\n",
        f"o\n{'9' * 5000}\n{ROOT64}\n",
        f"o\n1\n{base64.b64encode(bytes(31)).decode()}\n",
        f"o\n1\n{ROOT64[:-2]}B=\n",  # non-canonical base64 (trailing bits set)
        f"o\n1\n{ROOT64}\n\n",  # empty extension line
        f"o\n1\n{ROOT64}\next\n\n",
        f"o\x01\n1\n{ROOT64}\n",
    ],
)
def test_malformed_checkpoints_are_refused(text: str) -> None:
    with pytest.raises(MalformedError):
        parse_checkpoint(text)


@pytest.mark.parametrize(
    ("origin", "size", "root"),
    [
        ("", 1, bytes(32)),
        ("a\nb", 1, bytes(32)),
        ("o", -1, bytes(32)),
        ("o", 2**64, bytes(32)),
        ("o", 1, bytes(31)),
        ("o", True, bytes(32)),
    ],
)
def test_format_checkpoint_refuses_bad_values(origin: str, size: int, root: bytes) -> None:
    with pytest.raises(MalformedError):
        format_checkpoint(origin, size, root)
