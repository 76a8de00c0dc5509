"""Catalogs: the shared catalogs as a node publishes, syncs and looks them up.

On the centre, `publish` adds a version (a `catalog.published` event, through the one write
path), and `publish_index` writes the publication beside the tiles: each current version's
snapshot and the signed index (see verifiers/catalog.py), re-signed before it expires. The
index is signed by every key in `<data dir>/catalog-keys/`; rotating the centre's catalog key
is adding a key (indexes are then signed by both, so consumers learn the new one from a key
they trust) and, once every consumer has synced, retiring the old one.

On a consumer, `sync` fetches the centre's publication from any web server or directory,
proves it with `verifiers.catalog.verify_sync` against the trust file's pinned keys and what
the node held, and takes each new version with a `catalog.synced` event, in one transaction
with the index and checkpoint it came from. A refused sync changes nothing but the record of
the refusal; the node goes on with what it holds until the index expires past the grace.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import structlog

from domain.catalog import catalog_id, check_name
from domain.envelope import Actor
from domain.errors import InvalidInputError
from ledger.catalog.held import CHECKPOINT_META, INDEX_META, KEYS_META, REFUSED_META, HeldCatalogs
from ledger.config import Settings
from ledger.errors import CatalogNotFoundError, ConfigError
from ledger.log.keys import LogKey
from ledger.log.tiles import fsync_dir, published_size, write_file
from ledger.records import Command, Records, WrittenEvent
from ledger.store.tables import LogStore
from verifiers.canonical import b64, utc_iso
from verifiers.catalog import INDEX, Held, Index, IndexEntry, format_index, read_index, verify_sync
from verifiers.digest import digest_of
from verifiers.errors import VerificationError
from verifiers.note import parse_checkpoint, parse_verifier_key, sign_note, split_note
from verifiers.policy import Policy, parse_policy
from verifiers.tiles import Fetch, directory_fetch, http_fetch

log = structlog.get_logger("stele.catalog")
KEYS_DIR = "catalog-keys"
VIETNAM = timezone(timedelta(hours=7))  # a date given alone is a day in Viet Nam


@dataclass(frozen=True)
class CatalogTrust:
    """What a consumer pins: the centre's log key, the keys that sign its indexes, and, if
    the centre has witnesses, their quorum (a tlog-policy)."""

    log_key: str
    index_keys: tuple[str, ...]
    witnesses: Policy | None = None  # the centre's checkpoints must carry its quorum

    @classmethod
    def load(cls, path: Path) -> CatalogTrust:
        """A C2SP tlog-policy file naming the centre's log (`log <vkey>`), and its witnesses
        and quorum if it has them (`witness`, `group`, `quorum`), plus one or more
        `index <vkey>` lines: the catalog keys."""
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the catalog trust file {path}: {exc}") from None
        index = [line.split("#", 1)[0].split() for line in lines]
        keys = [words[1] for words in index if words[:1] == ["index"] and len(words) == 2]
        rest = "\n".join(line for line, words in zip(lines, index, strict=True)
                         if words[:1] != ["index"]) + "\n"
        try:
            policy = parse_policy(rest, quorum_required=False)
            for vkey in keys:
                parse_verifier_key(vkey)
        except VerificationError as exc:
            raise ConfigError(f"{path}: {exc.message}", **exc.evidence) from None
        if len(policy.logs) != 1 or not keys or any(
                w[:1] == ["index"] and len(w) != 2 for w in index):
            raise ConfigError(f"{path} must pin one log (the centre's) and one or more "
                              "`index <vkey>` lines")
        log_key = next(w[1] for w in index if w[:1] == ["log"])
        return cls(log_key, tuple(keys), policy if policy.quorum != "none" else None)

    def text(self) -> str:
        return "".join([f"log {self.log_key}\n", *(f"index {k}\n" for k in self.index_keys)])


def source_fetch(source: str) -> Fetch:
    """The centre's publication at an http(s) URL (its tiles prefix) or in a directory."""
    if source.startswith(("http://", "https://")):
        return http_fetch(source)
    if not Path(source).is_dir():
        raise InvalidInputError("the catalog source must be an http(s) URL or a directory",
                                source=source)
    return directory_fetch(source)


