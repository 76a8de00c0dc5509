"""The content store: documents by SHA-256, written atomically, purged on destruction.

Files live under `<data dir>/content/ab/cdef...` (hex digest split after two characters).
Writes go to a temporary file that is fsynced and renamed, so a crash leaves either the whole
document or nothing, and a reader never sees half a file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from domain.metadata import check_digest
from ledger.errors import ContentNotFoundError, DigestMismatchError


def digest_of(data: bytes) -> str:
    return "sha-256:" + hashlib.sha256(data).hexdigest()


class ContentStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._root = str(root)  # string paths: this is on every write's path

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

    def purge(self, digest: str) -> None:
        """Delete the document's bytes (idempotent)."""
        Path(self._path(digest)).unlink(missing_ok=True)
