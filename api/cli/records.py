"""`stele record ...`: show records and take them through their lives, one subcommand per
action (made from the domain's own parameters)."""

from __future__ import annotations

import json
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
from ledger.records import ACTION_PARAMS, ACTIONS, Command


@click.group()
def record() -> None:
    """Show records and take them through their lives (one subcommand per action)."""


@record.command("show")
@click.argument("record_id")
@store_options
def record_show(store: StoreOptions, record_id: str) -> None:
    """The record's current state and its event chain, as JSON."""
    with open_ledger(store) as ledger:
        ledger.log.integrate()
        emit(ledger.records.describe(record_id))


@record.command("create")
@click.option("--metadata", "metadata_file", type=click.File("rb"), required=True,
              help="JSON file: doc_type, number, notation, issued, issuer, subject, language, "
                   "pages, access, reliability.")
@click.option("--content", "content_file", type=click.File("rb"), required=True,
              help="The document's bytes.")
@click.option("--media-type", default="application/pdf", show_default=True)
@click.option("--retention", required=True, help="permanent, or 10/20/30/50/70 (years).")
@click.option("--schedule", required=True, help="The retention schedule reference.")
@actor_options
@store_options
def record_create(store: StoreOptions, actor: Actor, metadata_file: Any, content_file: Any,
                  media_type: str, retention: str, schedule: str) -> None:
    """Register a document: its content goes to the content store, its digest to the event."""
    metadata = _json_value(metadata_file.read(), "--metadata")
    data = content_file.read()
    with open_ledger(store) as ledger:
        digest = ledger.records.put_content(data, agency=actor.agency)
    params = {
        "metadata": metadata, "retention": _json_or_text(retention), "schedule": schedule,
        "content": {"digest": digest, "size": len(data), "media_type": media_type},
    }
    write_commands(store, actor, [Command("record.create", params)])


@record.command("sign")
@click.argument("record_id")
@click.option("--signer-class", required=True, type=click.Choice(["individual", "organization"]))
@click.option("--cms", "cms_file", type=click.File("rb"), default=None,
              help="A detached CMS signature (DER) over the record's content. Without it, the "
                   "record's content is a signed PDF (PAdES).")
@click.option("--field", default=None, help="Which PDF signature field (if several).")
@click.option("--crl", "crls", type=click.File("rb"), multiple=True, help="DER CRL (repeat).")
@click.option("--ocsp", "ocsps", type=click.File("rb"), multiple=True,
              help="DER OCSP response (repeat).")
@click.option("--cert", "certs", type=click.File("rb"), multiple=True,
              help="DER or PEM certificate of the chain (repeat).")
@click.option("--expected-version", type=int, default=None)
@actor_options
@store_options
def record_sign(store: StoreOptions, actor: Actor, record_id: str, signer_class: str,
                cms_file: Any, field: str | None, crls: tuple[Any, ...], ocsps: tuple[Any, ...],
                certs: tuple[Any, ...], expected_version: int | None) -> None:
    """Validate a signature over the record's content (pyHanko, against the registry's
    anchors) and record it with its verdict and everything the validation used."""
    from verifiers.certs import certificate_der

    with open_ledger(store) as ledger:
        blobs = [f.read() for f in (*crls, *ocsps)] + [certificate_der(f.read()) for f in certs]
        data = [ledger.records.put_content(b, agency=actor.agency) for b in blobs]
        params: dict[str, Any] = {"record": record_id, "signer_class": signer_class,
                                  "validation_data": data}
        if cms_file is not None:
            params["signature"] = ledger.records.put_content(cms_file.read(), agency=actor.agency)
        if field is not None:
            params["field"] = field
    write_commands(store, actor, [Command("record.sign", params, expected_version)])


def _json_value(raw: bytes | str, what: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint=what) from None


def _json_or_text(raw: str) -> Any:
    """Option values: JSON where they parse as JSON (numbers, objects, lists), else text."""
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    return value if not isinstance(value, str) else raw


def _action_command(action: str) -> click.Command:
    """One subcommand per action, its options made from the domain method's parameters."""
    import inspect

    handler = ACTIONS[action]
    params = list(ACTION_PARAMS[action].parameters.values())
    target = params[0].name if params and params[0].name in ("record", "dossier") else None

    def callback(store: StoreOptions, actor: Actor, expected_version: int | None,
                 **values: Any) -> None:
        given = {k: _json_or_text(v) for k, v in values.items() if v is not None}
        if target is not None:
            given[target] = values[target]
        write_commands(store, actor, [Command(action, given, expected_version)])

    options: list[click.Parameter] = []
    for p in params:
        if p.name == target:
            options.append(click.Argument([p.name]))
        else:
            required = p.default is inspect.Parameter.empty
            options.append(click.Option([f"--{p.name.replace('_', '-')}", p.name],
                                        required=required, help="JSON or text"))
    options.append(click.Option(["--expected-version", "expected_version"], type=int,
                                default=None, help="Refuse if the target changed (409-like)."))
    name = action.split(".")[-1]
    command = click.Command(name, callback=actor_options(store_options(callback)),
                            params=options, help=(handler.__doc__ or action).strip())
    # actor/store options are added by the decorators on the callback; click reads them there
    command.params.extend(getattr(command.callback, "__click_params__", []))
    return command


def _register_actions() -> None:
    groups: dict[str, click.Group] = {}
    for action in ACTIONS:
        if action in ("record.create", "record.sign") or action.startswith("trust."):
            continue  # commands of their own, which take files
        parts = action.split(".")
        path = parts[1:-1] if parts[0] == "record" else parts[:-1]
        parent: click.Group = record
        for part in path:
            key = ".".join([parent.name or "", part])
            if key not in groups:
                groups[key] = click.Group(part, help=f"{part.capitalize()} actions.")
                parent.add_command(groups[key])
            parent = groups[key]
        parent.add_command(_action_command(action))


_register_actions()
