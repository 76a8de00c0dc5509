"""C2SP tlog-cosignature v1 (Ed25519): a witness's timestamped statement that a checkpoint is
the largest consistent tree head it has seen for that log.

Format: https://c2sp.org/tlog-cosignature. A cosignature is a signed-note signature line,
`— <cosigner name> base64(key ID || timestamp || signature)`, where
- the key ID is SHA-256(name || 0x0A || 0x04 || 32-byte Ed25519 public key)[:4],
- the timestamp is a big-endian uint64 of POSIX seconds (at most 2**63 - 1),
- the signature is Ed25519 over `cosignature/v1\\ntime <timestamp>\\n` followed by the
  checkpoint's note text (with its final newline, without signature lines).

Verifier keys (vkeys) of cosigners are `<name>+<8 hex key ID>+<base64(0x04 || key)>`.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from verifiers.canonical import b64
from verifiers.errors import MalformedError, NoteError
from verifiers.note import (
    _SIG_PREFIX,
    _check_note_text,
    _ed25519_public,
    _parse_vkey,
    _typed_key_id,
    split_note,
)

__all__ = [
    "ALG_COSIGNATURE_V1",
    "CosignatureError",
    "CosignerKey",
    "cosign",
    "cosigned_message",
    "cosigner_key_id",
    "cosigner_vkey",
    "parse_cosigner_key",
    "verify_cosignatures",
]

# signed-note signature type of Ed25519 cosignature/v1.
ALG_COSIGNATURE_V1 = 0x04
_MAX_TIMESTAMP = 2**63 - 1
_SIGNATURE_SIZE = 8 + 64  # timestamp, Ed25519 signature


class CosignatureError(NoteError):
    """A cosignature by a trusted cosigner that does not verify."""

    code = "cosignature_invalid"


@dataclass(frozen=True)
class CosignerKey:
    """A trusted cosigner (witness): its name, its 4-byte key ID, its Ed25519 public key."""

    name: str
    key_id: bytes
    public_key: bytes

    def __str__(self) -> str:
        return cosigner_vkey(self.name, self.public_key)


def cosigner_key_id(name: str, public_key: bytes) -> bytes:
    """tlog-cosignature "Format": SHA-256(name || 0x0A || 0x04 || public key)[:4]."""
    return _typed_key_id(name, ALG_COSIGNATURE_V1, public_key, "cosigner name")


def cosigner_vkey(name: str, public_key: bytes) -> str:
    """The cosigner's vkey `<name>+<8 hex key ID>+<base64(0x04 || public key)>`."""
    kid = cosigner_key_id(name, public_key)
    return f"{name}+{kid.hex()}+{b64(bytes([ALG_COSIGNATURE_V1]) + public_key)}"


def parse_cosigner_key(text: str) -> CosignerKey:
    """Parse a cosigner vkey: signature type 0x04, a 32-byte key, the key ID its name and key
    give (8 lowercase hex digits)."""
    name, kid, public_key = _parse_vkey(text, ALG_COSIGNATURE_V1, "cosigner key",
                                        "type is not cosignature/v1 (0x04)")
    return CosignerKey(name=name, key_id=kid, public_key=public_key)


def _check_timestamp(timestamp: object) -> int:
    if (not isinstance(timestamp, int) or isinstance(timestamp, bool)
            or not 0 <= timestamp <= _MAX_TIMESTAMP):
        raise MalformedError("cosignature timestamp must be an integer in [0, 2**63)",
                             timestamp=timestamp)
    return timestamp


def cosigned_message(text: str, timestamp: int) -> bytes:
    """The bytes a cosignature signs: the header line, the time line, the note text."""
    if not isinstance(text, str) or not text.endswith("\n"):
        raise MalformedError("checkpoint text must be a string ending in a newline")
    body = _check_note_text(text, "checkpoint text")
    return f"cosignature/v1\ntime {_check_timestamp(timestamp)}\n".encode("ascii") + body


def cosign(text: str, name: str, private_key: Ed25519PrivateKey, timestamp: int) -> str:
    """The cosignature line (ending in a newline) of `name` over checkpoint `text` at
    `timestamp` (POSIX seconds)."""
    message = cosigned_message(text, timestamp)
    if not isinstance(private_key, Ed25519PrivateKey):
        raise MalformedError("private key must be an Ed25519PrivateKey")
    public_key = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    raw = (cosigner_key_id(name, public_key) + struct.pack(">Q", timestamp)
           + private_key.sign(message))
    return f"{_SIG_PREFIX}{name} {b64(raw)}\n"


def verify_cosignatures(note: str | bytes, cosigners: Sequence[CosignerKey]) -> dict[str, int]:
    """The trusted cosigners whose cosignatures on `note` verify: {cosigner name: timestamp}.

    As for log signatures (signed-note "Signatures"), lines of unknown keys are ignored, and
    a line of a trusted cosigner that does not verify rejects the note (CosignatureError). A
    cosigner that signed more than once is reported with its latest timestamp.
    """
    if isinstance(cosigners, str | bytes) or not isinstance(cosigners, Sequence):
        raise MalformedError("cosigners must be a sequence of CosignerKey")
    known: dict[tuple[str, bytes], CosignerKey] = {}
    for key in cosigners:
        if not isinstance(key, CosignerKey):
            raise MalformedError("cosigners must be CosignerKey values", type=type(key).__name__)
        slot = (key.name, key.key_id)
        if slot in known and known[slot].public_key != key.public_key:
            raise NoteError("two trusted cosigners share a name and key ID", name=key.name)
        known[slot] = key
    text, signatures = split_note(note)
    found: dict[str, int] = {}
    for sig in signatures:
        trusted = known.get((sig.name, sig.key_id))
        if trusted is None:
            continue
        if len(sig.signature) != _SIGNATURE_SIZE:
            raise CosignatureError("cosignature is not a timestamp and an Ed25519 signature",
                                   name=sig.name, length=len(sig.signature))
        (timestamp,) = struct.unpack(">Q", sig.signature[:8])
        if timestamp > _MAX_TIMESTAMP:
            raise CosignatureError("cosignature timestamp exceeds 2**63 - 1", name=sig.name)
        try:
            _ed25519_public(trusted.public_key).verify(sig.signature[8:],
                                                   cosigned_message(text, timestamp))
        except InvalidSignature:
            raise CosignatureError("cosignature by a trusted cosigner does not verify",
                                   name=sig.name, key_id=sig.key_id.hex()) from None
        found[sig.name] = max(timestamp, found.get(sig.name, 0))
    return found
