"""Shared catalogs: a centre publishes versions and its signed index beside its tiles, a
consumer syncs them with every proof, records are checked against the versions in force, and
every attack on the sync is refused with its own code (and kept for `status`)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from domain.catalog import CatalogSet, Version, parse_snapshot
from domain.envelope import Actor
from ledger.catalog.files import seed
from ledger.catalog.service import CatalogTrust, sign_all
from ledger.config import Database, Settings
from ledger.service import Ledger
from tests.conftest import Clock
from verifiers.catalog import INDEX, format_index, read_index
from verifiers.cosignature import cosign, cosigner_vkey
from verifiers.errors import CodedError
from verifiers.note import split_note

MANAGER = Actor("manager-1", "catalog_manager", "000.00.00.H00")
FINANCE = Actor("clerk-btc", "agency", "000.00.00.G04")
PLANNING = Actor("clerk-bkhdt", "agency", "000.00.00.G03")  # merged into Finance in 2025


def _settings(base: Settings, tmp: Path, name: str) -> Settings:
    database = base.database
    if database.kind == "sqlite":
        database = Database(kind="sqlite", path=tmp / f"{name}.sqlite3")
    else:
        database = replace(database, schema=f"{database.schema}_{name}")
    return replace(base, data_dir=tmp / name, database=database, origin=f"{name}.test/log",
                   tiles=tmp / name / "tiles")


@pytest.fixture
def nodes(settings: Settings, tmp_path: Path, clock: Clock) -> Any:
    opened: list[Ledger] = []

    def node(name: str, **changes: Any) -> Ledger:
        ledger = Ledger(replace(_settings(settings, tmp_path, name), **changes), clock=clock)
        opened.append(ledger)
        return ledger

    yield node
    for ledger in opened:
        ledger.close()
    if settings.database.kind == "postgres":
        import psycopg
        with psycopg.connect(settings.database.conninfo(), autocommit=True) as conn:
            for ledger in opened:
                conn.execute(f'DROP SCHEMA IF EXISTS "{ledger.settings.database.schema}" CASCADE')


def publish(centre: Ledger, name: str, entries: list[dict[str, Any]]) -> None:
    centre.catalogs.publish(MANAGER, name, entries)
    centre.log.sync(anchor=False)
    assert centre.catalogs.publish_index(force=True) is not None


def seeded(centre: Ledger) -> None:
    for name, entries in seed().items():
        centre.catalogs.publish(MANAGER, name, entries)
    centre.log.sync(anchor=False)
    assert centre.catalogs.publish_index() is not None


def trust_of(centre: Ledger) -> CatalogTrust:
    keys = centre.catalogs.signing_keys()
    return CatalogTrust(centre.key.verifier, tuple(k.verifier for k in keys))


def sync(consumer: Ledger, centre: Ledger, source: Path | None = None) -> dict[str, Any]:
    return consumer.catalogs.sync(str(source or centre.settings.tiles_dir), trust_of(centre))


def refused(consumer: Ledger, centre: Ledger, code: str, source: Path | None = None) -> None:
    before = consumer.catalogs.status()["versions"]
    with pytest.raises(CodedError) as caught:
        sync(consumer, centre, source)
    assert caught.value.code == code, caught.value.diagnostics()
    status = consumer.catalogs.status()
    assert status["last_refused"]["code"] == code
    assert status["versions"] == before  # nothing taken


def register(ledger: Ledger, actor: Actor, number: int, *, issued: str = "2026-01-05",
             doc_type: str = "Quyết định", schedule: str = "TH.04", retention: Any = 10
             ) -> dict[str, Any]:
    data = f"document {actor.agency} {number}".encode()
    digest = ledger.records.put_content(data, agency=actor.agency)
    written = ledger.records.do(actor, "record.create", metadata={
        "doc_type": doc_type, "number": str(number), "notation": f"{number}/QĐ-X",
        "issued": issued, "issuer": actor.agency, "subject": f"Catalog test {number}",
        "language": "vi", "pages": 1, "access": "open", "reliability": "born_digital"},
        retention=retention, schedule=schedule,
        content={"digest": digest, "size": len(data), "media_type": "text/plain"})
    return dict(json.loads(written[0].canonical))


def code_of(call: Any) -> str:
    with pytest.raises(CodedError) as caught:
        call()
    return caught.value.code


def test_a_consumer_syncs_proven_versions_and_checks_records_against_them(nodes: Any) -> None:
    centre, north = nodes("centre"), nodes("north")
    seeded(centre)
    taken = sync(north, centre)
    assert taken["taken"] == {"access_levels": 1, "agencies": 1, "doc_types": 1, "fonds": 1,
                              "retention": 1}
    north.log.sync(anchor=False)
    # each version taken is a catalog.synced event naming the centre's checkpoint
    assert north.log.size() == 5
    event = register(north, FINANCE, 1)
    assert event["data"]["used_catalogs"] == {"access_levels": 1, "agencies": 1,
                                              "doc_types": 1, "retention": 1}
    assert code_of(lambda: register(north, FINANCE, 2, schedule="TH.99")) == \
        "catalog_code_unknown"
    assert code_of(lambda: register(north, FINANCE, 3, retention=20)) == \
        "catalog_retention_mismatch"
    assert code_of(lambda: register(north, FINANCE, 4, doc_type="Thư điện tử")) == \
        "catalog_code_unknown"
    # a second sync with nothing new takes nothing and logs nothing
    assert sync(north, centre)["taken"] == {}
    north.log.sync(anchor=False)
    assert north.log.size() == 6  # the five synced events and the record


def test_a_merged_agency_keeps_its_old_records_and_new_ones_need_the_successor(
        nodes: Any) -> None:
    centre, north = nodes("centre"), nodes("north")
    seeded(centre)
    agencies = seed()["agencies"]
    before = [dict(a, valid_to=None, successor=None) if a["code"] == PLANNING.agency else a
              for a in agencies]
    publish(centre, "agencies", before)  # version 2: Planning still in force
    sync(north, centre)
    old = register(north, PLANNING, 1, issued="2025-06-01")
    assert old["data"]["used_catalogs"]["agencies"] == 2
    publish(centre, "agencies", agencies)  # version 3: merged into Finance on 1 March 2025
    assert sync(north, centre)["taken"] == {"agencies": 3}
    with pytest.raises(CodedError) as caught:
        register(north, PLANNING, 2, issued="2025-06-01")
    assert caught.value.code == "catalog_code_expired"
    assert caught.value.evidence["successor"] == FINANCE.agency
    assert caught.value.evidence["version"] == 3
    assert register(north, PLANNING, 3, issued="2025-02-01")["data"]["used_catalogs"][
        "agencies"] == 3  # issued before the merge: still Planning's
    assert register(north, FINANCE, 4, issued="2025-06-01")
    # an auditor re-checks the old record against the version it names
    snapshot = north.catalogs.snapshot("agencies", version=2)
    version = Version("agencies", 2, snapshot["digest"], tuple(snapshot["entries"]))
    CatalogSet({"agencies": version}).check_record(old["data"]["metadata"], 10, "TH.04")
    history = north.catalogs.code("agencies", PLANNING.agency)["history"]
    assert [h["version"] for h in history] == [2, 3]  # north holds what it synced


def test_rollback_to_an_old_index_is_refused(nodes: Any, tmp_path: Path) -> None:
    centre, north = nodes("centre"), nodes("north")
    seeded(centre)
    old = tmp_path / "old-publication"
    shutil.copytree(centre.settings.tiles_dir, old)
    publish(centre, "doc_types", seed()["doc_types"][:-1])
    sync(north, centre)
    refused(north, centre, "catalog_rollback", old)


def test_a_frozen_index_is_refused_and_the_node_goes_stale(nodes: Any, clock: Clock) -> None:
    centre, north = nodes("centre"), nodes("north")
    seeded(centre)
    sync(north, centre)
    clock.advance(hours=25)  # the index lived 24 hours; the centre has not re-signed it
    refused(north, centre, "catalog_index_expired")
    status = north.catalogs.status()
    assert status["expired"] and not status["stale"]  # within the grace: writes go on
    register(north, FINANCE, 1)
    clock.advance(hours=24)
    assert north.catalogs.status()["stale"]
    assert code_of(lambda: register(north, FINANCE, 2)) == "catalog_stale"
    assert centre.catalogs.publish_index() is not None  # the centre re-signs: due
    sync(north, centre)
    assert not north.catalogs.status()["stale"]
    register(north, FINANCE, 3)


def test_a_node_that_syncs_from_a_centre_registers_nothing_before_its_first_sync(
        nodes: Any) -> None:
    centre = nodes("centre")
    north = nodes("north", catalog_from=str(centre.settings.tiles_dir))
    seeded(centre)
    assert code_of(lambda: register(north, FINANCE, 1)) == "catalog_stale"
    north.catalogs.sync(trust=trust_of(centre))  # from STELE_CATALOG_FROM
    assert register(north, FINANCE, 2)["data"]["used_catalogs"]["agencies"] == 1


def test_a_snapshot_that_differs_from_the_index_is_refused(nodes: Any) -> None:
    centre, north = nodes("centre"), nodes("north")
    seeded(centre)
    path = centre.settings.tiles_dir / "catalogs" / "agencies" / "1.json"
    path.write_bytes(path.read_bytes().replace("Bộ Tài chính".encode(), b"Bo Tai chinh"))
    refused(north, centre, "catalog_digest_mismatch")


def test_an_index_signed_by_an_unknown_key_is_refused(nodes: Any) -> None:
    centre, north, stranger = nodes("centre"), nodes("north"), nodes("stranger")
    seeded(centre)
    index = centre.settings.tiles_dir / INDEX
    text = format_index(read_index(index.read_bytes()))
    index.write_text(sign_all(text, stranger.catalogs.signing_keys(create=True)))
    refused(north, centre, "catalog_index_untrusted")


def test_an_index_naming_an_unlogged_version_or_an_uncovered_size_is_refused(
        nodes: Any) -> None:
    """Even the centre's own catalog key cannot vouch for what its log does not hold."""
    centre, north = nodes("centre"), nodes("north")
    seeded(centre)
    path = centre.settings.tiles_dir / INDEX
    index = read_index(path.read_bytes())
    wrong = tuple(replace(e, leaf=(e.leaf + 1) % index.size) for e in index.entries)
    path.write_text(sign_all(format_index(replace(index, entries=wrong)),
                             centre.catalogs.signing_keys()))
    refused(north, centre, "catalog_not_logged")
    path.write_text(sign_all(format_index(replace(index, size=index.size + 5)),
                             centre.catalogs.signing_keys()))
    refused(north, centre, "catalog_checkpoint_behind")
    path.write_text("stele.catalogs/v1\nnot an index\n\n— x AAAA\n")
    refused(north, centre, "catalog_index_malformed")


