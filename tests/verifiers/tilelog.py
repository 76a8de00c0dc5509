"""Tiled logs for the tests: written with verifiers.tiles' own path and framing functions from
a list of entries, the hashes of every level computed with verifiers.merkle.root_of (the plain
RFC 9162 definition), not with the code under test."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from verifiers.canonical import b64, canonical_bytes, event_hash
from verifiers.merkle import leaf_hash, root_of
from verifiers.note import format_checkpoint, sign_note, verifier_key
from verifiers.tiles import (
    CHECKPOINT,
    ENTRIES,
    WIDTH,
    Tile,
    entry_bundles_for,
    frame_entries,
    parse_tile_path,
    tile_bytes,
    tile_width,
    tiles_for,
)

ORIGIN = "stele.example/log"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
VKEY = verifier_key(ORIGIN, KEY.public_key().public_bytes_raw())
OTHER_VKEY = verifier_key(ORIGIN, OTHER_KEY.public_key().public_bytes_raw())


def leaves(n: int) -> list[bytes]:
    """Fixed, non-JSON leaves for tree-shape tests: leaf i is b"leaf <i>"."""
    return [b"leaf %d" % i for i in range(n)]


def events(n: int, *, records: int = 1000) -> list[bytes]:
    """`n` canonical event envelopes of `records` interleaved records, each chained by `prev`:
    a large `record.created` first (about 660 bytes, like the ledger's), then smaller
    lifecycle events (about 350 bytes)."""
    heads: dict[str, tuple[int, str]] = {}
    out = []
    kinds = ["record.signed", "record.filed", "record.transferred", "record.appraised"]
    for i in range(n):
        record = str(uuid.UUID(int=(i * 7919) % records))
        version, prev = heads.get(record, (0, None))
        actor = {"agency": "000.00.12.H29", "id": f"clerk-{i % 17}", "role": "agency"}
        if version == 0:
            digest = hashlib.sha256(b"%d" % i).hexdigest()
            data: dict[str, object] = {
                "content": {"digest": "sha-256:" + digest, "media_type": "application/pdf",
                            "size": 26 + i},
                "custodian": "000.00.12.H29",
                "metadata": {"access": "open", "doc_type": "Quyết định", "issued": "2025-07-01",
                             "issuer": "000.00.12.H29", "language": "vi", "notation": "QĐ-UBND",
                             "number": str(i), "pages": 2, "reliability": "born_digital",
                             "subject": "Phê duyệt kế hoạch"},
                "retention": 10, "schedule": "TT05/2025 I.1.2"}
            kind = "record.created"
        else:
            data = {"note": f"step {version}", "reference": f"REF-{i:08d}"}
            kind = kinds[version % len(kinds)]
        envelope = {"v": 1, "record": record, "version": version + 1, "type": kind,
                    "at": f"2025-07-01T01:{i // 60 % 60:02d}:{i % 60:02d}.000000Z",
                    "actor": actor, "prev": prev, "data": data}
        body = canonical_bytes(envelope)
        out.append(body)
        heads[record] = (version + 1, b64(event_hash(body)))
    return out


def hash_levels(entries: list[bytes]) -> list[list[bytes]]:
    """levels[L]: the hashes at tree height 8*L (complete nodes only), by root_of."""
    levels = [[leaf_hash(e) for e in entries]]
    while len(levels[-1]) >= WIDTH:
        below = levels[-1]
        levels.append([root_of(below[i : i + WIDTH])
                       for i in range(0, len(below) - WIDTH + 1, WIDTH)])
    return levels


def files(entries: list[bytes], *, key: Ed25519PrivateKey = KEY) -> dict[str, bytes]:
    """Every file of the tiled log of `entries`: checkpoint, tiles, entry bundles."""
    levels = hash_levels(entries)
    size = len(entries)
    out: dict[str, bytes] = {}
    for tile in tiles_for(size):
        first = tile.index * WIDTH
        out[tile.path] = tile_bytes(levels[tile.level][first : first + tile.width])
    for bundle in entry_bundles_for(size):
        first = bundle.index * WIDTH
        out[bundle.path] = frame_entries(entries[first : first + bundle.width])
    root = root_of(levels[0])
    out[CHECKPOINT] = sign_note(format_checkpoint(ORIGIN, size, root), ORIGIN, key).encode()
    return out


def write(directory: Path, contents: dict[str, bytes]) -> Path:
    for path, data in contents.items():
        target = directory / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return directory


class GrowingLog:
    """A log of `entries` that has checkpoints at every size: `fetch_at(size)` serves the tree
    of `size` leaves as a live log would, its full tiles (also those past `size`) and the
    partial tiles of `size`; with `partials=False` partial files are missing (only the full
    tiles that have replaced them exist)."""

    def __init__(self, entries: list[bytes]) -> None:
        self.entries = entries
        self.levels = hash_levels(entries)

    def root(self, size: int) -> bytes:
        return root_of(self.levels[0][:size])

    def note(self, size: int, key: Ed25519PrivateKey = KEY) -> str:
        return sign_note(format_checkpoint(ORIGIN, size, self.root(size)), ORIGIN, key)

    def fetch_at(self, size: int, *, partials: bool = True) -> Callable[[str], bytes]:
        def fetch(path: str) -> bytes:
            if path == CHECKPOINT:
                return self.note(size).encode()
            level, index, width = parse_tile_path(path)
            at = ENTRIES if level == "entries" else level
            full = width == WIDTH
            have = len(self.levels[0] if at == ENTRIES else self.levels[at])
            if full and (index + 1) * WIDTH > have:
                raise FileNotFoundError(path)
            if not full and (not partials or width != tile_width(at, index, size)):
                raise FileNotFoundError(path)
            first = index * WIDTH
            if at == ENTRIES:
                return frame_entries(self.entries[first : first + width])
            return tile_bytes(self.levels[at][first : first + width])

        return fetch


def tile_of(path: str) -> Tile:
    return Tile.from_path(path)
