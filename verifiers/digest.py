"""One digest form for documents, tokens, certificates and trust anchors: `sha-256:<64 hex>`,
SHA-256 over the exact bytes (docs/formats.md). Parsed and formatted here, nowhere else."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TypeGuard

from verifiers.errors import MalformedError

PREFIX = "sha-256:"
PATTERN = re.compile(r"^sha-256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class Digest:
    value: bytes  # the 32 bytes of the SHA-256

    @classmethod
    def of(cls, data: bytes) -> Digest:
        return cls(hashlib.sha256(data).digest())

    @classmethod
    def parse(cls, text: object) -> Digest:
        if not is_digest(text):
            raise MalformedError("a digest is 'sha-256:' and 64 lowercase hex digits",
                                 value=repr(text)[:80])
        return cls(bytes.fromhex(text[len(PREFIX):]))

    def format(self) -> str:
        return PREFIX + self.value.hex()

    def __str__(self) -> str:
        return self.format()


def is_digest(text: object) -> TypeGuard[str]:
    return isinstance(text, str) and PATTERN.match(text) is not None


def digest_of(data: bytes) -> str:
    """`sha-256:<hex>` of `data`: the form every event, manifest and anchor uses."""
    return Digest.of(data).format()
