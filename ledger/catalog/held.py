"""The catalog versions this node holds, as its writes read them: the set in force for a new
record (the latest version of each catalog), refused as stale once the centre's index has
expired past the grace period, and the statements that add a version in the transaction of
the event that publishes or syncs it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from domain.catalog import CatalogSet, Version, parse_snapshot
from ledger.errors import CatalogStaleError, CorruptStoreError
from ledger.store.tables import LogStore
from verifiers.catalog import read_index
from verifiers.digest import digest_of

INDEX_META = "catalog_index"  # the last index a consumer accepted (its signed note)
CHECKPOINT_META = "catalog_checkpoint"  # the centre's checkpoint note that proved it
KEYS_META = "catalog_keys"  # the index keys in force after the rotations the centre made
REFUSED_META = "catalog_refused"  # the last sync refused, and why (JSON)


class HeldCatalogs:
    def __init__(self, store: LogStore, clock: Callable[[], datetime], *,
                 grace: timedelta, required: bool = False) -> None:
        self.store = store
        self.clock = clock
        self.grace = grace
        self.required = required  # a consumer: no write a catalog checks before a first sync
        self._parsed: dict[tuple[str, int], Version] = {}
        self._lock = threading.Lock()

    def in_force(self) -> CatalogSet | None:
        """The latest version of each catalog held (None if none is). CatalogStaleError on a
        node that syncs from a centre, before its first sync, or once the index it holds has
        expired past the grace."""
        with self.store.transaction() as tx:
            latest = tx.catalog_versions(latest=True)
            index = tx.meta(INDEX_META) if latest or self.required else None
        if self.required and index is None:
            raise CatalogStaleError("this node has not synced the catalogs from its centre yet")
        if not latest:
            return None
        if index is not None:
            expires = read_index(index).expires
            if self.clock() >= self.stale_at(expires):
                raise CatalogStaleError(
                    "the catalogs have not been synced since the centre's index expired",
                    expires=expires.isoformat(), grace_hours=self.grace / timedelta(hours=1))
        return CatalogSet({name: self.version(name, version) for name, version, _, _ in latest})

    def stale_at(self, expires: datetime) -> datetime:
        """When catalogs resting on an index that expires at `expires` go stale."""
        return expires + self.grace

    def is_consumer(self) -> bool:
        """Whether this node takes its catalogs from a centre (configured to, or has)."""
        if self.required:
            return True
        with self.store.transaction() as tx:
            return tx.meta(INDEX_META) is not None

    def version(self, name: str, version: int) -> Version:
        """A version held, parsed once per process (snapshots never change)."""
        key = (name, version)
        with self._lock:
            found = self._parsed.get(key)
        if found is not None:
            return found
        with self.store.transaction() as tx:
            data = tx.catalog_snapshot(name, version)
        if data is None:
            raise CorruptStoreError("a catalog version is listed but its snapshot is missing",
                                    catalog=name, version=version)
        parsed_name, parsed_version, entries = parse_snapshot(data)
        found = Version(parsed_name, parsed_version, digest_of(data), tuple(entries))
        if (parsed_name, parsed_version) != key:
            raise CorruptStoreError("a stored snapshot names another version",
                                    catalog=name, version=version)
        with self._lock:
            self._parsed[key] = found
        return found

    def add_statement(self, name: str, version: int, digest: str, snapshot: bytes,
                      at: str) -> tuple[str, tuple[Any, ...]]:
        return (self.store.sql(f"INSERT INTO {self.store.prefix}stele_catalog_versions"
                               " (catalog, version, digest, snapshot, held_at)"
                               " VALUES (?, ?, ?, ?, ?)"),
                (name, version, digest, snapshot, at))
