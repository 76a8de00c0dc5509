"""The `stele` command line. Outputs are stable contracts, documented in docs/cli.md.

Every command takes `--db URL` (default: $STELE_DATABASE_URL, then SQLite in the data
directory) and `--data-dir DIR` (default: $STELE_DATA_DIR, then ./stele-data). Errors are one
line on stderr, `error: <code>: <message>`, and a non-zero exit; never a traceback.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
from typing import Any

import click
import psycopg
from eventsourcing.persistence import PersistenceError

from api.cli_common import (
    StoreOptions,
    actor_options,
    emit,
    open_ledger,
    progress_bar,
    store_options,
    write_commands,
)
from api.cli_devpki import dev_pki
from api.cli_evidence import evidence
from api.cli_trust import trust
from api.cli_verify import verify
from domain.envelope import Actor
from domain.errors import DomainError
from ledger.service import ACTION_PARAMS, ACTIONS, Command, Ledger
from verifiers.canonical import b64
from verifiers.errors import VerificationError
from verifiers.report import Report, Verdict

EXIT_FAILED = 1  # a verification or audit failed, or a command was refused
EXIT_USAGE = 2  # bad arguments (click's own convention)
EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug; the message says where to look


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="stele")
def cli() -> None:
    """Stele: an event-sourced records ledger with integrity proofs."""


# -- demo -------------------------------------------------------------------------------------
@cli.command()
@click.option("--records", default=25, show_default=True, type=click.IntRange(1, 100_000),
              help="How many sample records to take through their lives.")
@store_options
def demo(store: StoreOptions, records: int) -> None:
    """Run every lifecycle action on sample records, checkpoint, audit, summarise (with
    --dev: the demo signs with the development PKI and anchors with the built-in TSA)."""
    from api.demo import run_demo

    if not store.settings().dev:
        raise _Fail("development_trust", "the demo runs on development trust (its own PKI and "
                    "TSA): run stele demo --dev")

    with open_ledger(store) as ledger:
        result = run_demo(ledger, records)
        checkpoint = ledger.sync()  # integrate, checkpoint, anchor, checkpoint the anchors
        with progress_bar(ledger.size(), "auditing") as bar:
            report = ledger.audit(progress=bar.update)
        assert checkpoint is not None
        settings = ledger.settings
        click.echo(f"Stele demo {result.run}: {result.records} records taken through their "
                   f"lives, {result.events} events in {result.seconds:.2f} s")
        click.echo(f"log: {checkpoint.size} leaves, checkpoint at size {checkpoint.size}, "
                   f"root {b64(checkpoint.root)}")
        anchoring = ledger.anchoring_status()
        click.echo(f"anchored: {anchoring['anchored_checkpoints']} checkpoints, "
                   f"{anchoring['tokens']} RFC 3161 tokens from {', '.join(anchoring['tsas'])}")
        click.echo(f"audit: {report.bottom_line.value} ({report.summary['leaves']} events "
                   f"re-proved in {report.summary['seconds']} s)")
        click.echo(f"ledger: {settings.database.url}; data in {settings.data_dir}/")
        click.echo("next: stele log checkpoint | stele log key | stele audit | "
                   "stele record show <id>")
        if report.bottom_line is not Verdict.PASSED:
            _print_failures(report)
            sys.exit(EXIT_FAILED)


# -- audit ------------------------------------------------------------------------------------
def _print_failures(report: Report) -> None:
    for check in report.failures:
        click.echo(check.line(), err=True)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@click.option("--from-checkpoint", "saved", type=click.File("r", encoding="utf-8"),
              default=None, help="A checkpoint note saved earlier: prove today's log extends it.")
@store_options
def audit(store: StoreOptions, as_json: bool, saved: Any) -> None:
    """Replay the whole store and re-prove every hash, link, node, checkpoint, signature and
    evidence record; with --from-checkpoint, detect a split view."""
    with open_ledger(store) as ledger:
        ledger.integrate()
        with progress_bar(ledger.size(), "auditing") as bar:
            report = ledger.audit(progress=bar.update,
                                  saved_checkpoint=saved.read() if saved else None)
    if as_json:
        emit(report.as_json())
    else:
        for check in report.checks:
            click.echo(check.line())
        s = report.summary
        click.echo(f"{report.bottom_line.value}: {s['leaves']} leaves, {s['records']} records, "
                   f"{s['checkpoints']} checkpoints in {s['seconds']} s")
    if report.bottom_line is not Verdict.PASSED:
        sys.exit(EXIT_FAILED)


# -- log --------------------------------------------------------------------------------------
@cli.group()
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
            ledger.integrate()
            ledger.checkpoint()
            cp = ledger.checkpointer.latest()
        else:
            cp = ledger.checkpointer.at(size)
        if cp is None:
            raise _Fail("no_checkpoint", "no checkpoint" + (f" of size {size}" if size else " yet"))
        sys.stdout.write(cp.note)


@log.command("leaves")
@click.option("--start", type=click.IntRange(0), required=True)
@click.option("--end", type=click.IntRange(0), required=True, help="Exclusive.")
@store_options
def log_leaves(store: StoreOptions, start: int, end: int) -> None:
    """JSON lines {"index": i, "leaf": base64(leaf bytes)} for start <= i < end."""
    with open_ledger(store) as ledger:
        for index, leaf in ledger.leaves(start, end):
            emit({"index": index, "leaf": b64(leaf)})


@log.command("prove")
@click.option("--index", type=click.IntRange(0), required=True)
@click.option("--size", type=click.IntRange(1), default=None,
              help="Default: the latest checkpoint.")
@store_options
def log_prove(store: StoreOptions, index: int, size: int | None) -> None:
    """Inclusion proof: {"index", "tree_size", "leaf_hash", "proof": [base64]}."""
    with open_ledger(store) as ledger:
        emit(ledger.prove_inclusion(index, size or _latest_size(ledger)))


@log.command("consistency")
@click.option("--first", type=click.IntRange(0), required=True)
@click.option("--second", type=click.IntRange(0), required=True)
@store_options
def log_consistency(store: StoreOptions, first: int, second: int) -> None:
    """Consistency proof: {"first", "second", "proof": [base64]}."""
    with open_ledger(store) as ledger:
        emit(ledger.prove_consistency(first, second))


@log.command("status")
@store_options
def log_status(store: StoreOptions) -> None:
    """Size, latest checkpoint and integration backlog, as JSON."""
    with open_ledger(store) as ledger:
        emit(ledger.status())


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
    """(token, evidence record) of checkpoint SIZE from TSA (default: the first)."""
    with open_ledger(store) as ledger, ledger.store.transaction() as tx:
        found = [(token, record) for url, token, record in tx.anchored(size)
                 if tsa in (None, url)]
    if not found:
        raise _Fail("not_anchored", f"checkpoint {size} is not anchored"
                    + (f" by {tsa}" if tsa else ""))
    return found[0]


def _latest_size(ledger: Ledger) -> int:
    cp = ledger.checkpointer.latest()
    return cp.size if cp is not None else ledger.size()


# -- record -----------------------------------------------------------------------------------
@cli.group()
def record() -> None:
    """Show records and take them through their lives (one subcommand per action)."""


@record.command("show")
@click.argument("record_id")
@store_options
def record_show(store: StoreOptions, record_id: str) -> None:
    """The record's current state and its event chain, as JSON."""
    with open_ledger(store) as ledger:
        ledger.integrate()
        emit(ledger.describe(record_id))


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
        digest = ledger.put_content(data)
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
        data = [ledger.put_content(f.read()) for f in (*crls, *ocsps)]
        data += [ledger.put_content(certificate_der(f.read())) for f in certs]
        params: dict[str, Any] = {"record": record_id, "signer_class": signer_class,
                                  "validation_data": data}
        if cms_file is not None:
            params["signature"] = ledger.put_content(cms_file.read())
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
cli.add_command(trust)
cli.add_command(dev_pki)
cli.add_command(evidence)
cli.add_command(verify)


