"""`stele audit`, `stele log ...` and `stele renew`: the Merkle log, its proofs and its
long-term evidence."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from api.cli.common import StoreOptions, emit, open_ledger, progress_bar, store_options
from api.cli.exits import exit_for
from ledger.service import Ledger
from verifiers.canonical import b64
from verifiers.errors import VerificationError
from verifiers.report import Report
from verifiers.tiles import Fetch, tiles_for


def tile_source(source: str) -> Fetch:
    """A tiles directory, or the base URL a web server publishes one at."""
    from verifiers.tiles import directory_fetch, http_fetch

    if source.startswith(("http://", "https://")):
        return http_fetch(source.rstrip("/") + "/")
    if not Path(source, "checkpoint").is_file():
        raise click.BadParameter(f"{source} holds no checkpoint (a tiles directory or URL)",
                                 param_hint="--tiles")
    return directory_fetch(source)


def _pinned_reader(source: str, key: str) -> Any:
    from verifiers.tiles import TileReader

    return TileReader(tile_source(source), key)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@click.option("--from-checkpoint", "saved", type=click.File("r", encoding="utf-8"),
              default=None, help="A checkpoint note saved earlier: prove today's log extends it.")
@click.option("--tiles", "tiles", default=None, metavar="DIR|URL",
              help="Audit the published tiles alone, with no database (needs --key).")
@click.option("--key", "key", default=None, metavar="VKEY",
              help="With --tiles: the log's verifier key, pinned (`stele log key`).")
@store_options
def audit(store: StoreOptions, as_json: bool, saved: Any, tiles: str | None,
          key: str | None) -> None:
    """Replay the whole store and re-prove every hash, link, node, checkpoint, signature and
    evidence record; with --from-checkpoint, detect a split view. With --tiles, re-prove a
    published tiled log from its files alone: every entry, every tile of every level, the
    signed checkpoint, each record's chain."""
    saved_note = saved.read() if saved else None
    if tiles is not None:
        report = _audit_tiles(tiles, key, saved_note)
    else:
        with open_ledger(store) as ledger:
            ledger.log.integrate()
            with progress_bar(ledger.log.size(), "auditing") as bar:
                report = ledger.log.audit(progress=bar.update, saved_checkpoint=saved_note)
    if as_json:
        emit(report.as_json())
    else:
        for check in report.checks:
            click.echo(check.line())
        click.echo(_bottom_line(report))
    sys.exit(exit_for(report.bottom_line))


def _audit_tiles(source: str, key: str | None, saved: str | None) -> Report:
    from verifiers.tiles import audit_tiles

    if key is None:
        raise click.UsageError("--tiles needs --key: a log is audited only against its pinned "
                               "verifier key")
    fetch = tile_source(source)
    try:
        size = int(fetch("checkpoint").decode("utf-8").split("\n")[1])
    except (VerificationError, UnicodeDecodeError, IndexError, ValueError):
        size = 0  # the audit names what is wrong with it
    with progress_bar(size, "auditing tiles") as bar:
        return audit_tiles(fetch, key, from_checkpoint=saved, progress=bar.update)


def _bottom_line(report: Report) -> str:
    s = report.summary
    parts = [f"{s[k]} {k}" for k in ("leaves", "entries", "records", "checkpoints", "tiles")
             if k in s]
    return f"{report.bottom_line.value}: {', '.join(parts)} in {s.get('seconds', '?')} s"


def tiles_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--key", "key", default=None, metavar="VKEY",
                      help="With --tiles: the log's verifier key, pinned.")(fn)
    return click.option("--tiles", "tiles", default=None, metavar="DIR|URL",
                        help="Build the proof from published tiles, without the database.")(fn)


def _key_for(key: str | None) -> str:
    if key is None:
        raise click.UsageError("--tiles needs --key: tiles are read only against the log's "
                               "pinned verifier key")
    return key


@click.group()
def log() -> None:
    """The Merkle log: key, checkpoints, leaves and proofs."""


@log.command("key")
@store_options
def log_key(store: StoreOptions) -> None:
    """The checkpoint verifier key: <name>+<key id>+<base64(0x01 || Ed25519 key)>."""
    with open_ledger(store) as ledger:
        click.echo(ledger.key.verifier)


@log.command("checkpoint")
@click.option("--size", type=click.IntRange(1), default=None,
              help="The checkpoint of this tree size (default: the latest).")
@store_options
def log_checkpoint(store: StoreOptions, size: int | None) -> None:
    """The signed checkpoint note, byte for byte as signed."""
    with open_ledger(store) as ledger:
        if size is None:
            ledger.log.integrate()
            ledger.log.checkpoint()
        sys.stdout.write(ledger.log.checkpoint_at(size).note)


@log.command("leaves")
@click.option("--start", type=click.IntRange(0), required=True)
@click.option("--end", type=click.IntRange(0), required=True, help="Exclusive.")
@store_options
def log_leaves(store: StoreOptions, start: int, end: int) -> None:
    """JSON lines {"index": i, "leaf": base64(leaf bytes)} for start <= i < end."""
    with open_ledger(store) as ledger:
        for index, leaf in ledger.log.leaves(start, end):
            emit({"index": index, "leaf": b64(leaf)})


