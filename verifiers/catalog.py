"""Shared catalogs, as a consumer proves them: the centre's signed index, its snapshots, and
their place in the centre's log.

The centre publishes, beside its tiles, `catalogs/index` (a C2SP signed note: which version of
each catalog is current, the digest of its snapshot and the leaf of its `catalog.published`
event, a tree size of the centre's log that covers them all, when it was issued and when it
expires, and which keys sign indexes) and `catalogs/<name>/<version>.json` (each snapshot's
canonical bytes). `verify_sync` checks all of it against what the caller pinned (the index
keys and the centre's log key) and what it held before:

- the index is signed by a pinned key (`catalog_index_untrusted`); a key it newly names has
  signed it too (`catalog_key_rotation_unsigned`): the rotation is vouched for by both keys;
- it has not expired (`catalog_index_expired`: a frozen index is refused);
- nothing goes back: no catalog at a lower version, none dropped, no index issued before the
  one held (`catalog_rollback`);
- the centre's checkpoint (verified under its pinned log key by the tiles reader, and, if
  the caller gives a witness policy, cosigned by its quorum: `quorum_not_met`) covers the
  index's tree size (`catalog_checkpoint_behind`) and extends the checkpoint held
  (`catalog_log_inconsistent`: a centre that shows two histories is caught here);
- each new version's leaf is its `catalog.published` event, naming the same catalog, version
  and digest (`catalog_not_logged`), and its snapshot has that digest
  (`catalog_digest_mismatch`) and names itself (`catalog_snapshot_mismatch`).

One index names every catalog at once, so versions cannot be mixed from different indexes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from verifiers.canonical import b64, parse_canonical
from verifiers.digest import digest_of, is_digest
from verifiers.errors import (
    MalformedError,
    NoteError,
    ProofError,
    RootMismatchError,
    VerificationError,
)
from verifiers.merkle import verify_consistency
from verifiers.note import open_note, parse_verifier_key, split_note
from verifiers.policy import Policy, verify_witnessed
from verifiers.tiles import Fetch, TileReader

HEADER = "stele.catalogs/v1"
_NAME = re.compile(r"[a-z][a-z_]{0,39}")  # a catalog's name: also a path segment
INDEX = "catalogs/index"


class IndexMalformedError(MalformedError):
    code = "catalog_index_malformed"


class IndexUntrustedError(VerificationError):
    code = "catalog_index_untrusted"


class KeyRotationUnsignedError(VerificationError):
    code = "catalog_key_rotation_unsigned"


class IndexExpiredError(VerificationError):
    code = "catalog_index_expired"


class RollbackError(VerificationError):
    code = "catalog_rollback"


class CheckpointBehindError(VerificationError):
    code = "catalog_checkpoint_behind"


class LogInconsistentError(VerificationError):
    code = "catalog_log_inconsistent"


class NotLoggedError(VerificationError):
    code = "catalog_not_logged"


class DigestMismatchError(VerificationError):
    code = "catalog_digest_mismatch"


class SnapshotMismatchError(VerificationError):
    code = "catalog_snapshot_mismatch"


@dataclass(frozen=True)
class IndexEntry:
    catalog: str
    version: int
    digest: str
    leaf: int  # index of the version's catalog.published event in the centre's log


@dataclass(frozen=True)
class Index:
    origin: str  # the centre's log
    size: int  # a tree size of that log covering every entry's leaf
    issued: datetime
    expires: datetime
    keys: tuple[str, ...]  # the verifier keys that sign indexes from now on
    entries: tuple[IndexEntry, ...]

    def entry(self, catalog: str) -> IndexEntry | None:
        return next((e for e in self.entries if e.catalog == catalog), None)


def _time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.utcoffset() is None:
        raise ValueError("no time zone")
    return moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_index(index: Index) -> str:
    """The index's note text (sign it with `verifiers.note.sign_note`)."""
    lines = [HEADER, f"origin {index.origin}", f"size {index.size}",
             f"issued {_iso(index.issued)}", f"expires {_iso(index.expires)}",
             *(f"key {k}" for k in index.keys),
             *(f"catalog {e.catalog} {e.version} {e.digest} {e.leaf}" for e in index.entries)]
    return "\n".join(lines) + "\n"


def parse_index(text: str) -> Index:
    lines = text.split("\n")
    if lines[0] != HEADER or lines[-1] != "" or len(lines) < 7:
        raise IndexMalformedError(f"a catalog index opens with {HEADER!r} and ends its lines")
    fields: dict[str, list[str]] = {}
    for line in lines[1:-1]:
        name, _, value = line.partition(" ")
        fields.setdefault(name, []).append(value)
    try:
        (origin,), (size,), (issued,), (expires,) = (
            fields.pop(n) for n in ("origin", "size", "issued", "expires"))
        keys = tuple(fields.pop("key"))
        entries = []
        for line in fields.pop("catalog", []):
            catalog, version, digest, leaf = line.split(" ")
            if not (_NAME.fullmatch(catalog) and is_digest(digest) and version.isdigit()
                    and leaf.isdigit()):
                raise ValueError(line)
            entries.append(IndexEntry(catalog, int(version), digest, int(leaf)))
        index = Index(origin, int(size), _time(issued), _time(expires), keys, tuple(entries))
        for key in keys:
            parse_verifier_key(key)
    except (KeyError, ValueError, NoteError) as exc:
        raise IndexMalformedError("a catalog index line is missing or malformed",
                                  reason=str(exc)) from None
    if fields or not index.size >= 0 or not index.entries or len(
            {e.catalog for e in index.entries}) != len(index.entries):
        raise IndexMalformedError("a catalog index has unknown lines or repeats a catalog",
                                  unknown=sorted(fields))
    if any(e.leaf >= index.size for e in index.entries):
        raise IndexMalformedError("the index's tree size does not cover its leaves",
                                  size=index.size)
    return index


