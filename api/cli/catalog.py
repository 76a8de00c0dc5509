"""`stele catalog`: the shared catalogs. On the centre: publish versions (a catalog manager's
events), the publication beside the tiles, the catalog keys and their rotation, the trust file
consumers pin. On a consumer: sync from the centre, and the status of what it holds. On any
node: list, show a version, a code's history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from api.cli.common import StoreOptions, actor_options, emit, open_ledger, store_options
from domain.catalog import NAMES
from domain.envelope import Actor
from ledger.catalog.files import load_entries, seed
from ledger.catalog.service import CatalogTrust
from ledger.service import Ledger


@click.group()
def catalog() -> None:
    """Shared catalogs: publish, seed, index, key, trust; sync, status; list, show, code."""


def _published(ledger: Ledger) -> dict[str, Any]:
    """Integrate and publish what was written, then the index beside the tiles."""
    ledger.log.sync(anchor=False)
    index = ledger.catalogs.publish_index()
    return {"index": None if index is None else {
        "size": index.size, "expires": index.expires.isoformat(),
        "versions": {e.catalog: e.version for e in index.entries}}}


@catalog.command("publish")
@click.argument("name", type=click.Choice(NAMES))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@actor_options(role="catalog_manager")
@store_options
def catalog_publish(store: StoreOptions, actor: Actor, name: str, file: Path) -> None:
    """Publish FILE (CSV or JSON, the whole catalog) as NAME's next version."""
    with open_ledger(store) as ledger:
        written = ledger.catalogs.publish(actor, name, load_entries(file))
        emit({"catalog": name, "version": written[0].version,
              "digest": written[0].as_json()["event"]["data"]["digest"], **_published(ledger)})


@catalog.command("seed")
@actor_options(role="catalog_manager")
@store_options
def catalog_seed(store: StoreOptions, actor: Actor) -> None:
    """Publish the starting set shipped with Stele (each catalog not yet published)."""
    with open_ledger(store) as ledger:
        held = {c["catalog"] for c in ledger.catalogs.list()}
        published = {}
        for name, entries in seed().items():
            if name not in held:
                published[name] = ledger.catalogs.publish(actor, name, entries)[0].version
        emit({"published": published, **_published(ledger)})


@catalog.command("index")
@click.option("--force", is_flag=True, help="Re-sign even if the index is not due.")
@store_options
def catalog_index(store: StoreOptions, force: bool) -> None:
    """Write the publication beside the tiles (the worker of `stele serve` does it too)."""
    with open_ledger(store) as ledger:
        ledger.log.sync(anchor=False)
        index = ledger.catalogs.publish_index(force=force)
        emit({"published": index is not None,
              "status": None if index is None else {
                  "size": index.size, "issued": index.issued.isoformat(),
                  "expires": index.expires.isoformat(), "keys": list(index.keys)}})


@catalog.command("key")
@click.option("--add", is_flag=True, help="Rotation, step one: add a new catalog key.")
@click.option("--retire", metavar="VKEY", help="Rotation, step two: stop signing with VKEY.")
@store_options
def catalog_key(store: StoreOptions, add: bool, retire: str | None) -> None:
    """The centre's catalog keys in force (their verifier keys)."""
    with open_ledger(store) as ledger:
        if add:
            ledger.catalogs.add_key()
        if retire:
            ledger.catalogs.retire_key(retire)
        emit({"keys": [k.verifier for k in ledger.catalogs.signing_keys(create=True)]})


@catalog.command("trust")
@store_options
def catalog_trust(store: StoreOptions) -> None:
    """Print the trust file a consumer pins (STELE_CATALOG_TRUST): the centre's log key and
    its catalog keys. Hand it over out of band."""
    with open_ledger(store) as ledger:
        trust = CatalogTrust(ledger.key.verifier,
                             tuple(k.verifier for k in ledger.catalogs.signing_keys(create=True)))
        click.echo(trust.text(), nl=False)


@catalog.command("sync")
@click.option("--from", "source", metavar="URL|DIR",
              help="The centre's tiles (default $STELE_CATALOG_FROM).")
@click.option("--trust", "trust_file", type=click.Path(exists=True, dir_okay=False,
                                                        path_type=Path),
              help="The trust file (default $STELE_CATALOG_TRUST).")
@store_options
def catalog_sync(store: StoreOptions, source: str | None, trust_file: Path | None) -> None:
    """Take the centre's new versions, each proven against the pinned keys (a refusal exits
    1 with its code, and changes nothing)."""
    with open_ledger(store) as ledger:
        trust = CatalogTrust.load(trust_file) if trust_file else None
        taken = ledger.catalogs.sync(source, trust)
        ledger.log.sync(anchor=False)
        emit(taken)


@catalog.command("status")
@store_options
def catalog_status(store: StoreOptions) -> None:
    """What this node holds, the index it rests on, whether it is stale, the last refusal."""
    with open_ledger(store) as ledger:
        emit(ledger.catalogs.status())


@catalog.command("list")
@store_options
def catalog_list(store: StoreOptions) -> None:
    """The catalogs held, each at its latest version."""
    with open_ledger(store) as ledger:
        emit({"catalogs": ledger.catalogs.list()})


@catalog.command("show")
@click.argument("name", type=click.Choice(NAMES))
@click.option("--version", type=int, help="That version (default: the latest).")
@click.option("--at", help="The version in force at a date or time.")
@store_options
def catalog_show(store: StoreOptions, name: str, version: int | None, at: str | None) -> None:
    """One version of a catalog, whole."""
    with open_ledger(store) as ledger:
        emit(ledger.catalogs.snapshot(name, version=version, at=at))


@catalog.command("code")
@click.argument("name", type=click.Choice(NAMES))
@click.argument("code")
@store_options
def catalog_code(store: StoreOptions, name: str, code: str) -> None:
    """One code's history across the versions held."""
    with open_ledger(store) as ledger:
        emit(ledger.catalogs.code(name, code))