@log.command("prove")
@click.option("--index", type=click.IntRange(0), required=True)
@click.option("--size", type=click.IntRange(1), default=None,
              help="Default: the latest checkpoint.")
@tiles_options
@store_options
def log_prove(store: StoreOptions, index: int, size: int | None, tiles: str | None,
              key: str | None) -> None:
    """Inclusion proof: {"index", "tree_size", "leaf_hash", "proof": [base64]}. With --tiles,
    built from the published tiles (each checked against the signed root), no database."""
    if tiles is not None:
        reader = _pinned_reader(tiles, _key_for(key))
        size = size or reader.size
        emit({"index": index, "tree_size": size, "leaf_hash": b64(reader.leaf_hash(index)),
              "proof": [b64(p) for p in reader.inclusion_proof(index, size)]})
        return
    with open_ledger(store) as ledger:
        emit(ledger.log.prove_inclusion(index, size or _latest_size(ledger)))


@log.command("consistency")
@click.option("--first", type=click.IntRange(0), required=True)
@click.option("--second", type=click.IntRange(0), required=True)
@tiles_options
@store_options
def log_consistency(store: StoreOptions, first: int, second: int, tiles: str | None,
                    key: str | None) -> None:
    """Consistency proof: {"first", "second", "proof": [base64]}; with --tiles, from the
    published tiles."""
    if tiles is not None:
        reader = _pinned_reader(tiles, _key_for(key))
        emit({"first": first, "second": second,
              "proof": [b64(p) for p in reader.consistency_proof(first, second)]})
        return
    with open_ledger(store) as ledger:
        emit(ledger.log.prove_consistency(first, second))


@log.command("tiles")
@click.option("--rebuild", is_flag=True,
              help="Regenerate every tile from the store, checking those present against it.")
@store_options
def log_tiles(store: StoreOptions, rebuild: bool) -> None:
    """Publish the latest checkpoint as C2SP tlog-tiles in the tiles directory
    ($STELE_TILES_DIR, default <data dir>/tiles); the worker does this as it cuts
    checkpoints. --rebuild exits 1 if a file differed from the store (it is rewritten)."""
    with open_ledger(store) as ledger:
        if not rebuild:
            written = ledger.log.publish()
            emit({"directory": str(ledger.settings.tiles_dir), "written": written,
                  "size": ledger.log.checkpoint_at().size})
            return
        count = len(tiles_for(ledger.log.checkpoint_at().size)) * 2
        with progress_bar(count, "rebuilding tiles") as bar:
            done = ledger.log.rebuild_tiles(bar.update)
    emit({"directory": str(ledger.settings.tiles_dir), "size": done.size,
          "files": done.files, "written": done.written, "mismatched": done.mismatched,
          "stale_partials_removed": done.stale})
    sys.exit(1 if done.mismatched else 0)


@log.command("status")
@store_options
def log_status(store: StoreOptions) -> None:
    """Size, latest checkpoint, integration backlog and the shared catalogs held (stale or
    not), as JSON."""
    with open_ledger(store) as ledger:
        emit({**ledger.log.status(), "catalogs": ledger.catalogs.status()})


@log.command("timestamp")
@click.option("--size", type=click.IntRange(1), required=True)
@click.option("--tsa", default=None, help="Which TSA's token (default: the first).")
@click.option("-o", "--output", type=click.File("wb"), default="-", show_default=True)
@store_options
def log_timestamp(store: StoreOptions, size: int, tsa: str | None, output: Any) -> None:
    """The DER RFC 3161 token of checkpoint SIZE (checks: openssl ts -verify -data NOTE)."""
    output.write(_anchored(store, size, tsa)[0])


@log.command("evidence-record")
@click.option("--size", type=click.IntRange(1), required=True)
@click.option("--tsa", default=None, help="Which TSA's record (default: the first).")
@click.option("-o", "--output", type=click.File("wb"), default="-", show_default=True)
@store_options
def log_evidence_record(store: StoreOptions, size: int, tsa: str | None, output: Any) -> None:
    """The RFC 4998 evidence record (DER) of checkpoint SIZE; its data object is the note."""
    output.write(_anchored(store, size, tsa)[1])


def _anchored(store: StoreOptions, size: int, tsa: str | None) -> tuple[bytes, bytes]:
    with open_ledger(store) as ledger:
        return ledger.longterm.anchored(size, tsa)


def _latest_size(ledger: Ledger) -> int:
    cp = ledger.checkpointer.latest()
    return cp.size if cp is not None else ledger.log.size()


@click.command()
@click.option("--reason", default="scheduled renewal", show_default=True)
@click.option("--hash-tree", "algorithm", type=click.Choice(["sha256", "sha512", "sha3_512"]),
              default=None, help="Hash-tree renewal to this algorithm (else timestamp renewal).")
@store_options
def renew(store: StoreOptions, reason: str, algorithm: str | None) -> None:
    """Renew every checkpoint's evidence record (RFC 4998 §5.2) with one new timestamp."""
    from ledger.longterm.renewal import renew as renew_all

    with open_ledger(store) as ledger:
        ledger.log.sync()
        done = renew_all(ledger.longterm.anchorer, reason=reason, algorithm=algorithm)
        ledger.log.sync(anchor=False)
    emit({"kind": done.kind, "algorithm": done.algorithm, "records": done.records,
          "tsa": done.tsa, "gen_time": done.gen_time})
