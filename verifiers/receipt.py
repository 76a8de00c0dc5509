"""Transfer receipts (biên bản giao nhận as data): the receiving archive's signed answer to a
transfer package, and the one thing that moves custody on the sending log.

A receipt is a C2SP signed note, signed with the receiving log's checkpoint key (the key name
is its origin). Its text is two lines: the header `stele-transfer-receipt/v1`, then the body
as RFC 8785 canonical JSON. The header keeps a receipt from ever reading as a checkpoint (whose
second line is a tree size) and a checkpoint from ever reading as a receipt. The body
(docs/transfers.md) says `outcome` "received" (counts, digests, the source checkpoint the
package was re-proved against, the receiver's checkpoint after registering) or "rejected"
(a stable `code` and the reason).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from verifiers.canonical import canonical_bytes
from verifiers.errors import MalformedError, NoteError, VerificationError
from verifiers.note import VerifierKey, open_note, sign_note

HEADER = "stele-transfer-receipt/v1"
FORMAT = "stele-transfer-receipt"
OUTCOMES = ("received", "rejected")


class ReceiptError(VerificationError):
    """A receipt that is not one, or that no pinned key signed."""

    code = "receipt_invalid"


def sign_receipt(body: dict[str, Any], name: str, key: Ed25519PrivateKey) -> str:
    """The signed note of `body` (which must say its format and outcome)."""
    if body.get("format") != FORMAT or body.get("outcome") not in OUTCOMES:
        raise MalformedError("a receipt body says its format and an outcome")
    text = HEADER + "\n" + canonical_bytes(body).decode("utf-8") + "\n"
    return sign_note(text, name, key)


def open_receipt(note: str | bytes, keys: Sequence[VerifierKey]) -> tuple[str, dict[str, Any]]:
    """(signer's origin, body) of a receipt signed by one of `keys` (the pinned peer logs).
    Raises ReceiptError when it is not a receipt or no pinned key signed it."""
    try:
        opened = open_note(note, keys)
    except NoteError as exc:
        raise ReceiptError(f"the receipt's signature does not verify against a pinned peer "
                           f"log key: {exc.message}", **exc.evidence) from None
    except MalformedError as exc:
        raise ReceiptError(f"not a signed note: {exc.message}") from None
    header, _, rest = opened.text.partition("\n")
    body_text = rest[:-1] if rest.endswith("\n") else rest
    if header != HEADER or "\n" in body_text:
        raise ReceiptError("not a transfer receipt", header=header)
    try:
        body = json.loads(body_text)
    except ValueError:
        raise ReceiptError("the receipt's body is not JSON") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT \
            or body.get("outcome") not in OUTCOMES:
        raise ReceiptError("the receipt's body is not a transfer receipt")
    if canonical_bytes(body).decode("utf-8") != body_text:
        raise ReceiptError("the receipt's body is not in canonical form")
    return opened.verified_by[0], body
