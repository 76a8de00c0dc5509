"""Checkpoints: C2SP tlog-checkpoint bodies in C2SP signed notes, Ed25519.

A checkpoint is cut when `every` entries have arrived since the last one, or `interval` seconds
have passed and there is something new, or when asked. Never two for one size (the size is the
primary key), and never one that is not consistent with the last: before signing, the new root
is checked with an RFC 9162 consistency proof from the previous checkpoint, by the verifier.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from ledger.errors import CorruptStoreError
from ledger.log.keys import LogKey
from ledger.log.tree import consistency_proof, root_at
from ledger.store.tables import LogStore
from verifiers.errors import VerificationError
from verifiers.merkle import verify_consistency
from verifiers.note import format_checkpoint, sign_note


@dataclass(frozen=True)
class Checkpoint:
    size: int
    root: bytes
    note: str
    cut_at: str


class Checkpointer:
    def __init__(
        self,
        store: LogStore,
        key: LogKey,
        origin: str,
        every: int,
        interval: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.key = key
        self.origin = origin
        self.every = every
        self.interval = interval
        self.clock = clock

    def cut(self, *, force: bool = False) -> Checkpoint | None:
        """Cut a checkpoint at the current size if one is due (or `force`); None otherwise."""
        now = self.clock()
        with self.store.transaction(exclusive=True) as tx:
            size = tx.size()
            last = tx.latest_checkpoint()
            if size == 0 or (last is not None and last[0] >= size):
                return None
            if not force and last is not None:
                waited = (now - datetime.fromisoformat(last[3])).total_seconds()
                if size - last[0] < self.every and waited < self.interval:
                    return None
            root = root_at(tx, size)
            if last is not None:
                proof = consistency_proof(tx, last[0], size)
                try:
                    verify_consistency(last[0], size, proof, last[1], root)
                except VerificationError as exc:
                    raise CorruptStoreError(
                        "the tree is not consistent with the last checkpoint; not signing",
                        last=last[0], size=size, detail=exc.diagnostics(),
                    ) from None
            note = sign_note(format_checkpoint(self.origin, size, root), self.key.name,
                             self.key.private_key)
            cut_at = now.isoformat()
            tx.insert_checkpoint(size, root, note, cut_at)
            return Checkpoint(size, root, note, cut_at)

    def latest(self) -> Checkpoint | None:
        with self.store.transaction() as tx:
            row = tx.latest_checkpoint()
        return None if row is None else Checkpoint(*row)

    def at(self, size: int) -> Checkpoint | None:
        with self.store.transaction() as tx:
            row = tx.checkpoint(size)
        return None if row is None else Checkpoint(*row)
