"""The catalog index and the checks of a sync, on their own (verifiers/catalog.py): the index
format round-trips, and each malformed or tampered input is refused with its own code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given
from hypothesis import strategies as st

from verifiers.canonical import canonical_bytes
from verifiers.catalog import (
    Index,
    IndexEntry,
    check_forward,
    check_published,
    check_snapshot,
    format_index,
    open_index,
    parse_index,
    read_index,
)
from verifiers.digest import digest_of
from verifiers.errors import CodedError
from verifiers.note import sign_note, verifier_key

NOW = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)


def key(name: str = "centre.test/log/catalogs") -> tuple[str, Ed25519PrivateKey]:
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return verifier_key(name, public), private


def snapshot(catalog: str, version: int) -> bytes:
    return canonical_bytes({"catalog": catalog, "version": version,
                            "entries": [{"code": "01", "name": "Công văn"}]})


def index(vkey: str, **changes: object) -> Index:
    base = Index(origin="centre.test/log", size=10, issued=NOW, expires=NOW + timedelta(hours=24),
                 keys=(vkey,), entries=(
                     IndexEntry("agencies", 3, digest_of(snapshot("agencies", 3)), 7),
                     IndexEntry("doc_types", 1, digest_of(snapshot("doc_types", 1)), 2)))
    return Index(**{**base.__dict__, **changes})  # type: ignore[arg-type]


def code(call: object) -> str:
    with pytest.raises(CodedError) as caught:
        call()  # type: ignore[operator]
    return caught.value.code


names = st.from_regex(r"[a-z][a-z_]{0,10}", fullmatch=True)


@given(st.dictionaries(names, st.tuples(st.integers(1, 10**6), st.integers(0, 10**6)),
                       min_size=1, max_size=6),
       st.integers(0, 10**6), st.integers(0, 10**8))
def test_the_index_format_round_trips(catalogs: dict[str, tuple[int, int]], extra: int,
                                      seconds: int) -> None:
    entries = tuple(IndexEntry(name, version, digest_of(name.encode()), leaf)
                    for name, (version, leaf) in sorted(catalogs.items()))
    issued = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    made = Index("centre.test/log", max(e.leaf for e in entries) + 1 + extra, issued,
                 issued + timedelta(hours=1), (key()[0],), entries)
    assert parse_index(format_index(made)) == made


def test_a_signed_index_opens_under_a_pinned_key_until_it_expires() -> None:
    vkey, private = key()
    note = sign_note(format_index(index(vkey)), "centre.test/log/catalogs", private)
    assert open_index(note, [vkey], now=NOW).entries[0].catalog == "agencies"
    assert read_index(note) == open_index(note, [vkey], now=NOW)
    at_expiry = NOW + timedelta(hours=24)
    assert code(lambda: open_index(note, [vkey], now=at_expiry)) == "catalog_index_expired"
    other, _ = key("someone/else")
    assert code(lambda: open_index(note, [other], now=NOW)) == "catalog_index_untrusted"
    new, _ = key("centre.test/log/catalogs/2")
    unsigned = sign_note(format_index(index(vkey, keys=(vkey, new))),
                         "centre.test/log/catalogs", private)
    assert code(lambda: open_index(unsigned, [vkey], now=NOW)) == \
        "catalog_key_rotation_unsigned"


@pytest.mark.parametrize("text", [
    "stele.catalogs/v2\norigin o\nsize 1\nissued 2026-01-01T00:00:00Z\n"
    "expires 2026-01-02T00:00:00Z\nkey k\ncatalog a 1 sha-256:00 0\n",  # another header
    "stele.catalogs/v1\norigin o\nsize 1\nissued 2026-01-01T00:00:00Z\n"
    "expires 2026-01-02T00:00:00Z\ncatalog a 1 {d} 0\n",  # no key line
    "stele.catalogs/v1\norigin o\nsize 1\nissued 2026-01-01T00:00:00Z\n"
    "expires 2026-01-02T00:00:00Z\nkey {k}\ncatalog ../a 1 {d} 0\n",  # a name that is a path
    "stele.catalogs/v1\norigin o\nsize 1\nissued 2026-01-01T00:00:00Z\n"
    "expires 2026-01-02T00:00:00Z\nkey {k}\ncatalog a 1 {d} 0\ncatalog a 2 {d} 0\n",  # twice
    "stele.catalogs/v1\norigin o\nsize 1\nissued 2026-01-01T00:00:00Z\n"
    "expires 2026-01-02T00:00:00Z\nkey {k}\ncatalog a 1 {d} 1\n",  # leaf beyond the size
    "stele.catalogs/v1\norigin o\nsize 1\nissued 2026-01-01\n"
    "expires 2026-01-02T00:00:00Z\nkey {k}\ncatalog a 1 {d} 0\n",  # a time without a zone
    "stele.catalogs/v1\norigin o\nsize 1\nissued 2026-01-01T00:00:00Z\n"
    "expires 2026-01-02T00:00:00Z\nkey {k}\ncatalog a 1 {d} 0\nextra line\n",  # unknown
])
def test_a_malformed_index_is_refused(text: str) -> None:
    vkey, _ = key()
    filled = text.replace("{k}", vkey).replace("{d}", digest_of(b"x"))
    assert code(lambda: parse_index(filled)) == "catalog_index_malformed"


def test_nothing_goes_back() -> None:
    vkey, _ = key()
    offered = index(vkey)
    check_forward(offered, {"agencies": 3, "doc_types": 1}, NOW)
    assert code(lambda: check_forward(offered, {"agencies": 4}, None)) == "catalog_rollback"
    assert code(lambda: check_forward(offered, {"fonds": 1}, None)) == "catalog_rollback"
    later = NOW + timedelta(seconds=1)
    assert code(lambda: check_forward(offered, {}, later)) == "catalog_rollback"


def test_the_leaf_and_the_snapshot_must_be_the_version_named() -> None:
    vkey, _ = key()
    entry = index(vkey).entries[0]
    event = canonical_bytes({"type": "catalog.published", "version": 3,
                             "data": {"catalog": "agencies", "digest": entry.digest}})
    check_published(entry, event)
    for leaf in (b"not json", canonical_bytes({"type": "record.created", "version": 3}),
                 event.replace(b'"version":3', b'"version":2')):
        assert code(lambda leaf=leaf: check_published(entry, leaf)) == "catalog_not_logged"
    check_snapshot(entry, snapshot("agencies", 3))
    assert code(lambda: check_snapshot(entry, snapshot("agencies", 2))) == \
        "catalog_digest_mismatch"
    other = snapshot("fonds", 3)
    renamed = IndexEntry("agencies", 3, digest_of(other), 7)
    assert code(lambda: check_snapshot(renamed, other)) == "catalog_snapshot_mismatch"
