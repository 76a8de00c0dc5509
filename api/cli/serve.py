"""`stele serve` (the HTTP API) and `stele tsa ...` (the development TSA)."""

from __future__ import annotations

import os
import signal
import sys
import threading

import click

from api.cli.common import StoreOptions, open_ledger, store_options
from ledger.errors import ConfigError


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Server processes (use PostgreSQL for more than one).")
@store_options
def serve(store: StoreOptions, host: str, port: int, workers: int) -> None:
    """Run the HTTP API, with the log worker integrating and checkpointing in the background."""
    import uvicorn

    from ledger.longterm.anchoring import anchor_policy

    settings = store.settings()
    if workers > 1 and settings.database.kind == "sqlite":
        raise ConfigError("several workers need PostgreSQL (STELE_DATABASE_URL)")
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
    uvicorn.run("api.http.app:create_app_from_env", factory=True, host=host, port=port,
                workers=workers, log_level="warning", timeout_graceful_shutdown=30)


@click.group()
def tsa() -> None:
    """The built-in RFC 3161 time-stamping authority, for development and tests."""


@tsa.command("serve")
@click.option("--port", default=3161, show_default=True, type=click.IntRange(1, 65535))
@click.option("--data-dir", envvar="STELE_DATA_DIR", default="stele-data", show_default=True)
def tsa_serve(port: int, data_dir: str) -> None:
    """Answer application/timestamp-query on http://127.0.0.1:PORT until interrupted."""
    from pathlib import Path

    from ledger.dev.tsa import TimeStampAuthority, load_or_create
    from ledger.dev.tsa import serve as serve_tsa

    server = serve_tsa(TimeStampAuthority(load_or_create(Path(data_dir) / "tsa")), port=port)
    click.echo(f"RFC 3161 TSA on http://127.0.0.1:{port}/ (stele tsa cert: its chain)", err=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever()
    finally:
        server.server_close()


@tsa.command("cert")
@click.option("--data-dir", envvar="STELE_DATA_DIR", default="stele-data", show_default=True)
@click.option("--root", "root_only", is_flag=True,
              help="Only the root: what another node's committee registers to trust it.")
def tsa_cert(data_dir: str, root_only: bool) -> None:
    """The TSA certificate, then its root, as PEM (made on first use)."""
    from pathlib import Path

    from cryptography.hazmat.primitives.serialization import Encoding

    from ledger.dev.tsa import load_or_create

    identity = load_or_create(Path(data_dir) / "tsa")
    sys.stdout.write((identity.root.public_bytes(Encoding.PEM) if root_only
                      else identity.chain_pem()).decode())


@click.command()
@click.option("--period", default=0.1, show_default=True, type=click.FloatRange(0.01, 60),
              help="Seconds between steps.")
@store_options
def worker(store: StoreOptions, period: float) -> None:
    """Run the log worker alone (no HTTP): integrate and checkpoint, and, while this process
    holds the anchoring lease, anchor and renew. Run several: one anchors at a time, another
    takes over when it dies. Stops cleanly on SIGTERM or Ctrl-C."""
    from api.http.worker import LogWorker
    from ledger.longterm.anchoring import anchor_policy

    settings = store.settings()
    anchor_policy(settings)  # refuse to start on development trust outside --dev
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    log_worker = LogWorker(settings, period=period)
    log_worker.start()
    click.echo(f"Stele log worker {log_worker.ledger.longterm.lease.owner} on "
               f"{settings.database.url}", err=True)
    stopping.wait()
    log_worker.stop()
