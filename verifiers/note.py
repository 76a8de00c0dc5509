"""C2SP signed notes (Ed25519) and C2SP tlog checkpoints.

Formats: https://c2sp.org/signed-note and https://c2sp.org/tlog-checkpoint, the formats of
Go's golang.org/x/mod/sumdb/note, whose `Open` this module's `open_note` follows; where the
two differ this module is the stricter (noted inline).

A signed note is a text ending in a newline, a blank line, then signature lines
`— <key name> <base64(4-byte key ID || signature)>`. A checkpoint is a note text of at least
three lines: origin, tree size, base64 root hash, then optional extension lines.

Parse errors raise MalformedError; signatures that fail, or a note no known key signed, raise
NoteError. Both are VerificationError subclasses; nothing else escapes.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from verifiers.canonical import b64, unb64
from verifiers.errors import MalformedError, NoteError

__all__ = [
    "ALG_ED25519",
    "MAX_SIGNATURES",
    "Checkpoint",
    "Note",
    "Signature",
    "VerifierKey",
    "format_checkpoint",
    "key_id",
    "open_note",
    "parse_checkpoint",
    "parse_verifier_key",
    "sign_note",
    "split_note",
    "verifier_key",
]

# signed-note "Signature types": 0x01 is Ed25519, the only type accepted here.
ALG_ED25519 = 0x01
_ED25519_KEY_SIZE = 32
_ED25519_SIG_SIZE = 64

# signed-note "Format": verifiers SHOULD cap the signatures per note and MUST accept at
# least 16; Go's note.Open rejects more than 100, and so do we.
MAX_SIGNATURES = 100

_SIG_PREFIX = "\u2014 "  # em dash, space
_MAX_TREE_SIZE = 2**64 - 1

# signed-note "Format": no ASCII control characters other than newline.
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f]")
_DECIMAL = re.compile("0|[1-9][0-9]{0,19}")
_KEY_ID_HEX = re.compile("[0-9a-f]{8}")


class Signature(NamedTuple):
    """One signature line of a note, verified or not."""

    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True)
class VerifierKey:
    """A trusted Ed25519 note key: its name, its 4-byte key ID, and the 32-byte public key."""

    name: str
    key_id: bytes
    public_key: bytes

    def __str__(self) -> str:
        return verifier_key(self.name, self.public_key)


@dataclass(frozen=True)
class Note:
    """An opened note: its text (with the final newline), every signature line in order,
    and the names of the trusted keys whose signatures verified (each once, in order)."""

    text: str
    signatures: tuple[Signature, ...]
    verified_by: tuple[str, ...]


@dataclass(frozen=True)
class Checkpoint:
    """A tlog checkpoint's note text: origin, tree size, root hash, and extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()


# --- Keys ---------------------------------------------------------------------------------


def _check_name(name: object) -> str:
    # signed-note "Format": key names are non-empty, without Unicode spaces or "+". We also
    # refuse control characters (Go does not): a name holding one makes unopenable notes.
    if not isinstance(name, str) or not name:
        raise MalformedError("key name must be a non-empty string")
    if "+" in name or any(c.isspace() for c in name) or _CONTROL.search(name):
        raise MalformedError("key name contains a space, a '+' or a control character", name=name)
    _utf8(name, "key name")
    return name


def _check_public_key(public_key: object) -> bytes:
    if not isinstance(public_key, bytes) or len(public_key) != _ED25519_KEY_SIZE:
        raise MalformedError(f"an Ed25519 public key is {_ED25519_KEY_SIZE} bytes")
    return public_key