class Catalogs:
    def __init__(self, *, settings: Settings, store: LogStore, records: Records,
                 held: HeldCatalogs, clock: Callable[[], datetime]) -> None:
        self.settings = settings
        self.store = store
        self.records = records
        self.held = held
        self.clock = clock
        self.sync_actor = Actor("stele:catalog-sync", "system", settings.operator_agency)

    # -- the centre -----------------------------------------------------------------------------
    def publish(self, actor: Actor, name: str, entries: list[dict[str, Any]]
                ) -> list[WrittenEvent]:
        """A new version of `name` with these entries (a catalog manager's)."""
        return self.records.execute(actor, [Command("catalog.publish",
                                                    {"catalog": name, "entries": entries})])

    @property
    def keys_dir(self) -> Path:
        return self.settings.data_dir / KEYS_DIR

    def signing_keys(self, *, create: bool = False) -> list[LogKey]:
        """The centre's catalog keys in force (the first made on demand with `create`)."""
        directory = self.keys_dir
        if create and not any(directory.glob("*.pem")):
            directory.mkdir(parents=True, exist_ok=True)
            LogKey.load_or_create(directory, f"{self.settings.origin}/catalogs", "1.pem")
        return [key for _, key in self._key_files()]

    def _key_files(self) -> list[tuple[Path, LogKey]]:
        """Each key file in force and its key, oldest first (1.pem, 2.pem, ...)."""
        files = sorted(self.keys_dir.glob("*.pem"), key=lambda p: (len(p.stem), p.stem))
        return [(p, LogKey.load_or_create(self.keys_dir, self._key_name(p), p.name))
                for p in files]

    def _key_name(self, path: Path) -> str:
        return f"{self.settings.origin}/catalogs" + ("" if path.stem == "1" else f"/{path.stem}")

    def add_key(self) -> LogKey:
        """Rotation, step one: a new catalog key; indexes are signed by every key in force."""
        existing = self.signing_keys(create=True)
        stem = str(max(int(p.stem) for p in self.keys_dir.glob("*.pem")) + 1)
        key = LogKey.load_or_create(self.keys_dir, self._key_name(Path(stem + ".pem")),
                                    stem + ".pem")
        log.info("catalog.key_added", key=key.verifier, keys=len(existing) + 1)
        return key

    def retire_key(self, verifier: str) -> None:
        """Rotation, step two: stop signing with a key (kept under retired/)."""
        files = self._key_files()
        match = [path for path, key in files if key.verifier == verifier]
        if not match:
            raise InvalidInputError("no catalog key in force has that verifier key",
                                    key=verifier)
        if len(files) == 1:
            raise InvalidInputError("the last catalog key cannot be retired: add one first")
        (self.keys_dir / "retired").mkdir(exist_ok=True)
        for path in match:
            path.rename(self.keys_dir / "retired" / path.name)
        log.info("catalog.key_retired", key=verifier)

    def publish_index(self, *, force: bool = False) -> Index | None:
        """Write the current versions' snapshots and a newly signed index beside the tiles, if
        a version changed, the keys changed, half the index's life has passed, or `force`;
        None if not due, or if a version is not yet in the published tiles."""
        tiles = self.settings.tiles_dir
        with self.store.transaction() as tx:
            latest = tx.catalog_versions(latest=True)
        if not latest:
            return None
        size = published_size(tiles)
        entries = []
        for name, version, digest, _ in latest:
            leaves = self.records.leaf_indexes(catalog_id(name))
            leaf = leaves[version - 1] if len(leaves) >= version else None
            if leaf is None or leaf >= size:
                return None  # published once the tiles cover it
            entries.append(IndexEntry(name, version, digest, leaf))
        keys = self.signing_keys(create=True)
        for entry in entries:  # the snapshots first, durable before an index names them
            path = tiles / "catalogs" / entry.catalog / f"{entry.version}.json"
            if not path.exists():
                with self.store.transaction() as tx:
                    data = tx.catalog_snapshot(entry.catalog, entry.version)
                assert data is not None
                write_file(path, data)
                fsync_dir(path.parent)
        # Under the tiles' lock, decided and written at once: several workers may publish
        # the same directory, and an index never replaces one issued after it.
        (tiles / "catalogs").mkdir(parents=True, exist_ok=True)
        with open(tiles / ".lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            now = self.clock()
            current = self._published_index()
            due = force or current is None or current.entries != tuple(entries) or (
                current.keys != tuple(k.verifier for k in keys)) or (
                now >= current.issued + (current.expires - current.issued) / 2)
            if not due or (current is not None and now < current.issued):
                return None
            index = Index(origin=self.settings.origin, size=size, issued=now,
                          expires=now + timedelta(hours=self.settings.catalog_index_hours),
                          keys=tuple(k.verifier for k in keys), entries=tuple(entries))
            write_file(tiles / INDEX, sign_all(format_index(index), keys).encode("utf-8"))
            fsync_dir(tiles / "catalogs")
        log.info("catalog.index_published", size=size, expires=utc_iso(index.expires),
                 versions={e.catalog: e.version for e in entries})
        return index

    def _published_index(self) -> Index | None:
        try:
            return read_index((self.settings.tiles_dir / INDEX).read_bytes())
        except (OSError, VerificationError):
            return None

    # -- a consumer -----------------------------------------------------------------------------
    def trust(self) -> CatalogTrust:
        if self.settings.catalog_trust is None:
            raise ConfigError("syncing catalogs needs STELE_CATALOG_TRUST (or --trust)")
        return CatalogTrust.load(self.settings.catalog_trust)

    def sync(self, source: str | None = None, trust: CatalogTrust | None = None
             ) -> dict[str, Any]:
        """Take the centre's new catalog versions, proven (see the module); what was taken.
        A refusal raises the verifier's coded error, and is kept for `status`."""
        source = source or self.settings.catalog_from
        if not source:
            raise ConfigError("no catalog source: STELE_CATALOG_FROM (or --from)")
        trust = trust or self.trust()
        now = self.clock()
        with self.store.transaction() as tx:
            versions = {n: v for n, v, _, _ in tx.catalog_versions(latest=True)}
            index_note, checkpoint_note = tx.meta(INDEX_META), tx.meta(CHECKPOINT_META)
            stored_keys = tx.meta(KEYS_META)
        pinned = list(trust.index_keys)
        if stored_keys is not None:  # the rotations learnt since, unless the file re-pinned
            kept = json.loads(stored_keys)
            if kept["file"] == pinned:
                pinned = kept["keys"]
        held = Held(versions=versions,
                    issued=read_index(index_note).issued if index_note else None,
                    checkpoint=_size_root(checkpoint_note) if checkpoint_note else None)
        try:
            synced = verify_sync(source_fetch(source), index_keys=pinned,
                                 log_key=trust.log_key, held=held, now=now,
                                 witnesses=trust.witnesses)
        except VerificationError as exc:
            self._refused(source, exc, now)
            raise
        index = synced.index
        meta = {INDEX_META: synced.note, CHECKPOINT_META: synced.checkpoint,
                KEYS_META: json.dumps({"file": list(trust.index_keys),
                                       "keys": list(index.keys)}),
                REFUSED_META: "null"}
        centre = {"origin": index.origin, "size": synced.size, "root": b64(synced.root)}
        about = {"digest": digest_of(synced.note.encode("utf-8")),
                 "issued": utc_iso(index.issued), "expires": utc_iso(index.expires)}
        commands = []
        for name, snapshot in sorted(synced.snapshots.items()):
            entry = index.entry(name)
            assert entry is not None
            commands.append(Command("catalog.sync", {
                "snapshot": snapshot, "leaf": entry.leaf, "centre": centre, "index": about}))
        if commands:
            statements = [self.store.put_meta_statement(k, v) for k, v in meta.items()]
            self.records.execute(self.sync_actor, commands, also=lambda _: statements,
                                 service=True)
        else:
            with self.store.transaction() as tx:
                for name, value in meta.items():
                    tx.put_meta(name, value)
        taken = {e.catalog: e.version for e in index.entries if e.catalog in synced.snapshots}
        log.info("catalog.synced", source=source, centre_size=synced.size,
                 taken=taken, expires=about["expires"])
        return {"taken": taken, "versions": {e.catalog: e.version for e in index.entries},
                "centre": centre, "index": about}

    def _refused(self, source: str, exc: VerificationError, now: datetime) -> None:
        refusal = {"code": exc.code, "message": exc.message, "at": utc_iso(now),
                   "source": source}
        log.warning("catalog.sync_refused", **refusal)
        with self.store.transaction() as tx:
            tx.put_meta(REFUSED_META, json.dumps(refusal))

    # -- reading --------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """What this node holds, the centre's index it rests on, whether it is stale."""
        now = self.clock()
        with self.store.transaction() as tx:
            latest = tx.catalog_versions(latest=True)
            index_note, refused = tx.meta(INDEX_META), tx.meta(REFUSED_META)
        index = read_index(index_note) if index_note else None
        stale_at = None if index is None else self.held.stale_at(index.expires)
        return {
            "versions": {n: v for n, v, _, _ in latest},
            "source": self.settings.catalog_from,
            "index": None if index is None else {
                "origin": index.origin, "issued": utc_iso(index.issued),
                "expires": utc_iso(index.expires)},
            "expired": index is not None and now >= index.expires,
            "stale": stale_at is not None and now >= stale_at,
            "stale_at": None if stale_at is None else utc_iso(stale_at),
            "last_refused": json.loads(refused) if refused else None,
        }

    def list(self) -> list[dict[str, Any]]:
        """Each catalog held: its latest version, and how many versions this node holds."""
        with self.store.transaction() as tx:
            rows = tx.catalog_versions()
        out: dict[str, dict[str, Any]] = {}
        for name, version, digest, at in rows:  # by catalog and version: the last is latest
            held = out.get(name, {}).get("versions_held", 0) + 1
            out[name] = {"catalog": name, "version": version, "digest": digest,
                         "held_at": at, "versions_held": held}
        return [out[n] for n in sorted(out)]

    def snapshot(self, name: str, *, version: int | None = None,
                 at: str | None = None) -> dict[str, Any]:
        """A version held: the given one, the one in force at `at` (a date or time: the
        latest held by then), or the latest."""
        check_name(name)
        with self.store.transaction() as tx:
            rows = tx.catalog_versions(name)
        if at is not None:
            moment = _moment(at)
            rows = [r for r in rows if _moment(r[3]) <= moment]
        if version is not None:
            rows = [r for r in rows if r[1] == version]
        if not rows:
            raise CatalogNotFoundError("this node holds no such catalog version",
                                       catalog=name, version=version, at=at)
        _, number, digest, held_at = rows[-1]
        held = self.held.version(name, number)
        return {"catalog": name, "version": number, "digest": digest, "held_at": held_at,
                "entries": list(held.entries)}

    def code(self, name: str, code: str) -> dict[str, Any]:
        """One code's history across every version held: each version where it changed."""
        check_name(name)
        with self.store.transaction() as tx:
            rows = tx.catalog_versions(name)
        history: list[dict[str, Any]] = []
        last: dict[str, Any] | None = None
        for _, number, _, held_at in rows:
            entry = self.held.version(name, number).entry(code)
            if entry != last:
                history.append({"version": number, "held_at": held_at, "entry": entry})
            last = entry
        if not any(h["entry"] for h in history):
            raise CatalogNotFoundError("no version of this catalog holds that code",
                                       catalog=name, code=code)
        return {"catalog": name, "code": code, "current": last, "history": history}


def sign_all(text: str, keys: list[LogKey]) -> str:
    """A signed note of `text` with one signature line per key."""
    lines = [sign_note(text, k.name, k.private_key)[len(text) + 1:] for k in keys]
    return text + "\n" + "".join(lines)


def _size_root(note: str) -> tuple[int, bytes]:
    checkpoint = parse_checkpoint(split_note(note)[0])
    return checkpoint.size, checkpoint.root


def _moment(text: str) -> datetime:
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time.max, VIETNAM)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError("at must be a date or an ISO 8601 time", at=text) from None
    if moment.utcoffset() is None:
        raise InvalidInputError("at needs a time zone", at=text)
    return moment