# -- serve and principals ---------------------------------------------------------------------
@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Server processes (use PostgreSQL for more than one).")
@store_options
def serve(store: StoreOptions, host: str, port: int, workers: int) -> None:
    """Run the HTTP API, with the log worker integrating and checkpointing in the background."""
    import uvicorn

    from ledger.anchoring import anchor_policy

    settings = store.settings()
    if workers > 1 and settings.database.kind == "sqlite":
        raise _Fail("bad_config", "several workers need PostgreSQL (STELE_DATABASE_URL)")
    anchor_policy(settings)  # refuse to start on development trust outside --dev
    with open_ledger(store) as ledger:
        if not ledger.principals.list():
            principal, token = ledger.principals.add(name="first admin", role="admin",
                                                     agency="000.00.00.A00")
            click.echo(f"No principals yet: made admin {principal.id}. Its token, shown once:\n"
                       f"  {token}\nMake an agency principal with it:\n"
                       f"  curl -s -X POST http://{host}:{port}/v1/principals "
                       f"-H 'Authorization: Bearer {token}' -H 'Content-Type: application/json'"
                       ' -d \'{"name": "records office", "role": "agency",'
                       ' "agency": "000.00.00.G01"}\'', err=True)
    click.echo(f"Stele API on http://{host}:{port} (OpenAPI at /docs), ledger "
               f"{settings.database.url}", err=True)
    # Children read the same settings from the environment; the tables exist now.
    os.environ["STELE_CREATE_TABLES"] = "0"
    os.environ["STELE_DATA_DIR"] = str(settings.data_dir)
    if store.db:
        os.environ["STELE_DATABASE_URL"] = store.db
    if settings.dev:
        os.environ["STELE_ENV"] = "dev"
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal to whatever handler
    # was there before it: make that a clean exit, so supervisors see success.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvicorn.run("api.app:create_app_from_env", factory=True, host=host, port=port,
                workers=workers, log_level="warning", timeout_graceful_shutdown=30)


