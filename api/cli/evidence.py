"""`stele evidence`: export a record's evidence bundle (docs/evidence-bundle.md)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from api.cli.common import StoreOptions, open_ledger, store_options


@click.command()
@click.argument("record_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), required=True,
              help="Where to write the bundle (a ZIP).")
@click.option("--with-content", is_flag=True, help="Include the document itself.")
@store_options
def evidence(store: StoreOptions, record_id: str, output: str, with_content: bool) -> None:
    """Export RECORD_ID's evidence bundle: events, inclusion proofs, signed checkpoints,
    timestamps and evidence records, signatures and their validation data, trust anchors."""
    from ledger.bundle import export

    with open_ledger(store) as ledger:
        ledger.log.sync()  # every event integrated, under a checkpoint, anchored
        data = export(ledger, record_id, with_content=with_content)
    target = Path(output)
    partial = target.with_name(target.name + ".partial")
    partial.write_bytes(data)  # never a half-written bundle under the real name
    partial.replace(target)
    click.echo(json.dumps({"bundle": str(target), "bytes": len(data)}))
