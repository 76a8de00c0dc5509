"""Errors of the proof kernel: each has a stable `code`, its evidence, and `diagnostics()`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar


class CodedError(Exception):
    """An error with a stable `code`, the evidence, and one human `diagnostics()` line: the
    shape of every Stele error (the domain's and the ledger's derive from it too)."""

    code = "error"

    def __init__(self, message: str, **evidence: Any) -> None:
        super().__init__(message)
        self.message = message
        self.evidence = evidence

    def diagnostics(self) -> str:
        """One human line: the code, what is wrong, and the evidence."""
        details = ", ".join(f"{k}={v}" for k, v in self.evidence.items())
        return f"{self.code}: {self.message}" + (f" ({details})" if details else "")


class VerificationError(CodedError):
    """Root of every error the proof kernel raises; never a builtin exception."""

    code = "verification_failed"


class MalformedError(VerificationError):
    """Input that cannot be parsed (wrong length, bad encoding, missing field)."""

    code = "malformed"


class RootMismatchError(VerificationError):
    """A proof led to a root other than the expected one."""

    code = "root_mismatch"

    def __init__(self, expected: bytes, calculated: bytes) -> None:
        super().__init__(
            "calculated root differs from the expected root",
            expected=expected.hex(),
            calculated=calculated.hex(),
        )
        self.expected = expected
        self.calculated = calculated


class ProofError(VerificationError):
    """A proof whose shape does not fit its parameters (length, index, sizes)."""

    code = "proof_invalid"


class NoteError(VerificationError):
    """A signed note that does not parse or whose signature does not verify."""

    code = "note_invalid"


class ChainError(VerificationError):
    """A record's event chain that is broken (prev link, version, record, canonical form)."""

    code = "chain_broken"


_T = TypeVar("_T")


def guard_parse(what: str, func: Callable[..., _T], *args: Any) -> _T:
    """Run a parsing step; asn1crypto reports bad input with assorted builtin exceptions,
    which become MalformedError here (never a builtin exception out of a public function)."""
    try:
        return func(*args)
    except VerificationError:
        raise
    except Exception as exc:
        raise MalformedError(
            f"{what} does not parse", reason=f"{type(exc).__name__}: {exc}"
        ) from None


def require_bytes(value: object, what: str) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise MalformedError(f"{what} must be bytes", type=type(value).__name__)
    return bytes(value)