def test_a_centre_showing_two_histories_is_caught_by_its_checkpoints(nodes: Any,
                                                                     tmp_path: Path) -> None:
    """A fork: the same origin and log key, another history. A consumer that synced from one
    refuses the other, whose checkpoint does not extend the one it holds."""
    centre = nodes("centre")
    seeded(centre)
    forked = tmp_path / "fork"  # where nodes("fork") keeps its data: the centre's keys
    forked.mkdir()
    shutil.copy2(centre.settings.data_dir / "checkpoint-key.pem", forked)
    shutil.copytree(centre.settings.data_dir / "catalog-keys", forked / "catalog-keys")
    fork = nodes("fork", origin=centre.settings.origin)
    for name, entries in reversed(list(seed().items())):  # another order: another log
        fork.catalogs.publish(MANAGER, name, entries)
    fork.log.sync(anchor=False)
    fork.catalogs.publish_index()
    north, south = nodes("north"), nodes("south")
    sync(north, centre)
    sync(south, fork, fork.settings.tiles_dir)  # each alone looks fine
    publish(centre, "doc_types", seed()["doc_types"][:-1])
    refused(north, centre, "catalog_log_inconsistent", fork.settings.tiles_dir)
    sync(north, centre)  # the real centre still extends what north holds


def test_a_centre_checkpoint_needs_the_quorum_the_trust_file_names(nodes: Any, clock: Clock,
                                                                  tmp_path: Path) -> None:
    """A trust file may name the centre's witnesses and quorum (tlog-policy lines): then a
    checkpoint the quorum did not cosign is refused, and one it did is taken."""
    centre, north = nodes("centre"), nodes("north")
    seeded(centre)
    witness = Ed25519PrivateKey.generate()
    public = witness.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    trust = tmp_path / "trust.txt"
    trust.write_text(trust_of(centre).text() + f"witness w1 {cosigner_vkey('w1', public)}\n"
                     "quorum w1\n")
    pinned = CatalogTrust.load(trust)
    tiles = str(centre.settings.tiles_dir)
    with pytest.raises(CodedError) as caught:
        north.catalogs.sync(tiles, pinned)
    assert caught.value.code == "quorum_not_met"
    checkpoint = centre.settings.tiles_dir / "checkpoint"
    note = checkpoint.read_text()
    checkpoint.write_text(note + cosign(split_note(note)[0], "w1", witness,
                                        int(clock().timestamp())))
    assert north.catalogs.sync(tiles, pinned)["taken"]["agencies"] == 1


