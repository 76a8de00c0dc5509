"""The log as a service: integrate, cut checkpoints and publish them as tiles, sync (with
anchoring), proofs, status, and the audit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ledger.config import Settings
from ledger.errors import (
    LogRangeError,
    NoCheckpointError,
)
from ledger.log.audit import audit
from ledger.log.checkpoints import Checkpoint, Checkpointer
from ledger.log.integrator import Integrated, Integrator
from ledger.log.keys import LogKey
from ledger.log.tiles import Rebuilt, TileWriter
from ledger.log.tree import consistency_proof, inclusion_proof, root_at
from ledger.log.witnessing import Witnessing
from ledger.longterm.service import LongTerm
from ledger.store.tables import LogStore
from verifiers.canonical import b64
from verifiers.note import parse_verifier_key
from verifiers.report import Report


class Log:
    """The RFC 9162 log of this ledger: its leaves, checkpoints and proofs."""

    def __init__(self, *, settings: Settings, store: LogStore, key: LogKey,
                 integrator: Integrator, checkpointer: Checkpointer, longterm: LongTerm,
                 tiles: TileWriter, clock: Callable[[], datetime],
                 witnessing: Witnessing | None = None) -> None:
        self.settings = settings
        self.store = store
        self.key = key
        self.integrator = integrator
        self.checkpointer = checkpointer
        self.longterm = longterm
        self.tiles = tiles
        self.clock = clock
        self.witnessing = witnessing

    def integrate(self, progress: Callable[[int], None] | None = None) -> Integrated:
        return self.integrator.run(progress)

    def checkpoint(self, *, force: bool = False, publish: bool = True) -> Checkpoint | None:
        """Cut a checkpoint if one is due (or `force`), then publish the latest as tiles
        (unless `publish` is False: the log worker publishes from a thread of its own)."""
        cut = self.checkpointer.cut(force=force)
        if publish:
            self.publish()
        return cut

    def publish(self) -> int:
        """Bring the tiles directory up to the latest checkpoint (one another process cut,
        or one a crash left unpublished, too); how many files were written."""
        return self.tiles.publish_latest()

    def rebuild_tiles(self, progress: Callable[[int], None] | None = None) -> Rebuilt:
        """Regenerate every tile of the latest checkpoint from the store, checking those
        present."""
        latest = self.tiles.latest()
        if latest is None:
            raise NoCheckpointError("no checkpoint to publish yet")
        return self.tiles.rebuild(latest, progress)

    def sync(self, *, anchor: bool = True) -> Checkpoint | None:
        """Integrate everything written, cut a checkpoint covering it all, anchor it, and
        cut a last checkpoint that covers the anchor entries too."""
        self.integrate()
        self.checkpoint(force=True)
        if anchor:
            self.longterm.anchor()
            self.integrate()
            self.checkpoint(force=True)
        return self.checkpointer.latest()

    def size(self) -> int:
        with self.store.transaction() as tx:
            return tx.size()

    def checkpoint_at(self, size: int | None = None) -> Checkpoint:
        """The checkpoint of tree size `size` (default: the latest)."""
        cp = self.checkpointer.latest() if size is None else self.checkpointer.at(size)
        if cp is None:
            raise NoCheckpointError("no checkpoint" + (f" of size {size}" if size else " yet"),
                                    size=size)
        return cp

    def leaves(self, start: int, end: int) -> list[tuple[int, bytes]]:
        with self.store.transaction() as tx:
            size = tx.size()
            if not 0 <= start <= end <= size:
                raise LogRangeError(
                    f"range {start}..{end} is outside the log (size {size})", size=size
                )
            return [(idx, state) for idx, _, _, state in tx.leaves(start, end)]

    def prove_inclusion(self, index: int, size: int | None = None) -> dict[str, Any]:
        with self.store.transaction() as tx:
            size = tx.size() if size is None else size
            proof = inclusion_proof(tx, index, size)
            (_, _, stored, _), = tx.leaves(index, index + 1)
        return {"index": index, "tree_size": size, "leaf_hash": b64(stored),
                "proof": [b64(p) for p in proof]}

    def prove_consistency(self, first: int, second: int) -> dict[str, Any]:
        with self.store.transaction() as tx:
            proof = consistency_proof(tx, first, second)
        return {"first": first, "second": second, "proof": [b64(p) for p in proof]}

    def root(self, size: int | None = None) -> bytes:
        with self.store.transaction() as tx:
            return root_at(tx, tx.size() if size is None else size)

    def status(self) -> dict[str, Any]:
        """Size, latest checkpoint and integration backlog."""
        with self.store.transaction() as tx:
            size, cursor = tx.head()
            backlog = tx.event_count() - tx.events_up_to(cursor)
            latest = tx.latest_checkpoint()
        return {
            "origin": self.settings.origin,
            "database": self.settings.database.url,
            "tree_size": size,
            "integration_backlog": backlog,
            "checkpoint": None if latest is None else {
                "size": latest[0], "root": b64(latest[1]), "cut_at": latest[3]},
            "checkpoint_backlog": size - (latest[0] if latest else 0),
            "anchoring": self.longterm.anchoring_status(),
            "witnessing": None if self.witnessing is None else self.witnessing.status(size),
        }

    def witnessed(self) -> Checkpoint:
        """The latest checkpoint the witnesses' quorum cosigned, with the cosignatures."""
        latest = self.tiles.latest() if self.witnessing is not None else None
        if latest is None:
            raise NoCheckpointError("no checkpoint cosigned by the witnesses' quorum yet"
                                    if self.witnessing else "this log has no witnesses")
        return latest

    def audit(self, progress: Callable[[int], None] | None = None, *,
              saved_checkpoint: str | None = None, at: datetime | None = None) -> Report:
        return audit(self.store, parse_verifier_key(self.key.verifier), self.settings.origin,
                     progress, tsa_roots=self.longterm.audit_tsa_roots(),
                     at=at or self.clock(), saved_checkpoint=saved_checkpoint)
