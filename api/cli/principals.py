"""`stele principal ...`: who may call the API."""

from __future__ import annotations

import click

from api.cli.common import StoreOptions, emit, open_ledger, store_options
from ledger.access.principals import ROLES


@click.group()
def principal() -> None:
    """API principals: add (the token is printed once), list, revoke."""


@principal.command("add")
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--agency", required=True, help="13-character agency code.")
@store_options
def principal_add(store: StoreOptions, name: str, role: str, agency: str) -> None:
    """Print {"principal": {...}, "token": "stl_..."}; the token is not stored in clear."""
    with open_ledger(store) as ledger:
        created, token = ledger.principals.add(name=name, role=role, agency=agency)
    emit({"principal": created.as_json(), "token": token})


@principal.command("list")
@store_options
def principal_list(store: StoreOptions) -> None:
    """JSON lines, one per principal (never a token)."""
    with open_ledger(store) as ledger:
        for p in ledger.principals.list():
            emit(p.as_json())


@principal.command("revoke")
@click.argument("principal_id")
@store_options
def principal_revoke(store: StoreOptions, principal_id: str) -> None:
    """Revoke a principal: its token stops working at once."""
    with open_ledger(store) as ledger:
        emit(ledger.principals.revoke(principal_id).as_json())