def test_the_centre_rotates_its_catalog_key(nodes: Any) -> None:
    centre, north = nodes("centre"), nodes("north")
    seeded(centre)
    pinned = trust_of(centre)  # what north was given out of band: the first key only
    north.catalogs.sync(str(centre.settings.tiles_dir), pinned)
    old = centre.catalogs.signing_keys()[0]
    new = centre.catalogs.add_key()
    publish(centre, "doc_types", seed()["doc_types"][:-1])  # signed by both keys
    assert read_index((centre.settings.tiles_dir / INDEX).read_bytes()).keys == (
        old.verifier, new.verifier)
    north.catalogs.sync(str(centre.settings.tiles_dir), pinned)  # learns the new key
    centre.catalogs.retire_key(old.verifier)
    publish(centre, "doc_types", seed()["doc_types"])  # signed by the new key alone
    assert north.catalogs.sync(str(centre.settings.tiles_dir), pinned)["taken"] == {
        "doc_types": 3}
    # the retired key no longer vouches: an index it signs alone is refused
    path = centre.settings.tiles_dir / INDEX
    index = read_index(path.read_bytes())
    path.write_text(sign_all(format_index(index), [old]))
    with pytest.raises(CodedError) as caught:
        north.catalogs.sync(str(centre.settings.tiles_dir), pinned)
    assert caught.value.code == "catalog_index_untrusted"
    # an index that names a key which did not sign it does not rotate anything
    stranger = nodes("stranger").catalogs.signing_keys(create=True)[0]
    path.write_text(sign_all(format_index(replace(index, keys=(*index.keys,
                                                               stranger.verifier))), [new]))
    with pytest.raises(CodedError) as caught:
        north.catalogs.sync(str(centre.settings.tiles_dir), pinned)
    assert caught.value.code == "catalog_key_rotation_unsigned"


