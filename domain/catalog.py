"""Shared catalogs (danh mục dùng chung): the centre's versioned lists that every node checks a
record's metadata against.

A catalog is a list of entries, each with a `code`, a `name` and a window of dates it is in
force (`valid_from`, absent for "since before the catalog", and `valid_to`, the first day
it no longer is, absent while it is in force). Each version is a
*snapshot*: the catalog's RFC 8785 canonical JSON, named by its SHA-256 digest. Versions are
only ever added: the `Catalog` aggregate (on the centre) holds one `catalog.published` event
per version, signed by a catalog manager; a consumer's `CatalogCopy` holds one
`catalog.synced` event per version it took from the centre, with the centre's checkpoint that
proved it. `CatalogSet` is what a node holds at one moment: the rule a record's creation is
checked by, and the versions it names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from domain import errors
from domain.chained import ChainedAggregate, aggregate_id
from domain.envelope import Actor
from domain.metadata import (
    PERMANENT,
    RETENTION_YEARS,
    check_agency_code,
    check_date,
    check_digest,
    check_positive_int,
    check_text,
)
from verifiers.canonical import canonical_bytes, parse_canonical
from verifiers.digest import digest_of
from verifiers.errors import VerificationError

CATALOG_NAMESPACE = UUID("5a7c2e91-3d4b-5f08-b6e1-9c8d7a2f4e63")
MANAGER = "catalog_manager"  # the role that publishes catalog versions
LISTED_CHANGES = 100  # a version's event lists at most this many changed codes of each kind

Check = Callable[[Any, str], Any]


def _optional(check: Check) -> Check:
    def optional(value: Any, field: str) -> Any:
        return None if value in (None, "") else check(value, field)
    return optional


def _text(max_len: int) -> Check:
    return lambda value, field: check_text(value, field, max_len=max_len).strip()


def _day(value: Any, field: str) -> str:
    return check_date(value, field).isoformat()


def _retention(value: Any, field: str) -> int | str:
    if value == PERMANENT:
        return PERMANENT
    years = int(value) if isinstance(value, str) and value.isdigit() else value
    if isinstance(years, int) and not isinstance(years, bool) and years in RETENTION_YEARS:
        return years
    raise errors.InvalidInputError(f"{field} must be 'permanent' or one of {RETENTION_YEARS}",
                                   field=field, value=value)


def _code(max_len: int) -> Check:
    def code(value: Any, field: str) -> str:
        text = check_text(value, field, max_len=max_len)
        if text != text.strip() or any(c.isspace() for c in text) or "/" in text:
            raise errors.InvalidInputError(f"{field} must be one word, without '/'",
                                           field=field, value=value)
        return text
    return code


_WINDOW: dict[str, Check] = {"valid_from": _optional(_day), "valid_to": _optional(_day)}
# Every catalog's fields and how each is checked; `code` first. An entry has exactly these.
SCHEMAS: dict[str, dict[str, Check]] = {
    "agencies": {"code": check_agency_code, "name": _text(300),
                 "parent": _optional(check_agency_code),
                 "successor": _optional(check_agency_code), **_WINDOW},
    "doc_types": {"code": _code(10), "name": _text(100),
                  "abbreviation": _optional(_text(10)), **_WINDOW},
    "retention": {"code": _code(40), "name": _text(500), "retention": _retention,
                  "source": _text(300), **_WINDOW},
    "fonds": {"code": _code(40), "name": _text(300), "agency": check_agency_code, **_WINDOW},
    "access_levels": {"code": _code(20), "name": _text(100), "source": _text(300), **_WINDOW},
}
NAMES = tuple(SCHEMAS)


def catalog_id(name: str) -> UUID:
    return aggregate_id(CATALOG_NAMESPACE, "catalog:" + name)


def copy_id(name: str) -> UUID:
    return aggregate_id(CATALOG_NAMESPACE, "copy:" + name)


def check_name(name: Any) -> str:
    if not isinstance(name, str) or name not in SCHEMAS:
        raise errors.InvalidInputError(f"catalog must be one of {NAMES}", catalog=name)
    return str(name)


def check_entries(name: str, entries: Any) -> list[dict[str, Any]]:
    """A catalog's entries, each checked against its schema and normalised (absent optional
    fields as null), sorted by code; refused if a code repeats or a window is empty."""
    schema = SCHEMAS[check_name(name)]
    if not isinstance(entries, list) or not entries:
        raise errors.InvalidInputError("a catalog version needs a non-empty list of entries",
                                       catalog=name)
    out: dict[str, dict[str, Any]] = {}
    for n, entry in enumerate(entries, 1):
        if not isinstance(entry, dict):
            raise errors.InvalidInputError("each entry must be an object", catalog=name, entry=n)
        unknown = set(entry) - set(schema)
        if unknown:
            raise errors.InvalidInputError("unknown fields", catalog=name, entry=n,
                                           fields=sorted(unknown))
        checked = {field: check(entry.get(field), field) for field, check in schema.items()}
        if checked["valid_to"] is not None and checked["valid_from"] is not None and (
                checked["valid_to"] <= checked["valid_from"]):
            raise errors.InvalidInputError("valid_to must come after valid_from", catalog=name,
                                           code=checked["code"])
        if checked["code"] in out:
            raise errors.InvalidInputError("a code appears twice", catalog=name,
                                           code=checked["code"])
        out[checked["code"]] = checked
    return [out[code] for code in sorted(out)]


def snapshot_bytes(name: str, version: int, entries: list[dict[str, Any]]) -> bytes:
    """The canonical snapshot of a catalog version: what its digest names."""
    return canonical_bytes({"catalog": name, "version": version, "entries": entries})


def parse_snapshot(data: bytes) -> tuple[str, int, list[dict[str, Any]]]:
    """(catalog, version, entries) of snapshot bytes, which must be canonical and well-formed
    (InvalidInputError otherwise)."""
    try:
        value = parse_canonical(data)
    except VerificationError as exc:
        raise errors.InvalidInputError(f"a snapshot must be canonical JSON: {exc.message}") \
            from None
    if set(value) != {"catalog", "version", "entries"}:
        raise errors.InvalidInputError("a snapshot holds exactly catalog, version and entries")
    name = check_name(value["catalog"])
    version = check_positive_int(value["version"], "version")
    entries = check_entries(name, value["entries"])
    if entries != value["entries"]:
        raise errors.InvalidInputError("a snapshot's entries must be normalised and sorted",
                                       catalog=name, version=version)
    return name, version, entries


def changes(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> dict[str, Any]:
    """How a version differs from the one before: counts, and the codes (up to
    LISTED_CHANGES of each kind; the snapshots are the whole truth)."""
    before, after = {e["code"]: e for e in old}, {e["code"]: e for e in new}
    kinds = {"added": sorted(after.keys() - before.keys()),
             "removed": sorted(before.keys() - after.keys()),
             "changed": sorted(c for c in after.keys() & before.keys() if after[c] != before[c])}
    return {kind: {"count": len(codes), "codes": codes[:LISTED_CHANGES]}
            for kind, codes in kinds.items()}


class Catalog(ChainedAggregate):
    """One catalog on the centre: version N is its Nth `catalog.published` event."""

    if TYPE_CHECKING:
        name: str
        digest: str  # of the current version's snapshot

    class Event(ChainedAggregate.Event):
        pass

    class _Published(Event):
        TYPE: ClassVar[str] = "catalog.published"
        catalog: str
        digest: str  # of the version's canonical snapshot
        entries: int
        changes: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            aggregate.name = self.catalog
            aggregate.digest = self.digest

    class Published(_Published, ChainedAggregate.Created):
        """The first version (the aggregate's creation)."""

    class Republished(_Published):
        """Every later version."""

    @classmethod
    def publish_first(cls, *, actor: Actor, at: datetime, name: str,
                      entries: list[dict[str, Any]]) -> Catalog:
        _manager(actor)
        return cls._create(cls.Published, id=catalog_id(name), timestamp=at,
                           actor=actor.as_dict(), prev=None,
                           **_published(name, 1, [], entries))

    def publish(self, *, actor: Actor, at: datetime, entries: list[dict[str, Any]],
                previous: list[dict[str, Any]]) -> None:
        """A new version; `previous`: the entries of the version before (for `changes`)."""
        _manager(actor)
        data = _published(self.name, self.version + 1, previous, entries)
        if not any(kind["count"] for kind in data["changes"].values()):
            raise errors.CatalogUnchangedError("the catalog is the same as its current version",
                                               catalog=self.name, version=self.version)
        self._next(self.Republished, actor=actor.as_dict(), timestamp=at, **data)


def _published(name: str, version: int, previous: list[dict[str, Any]],
               entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"catalog": name, "digest": digest_of(snapshot_bytes(name, version, entries)),
            "entries": len(entries), "changes": changes(previous, entries)}


def _manager(actor: Actor) -> None:
    if actor.role != MANAGER:
        raise errors.CatalogManagerOnlyError("only catalog managers publish catalogs",
                                             role=actor.role)


class CatalogCopy(ChainedAggregate):
    """A consumer's copy of one catalog: each version it synced from the centre, with what
    proved it (the centre's checkpoint and the leaf of the version's `catalog.published`)."""

    if TYPE_CHECKING:
        name: str
        catalog_version: int

    class Event(ChainedAggregate.Event):
        pass

    class _Synced(Event):
        TYPE: ClassVar[str] = "catalog.synced"
        catalog: str
        catalog_version: int
        digest: str
        leaf: int  # index of the version's catalog.published in the centre's log
        centre: dict[str, Any]  # the centre's checkpoint: origin, size, root (base64)
        index: dict[str, str]  # the signed index it came from: digest, issued, expires

        def apply(self, aggregate: Any) -> None:
            aggregate.name = self.catalog
            aggregate.catalog_version = self.catalog_version

    class Synced(_Synced, ChainedAggregate.Created):
        """The first version synced."""

    class Resynced(_Synced):
        """Every later version."""

    @classmethod
    def first(cls, *, actor: Actor, at: datetime, **synced: Any) -> CatalogCopy:
        data = _synced(**synced)
        return cls._create(cls.Synced, id=copy_id(data["catalog"]), timestamp=at,
                           actor=actor.as_dict(), prev=None, **data)

    def sync(self, *, actor: Actor, at: datetime, **synced: Any) -> None:
        data = _synced(**synced)
        if data["catalog_version"] <= self.catalog_version:  # never back: rollback
            raise errors.CatalogRollbackError(
                "a copy only moves forward", catalog=self.name, held=self.catalog_version,
                offered=data["catalog_version"])
        self._next(self.Resynced, actor=actor.as_dict(), timestamp=at, **data)


def _synced(*, catalog: str, catalog_version: int, digest: str, leaf: int,
            centre: dict[str, Any], index: dict[str, str]) -> dict[str, Any]:
    return {"catalog": check_name(catalog),
            "catalog_version": check_positive_int(catalog_version, "catalog_version"),
            "digest": check_digest(digest), "leaf": check_positive_int(leaf, "leaf", zero=True),
            "centre": dict(centre), "index": dict(index)}


# -- the catalogs a node holds ------------------------------------------------------------------

@dataclass(frozen=True)
class Version:
    """One catalog version as a node holds it."""

    catalog: str
    version: int
    digest: str
    entries: tuple[dict[str, Any], ...]
    _index: dict[str, dict[Any, dict[str, Any]]] = dataclasses.field(
        default_factory=dict, init=False, compare=False, repr=False)

    def entry(self, code: str) -> dict[str, Any] | None:
        return self.find("code", code)

    def find(self, field: str, value: Any) -> dict[str, Any] | None:
        """The entry whose `field` is `value` (the first, for a field that may repeat)."""
        return self._by(field).get(value)

    def _by(self, field: str) -> dict[Any, dict[str, Any]]:
        found = self._index.get(field)
        if found is None:  # built once per field: a version never changes
            found = {}
            for entry in self.entries:
                found.setdefault(entry[field], entry)
            self._index[field] = found
        return found


@dataclass(frozen=True)
class CatalogSet:
    """The catalog versions in force on a node at one moment (the latest it holds of each):
    what a new record is checked against, and what its event names."""

    versions: Mapping[str, Version]

    def used(self) -> dict[str, int]:
        """The versions a record checked against this set names: catalog -> version."""
        return {name: v.version for name, v in sorted(self.versions.items())
                if name in _RECORD_FIELDS}

    def check_record(self, metadata: Mapping[str, Any], retention: Any, schedule: str) -> None:
        """Refuse a record whose issuer, document type, access level or retention schedule is
        not in force on its issue date in the catalogs held (each error names the version)."""
        issued = date.fromisoformat(str(metadata["issued"]))
        for name, (field, match) in _RECORD_FIELDS.items():
            version = self.versions.get(name)
            if version is None:
                continue
            value = schedule if field == "schedule" else metadata[field]
            entry = version.find(match, value)
            where = {"catalog": name, "version": version.version, "field": field,
                     "value": value}
            if entry is None:
                raise errors.CatalogCodeUnknownError(
                    f"{field} {value!r} is not in the {name} catalog (version "
                    f"{version.version})", **where)
            if entry["valid_from"] is not None and issued < date.fromisoformat(
                    entry["valid_from"]):
                raise errors.CatalogCodeNotYetValidError(
                    f"{field} {value!r} is in force only from {entry['valid_from']}",
                    valid_from=entry["valid_from"], issued=issued.isoformat(), **where)
            if entry["valid_to"] is not None and issued >= date.fromisoformat(entry["valid_to"]):
                raise errors.CatalogCodeExpiredError(
                    f"{field} {value!r} was no longer in force on {issued.isoformat()}"
                    + (f"; its successor is {entry['successor']}"
                       if entry.get("successor") else ""),
                    valid_to=entry["valid_to"], successor=entry.get("successor"),
                    issued=issued.isoformat(), **where)
            if name == "retention" and entry["retention"] != retention:
                raise errors.CatalogRetentionMismatchError(
                    f"schedule {schedule!r} sets retention {entry['retention']!r}, not "
                    f"{retention!r}", expected=entry["retention"], retention=retention,
                    **where)


# catalog -> (the record's field it checks, the entry field that field must equal)
_RECORD_FIELDS: dict[str, tuple[str, str]] = {
    "access_levels": ("access", "code"),
    "agencies": ("issuer", "code"),
    "doc_types": ("doc_type", "name"),
    "retention": ("schedule", "code"),
}
