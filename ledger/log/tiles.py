"""Publishing the log as static C2SP tlog-tiles, in a plain directory any web server can serve.

After each checkpoint the writer adds the tiles the new tree size implies (verifiers/tiles.py
says which and what they hold) and then the checkpoint itself:

- every file is written whole and atomically: written to a temporary name, fsynced, renamed,
  and its directory fsynced before the checkpoint that needs it is published, so a crash at
  any point leaves each file either absent or complete, and a published checkpoint never
  names a tile that is not there;
- a full tile is never rewritten; when it is written its partial tiles are deleted;
- the checkpoint is replaced only by a larger one, under a lock file, so several processes may
  publish the same directory.

What has been published is the size in the directory's `checkpoint`: after a crash the next
publication starts from there and rewrites whatever it may not have finished. `follow` is the
log worker's publishing process.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from ledger.config import Database
from ledger.log.checkpoints import Checkpoint
from ledger.store.tables import LogStore
from verifiers.tiles import (
    CHECKPOINT,
    ENTRIES,
    HEIGHT,
    WIDTH,
    Tile,
    entry_bundles_for,
    frame_entries,
    tile_bytes,
    tile_node_range,
    tile_width,
    tiles_for,
)


@dataclass
class Rebuilt:
    """What `rebuild` found and did."""

    size: int = 0
    files: int = 0  # tiles and bundles the tree size implies
    written: int = 0  # of which missing or different, now written
    mismatched: list[str] = field(default_factory=list)  # present but different: tampered
    stale: list[str] = field(default_factory=list)  # partial tiles a full tile replaces


def follow(database: Database, root: Path, period: float, stop: Any, parent: int,
           ready: Any = None, witnessed: bool = False) -> None:
    """Publish the latest checkpoint every `period` seconds until `stop` is set or the
    process that started this one (`parent`) is gone. The log worker runs it in a process of
    its own, so writing tiles never holds up integration (a thread would share the worker's
    interpreter, and its lock)."""
    log = structlog.get_logger("stele.tiles")
    # The parent stops this process (`stop`), or it stops when the parent is gone. A SIGTERM
    # or Ctrl-C sent to the whole process group (systemd, a terminal) must not kill it while
    # it waits on `stop`: that leaves the event's lock held, and the parent's stop() hangs.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    writer = TileWriter(LogStore(database), root, witnessed=witnessed)
    if ready is not None:
        ready.set()
    try:
        while not stop.wait(period) and os.getppid() == parent:
            try:
                writer.publish_latest()
            except Exception as exc:  # the next round retries from the directory
                log.error("tiles.error", error=f"{type(exc).__name__}: {exc}")
    finally:
        writer.store.close()


def published_size(root: Path) -> int:
    """The tree size of the checkpoint published in `root` (0 if none)."""
    try:
        lines = (root / CHECKPOINT).read_text(encoding="utf-8").split("\n")
        return int(lines[1])
    except (FileNotFoundError, IndexError, ValueError):
        return 0


class TileWriter:
    """`witnessed`: the log has witnesses, and only checkpoints their quorum cosigned are
    published (with the cosignatures in the note)."""

    def __init__(self, store: LogStore, root: Path, *, witnessed: bool = False) -> None:
        self.store = store
        self.root = root
        self.witnessed = witnessed
        self._published: int | None = None  # cached: the directory's checkpoint size

    def latest(self) -> Checkpoint | None:
        """The checkpoint to publish: the latest, or the latest the quorum cosigned."""
        with self.store.transaction() as tx:
            if not self.witnessed:
                row = tx.latest_checkpoint()
                return None if row is None else Checkpoint(*row)
            witnessed = tx.latest_witnessed()
            signed = None if witnessed is None else tx.checkpoint(witnessed[0])
        if witnessed is None or signed is None:
            return None
        return Checkpoint(signed[0], signed[1], witnessed[1], signed[3])

    def publish_latest(self) -> int:
        """Publish the store's latest checkpoint (see `publish`)."""
        latest = self.latest()
        return 0 if latest is None else self.publish(latest)

    def publish(self, checkpoint: Checkpoint) -> int:
        """Write the tiles `checkpoint` implies and then the checkpoint; how many files were
        written. Nothing if the directory already holds this size or a larger one."""
        if self._published is None:
            self._published = published_size(self.root)
        if checkpoint.size <= self._published:
            return 0
        synced: set[Path] = set()
        written = 0
        leaves: dict[int, list[tuple[bytes, bytes]]] = {}  # level 0 tile -> (hash, entry)
        for tile in _new_tiles(self._published, checkpoint.size):
            path = self.root / tile.path
            if not tile.is_partial and path.exists():
                continue  # full tiles never change
            write_file(path, self._bytes(tile, leaves))
            synced.add(path.parent)
            written += 1
            if not tile.is_partial:
                _drop_partials(path)
        for directory in synced:
            fsync_dir(directory)
        self._published = self._put_checkpoint(checkpoint)
        return written + 1

    def rebuild(self, checkpoint: Checkpoint,
                progress: Callable[[int], None] | None = None) -> Rebuilt:
        """Regenerate every tile and bundle of `checkpoint` from the store, checking those
        present against it: a file that differs is named in `mismatched` and rewritten.
        `progress(1)` after each file."""
        done = Rebuilt(size=checkpoint.size)
        synced: set[Path] = set()
        for tile in [*tiles_for(checkpoint.size), *entry_bundles_for(checkpoint.size)]:
            done.files += 1
            path = self.root / tile.path
            data = self._bytes(tile)
            try:
                present: bytes | None = path.read_bytes()
            except FileNotFoundError:
                present = None
            if present != data:
                if present is not None:
                    done.mismatched.append(tile.path)
                write_file(path, data)
                synced.add(path.parent)
                done.written += 1
            if not tile.is_partial:
                done.stale += [str(p.relative_to(self.root)) for p in _partials(path)]
                _drop_partials(path)
            if progress is not None:
                progress(1)
        for directory in synced:
            fsync_dir(directory)
        self._put_checkpoint(checkpoint, replace=True)
        self._published = checkpoint.size
        return done

    def _bytes(self, tile: Tile,
               leaves: dict[int, list[tuple[bytes, bytes]]] | None = None) -> bytes:
        """The file's bytes, from the store. `leaves` caches each level 0 tile's leaves for
        its entry bundle (or the other way round): read once for both."""
        height, first, end = tile_node_range(tile)
        if height == 0:
            rows = leaves.pop(tile.index, None) if leaves is not None else None
            if rows is None:
                with self.store.transaction() as tx:
                    rows = [(h, state) for _, _, h, state in tx.leaves(first, end)]
                if leaves is not None:
                    leaves[tile.index] = rows
            if tile.level == ENTRIES:
                return frame_entries([state for _, state in rows])
            return tile_bytes([h for h, _ in rows])
        with self.store.transaction() as tx:
            return tile_bytes([h for _, h in tx.inner_nodes(height, first, end)])

    def _put_checkpoint(self, checkpoint: Checkpoint, *, replace: bool = False) -> int:
        """Publish the note unless a larger one is there; the size published now."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            current = published_size(self.root)
            if checkpoint.size > current or (replace and checkpoint.size == current):
                write_file(self.root / CHECKPOINT, checkpoint.note.encode("utf-8"))
                fsync_dir(self.root)
                return checkpoint.size
            return current


def _new_tiles(published: int, size: int) -> Iterator[Tile]:
    """The tiles and bundles of `size` that a directory holding `published` lacks or holds
    only in part: at each level, from the tile at the published edge on."""
    for level in (ENTRIES, *range(0, 64)):
        count = size >> (HEIGHT * max(level, 0))
        if count == 0:
            return
        first = (published >> (HEIGHT * max(level, 0))) // WIDTH
        for index in range(first, (count - 1) // WIDTH + 1):
            width = tile_width(level, index, size)
            if width:
                yield Tile(level, index, width)


def write_file(path: Path, data: bytes) -> None:
    """Write `path` whole or not at all (a temporary file, fsynced, renamed over it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _partials(full: Path) -> list[Path]:
    partial = full.with_name(full.name + ".p")
    return sorted(partial.iterdir()) if partial.is_dir() else []


def _drop_partials(full: Path) -> None:
    shutil.rmtree(full.with_name(full.name + ".p"), ignore_errors=True)
