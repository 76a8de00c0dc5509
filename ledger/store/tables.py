"""The Merkle log's tables, beside eventsourcing's `stored_events`, on SQLite or PostgreSQL.

- `stele_leaves(idx, notification_id, hash)`: leaf `idx` of the log is the event with that
  notification id; `hash` is its RFC 9162 leaf hash. Dense: 0..size-1, no gaps, each event once.
- `stele_nodes(level, idx, hash)`: every complete interior node (level >= 1) of the tree, so a
  proof reads O(log n) rows and nothing is ever rebuilt.
- `stele_checkpoints(size, root, note, cut_at)`: at most one per size.
- `stele_meta(name, value)`: the log's identity (origin, verifier key), fixed on first run.
- `stele_records(id, kind, digest, creator, custodian, first_leaf, destroyed_leaf)`: one row
  per record or dossier, kept by the integrator in the leaves' transaction: for listing by
  agency, finding records by content digest, and knowing which content live records hold.
  The events remain the truth; this is derived from them.
- `stele_principals`, `stele_idempotency`: who may call the API (token hashes only), and the
  first answer to each idempotent request; `stele_sessions`: the web pages' logins (cookie
  hashes only, each with its CSRF token and expiry).
- `stele_content_owners(digest, agency)`: the agencies that presented each document's bytes.
- `stele_witness_*`: the witness's state (heads, every cosigned checkpoint, equivocation
  evidence); `stele_witness_peers`, `stele_cosignatures`, `stele_witnessed`: the log's side,
  what its witnesses cosigned and which checkpoints met the quorum.
- `stele_transfers`, `stele_receipts`: transfers this log sent (the package digest, the receipt
  that answered it), and the receipts this log issued for the packages it registered.
- `stele_catalog_versions(catalog, version, digest, snapshot, held_at)`: the shared catalogs'
  versions this node holds (published or synced), each with its canonical snapshot.
- `stele_purges(digest)`: content to delete now that no live record holds it, queued by the
  integrator in the same transaction as the leaves, so a crash never loses a purge.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import psycopg

from ledger.config import Database

_INTEGRATION_LOCK = 0x57E1E  # PostgreSQL advisory lock key held by the one integrating writer
_SCHEMA_LOCK = 0x57E1F  # ... and by the one process making tables
_CONTENT_LOCK = 0x57E20  # (with the digest's hash) pinning content and purging it

_TABLES = [
    "CREATE TABLE IF NOT EXISTS {p}stele_leaves ("
    " idx BIGINT PRIMARY KEY, notification_id BIGINT NOT NULL UNIQUE, hash {blob} NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {p}stele_nodes ("
    " level SMALLINT NOT NULL, idx BIGINT NOT NULL, hash {blob} NOT NULL,"
    " PRIMARY KEY (level, idx)){without_rowid}",
    "CREATE TABLE IF NOT EXISTS {p}stele_checkpoints ("
    " size BIGINT PRIMARY KEY, root {blob} NOT NULL, note TEXT NOT NULL, cut_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {p}stele_purges (digest TEXT PRIMARY KEY)",
    # Bytes queued for purge that were uploaded again (for a create to come): a purge leaves
    # them alone while the pin is fresh (ledger/store/content.py).
    "CREATE TABLE IF NOT EXISTS {p}stele_content_pins ("
    " digest TEXT PRIMARY KEY, uploaded_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {p}stele_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    # Which agencies uploaded (presented) which bytes: an agency registers a record only with
    # bytes it presented, though the store keeps each document once (ledger/store/content.py).
    "CREATE TABLE IF NOT EXISTS {p}stele_content_owners ("
    " digest TEXT NOT NULL, agency TEXT NOT NULL, PRIMARY KEY (digest, agency)){without_rowid}",
    # One owner at a time for a side effect (anchoring and renewal call the TSAs): a lease,
    # taken and extended in a transaction, that another process takes over once it expires.
    "CREATE TABLE IF NOT EXISTS {p}stele_leases ("
    " name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at TEXT NOT NULL)",
    # Evidence-record renewals, step by step (planned -> stamped -> applied -> done), so a
    # restart resumes one where a crash left it and no record is renewed twice.
    "CREATE TABLE IF NOT EXISTS {p}stele_renewals ("
    " id TEXT PRIMARY KEY, state TEXT NOT NULL, kind TEXT NOT NULL, algorithm TEXT NOT NULL,"
    " reason TEXT NOT NULL, records TEXT NOT NULL, root {blob} NOT NULL, tsa TEXT,"
    " token {blob}, tsa_anchor TEXT, planned_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {p}stele_timestamps ("
    " size BIGINT NOT NULL, tsa TEXT NOT NULL, token {blob} NOT NULL, gen_time TEXT NOT NULL,"
    " logged INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (size, tsa))",
    "CREATE TABLE IF NOT EXISTS {p}stele_evidence ("
    " size BIGINT NOT NULL, tsa TEXT NOT NULL, record {blob} NOT NULL, updated_at TEXT NOT NULL,"
    " expires TEXT NOT NULL, PRIMARY KEY (size, tsa))",
    "CREATE TABLE IF NOT EXISTS {p}stele_principals ("
    " id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, agency TEXT NOT NULL,"
    " token_hash {blob} NOT NULL UNIQUE, created_at TEXT NOT NULL, revoked_at TEXT)",
    # Web sessions: a principal's token exchanged for a cookie; only the cookie's hash is kept,
    # with the session's CSRF token and its expiry.
    "CREATE TABLE IF NOT EXISTS {p}stele_sessions ("
    " id_hash {blob} PRIMARY KEY, principal TEXT NOT NULL, csrf TEXT NOT NULL,"
    " created_at TEXT NOT NULL, expires_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {p}stele_idempotency ("
    " principal TEXT NOT NULL, key TEXT NOT NULL, request_hash {blob} NOT NULL,"
    " status INTEGER, response TEXT, created_at TEXT NOT NULL, PRIMARY KEY (principal, key))",
    "CREATE TABLE IF NOT EXISTS {p}stele_records ("
    " id TEXT PRIMARY KEY, kind TEXT NOT NULL, digest TEXT, creator TEXT NOT NULL,"
    " custodian TEXT NOT NULL, first_leaf BIGINT NOT NULL, destroyed_leaf BIGINT)",
    "CREATE INDEX IF NOT EXISTS stele_records_digest ON {p}stele_records (digest)",
    "CREATE INDEX IF NOT EXISTS stele_records_custodian"
    " ON {p}stele_records (custodian, first_leaf)",
    "CREATE INDEX IF NOT EXISTS stele_records_creator ON {p}stele_records (creator, first_leaf)",
    "CREATE UNIQUE INDEX IF NOT EXISTS stele_records_leaf ON {p}stele_records (first_leaf)",
    # Trust anchors by fingerprint: written before the registering event is saved, so it may
    # name an anchor whose save failed (readers skip those); never one that is missing.
    "CREATE TABLE IF NOT EXISTS {p}stele_anchors (fingerprint TEXT PRIMARY KEY)",
    # What depends on each anchor (signatures and timestamps), from the integrated log.
    "CREATE TABLE IF NOT EXISTS {p}stele_anchor_uses ("
    " anchor TEXT NOT NULL, kind TEXT NOT NULL, leaf BIGINT NOT NULL, at TEXT NOT NULL,"
    " PRIMARY KEY (anchor, leaf))",
    # The witness (ledger/witness): per log it witnesses, the latest checkpoint it cosigned
    # (checked and moved in one statement), every checkpoint it ever cosigned, and the
    # evidence of every validly signed checkpoint it refused as conflicting.
    "CREATE TABLE IF NOT EXISTS {p}stele_witness_heads ("
    " origin TEXT PRIMARY KEY, size BIGINT NOT NULL, root {blob} NOT NULL, note TEXT NOT NULL,"
    " updated_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {p}stele_witness_cosigned ("
    " origin TEXT NOT NULL, size BIGINT NOT NULL, root {blob} NOT NULL,"
    " timestamp BIGINT NOT NULL, note TEXT NOT NULL, cosignature TEXT NOT NULL,"
    " PRIMARY KEY (origin, size, timestamp))",
    "CREATE TABLE IF NOT EXISTS {p}stele_witness_evidence ("
    " id TEXT PRIMARY KEY, origin TEXT NOT NULL, found_at TEXT NOT NULL,"
    " proven INTEGER NOT NULL, evidence TEXT NOT NULL)",
    # The log's side of witnessing (ledger/log/witnessing.py): what each witness last
    # cosigned and how the last attempt went, each checkpoint's cosignatures, and the
    # checkpoints whose cosigners met the quorum (the ones published).
    "CREATE TABLE IF NOT EXISTS {p}stele_witness_peers ("
    " witness TEXT PRIMARY KEY, size BIGINT NOT NULL, cosigned_at TEXT, attempted_at TEXT,"
    " error TEXT)",
    "CREATE TABLE IF NOT EXISTS {p}stele_cosignatures ("
    " size BIGINT NOT NULL, witness TEXT NOT NULL, line TEXT NOT NULL,"
    " PRIMARY KEY (size, witness))",
    "CREATE TABLE IF NOT EXISTS {p}stele_witnessed ("
    " size BIGINT PRIMARY KEY, note TEXT NOT NULL, witnessed_at TEXT NOT NULL)",
    # Transfers (ledger/transfer): the sender's, each with its frozen package (the digest of
    # its transfer list) and, once answered, the receiver's verified receipt; the receiver's,
    # the receipt it issued for each package it registered (the same answer to a retry).
    "CREATE TABLE IF NOT EXISTS {p}stele_transfers ("
    " id TEXT PRIMARY KEY, package_digest TEXT NOT NULL, destination_log TEXT NOT NULL,"
    " created_at TEXT NOT NULL, outcome TEXT, receipt TEXT)",
    "CREATE TABLE IF NOT EXISTS {p}stele_receipts ("
    " package_digest TEXT PRIMARY KEY, transfer TEXT NOT NULL, note TEXT NOT NULL,"
    " issued_at TEXT NOT NULL)",
    # Shared catalogs (ledger/catalog): every version this node holds, published here (the
    # centre) or synced from the centre, with its canonical snapshot; written in the
    # transaction of the event that publishes or syncs it.
    "CREATE TABLE IF NOT EXISTS {p}stele_catalog_versions ("
    " catalog TEXT NOT NULL, version BIGINT NOT NULL, digest TEXT NOT NULL,"
    " snapshot {blob} NOT NULL, held_at TEXT NOT NULL, PRIMARY KEY (catalog, version))",
]


class Tx:
    """One transaction on the log tables. SQL is written with `?` placeholders."""

    def __init__(self, store: LogStore, cursor: Any) -> None:
        self._store = store
        self._cur = cursor
        self._p = store.prefix

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        self._cur.execute(self._store.sql(sql), params)
        return self._cur

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._cur.executemany(self._store.sql(sql), rows)

    # -- the log's head -----------------------------------------------------------------------
    def head(self) -> tuple[int, int]:
        """(tree size, notification id of the last leaf), (0, 0) for an empty log."""
        row = self.execute(
            f"SELECT idx, notification_id FROM {self._p}stele_leaves ORDER BY idx DESC LIMIT 1"
        ).fetchone()
        return (0, 0) if row is None else (int(row[0]) + 1, int(row[1]))

    def size(self) -> int:
        return self.head()[0]

    # -- events (eventsourcing's table, read in notification order) ------------------------------
    def events_after(self, notification_id: int, limit: int) -> list[tuple[int, str, int, bytes]]:
        """(notification id, record id as hex, version, canonical bytes) after
        `notification_id`."""
        s = self._store
        rows = self.execute(
            f"SELECT {s.nid}, originator_id, originator_version, state FROM {self._p}{s.events}"
            f" WHERE {s.nid} > ? ORDER BY {s.nid} LIMIT ?",
            (notification_id, limit),
        ).fetchall()
        # The record id as 32 hex digits: SQLite stores it so, PostgreSQL as a uuid.
        return [(int(r[0]), r[1].hex if isinstance(r[1], UUID) else str(r[1]), int(r[2]),
                 bytes(r[3])) for r in rows]

    def event_count(self) -> int:
        s = self._store
        return int(self.execute(f"SELECT COUNT(*) FROM {self._p}{s.events}").fetchone()[0])

    def events_up_to(self, notification_id: int) -> int:
        """How many stored events have a notification id <= `notification_id`."""
        s = self._store
        return int(self.execute(
            f"SELECT COUNT(*) FROM {self._p}{s.events} WHERE {s.nid} <= ?", (notification_id,)
        ).fetchone()[0])

    def leaves(self, start: int, end: int) -> list[tuple[int, int, bytes, bytes]]:
        """(index, notification id, stored leaf hash, event bytes) for start <= index < end."""
        s = self._store
        rows = self.execute(
            f"SELECT l.idx, l.notification_id, l.hash, e.state FROM {self._p}stele_leaves l"
            f" LEFT JOIN {self._p}{s.events} e ON e.{s.nid} = l.notification_id"
            " WHERE l.idx >= ? AND l.idx < ? ORDER BY l.idx",
            (start, end),
        ).fetchall()
        return [
            (int(r[0]), int(r[1]), bytes(r[2]), b"" if r[3] is None else bytes(r[3]))
            for r in rows
        ]

    def leaf_index(self, notification_id: int) -> int | None:
        row = self.execute(
            f"SELECT idx FROM {self._p}stele_leaves WHERE notification_id = ?", (notification_id,)
        ).fetchone()
        return None if row is None else int(row[0])

    def record_leaves(self, record: UUID) -> list[tuple[int, int, int]]:
        """(version, notification id, leaf index or None) of one aggregate's events."""
        s = self._store
        key: Any = str(record) if s.is_postgres else record.hex
        rows = self.execute(
            f"SELECT e.originator_version, e.{s.nid}, l.idx FROM {self._p}{s.events} e"
            f" LEFT JOIN {self._p}stele_leaves l ON l.notification_id = e.{s.nid}"
            " WHERE e.originator_id = ? ORDER BY e.originator_version",
            (key,),
        ).fetchall()
        return [(int(r[0]), int(r[1]), r[2]) for r in rows]

    # -- tree ----------------------------------------------------------------------------------
    def nodes(self, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """Hashes of the given (level, index) nodes; level 0 is the leaves. Missing keys are
        absent from the result."""
        wanted = set(keys)
        found: dict[tuple[int, int], bytes] = {}
        leaves = sorted(i for level, i in wanted if level == 0)
        inner = sorted((level, i) for level, i in wanted if level > 0)
        for chunk in _chunks(leaves, 500):
            marks = ",".join("?" * len(chunk))
            for idx, h in self.execute(
                f"SELECT idx, hash FROM {self._p}stele_leaves WHERE idx IN ({marks})", chunk
            ).fetchall():
                found[(0, int(idx))] = bytes(h)
        for chunk2 in _chunks(inner, 250):
            cond = " OR ".join("(level = ? AND idx = ?)" for _ in chunk2)
            params = [v for key in chunk2 for v in key]
            for level, idx, h in self.execute(
                f"SELECT level, idx, hash FROM {self._p}stele_nodes WHERE {cond}", params
            ).fetchall():
                found[(int(level), int(idx))] = bytes(h)
        return found

    def inner_nodes(self, level: int, start: int, end: int) -> list[tuple[int, bytes]]:
        rows = self.execute(
            f"SELECT idx, hash FROM {self._p}stele_nodes WHERE level = ? AND idx >= ? AND idx < ?"
            " ORDER BY idx",
            (level, start, end),
        ).fetchall()
        return [(int(i), bytes(h)) for i, h in rows]

    def append(
        self, leaves: list[tuple[int, int, bytes]], nodes: list[tuple[int, int, bytes]]
    ) -> None:
        """Insert leaves (idx, notification id, hash) and interior nodes (level, idx, hash)."""
        self._insert("stele_leaves", ("idx", "notification_id", "hash"), leaves)
        self._insert("stele_nodes", ("level", "idx", "hash"), nodes)

    def _insert(self, table: str, columns: tuple[str, ...], rows: Sequence[Sequence[Any]]) -> None:
        """Bulk insert: COPY on PostgreSQL (about twice executemany's rate), else executemany."""
        if not rows:
            return
        names = ", ".join(columns)
        if self._store.is_postgres:
            with self._cur.copy(f"COPY {self._p}{table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(columns))
            self.executemany(f"INSERT INTO {self._p}{table} ({names}) VALUES ({marks})", rows)

    # -- checkpoints ---------------------------------------------------------------------------
    def latest_checkpoint(self) -> tuple[int, bytes, str, str] | None:
        row = self.execute(
            f"SELECT size, root, note, cut_at FROM {self._p}stele_checkpoints"
            " ORDER BY size DESC LIMIT 1"
        ).fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]), str(row[2]), str(row[3]))

    def checkpoint(self, size: int) -> tuple[int, bytes, str, str] | None:
        row = self.execute(
            f"SELECT size, root, note, cut_at FROM {self._p}stele_checkpoints WHERE size = ?",
            (size,),
        ).fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]), str(row[2]), str(row[3]))

    def checkpoints(self) -> list[tuple[int, bytes, str, str]]:
        rows = self.execute(
            f"SELECT size, root, note, cut_at FROM {self._p}stele_checkpoints ORDER BY size"
        ).fetchall()
        return [(int(r[0]), bytes(r[1]), str(r[2]), str(r[3])) for r in rows]

    def insert_checkpoint(self, size: int, root: bytes, note: str, cut_at: str) -> None:
        self.execute(
            f"INSERT INTO {self._p}stele_checkpoints (size, root, note, cut_at)"
            " VALUES (?, ?, ?, ?)",
            (size, root, note, cut_at),
        )

    # -- the witness ----------------------------------------------------------------------------
    def witness_head(self, origin: str) -> tuple[int, bytes, str] | None:
        """(size, root, note) of the latest checkpoint this witness cosigned for `origin`."""
        row = self.execute(f"SELECT size, root, note FROM {self._p}stele_witness_heads"
                           " WHERE origin = ?", (origin,)).fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]), str(row[2]))

    def witness_heads(self) -> list[tuple[str, int, str]]:
        return [(str(r[0]), int(r[1]), str(r[2])) for r in self.execute(
            f"SELECT origin, size, updated_at FROM {self._p}stele_witness_heads ORDER BY origin")]

    def move_witness_head(self, origin: str, old: tuple[int, bytes] | None, size: int,
                          root: bytes, note: str, now: str) -> bool:
        """Move `origin`'s head from `old` (None: it has none) to `size`; False if it is no
        longer `old` (another request moved it first). One statement: check and update."""
        p = self._p
        if old is None:
            cur = self.execute(f"INSERT INTO {p}stele_witness_heads (origin, size, root, note,"
                               " updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                               (origin, size, root, note, now))
        else:
            cur = self.execute(f"UPDATE {p}stele_witness_heads SET size = ?, root = ?, note = ?,"
                               " updated_at = ? WHERE origin = ? AND size = ? AND root = ?",
                               (size, root, note, now, origin, old[0], old[1]))
        return int(cur.rowcount) == 1

    def add_witness_cosigned(self, origin: str, size: int, root: bytes, timestamp: int,
                             note: str, cosignature: str) -> None:
        self.execute(f"INSERT INTO {self._p}stele_witness_cosigned (origin, size, root,"
                     " timestamp, note, cosignature) VALUES (?, ?, ?, ?, ?, ?)"
                     " ON CONFLICT DO NOTHING", (origin, size, root, timestamp, note, cosignature))

    def witness_cosigned(self, origin: str | None = None) -> list[tuple[str, int, bytes, int,
                                                                        str, str]]:
        """Every checkpoint cosigned: (origin, size, root, timestamp, note, cosignature)."""
        where, params = ("WHERE origin = ?", (origin,)) if origin else ("", ())
        return [(str(r[0]), int(r[1]), bytes(r[2]), int(r[3]), str(r[4]), str(r[5]))
                for r in self.execute(
                    f"SELECT origin, size, root, timestamp, note, cosignature FROM"
                    f" {self._p}stele_witness_cosigned {where} ORDER BY origin, size, timestamp",
                    params)]

    def add_witness_evidence(self, evidence_id: str, origin: str, found_at: str, proven: bool,
                             evidence: str) -> None:
        self.execute(f"INSERT INTO {self._p}stele_witness_evidence (id, origin, found_at,"
                     " proven, evidence) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                     (evidence_id, origin, found_at, int(proven), evidence))

    def witness_evidence(self, origin: str | None = None) -> list[tuple[str, bool, str]]:
        """(found_at, proven, evidence JSON) of each refused conflicting checkpoint."""
        where, params = ("WHERE origin = ?", (origin,)) if origin else ("", ())
        return [(str(r[0]), bool(r[1]), str(r[2])) for r in self.execute(
            f"SELECT found_at, proven, evidence FROM {self._p}stele_witness_evidence {where}"
            " ORDER BY found_at, id", params)]

    # -- the log's witnesses --------------------------------------------------------------------
    def witness_peers(self) -> dict[str, tuple[int, str | None, str | None, str | None]]:
        """witness -> (last cosigned size, cosigned at, attempted at, last error)."""
        return {str(r[0]): (int(r[1]), r[2], r[3], r[4]) for r in self.execute(
            f"SELECT witness, size, cosigned_at, attempted_at, error FROM"
            f" {self._p}stele_witness_peers")}

    def put_witness_peer(self, witness: str, size: int | None, *, attempted_at: str,
                         cosigned_at: str | None = None, error: str | None = None) -> None:
        """Record an attempt: the size the witness is now known to hold (None: unchanged)."""
        p = self._p
        self.execute(f"INSERT INTO {p}stele_witness_peers (witness, size, attempted_at)"
                     " VALUES (?, 0, ?) ON CONFLICT DO NOTHING", (witness, attempted_at))
        self.execute(f"UPDATE {p}stele_witness_peers SET size = COALESCE(?, size),"
                     " cosigned_at = COALESCE(?, cosigned_at), attempted_at = ?, error = ?"
                     " WHERE witness = ?", (size, cosigned_at, attempted_at, error, witness))

    def add_cosignature(self, size: int, witness: str, line: str) -> None:
        self.execute(f"INSERT INTO {self._p}stele_cosignatures (size, witness, line)"
                     " VALUES (?, ?, ?) ON CONFLICT DO NOTHING", (size, witness, line))

    def cosignatures(self, size: int) -> dict[str, str]:
        return {str(r[0]): str(r[1]) for r in self.execute(
            f"SELECT witness, line FROM {self._p}stele_cosignatures WHERE size = ?", (size,))}

    def add_witnessed(self, size: int, note: str, now: str) -> None:
        self.execute(f"INSERT INTO {self._p}stele_witnessed (size, note, witnessed_at)"
                     " VALUES (?, ?, ?) ON CONFLICT DO NOTHING", (size, note, now))

    def latest_witnessed(self, *, covering: int = 0) -> tuple[int, str, str] | None:
        """(size, cosigned note, witnessed at) of the latest checkpoint the quorum cosigned
        (of size > `covering`)."""
        row = self.execute(f"SELECT size, note, witnessed_at FROM {self._p}stele_witnessed"
                           " WHERE size > ? ORDER BY size DESC LIMIT 1", (covering,)).fetchone()
        return None if row is None else (int(row[0]), str(row[1]), str(row[2]))

    # -- transfers ------------------------------------------------------------------------------
    def transfer(self, transfer: str) -> tuple[str, str, str, str | None, str | None] | None:
        """(package digest, destination log, created at, outcome, receipt note) of a transfer
        this log sent."""
        row = self.execute(f"SELECT package_digest, destination_log, created_at, outcome,"
                           f" receipt FROM {self._p}stele_transfers WHERE id = ?",
                           (transfer,)).fetchone()
        return None if row is None else (str(row[0]), str(row[1]), str(row[2]),
                                         row[3], row[4])

    def transfers(self, limit: int) -> list[str]:
        """The latest transfers this log sent, newest first."""
        rows = self.execute(f"SELECT id FROM {self._p}stele_transfers"
                            " ORDER BY created_at DESC, id LIMIT ?", (limit,)).fetchall()
        return [str(r[0]) for r in rows]

    def receipts(self, limit: int) -> list[tuple[str, str, str]]:
        """(transfer, package digest, issued at) of the latest receipts this log issued."""
        rows = self.execute(f"SELECT transfer, package_digest, issued_at FROM {self._p}"
                            "stele_receipts ORDER BY issued_at DESC, transfer LIMIT ?",
                            (limit,)).fetchall()
        return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]

    def receipt(self, package_digest: str) -> str | None:
        """The receipt this log issued for a package it registered."""
        row = self.execute(f"SELECT note FROM {self._p}stele_receipts WHERE package_digest = ?",
                           (package_digest,)).fetchone()
        return None if row is None else str(row[0])

    def add_receipt(self, package_digest: str, transfer: str, note: str, now: str) -> str:
        """Keep the receipt of a package unless one is kept already; return the kept one."""
        self.execute(f"INSERT INTO {self._p}stele_receipts (package_digest, transfer, note,"
                     " issued_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                     (package_digest, transfer, note, now))
        kept = self.receipt(package_digest)
        assert kept is not None
        return kept

    # -- catalogs -------------------------------------------------------------------------------
    def catalog_versions(self, catalog: str | None = None, *, latest: bool = False
                         ) -> list[tuple[str, int, str, str]]:
        """(catalog, version, digest, held at) of the versions held (of `catalog`; only the
        latest of each with `latest`), by catalog and version."""
        p, where, params = self._p, "", [] if catalog is None else [catalog]
        if catalog is not None:
            where = " WHERE catalog = ?"
        if latest:
            where += (" AND" if where else " WHERE") + (
                f" version = (SELECT MAX(version) FROM {p}stele_catalog_versions l"
                " WHERE l.catalog = v.catalog)")
        rows = self.execute(f"SELECT catalog, version, digest, held_at FROM"
                            f" {p}stele_catalog_versions v{where} ORDER BY catalog, version",
                            params).fetchall()
        return [(str(r[0]), int(r[1]), str(r[2]), str(r[3])) for r in rows]

    def catalog_snapshot(self, catalog: str, version: int) -> bytes | None:
        row = self.execute(f"SELECT snapshot FROM {self._p}stele_catalog_versions"
                           " WHERE catalog = ? AND version = ?", (catalog, version)).fetchone()
        return None if row is None else bytes(row[0])

    # -- identity -------------------------------------------------------------------------------
    def claim_meta(self, name: str, value: str) -> str:
        """Set `name` if unset; return the stored value (the first claim wins)."""
        p = self._p
        self.execute(
            f"INSERT INTO {p}stele_meta (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (name, value),
        )
        return str(self.execute(f"SELECT value FROM {p}stele_meta WHERE name = ?",
                                (name,)).fetchone()[0])

    def meta(self, name: str) -> str | None:
        row = self.execute(f"SELECT value FROM {self._p}stele_meta WHERE name = ?",
                           (name,)).fetchone()
        return None if row is None else str(row[0])

    def put_meta(self, name: str, value: str) -> None:
        self.execute(_PUT_META.format(p=self._p), (name, value))


    # -- leases ---------------------------------------------------------------------------------
    def take_lease(self, name: str, owner: str, now: str, until: str) -> bool:
        """Take or extend lease `name` for `owner` until `until`, if it is free, expired or
        already `owner`'s. True if `owner` holds it now."""
        self.execute(
            f"INSERT INTO {self._p}stele_leases (name, owner, expires_at) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET owner = excluded.owner,"
            " expires_at = excluded.expires_at"
            f" WHERE {self._p}stele_leases.owner = excluded.owner"
            f" OR {self._p}stele_leases.expires_at < ?", (name, owner, until, now))
        row = self.execute(f"SELECT owner FROM {self._p}stele_leases WHERE name = ?",
                           (name,)).fetchone()
        return row is not None and str(row[0]) == owner

    def release_lease(self, name: str, owner: str) -> None:
        self.execute(f"DELETE FROM {self._p}stele_leases WHERE name = ? AND owner = ?",
                     (name, owner))

    def lease_owner(self, name: str, now: str) -> str | None:
        row = self.execute(f"SELECT owner FROM {self._p}stele_leases WHERE name = ?"
                           " AND expires_at >= ?", (name, now)).fetchone()
        return None if row is None else str(row[0])

    # -- renewals -------------------------------------------------------------------------------
    _RENEWAL = ("id, state, kind, algorithm, reason, records, root, tsa, token, tsa_anchor,"
                " planned_at")

    def renewal(self, renewal: str) -> tuple[Any, ...]:
        """One renewal's columns of stele_renewals."""
        return tuple(self.execute(f"SELECT {self._RENEWAL} FROM {self._p}stele_renewals"
                                  " WHERE id = ?", (renewal,)).fetchone())

    def open_renewal(self) -> tuple[Any, ...] | None:
        """The renewal under way (not done), if any: the columns of stele_renewals."""
        row = self.execute(f"SELECT {self._RENEWAL} FROM {self._p}stele_renewals"
                           " WHERE state <> 'done' ORDER BY planned_at LIMIT 1").fetchone()
        return None if row is None else tuple(row)

    def plan_renewal(self, values: Sequence[Any]) -> None:
        self.execute(f"INSERT INTO {self._p}stele_renewals ({self._RENEWAL})"
                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values)

    def renewal_step(self, renewal: str, before: str, after: str, **values: Any) -> bool:
        """Move a renewal from state `before` to `after` (setting `values`); False if it was
        not in `before` (another owner moved it first)."""
        sets = "".join(f", {k} = ?" for k in values)
        return int(self.execute(
            f"UPDATE {self._p}stele_renewals SET state = ?{sets} WHERE id = ? AND state = ?",
            (after, *values.values(), renewal, before)).rowcount) == 1

    def renewals_done(self) -> int:
        return int(self.execute(f"SELECT COUNT(*) FROM {self._p}stele_renewals"
                                " WHERE state = 'done'").fetchone()[0])

    # -- timestamps and evidence records -------------------------------------------------------
    def timestamps(self, size: int) -> list[tuple[str, bytes, str]]:
        """(tsa, token DER, gen time) of a checkpoint's tokens."""
        rows = self.execute(f"SELECT tsa, token, gen_time FROM {self._p}stele_timestamps"
                            " WHERE size = ? ORDER BY gen_time, tsa", (size,)).fetchall()
        return [(str(r[0]), bytes(r[1]), str(r[2])) for r in rows]

    def add_timestamp(self, size: int, tsa: str, token: bytes, gen_time: str,
                      evidence_record: bytes, now: str, expires: str) -> None:
        """`expires`: when the certificate of the record's newest timestamp expires (UTC ISO),
        kept beside the record so that finding what is due for renewal is one query."""
        p = self._p
        # Two anchorers (server processes) may timestamp one checkpoint at once: the first
        # token stored is the one kept, with its evidence record; the other is dropped.
        added = self.execute(f"INSERT INTO {p}stele_timestamps (size, tsa, token, gen_time)"
                             " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                             (size, tsa, token, gen_time)).rowcount
        if added == 1:
            self.execute(f"INSERT INTO {p}stele_evidence (size, tsa, record, updated_at, expires)"
                         " VALUES (?, ?, ?, ?, ?)", (size, tsa, evidence_record, now, expires))

    def anchored(self, size: int) -> list[tuple[str, bytes, bytes]]:
        """(tsa, token, evidence record) of each TSA that anchored checkpoint `size`."""
        p = self._p
        rows = self.execute(
            f"SELECT t.tsa, t.token, e.record FROM {p}stele_timestamps t JOIN {p}stele_evidence e"
            " ON e.size = t.size AND e.tsa = t.tsa WHERE t.size = ? ORDER BY t.gen_time, t.tsa",
            (size,)).fetchall()
        return [(str(r[0]), bytes(r[1]), bytes(r[2])) for r in rows]

    def first_anchored_after(self, index: int) -> int | None:
        """The smallest timestamped checkpoint size covering leaf `index`, if any."""
        row = self.execute(f"SELECT MIN(size) FROM {self._p}stele_timestamps WHERE size > ?",
                           (index,)).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def anchoring_counts(self) -> dict[str, int]:
        row = self.execute(f"SELECT COUNT(*), COUNT(DISTINCT size) FROM {self._p}"
                           "stele_timestamps").fetchone()
        return {"tokens": int(row[0]), "anchored_checkpoints": int(row[1])}

    def tokens_per_tsa(self) -> list[dict[str, Any]]:
        """Per TSA: how many tokens, and the largest checkpoint and latest time stamped."""
        rows = self.execute(f"SELECT tsa, COUNT(*), MAX(size), MAX(gen_time) FROM {self._p}"
                            "stele_timestamps GROUP BY tsa ORDER BY tsa").fetchall()
        return [{"tsa": str(r[0]), "tokens": int(r[1]), "size": int(r[2]),
                 "last": str(r[3])} for r in rows]

    def unlogged_timestamps(self) -> list[tuple[int, str, bytes]]:
        rows = self.execute(f"SELECT size, tsa, token FROM {self._p}stele_timestamps"
                            " WHERE logged = 0 ORDER BY size, tsa").fetchall()
        return [(int(r[0]), str(r[1]), bytes(r[2])) for r in rows]

    def mark_logged(self, size: int, tsa: str) -> None:
        self.execute(f"UPDATE {self._p}stele_timestamps SET logged = 1"
                     " WHERE size = ? AND tsa = ?", (size, tsa))

    def evidence_records(self) -> list[tuple[int, str, bytes]]:
        """(checkpoint size, tsa, evidence record DER) of every anchored checkpoint."""
        rows = self.execute(f"SELECT size, tsa, record FROM {self._p}stele_evidence"
                            " ORDER BY size, tsa").fetchall()
        return [(int(r[0]), str(r[1]), bytes(r[2])) for r in rows]

    def update_evidence(self, size: int, tsa: str, record: bytes, now: str,
                        expires: str) -> None:
        self.execute(f"UPDATE {self._p}stele_evidence SET record = ?, updated_at = ?,"
                     " expires = ? WHERE size = ? AND tsa = ?",
                     (record, now, expires, size, tsa))

    def evidence_expiring(self, before: str) -> list[tuple[int, str, str]]:
        """(size, tsa, expiry) of records whose newest TSA certificate expires before then."""
        rows = self.execute(f"SELECT size, tsa, expires FROM {self._p}stele_evidence"
                            " WHERE expires < ? ORDER BY size, tsa", (before,)).fetchall()
        return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]

    def checkpoints_after(self, size: int) -> list[tuple[int, bytes, str, str]]:
        rows = self.execute(
            f"SELECT size, root, note, cut_at FROM {self._p}stele_checkpoints WHERE size > ?"
            " ORDER BY size", (size,)).fetchall()
        return [(int(r[0]), bytes(r[1]), str(r[2]), str(r[3])) for r in rows]

    # -- trust anchors -------------------------------------------------------------------------
    def index_anchors(self, fingerprints: Sequence[str]) -> None:
        for fingerprint in fingerprints:
            self.execute(f"INSERT INTO {self._p}stele_anchors (fingerprint) VALUES (?)"
                         " ON CONFLICT DO NOTHING", (fingerprint,))

    def anchor_fingerprints(self) -> list[str]:
        rows = self.execute(f"SELECT fingerprint FROM {self._p}stele_anchors"
                            " ORDER BY fingerprint").fetchall()
        return [str(r[0]) for r in rows]

    def add_anchor_uses(self, rows: Sequence[tuple[str, str, int, str]]) -> None:
        """(anchor fingerprint, kind "signature" | "timestamp", leaf index, time) of uses."""
        self._insert("stele_anchor_uses", ("anchor", "kind", "leaf", "at"), rows)

    def tsa_anchors_in_use(self) -> list[str]:
        """The TSA anchors the evidence records' newest timestamps rest on: the last
        renewal's (it covered every record then) and those of later anchorings."""
        p = self._p
        last = self.execute(f"SELECT MAX(leaf) FROM {p}stele_anchor_uses WHERE kind = ?",
                            ("renewal",)).fetchone()[0]
        rows = self.execute(
            f"SELECT DISTINCT anchor FROM {p}stele_anchor_uses WHERE kind IN (?, ?)"
            " AND leaf >= ? ORDER BY anchor", ("timestamp", "renewal",
                                                -1 if last is None else int(last))).fetchall()
        return [str(r[0]) for r in rows]

    def anchor_usage(self, fingerprint: str) -> dict[str, dict[str, Any]]:
        """Per kind of use: how many, the earliest and the latest."""
        rows = self.execute(f"SELECT kind, COUNT(*), MIN(at), MAX(at) FROM {self._p}"
                            "stele_anchor_uses WHERE anchor = ? GROUP BY kind",
                            (fingerprint,)).fetchall()
        return {str(r[0]): {"count": int(r[1]), "earliest": str(r[2]), "latest": str(r[3])}
                for r in rows}

    def anchor_records(self, fingerprint: str) -> int:
        """How many records hold a signature that rests on the anchor."""
        s = self._store
        row = self.execute(
            f"SELECT COUNT(DISTINCT e.originator_id) FROM {self._p}stele_anchor_uses u"
            f" JOIN {self._p}stele_leaves l ON l.idx = u.leaf"
            f" JOIN {self._p}{s.events} e ON e.{s.nid} = l.notification_id"
            " WHERE u.anchor = ? AND u.kind = 'signature'", (fingerprint,)).fetchone()
        return int(row[0])

    # -- the records projection ---------------------------------------------------------------
    def add_records(self, rows: list[tuple[str, str, str | None, str, str, int]]) -> None:
        """(id, kind, digest, creator, custodian, first leaf) of newly created aggregates."""
        self._insert("stele_records",
                     ("id", "kind", "digest", "creator", "custodian", "first_leaf"), rows)

    def set_custodian(self, record: str, custodian: str) -> None:
        self.execute(f"UPDATE {self._p}stele_records SET custodian = ? WHERE id = ?",
                     (custodian, record))

    def destroyed(self, record: str, leaf: int) -> None:
        """Mark a record destroyed; queue its content for purging if no live record holds it."""
        p = self._p
        self.execute(f"UPDATE {p}stele_records SET destroyed_leaf = ? WHERE id = ?",
                     (leaf, record))
        row = self.execute(f"SELECT digest FROM {p}stele_records WHERE id = ?",
                           (record,)).fetchone()
        if row is None or row[0] is None:
            return
        live = self.execute(
            f"SELECT 1 FROM {p}stele_records WHERE digest = ? AND destroyed_leaf IS NULL LIMIT 1",
            (row[0],),
        ).fetchone()
        if live is None:
            self.execute(
                f"INSERT INTO {p}stele_purges (digest) VALUES (?) ON CONFLICT DO NOTHING",
                (row[0],),
            )

    def records_by_digest(self, digest: str) -> list[tuple[str, int | None]]:
        """(record id, destroyed leaf) of every record registered with this content."""
        rows = self.execute(
            f"SELECT id, destroyed_leaf FROM {self._p}stele_records WHERE digest = ?"
            " ORDER BY first_leaf", (digest,),
        ).fetchall()
        return [(str(r[0]), None if r[1] is None else int(r[1])) for r in rows]

    def list_records(self, *, agency: str | None, kind: str, after: int,
                     limit: int) -> list[tuple[str, str, str, int, int | None]]:
        """(id, creator, custodian, first leaf, destroyed leaf), in log order after `after`;
        with `agency`, only those it created or holds."""
        sql = (f"SELECT id, creator, custodian, first_leaf, destroyed_leaf FROM"
               f" {self._p}stele_records WHERE kind = ? AND first_leaf > ?")
        params: list[Any] = [kind, after]
        if agency is not None:
            sql += " AND (creator = ? OR custodian = ?)"
            params += [agency, agency]
        rows = self.execute(sql + " ORDER BY first_leaf LIMIT ?", (*params, limit)).fetchall()
        return [(str(r[0]), str(r[1]), str(r[2]), int(r[3]), None if r[4] is None else int(r[4]))
                for r in rows]

    def record_row(self, record: str) -> tuple[str, str, str | None, str, str] | None:
        """(kind, id, digest, creator, custodian) of one record, if integrated."""
        row = self.execute(
            f"SELECT kind, id, digest, creator, custodian FROM {self._p}stele_records"
            " WHERE id = ?", (record,)).fetchone()
        return None if row is None else (str(row[0]), str(row[1]),
                                         None if row[2] is None else str(row[2]),
                                         str(row[3]), str(row[4]))

    def content_lock(self, digest: str, *, shared: bool, unlock: bool = False) -> None:
        """PostgreSQL: take (or give back) the session-level advisory lock of one digest,
        shared by writers that name the bytes, exclusive for a purge (ledger/store/content.py).
        Session-level: it outlives this transaction, until given back."""
        fn = "pg_advisory_" + ("unlock" if unlock else "lock") + ("_shared" if shared else "")
        self.execute(f"SELECT {fn}(CAST(? AS integer), hashtext(?))", (_CONTENT_LOCK, digest))

    def purge_queued(self, digest: str) -> bool:
        return self.execute(f"SELECT 1 FROM {self._p}stele_purges WHERE digest = ?",
                            (digest,)).fetchone() is not None

    def pin_upload(self, digest: str, now: str) -> None:
        self.execute(
            f"INSERT INTO {self._p}stele_content_pins (digest, uploaded_at) VALUES (?, ?)"
            " ON CONFLICT (digest) DO UPDATE SET uploaded_at = excluded.uploaded_at",
            (digest, now))

    def content_held(self, digest: str, pinned_since: str) -> str | None:
        """Why these bytes must stay: "record" (a live record holds them), "pin" (uploaded
        again since `pinned_since`), "pending" (an event not integrated yet names them), or
        None."""
        p = self._p
        if self.execute(f"SELECT 1 FROM {p}stele_records WHERE digest = ?"
                        " AND destroyed_leaf IS NULL LIMIT 1", (digest,)).fetchone():
            return "record"
        if self.execute(f"SELECT 1 FROM {p}stele_content_pins WHERE digest = ? AND"
                        " uploaded_at >= ?", (digest, pinned_since)).fetchone():
            return "pin"
        _, cursor = self.head()
        named = digest.encode("ascii")
        while batch := self.events_after(cursor, 1000):
            if any(named in state for _, _, _, state in batch):
                return "pending"
            cursor = batch[-1][0]
        return None

    def add_content_owner(self, digest: str, agency: str) -> None:
        self.execute(f"INSERT INTO {self._p}stele_content_owners (digest, agency) VALUES (?, ?)"
                     " ON CONFLICT DO NOTHING", (digest, agency))

    def content_owners(self, digest: str) -> set[str]:
        return {str(r[0]) for r in self.execute(
            f"SELECT agency FROM {self._p}stele_content_owners WHERE digest = ?", (digest,))}

    def owned(self, digests: Sequence[str], agency: str) -> set[str]:
        """Which of `digests` this agency presented."""
        marks = ", ".join("?" * len(digests))
        return {str(r[0]) for r in self.execute(
            f"SELECT digest FROM {self._p}stele_content_owners WHERE agency = ?"
            f" AND digest IN ({marks})", (agency, *digests))}

    def pending_purges(self) -> list[str]:
        return [str(r[0]) for r in self.execute(f"SELECT digest FROM {self._p}stele_purges")]

    def purged(self, digest: str, *, deleted: bool = False) -> None:
        """Dequeue a purge; `deleted`: the bytes are gone, and so is every claim to them."""
        self.execute(f"DELETE FROM {self._p}stele_purges WHERE digest = ?", (digest,))
        if deleted:
            self.execute(f"DELETE FROM {self._p}stele_content_owners WHERE digest = ?",
                         (digest,))


_PUT_META = ("INSERT INTO {p}stele_meta (name, value) VALUES (?, ?)"
             " ON CONFLICT (name) DO UPDATE SET value = excluded.value")


# SQLite has one writer at a time per file, and a connection that finds the file locked by
# another sleeps in growing steps (1 ms up to 100 ms) before it tries again: threads of one
# process that write through different connections (ours, eventsourcing's, the log worker's)
# would lose most of their time in those sleeps. So every transaction of ours and every save
# of events on one file takes this process's lock of that file first, and the next writer
# starts the moment the last commits. (Other processes still meet SQLite's own lock.)
_WRITERS: dict[str, threading.RLock] = {}
_WRITERS_LOCK = threading.Lock()


def sqlite_writer(path: str | os.PathLike[str]) -> threading.RLock:
    """This process's lock of the SQLite file at `path`."""
    key = os.path.realpath(path)
    with _WRITERS_LOCK:
        return _WRITERS.setdefault(key, threading.RLock())


class LogStore:
    """Connection to the log tables. One connection, used under a lock by one thread at a time;
    every process opens its own."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.is_postgres = database.kind == "postgres"
        self.prefix = f'"{database.schema}".' if self.is_postgres else ""
        self.nid = "notification_id" if self.is_postgres else "rowid"
        # eventsourcing names the table after the application on PostgreSQL ("Stele" ->
        # stele_events) and always `stored_events` on SQLite.
        self.events = "stele_events" if self.is_postgres else "stored_events"
        self._lock = threading.RLock()
        self._conn: Any = None

    def sql(self, sql: str) -> str:
        """SQL written with `?` placeholders, in this database's own style."""
        return sql.replace("?", "%s") if self.is_postgres else sql

    def put_meta_statement(self, name: str, value: str) -> tuple[str, tuple[str, str]]:
        """`Tx.put_meta` as a statement, for the transaction that saves some events."""
        return self.sql(_PUT_META.format(p=self.prefix)), (name, value)

    def _connect(self) -> Any:
        if self._conn is None:
            if self.is_postgres:
                self._conn = psycopg.connect(self.database.conninfo(), autocommit=True)
            else:
                assert self.database.path is not None
                conn = sqlite3.connect(
                    self.database.path, isolation_level=None, check_same_thread=False, timeout=60
                )
                conn.execute("PRAGMA journal_mode=WAL")
                # 64 MiB of page cache (the default is 2 MiB): the tree and the content
                # references grow with the log, and their pages are read on every append.
                conn.execute("PRAGMA cache_size = -65536")
                self._conn = conn
        return self._conn

    def create_tables(self) -> None:
        if self.is_postgres:
            with self.transaction(exclusive=True) as tx:
                tx.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.database.schema}"')
        blob = "BYTEA" if self.is_postgres else "BLOB"
        without_rowid = "" if self.is_postgres else " WITHOUT ROWID"
        with self.transaction(exclusive=True) as tx:
            for statement in _TABLES:
                tx.execute(statement.format(p=self.prefix, blob=blob, without_rowid=without_rowid))
            if tx.meta("content_owners") is None:
                # A store made before owners were kept: each record's registering agency
                # presented its bytes.
                tx.execute(f"INSERT INTO {self.prefix}stele_content_owners (digest, agency)"
                           f" SELECT DISTINCT digest, creator FROM {self.prefix}stele_records"
                           " WHERE digest IS NOT NULL ON CONFLICT DO NOTHING")
                tx.put_meta("content_owners", "kept")

    @contextmanager
    def schema_lock(self) -> Iterator[None]:
        """Held while tables are made: on PostgreSQL, concurrent CREATE ... IF NOT EXISTS from
        processes starting at once can fail with "tuple concurrently updated" (FIELD-NOTES).
        A session advisory lock makes them take turns; SQLite's file lock already does."""
        if not self.is_postgres:
            yield
            return
        with self._lock:
            conn = self._connect()
            conn.execute("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK,))
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK,))

    @contextmanager
    def transaction(self, *, exclusive: bool = False, snapshot: bool = False) -> Iterator[Tx]:
        """A transaction; `exclusive` ones are serialised across every process (the integrator
        and checkpoint cutter), so leaf indexes are assigned by exactly one writer at a time.
        `snapshot` ones read one state of the store across all their queries (REPEATABLE READ,
        read only, on PostgreSQL; SQLite's WAL read transactions are snapshots already)."""
        with self._lock:
            conn = self._connect()
            if self.is_postgres:
                with conn.transaction(), conn.cursor() as cur:
                    if snapshot:
                        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    if exclusive:
                        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_INTEGRATION_LOCK,))
                    yield Tx(self, cur)
            else:
                assert self.database.path is not None
                with sqlite_writer(self.database.path):
                    cur = conn.cursor()
                    cur.execute("BEGIN IMMEDIATE" if exclusive else "BEGIN")
                    try:
                        yield Tx(self, cur)
                    except BaseException:
                        conn.rollback()
                        raise
                    else:
                        conn.commit()
                    finally:
                        cur.close()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _chunks(items: list[Any], n: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]
