"""The C2SP tlog-witness `add-checkpoint` request, and equivocation evidence: two checkpoints
one log key signed that cannot both be true, with what proves it.

Request body (https://c2sp.org/tlog-witness): `old <size>\\n`, at most 63 base64 consistency
proof lines, an empty line, then the signed checkpoint note.

Equivocation evidence (docs/witness.md, "Equivocation evidence") is canonical JSON:

    {"format": "stele-equivocation", "version": 1, "origin": ..., "witness": ...,
     "found_at": ..., "notes": [<note>, <note>], "proof": [<base64>...], "seed": <base64>|null}

It proves a split view when both notes are signed by the pinned log key for one origin, and
- they are of one size with different roots, or
- `proof` is a consistency proof from the smaller size to the larger that leads to the larger
  note's root, and to a root of the smaller size other than the smaller note's: the larger
  tree's own history differs from what the log signed at the smaller size. (When the smaller
  size is a power of two the proof leaves that old root out; `seed` supplies it.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from verifiers.canonical import b64, canonical_bytes, unb64
from verifiers.errors import MalformedError, VerificationError
from verifiers.merkle import consistency_roots
from verifiers.note import (
    Checkpoint,
    VerifierKey,
    open_note,
    parse_checkpoint,
    parse_verifier_key,
)

__all__ = [
    "EVIDENCE_FORMAT",
    "MAX_PROOF_LINES",
    "AddCheckpoint",
    "Equivocation",
    "EquivocationUnprovenError",
    "equivocation_evidence",
    "format_add_checkpoint",
    "parse_add_checkpoint",
    "verify_equivocation",
]

MAX_PROOF_LINES = 63
EVIDENCE_FORMAT = "stele-equivocation"
EVIDENCE_VERSION = 1
_OLD = re.compile(r"old (0|[1-9][0-9]{0,19})")


class EquivocationUnprovenError(VerificationError):
    """Evidence whose two checkpoints are not shown to conflict."""

    code = "equivocation_unproven"


@dataclass(frozen=True)
class AddCheckpoint:
    old: int
    proof: tuple[bytes, ...]
    note: str


def format_add_checkpoint(old: int, proof: Sequence[bytes], note: str) -> bytes:
    lines = [f"old {old}", *(b64(p) for p in proof), ""]
    return ("\n".join(lines) + "\n" + note).encode("utf-8")


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """Parse an add-checkpoint body (MalformedError when it is not one)."""
    if not isinstance(body, bytes):
        raise MalformedError("request body must be bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedError("request body is not UTF-8") from None
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise MalformedError("request has no empty line before the checkpoint")
    lines = head.split("\n")
    match = _OLD.fullmatch(lines[0])
    if match is None:
        raise MalformedError("the first line is not `old <size>`")
    old = int(match.group(1))
    if old >= 2**64:
        raise MalformedError("old size does not fit in 64 bits")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise MalformedError("more than 63 consistency proof lines", lines=len(lines) - 1)
    proof = tuple(unb64(line, length=32) for line in lines[1:])
    if not note:
        raise MalformedError("request has no checkpoint")
    return AddCheckpoint(old, proof, note)


def equivocation_evidence(first: str, second: str, proof: Sequence[bytes], *,
                          origin: str, witness: str, found_at: str,
                          seed: bytes | None = None) -> bytes:
    """The canonical JSON of one piece of equivocation evidence (see the module docstring)."""
    return canonical_bytes({
        "format": EVIDENCE_FORMAT, "version": EVIDENCE_VERSION, "origin": origin,
        "witness": witness, "found_at": found_at, "notes": [first, second],
        "proof": [b64(p) for p in proof], "seed": None if seed is None else b64(seed),
    })


@dataclass(frozen=True)
class Equivocation:
    """A proven split view: the log signed both checkpoints, and they conflict."""

    origin: str
    first: Checkpoint  # the smaller (or, at one size, the first listed)
    second: Checkpoint
    how: str  # "same_size" or "consistency_proof"


def verify_equivocation(evidence: bytes | Mapping[str, Any],
                        log_key: VerifierKey | str) -> Equivocation:
    """Prove the split view `evidence` shows, against the log key the caller pinned.

    MalformedError for evidence not in the format; NoteError when a note is not signed by
    `log_key`; EquivocationUnprovenError when the two checkpoints are not shown to conflict.
    """
    key = parse_verifier_key(log_key) if isinstance(log_key, str) else log_key
    if not isinstance(key, VerifierKey):
        raise MalformedError("log_key must be a VerifierKey or a vkey string")
    data = _load(evidence)
    notes = data.get("notes")
    if not isinstance(notes, list) or len(notes) != 2 or not all(isinstance(n, str)
                                                                  for n in notes):
        raise MalformedError("evidence must hold two notes")
    checkpoints = [parse_checkpoint(open_note(note, [key]).text) for note in notes]
    a, b = sorted(checkpoints, key=lambda c: c.size)
    origin = data.get("origin")
    if a.origin != b.origin or a.origin != key.name or origin != a.origin:
        raise EquivocationUnprovenError("the notes are not of one log: its origin and key",
                                        origins=f"{a.origin},{b.origin}", key=key.name)
    if a.size == b.size:
        if a.root == b.root:
            raise EquivocationUnprovenError("the two checkpoints are the same tree head",
                                            size=a.size)
        return Equivocation(a.origin, checkpoints[0], checkpoints[1], "same_size")
    proof = data.get("proof")
    seed = data.get("seed")
    if not isinstance(proof, list) or not all(isinstance(p, str) for p in proof):
        raise MalformedError("proof must be a list of base64 hashes")
    if seed is not None and not isinstance(seed, str):
        raise MalformedError("seed must be base64 or null")
    hashes = [unb64(p, length=32) for p in proof]
    seed_hash = None if seed is None else unb64(seed, length=32)
    if a.size == 0:
        raise EquivocationUnprovenError("every tree extends the empty tree", size=b.size)
    try:
        prefix = consistency_roots(a.size, b.size, hashes, b.root, seed=seed_hash)
    except VerificationError as exc:
        raise EquivocationUnprovenError(
            "the proof does not show what the larger tree held at the smaller size",
            size1=a.size, size2=b.size, reason=exc.code) from None
    if prefix == a.root:
        raise EquivocationUnprovenError("the proof shows the two checkpoints are consistent",
                                        size1=a.size, size2=b.size)
    return Equivocation(a.origin, a, b, "consistency_proof")


def _load(evidence: bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(evidence, bytes | bytearray):
        try:
            data = json.loads(bytes(evidence).decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise MalformedError("evidence is not JSON") from None
    else:
        data = evidence
    if not isinstance(data, Mapping):
        raise MalformedError("evidence is not a JSON object")
    if data.get("format") != EVIDENCE_FORMAT or data.get("version") != EVIDENCE_VERSION:
        raise MalformedError("not stele-equivocation evidence of version 1",
                             format=data.get("format"), version=data.get("version"))
    return data
