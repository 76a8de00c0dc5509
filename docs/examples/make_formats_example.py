"""Print the worked example of docs/formats.md: one real `record.created` event, its canonical
bytes, its event hash, its Merkle leaf hash, and the `prev` of the event that follows it.

Run from the repository root:  .venv/bin/python docs/examples/make_formats_example.py

Everything is fixed (actor, time, metadata, content), so the output never changes unless the
format does; if it changes, docs/formats.md must change with it.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import UTC, datetime

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domain.envelope import Actor
from domain.record import RECORD_NAMESPACE, Record
from verifiers.note import format_checkpoint, sign_note, verifier_key

AGENCY = "000.00.12.H29"
CONTENT = b"%PDF-1.7 example document\n"
ORIGIN = "stele.localhost/log"
# A fixed, public, worthless key so that the example note is reproducible (Ed25519 signatures
# are deterministic). Never use a key like this for a real log.
EXAMPLE_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def main() -> None:
    content_digest = "sha-256:" + hashlib.sha256(CONTENT).hexdigest()
    clerk = Actor(id="clerk-1", role="agency", agency=AGENCY)
    record = Record.register(
        actor=clerk,
        at=datetime(2025, 7, 1, 1, 30, tzinfo=UTC),  # 08:30 in Ha Noi (+07:00)
        metadata={
            "doc_type": "Quyết định",
            "number": "12",
            "notation": "QĐ-UBND",
            "issued": "2025-07-01",
            "issuer": AGENCY,
            "subject": "Phê duyệt kế hoạch",
            "language": "vi",
            "pages": 2,
            "access": "open",
            "reliability": "born_digital",
        },
        retention=10,
        schedule="TT05/2025 I.1.2",
        content={"digest": content_digest, "size": len(CONTENT), "media_type": "application/pdf"},
    )
    created = record.pending_events[0]
    data: bytes = created.canonical()  # type: ignore[attr-defined]

    # Recomputed from the bytes with the standard library only, as an outside verifier would.
    event_hash = hashlib.sha256(data).digest()
    leaf_hash = hashlib.sha256(b"\x00" + data).digest()
    # The record id's UUIDv5 name: RFC 8785 JSON of [issuer, year, number, notation].
    name = rfc8785.dumps([AGENCY, "2025", "12", "QĐ-UBND"]).decode("utf-8")
    assert uuid.uuid5(RECORD_NAMESPACE, name) == record.id

    print("record id name:       ", name)
    print("record id:            ", f"{record.id} (UUIDv5 in namespace {RECORD_NAMESPACE})")
    print("canonical bytes (UTF-8,", len(data), "bytes):")
    print(data.decode("utf-8"))
    print("canonical bytes (hex):")
    print(data.hex())
    print("event hash (hex):     ", event_hash.hex())
    print("event hash (base64):  ", base64.b64encode(event_hash).decode("ascii"))
    print("leaf hash (hex):      ", leaf_hash.hex())
    print("next event's prev:    ", record.head)

    # A log holding only this event: its root is the leaf hash (RFC 9162 §2.1.1, n = 1).
    public = EXAMPLE_KEY.public_key().public_bytes_raw()
    note = sign_note(format_checkpoint(ORIGIN, 1, leaf_hash), ORIGIN, EXAMPLE_KEY)
    print("verifier key:         ", verifier_key(ORIGIN, public))
    print("checkpoint of a one-leaf log, as a signed note:")
    print(note, end="")


if __name__ == "__main__":
    main()
