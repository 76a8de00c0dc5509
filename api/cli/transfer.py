"""`stele transfer ...`: send records to another archive's node in a package that carries their
proofs, receive one, and record the receiver's signed answer (docs/transfers.md)."""

from __future__ import annotations

import json
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click

from api.cli.common import (
    StoreOptions,
    actor_options,
    emit,
    open_ledger,
    progress_bar,
    store_options,
)
from domain.envelope import Actor
from ledger.errors import TransferRejectedError


@click.group()
def transfer() -> None:
    """Transfers between archives: initiate, export, receive, record the receipt, show."""


@transfer.command("initiate")
@click.argument("transfer_id")
@click.option("--destination", required=True, help="The receiving agency's 13-character code.")
@click.option("--destination-kind", required=True,
              type=click.Choice(["agency_archive", "historical_archive"]))
@click.option("--destination-log", required=True,
              help="The receiving node's log origin (one of STELE_PEER_LOGS).")
@click.option("--registration", required=True, help="The transfer's registration code.")
@click.option("--dossier", "dossiers", multiple=True,
              help="Code of a closed dossier to transfer with its records (repeat).")
@click.option("--record", "records", multiple=True, help="A single record's id (repeat).")
@click.option("--legal-basis", default=None,
              help='JSON {"number", "code", "date"} of the authorising decision.')
@actor_options
@store_options
def initiate(store: StoreOptions, actor: Actor, transfer_id: str, destination: str,
             destination_kind: str, destination_log: str, registration: str,
             dossiers: tuple[str, ...], records: tuple[str, ...],
             legal_basis: str | None) -> None:
    """Build and freeze TRANSFER_ID's package, and log `transfer_initiated` on every record
    with its digest. Integrates and anchors the log first, so every event is provable."""
    basis = None
    if legal_basis is not None:
        try:
            basis = json.loads(legal_basis)
        except ValueError:
            raise click.BadParameter("not JSON", param_hint="--legal-basis") from None
    with open_ledger(store) as ledger:
        ledger.log.sync()
        done = ledger.transfers.initiate(
            actor, transfer=transfer_id, destination=destination,
            destination_kind=destination_kind, destination_log=destination_log,
            registration=registration, dossiers=list(dossiers), records=list(records),
            legal_basis=basis)
        ledger.log.integrate()
        ledger.log.checkpoint()
    emit(done.as_json())


@transfer.command("export")
@click.argument("transfer_id")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="FILE.zip, or a directory (which must not exist or be empty).")
@click.option("--format", "format_", type=click.Choice(["eark", "bagit"]), default="eark",
              show_default=True, help="E-ARK SIP 2.1, or the same package bagged (RFC 8493).")
@store_options
def export(store: StoreOptions, transfer_id: str, output: Path, format_: str) -> None:
    """Write TRANSFER_ID's package: the same bytes every time."""
    with open_ledger(store) as ledger:
        listing = json.loads(ledger.transfers.listing(transfer_id))
        total = sum(f["size"] for f in listing["files"])
        with progress_bar(total, "exporting") as bar:
            digest = ledger.transfers.export(transfer_id, output, format=format_,
                                             as_zip=output.suffix.lower() == ".zip",
                                             progress=bar.update)
    emit({"transfer": transfer_id, "package_digest": digest, "output": str(output),
          "format": format_})


@transfer.command("receive")
@click.argument("package", type=click.Path(exists=True, path_type=Path))
@click.option("--from", "origin", required=True, help="The sending log's origin (a peer log).")
@click.option("-o", "--receipt", "receipt_file", type=click.Path(path_type=Path), default=None,
              help="Write the signed receipt (or rejection) here too.")
@actor_options(role="archivist")
@store_options
def receive(store: StoreOptions, actor: Actor, package: Path, origin: str,
            receipt_file: Path | None) -> None:
    """Check PACKAGE (a ZIP or a directory, E-ARK or BagIt), re-prove every record against
    the sending log's pinned key, register the records, and print the signed receipt. Exit 1
    with the signed rejection when a check fails (nothing is registered then)."""
    with open_ledger(store) as ledger, ExitStack() as stack:
        bar: list[Any] = []

        def progress(done: int, total: int) -> None:
            if not bar:
                bar.append(stack.enter_context(progress_bar(total, "re-proving records")))
            bar[0].update(1)

        try:
            note = ledger.transfers.receive(actor, package, origin, progress=progress)
        except TransferRejectedError as exc:
            if exc.receipt is not None:
                _save(receipt_file, exc.receipt)
                sys.stdout.write(exc.receipt)
            click.echo(f"rejected: {exc.diagnostics()}", err=True)
            sys.exit(1)
    _save(receipt_file, note)
    sys.stdout.write(note)


@transfer.command("receipt")
@click.argument("receipt_file", type=click.File("r", encoding="utf-8"))
@click.option("--transfer", "transfer_id", default=None,
              help="The transfer you mean: a receipt for another one is refused.")
@actor_options
@store_options
def receipt(store: StoreOptions, actor: Actor, receipt_file: Any,
            transfer_id: str | None) -> None:
    """Record the receiving node's signed answer: custody moves on a receipt, stays on a
    rejection."""
    with open_ledger(store) as ledger:
        emit(ledger.transfers.conclude(actor, receipt_file.read(), transfer=transfer_id))
        ledger.log.integrate()
        ledger.log.checkpoint()


@transfer.command("show")
@click.argument("transfer_id")
@actor_options
@store_options
def show(store: StoreOptions, actor: Actor, transfer_id: str) -> None:
    """A transfer this node sent: its package digest, counts, records and answer."""
    with open_ledger(store) as ledger:
        emit(ledger.transfers.status(actor, transfer_id))


def _save(path: Path | None, note: str) -> None:
    if path is not None:
        path.write_text(note, encoding="utf-8")
