"""Ed25519 signing keys made on first run and kept in the data directory (mode 0600): the
log's checkpoint key, and the witness's cosigning key (a separate key, so a witness never
signs with the log's authority)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.errors import ConfigError
from verifiers.cosignature import cosigner_vkey
from verifiers.note import verifier_key

KEY_FILE = "checkpoint-key.pem"
WITNESS_KEY_FILE = "witness-key.pem"


@dataclass(frozen=True)
class LogKey:
    name: str
    private_key: Ed25519PrivateKey

    @property
    def public_bytes(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def verifier(self) -> str:
        """`<name>+<key id>+<base64(0x01 || key)>`, the signed-note verifier key."""
        return verifier_key(self.name, self.public_bytes)

    @property
    def cosigner(self) -> str:
        """`<name>+<key id>+<base64(0x04 || key)>`, the key as a cosigner (witness) vkey."""
        return cosigner_vkey(self.name, self.public_bytes)

    @classmethod
    def load_or_create(cls, data_dir: Path, name: str, file: str = KEY_FILE) -> LogKey:
        path = data_dir / file
        if not path.exists():
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            # Write a private temporary file, then link it into place: link() fails if the key
            # exists, so when two processes start at once exactly one whole key wins.
            tmp = data_dir / f".{file}.{os.getpid()}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the key {path}: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(f"{path} is not an Ed25519 private key")
        if path.stat().st_mode & 0o077:
            raise ConfigError(f"{path} must be readable by its owner only (chmod 600)")
        return cls(name=name, private_key=key)
