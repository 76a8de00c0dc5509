"""`stele trust`: the Government Cipher Committee's registry of trust anchors, and its review.

Writes (`add`, `suspend`, `reinstate`, `retire`) are events in the log, by a committee
principal (`--role committee` is the default here). Reads show what the committee reviews:
each anchor's history, how many signatures and timestamps rest on it, and what expires soon.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from api.cli.common import (
    StoreOptions,
    actor_options,
    emit,
    open_ledger,
    store_options,
    write_commands,
)
from domain.envelope import Actor
from ledger.records import Command
from ledger.service import Ledger

_SPAN = re.compile(r"^(\d+)\s*([dwmy])$")
_DAYS = {"d": 1, "w": 7, "m": 30, "y": 365}


def parse_span(text: str) -> timedelta:
    """`90d`, `8w`, `6m`, `2y` (a month is 30 days, a year 365)."""
    found = _SPAN.match(text.strip().lower())
    if not found:
        raise click.BadParameter("use a number and d, w, m or y, e.g. 2y", param_hint="--within")
    return timedelta(days=int(found[1]) * _DAYS[found[2]])


def resolve(ledger: Ledger, ref: str) -> str:
    """A full fingerprint from `sha-256:<hex>`, the hex, or a unique prefix of 8+ digits."""
    digits = ref.strip().lower().removeprefix("sha-256:")
    if len(digits) < 8 or not re.fullmatch(r"[0-9a-f]+", digits):
        raise click.BadParameter("give the fingerprint (sha-256:<hex>) or 8+ of its hex digits",
                                 param_hint="FINGERPRINT")
    found = [a.fingerprint for a in ledger.trust.anchors()
             if a.fingerprint.removeprefix("sha-256:").startswith(digits)]
    if len(found) != 1:
        raise click.BadParameter(f"{len(found)} anchors match {ref!r}", param_hint="FINGERPRINT")
    return found[0]


@click.group()
def trust() -> None:
    """The trust-anchor registry: add, suspend, reinstate, retire; list, show, expiring."""


@trust.command("add")
@click.argument("certificate", type=click.File("rb"))
@click.option("--pki", required=True, help="The PKI's name, e.g. NEAC or BCY.")
@click.option("--purpose", "purposes", required=True, multiple=True,
              type=click.Choice(["signing", "timestamping"]), help="Repeat for both.")
@click.option("--not-before", default=None, help="Vouches for what was made from this time "
              "(ISO 8601 with zone; default: the certificate's notBefore).")
@click.option("--not-after", default=None, help="... until this time (default: notAfter).")
@actor_options(role="committee")
@store_options
def trust_add(store: StoreOptions, actor: Actor, certificate: Any, pki: str,
              purposes: tuple[str, ...], not_before: str | None, not_after: str | None) -> None:
    """Register CERTIFICATE (PEM or DER file) as a trust anchor."""
    raw = certificate.read()
    text = raw.decode("ascii") if raw.lstrip().startswith(b"-----") else (
        base64.b64encode(raw).decode())
    params: dict[str, Any] = {"certificate": text, "pki": pki, "purposes": list(purposes)}
    if not_before:
        params["not_before"] = not_before
    if not_after:
        params["not_after"] = not_after
    write_commands(store, actor, [Command("trust.register", params)])


def _transition(action: str, help_text: str) -> click.Command:
    @click.argument("fingerprint")
    @click.option("--reason", required=True, help="Why: recorded in the log.")
    @actor_options(role="committee")
    @store_options
    def command(store: StoreOptions, actor: Actor, fingerprint: str, reason: str) -> None:
        with open_ledger(store) as ledger:
            anchor = resolve(ledger, fingerprint)
        write_commands(store, actor, [Command(action, {"anchor": anchor, "reason": reason})])

    command.__doc__ = help_text
    return click.command(action.split(".")[1])(command)


trust.add_command(_transition("trust.suspend", "Suspend an anchor: it vouches for nothing "
                              "until reinstated."))
trust.add_command(_transition("trust.reinstate", "Reinstate a suspended anchor."))
trust.add_command(_transition("trust.retire", "Retire an anchor for good; it still vouches "
                              "for what was made before."))


def _table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        click.echo("no trust anchors")
        return
    for a in rows:
        purposes = ",".join(a["purposes"])
        click.echo(f"{a['fingerprint']}  {a['pki']:<6} {purposes:<23} {a['status']:<9} "
                   f"{a['not_before'][:10]}..{a['not_after'][:10]}  {a['subject']}")


@trust.command("list")
@click.option("--purpose", type=click.Choice(["signing", "timestamping"]), default=None)
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
@store_options
def trust_list(store: StoreOptions, purpose: str | None, as_json: bool) -> None:
    """Every anchor ever registered (retired ones too), oldest first."""
    with open_ledger(store) as ledger:
        rows = [a.summary() for a in ledger.trust.anchors(purpose)]
    if as_json:
        for row in rows:
            emit(row)
    else:
        _table(rows)


@trust.command("show")
@click.argument("fingerprint")
@click.option("--json", "as_json", is_flag=True)
@store_options
def trust_show(store: StoreOptions, fingerprint: str, as_json: bool) -> None:
    """An anchor's state and history, and what depends on it: how many records, and how many
    signatures and timestamps, with the earliest and latest."""
    with open_ledger(store) as ledger:
        ledger.log.integrate()  # so that the dependants counted are up to date
        shown = ledger.trust.show(resolve(ledger, fingerprint))
    if as_json:
        emit(shown)
        return
    _table([shown])
    for item in shown["history"]:
        reason = f" ({item['reason']})" if item["reason"] else ""
        click.echo(f"  v{item['version']} {item['at']} {item['type']} by "
                   f"{item['actor']['id']}{reason}")
    depends = shown["depends"]
    click.echo(f"  records: {depends['records']}")
    for kind in ("signatures", "timestamps"):
        use = depends[kind]
        span = f", {use['earliest']} .. {use['latest']}" if use["count"] else ""
        click.echo(f"  {kind}: {use['count']}{span}")


@trust.command("expiring")
@click.option("--within", default="2y", show_default=True, help="e.g. 90d, 6m, 2y.")
@click.option("--json", "as_json", is_flag=True)
@store_options
def trust_expiring(store: StoreOptions, within: str, as_json: bool) -> None:
    """Anchors (not retired) whose window ends within the span, soonest first."""
    span = parse_span(within)
    with open_ledger(store) as ledger:
        ledger.log.integrate()
        rows = ledger.trust.expiring(span, datetime.now(UTC))
    if as_json:
        for row in rows:
            emit(row)
    else:
        _table(rows)
        for row in rows:
            d = row["depends"]
            click.echo(f"  {row['fingerprint'][:20]}...: {d['records']} records,"
                       f" {d['signatures']['count']} signatures,"
                       f" {d['timestamps']['count']} timestamps depend on it")