def _utf8(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedError(f"{what} is not valid UTF-8 (lone surrogate)") from None


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key ID of an Ed25519 note key (big-endian uint32 as bytes).

    signed-note "Ed25519 signatures":
    key ID = SHA-256(key name || 0x0A || 0x01 || 32-byte Ed25519 public key)[:4].
    """
    return _typed_key_id(name, ALG_ED25519, public_key, "key name")


def _typed_key_id(name: str, alg: int, public_key: bytes, what: str) -> bytes:
    # SHA-256(name || 0x0A || signature type || public key)[:4], for every signature type.
    encoded = _utf8(_check_name(name), what)
    key = _check_public_key(public_key)
    return hashlib.sha256(encoded + b"\n" + bytes([alg]) + key).digest()[:4]


def verifier_key(name: str, public_key: bytes) -> str:
    """The verifier key text `<name>+<8 hex key ID>+<base64(0x01 || public key)>`."""
    kid = key_id(name, public_key)
    return f"{name}+{kid.hex()}+{b64(bytes([ALG_ED25519]) + public_key)}"


def parse_verifier_key(text: str) -> VerifierKey:
    """Parse a verifier key text, as Go's note.NewVerifier does.

    Only algorithm 0x01 (Ed25519) with a 32-byte key is accepted, and the key ID must be the
    one the name and key give. The ID must be 8 lowercase hex digits, as written by
    `verifier_key` and Go (Go's parser would also take upper case).
    """
    name, kid, public_key = _parse_vkey(text, ALG_ED25519, "verifier key",
                                        "algorithm is not Ed25519 (0x01)")
    return VerifierKey(name=name, key_id=kid, public_key=public_key)


def _parse_vkey(text: object, alg: int, what: str, wrong_type: str
                ) -> tuple[str, bytes, bytes]:
    """`<name>+<8 hex key ID>+<base64(alg || 32-byte Ed25519 key)>` -> (name, key ID, key),
    the ID checked against the name and key (signed-note "Verifier keys")."""
    if not isinstance(text, str):
        raise MalformedError(f"{what} must be a string")
    # Split at the first two "+": base64 may itself contain "+".
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise MalformedError(f"{what} is not <name>+<key id>+<key>")
    name, hex_id, key64 = parts
    _check_name(name)
    if not _KEY_ID_HEX.fullmatch(hex_id):
        raise MalformedError(f"{what} ID is not 8 lowercase hex digits", key_id=hex_id)
    encoded = unb64(key64)
    if not encoded:
        raise MalformedError(f"{what} has no key data")
    if encoded[0] != alg:
        raise MalformedError(f"{what} {wrong_type}", alg=encoded[0])
    public_key = _check_public_key(encoded[1:])
    kid = _typed_key_id(name, alg, public_key, "key name")
    if kid.hex() != hex_id:
        raise MalformedError(
            f"{what} ID does not match its name and key", expected=hex_id, found=kid.hex()
        )
    _ed25519_public(public_key)  # refuse a key that cannot be used, here rather than later
    return name, kid, public_key


def _ed25519_public(public_key: bytes) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(public_key)
    except ValueError as exc:
        raise MalformedError(f"not an Ed25519 public key: {exc}") from None


# --- Notes --------------------------------------------------------------------------------


def _check_note_text(text: str, what: str) -> bytes:
    encoded = _utf8(text, what)
    if _CONTROL.search(text):
        raise MalformedError(f"{what} contains an ASCII control character other than newline")
    return encoded


def sign_note(text: str, name: str, private_key: Ed25519PrivateKey) -> str:
    """Sign `text` (which must end in a newline) and return the signed note.

    signed-note "Format": text, a blank line, then `— <name> base64(key ID || signature)`,
    the signature being Ed25519 over the text including its final newline.
    """
    if not isinstance(text, str) or not text.endswith("\n"):
        raise MalformedError("note text must be a string ending in a newline")
    encoded = _check_note_text(text, "note text")
    _check_name(name)
    if not isinstance(private_key, Ed25519PrivateKey):
        raise MalformedError("private key must be an Ed25519PrivateKey")
    public_key = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    signature = private_key.sign(encoded)
    line = f"{_SIG_PREFIX}{name} {b64(key_id(name, public_key) + signature)}\n"
    return f"{text}\n{line}"


def _trusted(keys: Sequence[VerifierKey]) -> dict[tuple[str, bytes], VerifierKey]:
    if isinstance(keys, str | bytes) or not isinstance(keys, Sequence):
        raise MalformedError("keys must be a sequence of VerifierKey")
    known: dict[tuple[str, bytes], VerifierKey] = {}
    for key in keys:
        if not isinstance(key, VerifierKey):
            raise MalformedError("keys must be VerifierKey values", type=type(key).__name__)
        slot = (key.name, key.key_id)
        if slot in known and known[slot].public_key != key.public_key:
            # Go's VerifierList reports the same ambiguity: someone controls the key list.
            raise NoteError("two trusted keys share a name and key ID", name=key.name)
        known[slot] = key
    return known


def split_note(note: str | bytes) -> tuple[str, tuple[Signature, ...]]:
    """A signed note's text (with its final newline) and its signature lines, none verified:
    the parsing half of `open_note`, for signatures of other kinds (cosignatures)."""
    # (1) signed-note "Format": valid UTF-8, no control characters but newline.
    if isinstance(note, bytes | bytearray):
        try:
            msg = bytes(note).decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedError("note is not valid UTF-8") from None
    elif isinstance(note, str):
        msg = note
    else:
        raise MalformedError("note must be str or bytes", type=type(note).__name__)
    _check_note_text(msg, "note")

    # (2) The text ends at the last blank line, and includes its final newline.
    split = msg.rfind("\n\n")
    if split < 0:
        raise MalformedError("note has no blank line before its signatures")
    text, block = msg[: split + 1], msg[split + 2 :]
    if not block or not block.endswith("\n"):
        raise MalformedError("note's signature block is empty or does not end in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedError("note has too many signatures", count=len(lines))

    # (3) Each line is `— <name> <base64(key ID || signature)>`.
    signatures: list[Signature] = []
    for line in lines:
        if not line.startswith(_SIG_PREFIX):
            raise MalformedError("signature line does not start with an em dash and a space")
        name, _, encoded = line[len(_SIG_PREFIX) :].partition(" ")
        _check_name(name)
        if not encoded:
            raise MalformedError("signature line has no signature", name=name)
        raw = unb64(encoded)
        if len(raw) < 5:
            raise MalformedError("signature is shorter than a key ID and one byte", name=name)
        signatures.append(Signature(name, raw[:4], raw[4:]))

    return text, tuple(signatures)


def open_note(note: str | bytes, keys: Sequence[VerifierKey]) -> Note:
    """Parse a signed note and verify its signatures against the trusted `keys`.

    signed-note "Signatures": signatures from unknown keys (name and key ID not both those of
    a trusted key) are ignored but returned; a trusted key's signature must verify, or the
    note is rejected; at least one must verify. Unlike Go, which checks only the first of
    repeated signatures by one key, every signature by a trusted key is checked.
    """
    known = _trusted(keys)
    text, signatures = split_note(note)
    # (4) Verify every signature by a trusted key; ignore the rest.
    encoded_text = text.encode("utf-8")
    verified_by: list[str] = []
    for sig in signatures:
        key = known.get((sig.name, sig.key_id))
        if key is None:
            continue
        if not _verify(key, encoded_text, sig.signature):
            raise NoteError(
                "signature by a trusted key does not verify",
                name=sig.name,
                key_id=sig.key_id.hex(),
            )
        if sig.name not in verified_by:
            verified_by.append(sig.name)
    if not verified_by:
        raise NoteError(
            "note has no signature from a trusted key",
            signers=",".join(f"{s.name}+{s.key_id.hex()}" for s in signatures),
        )
    return Note(text=text, signatures=tuple(signatures), verified_by=tuple(verified_by))


def _verify(key: VerifierKey, message: bytes, signature: bytes) -> bool:
    if len(signature) != _ED25519_SIG_SIZE:
        return False
    try:
        _ed25519_public(key.public_key).verify(signature, message)
    except InvalidSignature:
        return False
    return True


# --- Checkpoints --------------------------------------------------------------------------


def format_checkpoint(origin: str, size: int, root: bytes) -> str:
    """The checkpoint note text `<origin>\\n<size>\\n<base64 root>\\n` (no extension lines)."""
    if not isinstance(origin, str) or not origin or "\n" in origin:
        raise MalformedError("origin must be a non-empty single line")
    _check_note_text(origin, "origin")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= _MAX_TREE_SIZE:
        raise MalformedError("tree size must be an integer in [0, 2**64)", size=size)
    if not isinstance(root, bytes) or len(root) != 32:
        raise MalformedError("root hash must be 32 bytes")
    return f"{origin}\n{size}\n{b64(root)}\n"


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse a checkpoint note text (the `text` of an opened note), per c2sp.org/tlog-checkpoint.

    At least three non-empty lines, each ending in a newline: a non-empty origin; the tree
    size in ASCII decimal without leading zeros (below 2**64); the base64 of a 32-byte root
    hash; then non-empty extension lines. The root must be in canonical base64 (so there is
    one text per checkpoint).
    """
    if not isinstance(text, str) or not text.endswith("\n"):
        raise MalformedError("checkpoint must be a string ending in a newline")
    _check_note_text(text, "checkpoint")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise MalformedError("checkpoint has fewer than three lines", lines=len(lines))
    if any(not line for line in lines):
        raise MalformedError("checkpoint has an empty line")
    origin, size_line, root_line, *extensions = lines
    if not _DECIMAL.fullmatch(size_line):
        raise MalformedError("tree size is not a decimal without leading zeros", size=size_line)
    size = int(size_line)
    if size > _MAX_TREE_SIZE:
        raise MalformedError("tree size does not fit in 64 bits", size=size_line)
    root = unb64(root_line, length=32)
    if base64.b64encode(root).decode("ascii") != root_line:
        raise MalformedError("root hash is not in canonical base64", root=root_line)
    return Checkpoint(origin=origin, size=size, root=root, extensions=tuple(extensions))