def read_index(note: str | bytes) -> Index:
    """An index note's fields, unverified: for an index the caller verified before."""
    try:
        text, _ = split_note(note)
    except VerificationError as exc:
        raise IndexMalformedError(f"the index is not a signed note: {exc.message}") from None
    return parse_index(text)


def open_index(note: str | bytes, pinned: Sequence[str], *, now: datetime) -> Index:
    """The index, if a pinned key signed it (and every key it newly names did too) and it has
    not expired."""
    index = read_index(note)
    keys = [parse_verifier_key(k) for k in pinned]
    try:
        open_note(note, keys)
    except NoteError as exc:
        raise IndexUntrustedError("the index is not signed by a pinned catalog key",
                                  reason=exc.message) from None
    for key in sorted(set(index.keys) - set(pinned)):
        try:
            open_note(note, [parse_verifier_key(key)])
        except NoteError:
            raise KeyRotationUnsignedError(
                "the index names a new catalog key that did not sign it", key=key) from None
    if now >= index.expires:
        raise IndexExpiredError("the index has expired: the centre has not re-signed it",
                                expires=_iso(index.expires), now=_iso(now))
    return index


def check_forward(index: Index, held: Mapping[str, int], last_issued: datetime | None) -> None:
    """Refuse an index that takes anything back from what is held."""
    if last_issued is not None and index.issued < last_issued:
        raise RollbackError("the index is older than the one held",
                            issued=_iso(index.issued), held=_iso(last_issued))
    for catalog, version in sorted(held.items()):
        entry = index.entry(catalog)
        if entry is None or entry.version < version:
            raise RollbackError("the index offers an older version than the one held",
                                catalog=catalog, held=version,
                                offered=None if entry is None else entry.version)


def check_published(entry: IndexEntry, leaf: bytes) -> None:
    """The leaf must be the version's `catalog.published` event."""
    try:
        event = json.loads(leaf)
        data = event["data"]
        same = (event["type"] == "catalog.published" and data["catalog"] == entry.catalog
                and event["version"] == entry.version and data["digest"] == entry.digest)
    except (ValueError, KeyError, TypeError):
        same = False
    if not same:
        raise NotLoggedError("the index's leaf is not this version's catalog.published event",
                             catalog=entry.catalog, version=entry.version, leaf=entry.leaf)


def check_snapshot(entry: IndexEntry, data: bytes) -> None:
    found = digest_of(data)
    if found != entry.digest:
        raise DigestMismatchError("the snapshot's digest is not the index's",
                                  catalog=entry.catalog, version=entry.version,
                                  expected=entry.digest, found=found)
    value = parse_canonical(data)
    if value.get("catalog") != entry.catalog or value.get("version") != entry.version:
        raise SnapshotMismatchError("the snapshot names another catalog or version",
                                    catalog=entry.catalog, version=entry.version)


@dataclass(frozen=True)
class Held:
    """What a consumer holds from earlier syncs (all empty on the first)."""

    versions: Mapping[str, int]
    issued: datetime | None = None
    checkpoint: tuple[int, bytes] | None = None  # the centre's (size, root) seen last


@dataclass(frozen=True)
class Synced:
    index: Index
    note: str  # the index as signed
    checkpoint: str  # the centre's checkpoint note that proved it
    size: int
    root: bytes
    snapshots: dict[str, bytes]  # catalog -> the snapshot bytes of each version newer than held


def verify_sync(fetch: Fetch, *, index_keys: Sequence[str], log_key: str, held: Held,
                now: datetime, witnesses: Policy | None = None) -> Synced:
    """Everything a consumer checks before it takes new catalog versions (see the module);
    with `witnesses` (a tlog-policy naming the centre's log), the centre's checkpoint must
    also be cosigned by that policy's quorum (`quorum_not_met` otherwise)."""
    note = fetch(INDEX)
    index = open_index(note, index_keys, now=now)
    check_forward(index, held.versions, held.issued)
    reader = TileReader(fetch, log_key, origin=index.origin)
    if witnesses is not None:
        verify_witnessed(reader.note, witnesses)
    size, root = reader.checkpoint.size, reader.checkpoint.root
    if size < index.size:
        raise CheckpointBehindError("the centre's checkpoint does not cover the index",
                                    checkpoint=size, index=index.size)
    if held.checkpoint is not None:
        old_size, old_root = held.checkpoint
        if size < old_size:
            raise RollbackError("the centre's checkpoint is older than the one held",
                                held=old_size, offered=size)
        try:
            verify_consistency(old_size, size, reader.consistency_proof(old_size), old_root,
                               root)
        except (ProofError, RootMismatchError) as exc:
            raise LogInconsistentError(
                "the centre's log does not extend the checkpoint held: it shows another "
                "history", held=old_size, offered=size, root=b64(root),
                reason=exc.message) from None
    snapshots = {}
    for entry in index.entries:
        if entry.version <= held.versions.get(entry.catalog, 0):
            continue
        check_published(entry, reader.entry(entry.leaf))
        data = fetch(f"catalogs/{entry.catalog}/{entry.version}.json")
        check_snapshot(entry, data)
        snapshots[entry.catalog] = data
    text = note.decode("utf-8") if isinstance(note, bytes) else note
    return Synced(index, text, reader.note, size, root, snapshots)
