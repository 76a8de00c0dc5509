"""The content store: documents by SHA-256, written atomically, purged on destruction.

Files live under `<data dir>/content/ab/cdef...` (hex digest split after two characters).
Writes go to a temporary file that is fsynced and renamed, so a crash leaves either the whole
document or nothing, and a reader never sees half a file.

The same bytes may belong to a destroyed record and to a new one. A create *holds* the bytes it
names from the moment it checks they are here until its event is saved: a shared lock per
digest, across processes (a PostgreSQL advisory lock; on SQLite, whose processes share one
machine, an flock on one of 256 lock files). A purge takes the same lock exclusively and
deletes the bytes only if no live record, no event not yet integrated, and no fresh upload
names them. So a purge never deletes content a live record needs, and the write path pays no
extra commit. An upload of bytes queued for purge pins them for PIN_TTL (a create to come);
a create long after such an upload may find them purged and is refused `content_not_found`.

Each document is stored once, whoever uploads it; who presented it is kept per agency
(`stele_content_owners`). An agency registers a record only with bytes it presented itself,
and is answered `content_not_found` otherwise, whether or not another agency's bytes are here:
a digest alone neither registers a document nor tells whether some agency holds it.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from domain.errors import DigestMismatchError
from domain.metadata import check_digest
from ledger.errors import ContentNotFoundError
from ledger.store.tables import LogStore
from verifiers.digest import digest_of

# How long an upload of bytes queued for purge protects them: longer than upload-then-create.
PIN_TTL = timedelta(minutes=10)


def _now() -> str:
    return datetime.now(UTC).isoformat()


class ContentStore:
    def __init__(self, root: Path, store: LogStore) -> None:
        self.root = root
        self.store = store
        self.root.mkdir(parents=True, exist_ok=True)
        self._root = str(root)  # string paths: this is on every write's path
        self._local = threading.local()

    @contextmanager
    def holding(self, digests: list[str], agency: str) -> Iterator[list[str]]:
        """Hold these bytes against a purge while the block runs (a create's save); yields
        those that are missing or that `agency` never presented (a create may name only bytes
        that are here once held, and that its agency uploaded)."""
        with self._locked(digests, shared=True):
            if not digests:
                yield []
                return
            with self.store.transaction() as tx:
                owned = tx.owned(sorted(set(digests)), agency)
            yield [d for d in digests if d not in owned or not self.has(d)]

    def purge_unheld(self, digest: str) -> bool:
        """Delete the bytes if nothing holds them (see the module's docstring); True if
        deleted or already gone, False if they must stay for now."""
        since = (datetime.now(UTC) - PIN_TTL).isoformat()
        with self._locked([digest], shared=False), self.store.transaction(exclusive=True) as tx:
            held = tx.content_held(digest, since)
            if held == "record":  # the bytes are a live record's now; its destruction re-queues
                tx.purged(digest)
                return False
            if held is not None:
                return False
            Path(self._path(digest)).unlink(missing_ok=True)
            tx.purged(digest, deleted=True)
            return True

    @contextmanager
    def _locked(self, digests: list[str], *, shared: bool) -> Iterator[None]:
        keys = sorted({check_digest(d) for d in digests})  # one order: no deadlock
        if not keys:
            yield
            return
        if self.store.is_postgres:
            with self.store.transaction() as tx:
                for key in keys:
                    tx.content_lock(key, shared=shared)
            try:
                yield
            finally:
                with self.store.transaction() as tx:
                    for key in keys:
                        tx.content_lock(key, shared=shared, unlock=True)
            return
        locks = self.root / ".locks"
        locks.mkdir(exist_ok=True)
        with ExitStack() as stack:
            for stripe in sorted({k[len("sha-256:"):][:2] for k in keys}):
                f = stack.enter_context((locks / stripe).open("a+b"))
                fcntl.flock(f, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            yield  # closing each file gives its lock back

    def _arrived(self, digest: str, owner: str | None) -> None:
        """Bytes just uploaded: `owner` presented them; if queued for purge, pin them for the
        create to come."""
        with self.store.transaction() as tx:
            if owner is not None:
                tx.add_content_owner(digest, owner)
            if tx.purge_queued(digest):
                tx.pin_upload(digest, _now())

    def _path(self, digest: str) -> str:
        hexdigest = check_digest(digest)[len("sha-256:"):]
        return os.path.join(self._root, hexdigest[:2], hexdigest[2:])

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Many writes, made durable together when the block ends (one `sync` instead of an
        fsync per file): for the thousands of small files of a transfer package. Callers
        log nothing that names these files until the block has ended."""
        self._local.deferred = True  # this thread's writes only: others fsync as ever
        try:
            yield
        finally:
            self._local.deferred = False
        os.sync()

    def put(self, data: bytes, expected: str | None = None, *, owner: str | None = None) -> str:
        """Store `data`; idempotent. With `expected`, refuse bytes whose digest differs.
        `owner`: the agency presenting them (None for evidence the ledger keeps itself)."""
        digest = digest_of(data)
        if expected is not None and expected != digest:
            raise DigestMismatchError(
                "content digest differs from the announced one", expected=expected, found=digest
            )
        with self._locked([digest], shared=True):
            self._arrived(digest, owner)
            path = Path(self._path(digest))
            if path.exists():
                return digest
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    if not getattr(self._local, "deferred", False):
                        os.fsync(f.fileno())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return digest

    def adopt(self, tmp: str, digest: str, *, owner: str) -> None:
        """Move a fully written, fsynced temporary file (in this store's root) into place as
        `digest`; the caller computed the digest while writing it, for `owner`."""
        with self._locked([digest], shared=True):
            self._arrived(digest, owner)
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

    def open(self, digest: str) -> BinaryIO:
        """The bytes of `digest`, to read in chunks (a document may be larger than memory)."""
        try:
            return Path(self._path(digest)).open("rb")
        except FileNotFoundError:
            raise ContentNotFoundError("no content with that digest", digest=digest) from None

    def has(self, digest: str) -> bool:
        return os.path.exists(self._path(digest))