@cli.group()
def principal() -> None:
    """API principals: add (the token is printed once), list, revoke."""


@principal.command("add")
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice(
    ["agency", "archivist", "auditor", "inspector", "committee", "admin"]))
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


# -- anchoring ---------------------------------------------------------------------------------
@cli.command()
@click.option("--reason", default="scheduled renewal", show_default=True)
@click.option("--hash-tree", "algorithm", type=click.Choice(["sha256", "sha512", "sha3_512"]),
              default=None, help="Hash-tree renewal to this algorithm (else timestamp renewal).")
@store_options
def renew(store: StoreOptions, reason: str, algorithm: str | None) -> None:
    """Renew every checkpoint's evidence record (RFC 4998 §5.2) with one new timestamp."""
    from ledger.renewal import renew as renew_all

    with open_ledger(store) as ledger:
        ledger.sync()
        done = renew_all(ledger.anchorer, reason=reason, algorithm=algorithm)
        ledger.sync(anchor=False)
    emit({"kind": done.kind, "algorithm": done.algorithm, "records": done.records,
          "tsa": done.tsa, "gen_time": done.gen_time})


# -- the development TSA ------------------------------------------------------------------------
@cli.group()
def tsa() -> None:
    """The built-in RFC 3161 time-stamping authority, for development and tests."""


