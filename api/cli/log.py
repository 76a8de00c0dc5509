"""`stele audit`, `stele log ...` and `stele renew`: the Merkle log, its proofs and its
long-term evidence."""

from __future__ import annotations

import sys
from typing import Any

import click

from api.cli.common import StoreOptions, emit, open_ledger, progress_bar, store_options
from api.cli.exits import exit_for
from ledger.service import Ledger
from verifiers.canonical import b64


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@click.option("--from-checkpoint", "saved", type=click.File("r", encoding="utf-8"),
              default=None, help="A checkpoint note saved earlier: prove today's log extends it.")
@store_options
def audit(store: StoreOptions, as_json: bool, saved: Any) -> None:
    """Replay the whole store and re-prove every hash, link, node, checkpoint, signature and
    evidence record; with --from-checkpoint, detect a split view."""
    with open_ledger(store) as ledger:
        ledger.log.integrate()
        with progress_bar(ledger.log.size(), "auditing") as bar:
            report = ledger.log.audit(progress=bar.update,
                                      saved_checkpoint=saved.read() if saved else None)
    if as_json:
        emit(report.as_json())
    else:
        for check in report.checks:
            click.echo(check.line())
        s = report.summary
        click.echo(f"{report.bottom_line.value}: {s['leaves']} leaves, {s['records']} records, "
                   f"{s['checkpoints']} checkpoints in {s['seconds']} s")
    sys.exit(exit_for(report.bottom_line))


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
@store_options
def log_prove(store: StoreOptions, index: int, size: int | None) -> None:
    """Inclusion proof: {"index", "tree_size", "leaf_hash", "proof": [base64]}."""
    with open_ledger(store) as ledger:
        emit(ledger.log.prove_inclusion(index, size or _latest_size(ledger)))


@log.command("consistency")
@click.option("--first", type=click.IntRange(0), required=True)
@click.option("--second", type=click.IntRange(0), required=True)
@store_options
def log_consistency(store: StoreOptions, first: int, second: int) -> None:
    """Consistency proof: {"first", "second", "proof": [base64]}."""
    with open_ledger(store) as ledger:
        emit(ledger.log.prove_consistency(first, second))


@log.command("status")
@store_options
def log_status(store: StoreOptions) -> None:
    """Size, latest checkpoint and integration backlog, as JSON."""
    with open_ledger(store) as ledger:
        emit(ledger.log.status())


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
