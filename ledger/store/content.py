"""The content store: documents by SHA-256, written atomically, purged on destruction.

Files live under `<data dir>/content/ab/cdef...` (hex digest split after two characters).
Writes go to a temporary file that is fsynced and renamed, so a crash leaves either the whole
document or nothing, and a reader never sees half a file.

The same bytes may belong to a destroyed record and to a new one. An upload pins them (for the
create to come), and a create *holds* them while its event is written: both are rows in the
store, taken under a per-digest lock, and the create checks the bytes are here only after
holding them. A purge takes the same lock and deletes the bytes only if no live record, no
hold or upload of the last PIN_TTL, and no event not yet integrated names them. So a purge
never deletes content a live record needs; at worst a create long after its upload is refused
with `content_not_found` (upload again), and a destroyed record's bytes uploaded again but
never registered wait PIN_TTL for their purge.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from domain.errors import DigestMismatchError
from domain.metadata import check_digest
from ledger.errors import ContentNotFoundError
from ledger.store.tables import LogStore
from verifiers.digest import digest_of as digest_of_bytes

# How long a pin protects bytes with no record yet: longer than any upload-then-create.
PIN_TTL = timedelta(minutes=10)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def digest_of(data: bytes) -> str:
    return digest_of_bytes(data)


class ContentStore:
    def __init__(self, root: Path, store: LogStore) -> None:
        self.root = root
        self.store = store
        self.root.mkdir(parents=True, exist_ok=True)
        self._root = str(root)  # string paths: this is on every write's path

    def pin(self, digest: str) -> None:
        """An upload: protect these bytes from a purge for PIN_TTL, or until a create that
        names them is written."""
        with self.store.transaction() as tx:
            tx.pin_upload(check_digest(digest), _now())

    def hold(self, digests: list[str]) -> list[str]:
        """Hold these bytes for creates about to be written, then say which are missing (a
        create may name only bytes that are here once held). Release them after the write."""
        if not digests:
            return []
        with self.store.transaction() as tx:
            now = _now()
            for digest in sorted(set(digests)):  # one lock order: no deadlock between batches
                tx.hold_content(digest, now)
        return [d for d in digests if not self.has(d)]

    def release(self, digests: list[str]) -> None:
        if not digests:
            return
        with self.store.transaction() as tx:
            for digest in sorted(set(digests)):
                tx.release_content(digest)

    def purge_unheld(self, digest: str) -> bool:
        """Delete the bytes if nothing holds them (see the module's docstring); True if
        deleted or already gone, False if they must stay for now."""
        since = (datetime.now(UTC) - PIN_TTL).isoformat()  # a crashed create's hold expires
        with self.store.transaction(exclusive=True) as tx:  # no leaf is added meanwhile
            tx.lock_content(digest)
            held = tx.content_held(digest, since)
            if held == "record":  # the bytes are a live record's now; its destruction re-queues
                tx.purged(digest)
                return False
            if held is not None:
                return False
            Path(self._path(digest)).unlink(missing_ok=True)
            tx.purged(digest)
            return True

    def _path(self, digest: str) -> str:
        hexdigest = check_digest(digest)[len("sha-256:"):]
        return os.path.join(self._root, hexdigest[:2], hexdigest[2:])

    def put(self, data: bytes, expected: str | None = None) -> str:
        """Store `data`; idempotent. With `expected`, refuse bytes whose digest differs."""
        digest = digest_of(data)
        if expected is not None and expected != digest:
            raise DigestMismatchError(
                "content digest differs from the announced one", expected=expected, found=digest
            )
        self.pin(digest)
        path = Path(self._path(digest))
        if path.exists():
            return digest
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def adopt(self, tmp: str, digest: str) -> None:
        """Move a fully written, fsynced temporary file (in this store's root) into place as
        `digest`; the caller computed the digest while writing it."""
        self.pin(digest)
        path = Path(self._path(digest))
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, path)

    def path_of(self, digest: str) -> str:
        return self._path(digest)

    def get(self, digest: str) -> bytes:
        try:
            return Path(self._path(digest)).read_bytes()
        except FileNotFoundError:
            raise ContentNotFoundError("no content with that digest", digest=digest) from None

    def has(self, digest: str) -> bool:
        return os.path.exists(self._path(digest))