def test_lookups_by_version_and_time(nodes: Any, clock: Clock) -> None:
    centre = nodes("centre")
    seeded(centre)
    first_day = clock().date().isoformat()
    clock.advance(days=2)
    publish(centre, "doc_types", seed()["doc_types"][:-1])
    assert centre.catalogs.snapshot("doc_types")["version"] == 2
    assert centre.catalogs.snapshot("doc_types", at=first_day)["version"] == 1
    assert len(centre.catalogs.snapshot("doc_types", version=1)["entries"]) == 29
    assert code_of(lambda: centre.catalogs.snapshot("doc_types", version=9)) == \
        "catalog_not_found"
    assert code_of(lambda: centre.catalogs.code("doc_types", "99")) == "catalog_not_found"
    assert code_of(lambda: centre.catalogs.publish(MANAGER, "doc_types",
                                                   seed()["doc_types"][:-1])) == \
        "catalog_unchanged"
    assert code_of(lambda: centre.catalogs.publish(FINANCE, "doc_types", seed()["doc_types"])) \
        == "catalog_manager_only"
    north = nodes("north")
    sync(north, centre)
    assert code_of(lambda: north.catalogs.publish(MANAGER, "fonds", seed()["fonds"])) == \
        "not_catalog_centre"  # a consumer publishes nothing of its own
    # the stored snapshot is the canonical bytes the digest names
    name, version, entries = parse_snapshot(
        (centre.settings.tiles_dir / "catalogs" / "doc_types" / "2.json").read_bytes())
    assert (name, version, len(entries)) == ("doc_types", 2, 28)