@tsa.command("serve")
@click.option("--port", default=3161, show_default=True, type=click.IntRange(1, 65535))
@click.option("--data-dir", envvar="STELE_DATA_DIR", default="stele-data", show_default=True)
def tsa_serve(port: int, data_dir: str) -> None:
    """Answer application/timestamp-query on http://127.0.0.1:PORT until interrupted."""
    from pathlib import Path

    from ledger.tsa import TimeStampAuthority, load_or_create
    from ledger.tsa import serve as serve_tsa

    server = serve_tsa(TimeStampAuthority(load_or_create(Path(data_dir) / "tsa")), port=port)
    click.echo(f"RFC 3161 TSA on http://127.0.0.1:{port}/ (stele tsa cert: its chain)", err=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever()
    finally:
        server.server_close()


@tsa.command("cert")
@click.option("--data-dir", envvar="STELE_DATA_DIR", default="stele-data", show_default=True)
def tsa_cert(data_dir: str) -> None:
    """The TSA certificate, then its root, as PEM (made on first use)."""
    from pathlib import Path

    from ledger.tsa import load_or_create

    sys.stdout.write(load_or_create(Path(data_dir) / "tsa").chain_pem().decode())


# -- bench ------------------------------------------------------------------------------------
@cli.command()
@click.option("--events", default=100_000, show_default=True, type=click.IntRange(1000))
@click.option("--batch", default=500, show_default=True, type=click.IntRange(1, 10_000),
              help="Records per save in the batched workload.")
@click.option("--quick", is_flag=True, help="One round instead of three (a smoke run).")
@click.option("--proof-leaves", default=0, type=click.IntRange(0), show_default=True,
              help="Also time proofs on a synthetic tree of this many leaves (e.g. 1000000).")
@click.option("--http", "http_seconds", default=0.0, type=click.FloatRange(0),
              help="Instead: run the HTTP workloads (8 clients) for this many seconds each.")
@click.option("--signatures", default=0, type=click.IntRange(0), show_default=True,
              help="Instead: time N sign events per format against pyHanko alone, signing "
                   "throughput with 1 and 2 workers, and `stele verify` of a typical bundle.")
@store_options
def bench(store: StoreOptions, events: int, batch: int, quick: bool, proof_leaves: int,
          http_seconds: float, signatures: int) -> None:
    """Throughput against bare eventsourcing in the same run, proof time, audit rate (JSON)."""
    if signatures:
        from ledger.bench_sign import run_signature_bench

        emit(run_signature_bench(store.settings(), signatures=signatures))
        return
    if http_seconds:
        from api.bench_http import run_http_bench

        emit(run_http_bench(store.settings(), seconds=http_seconds))
        return
    from ledger.bench import run_bench

    emit(run_bench(store.settings(), events=events, batch=batch, quick=quick,
                   proof_leaves=proof_leaves))


# -- entry point ------------------------------------------------------------------------------
class _Fail(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _quiet_logs() -> None:
    """Command outputs are contracts on stdout: library logs go to stderr, warnings and up
    (STELE_LOG_LEVEL=info for more)."""
    import logging

    import structlog

    level = getattr(logging, os.environ.get("STELE_LOG_LEVEL", "warning").upper(), logging.WARNING)
    structlog.configure(
        processors=[structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.processors.JSONRenderer(ensure_ascii=False)],
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(level),
    )


def main(argv: list[str] | None = None) -> None:
    _quiet_logs()
    try:
        cli.main(args=argv, prog_name="stele", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        sys.exit(EXIT_FAILED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (DomainError, VerificationError) as exc:
        click.echo(f"error: {exc.diagnostics()}", err=True)  # code: message (evidence)
        sys.exit(EXIT_FAILED)
    except _Fail as exc:
        click.echo(f"error: {exc.code}: {exc.message}", err=True)
        sys.exit(EXIT_FAILED)
    except (psycopg.Error, sqlite3.Error, PersistenceError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        click.echo(f"error: database: {first}", err=True)
        sys.exit(EXIT_FAILED)
    except OSError as exc:
        click.echo(f"error: io: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    except Exception as exc:  # a bug: one line, no traceback, and where to look
        click.echo(f"error: internal: {type(exc).__name__}: {exc} "
                   "(set STELE_DEBUG=1 for the traceback)", err=True)
        if os.environ.get("STELE_DEBUG"):
            raise
        sys.exit(EXIT_INTERNAL)


if __name__ == "__main__":
    main(sys.argv[1:])
