"""The `stele` command line. Outputs are stable contracts, documented in docs/cli.md.

Every command takes `--db URL` (default: $STELE_DATABASE_URL, then SQLite in the data
directory), `--data-dir DIR` (default: $STELE_DATA_DIR, then ./stele-data) and `--dev`. Errors
are one line on stderr, `error: <code>: <message>`, with the exit status of api/cli/exits.py;
never a traceback.
"""

from __future__ import annotations

import os
import sqlite3
import sys

import click
import psycopg
from eventsourcing.persistence import PersistenceError

from api.cli.bench import bench
from api.cli.catalog import catalog
from api.cli.demo import demo
from api.cli.devpki import dev_pki
from api.cli.evidence import evidence
from api.cli.exits import EXIT_INPUT, run
from api.cli.log import audit, log, renew
from api.cli.principals import principal
from api.cli.records import record
from api.cli.serve import serve, tsa, worker
from api.cli.transfer import transfer
from api.cli.trust import trust
from api.cli.verify import verify
from api.cli.witness import federation, monitor, witness


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="stele")
def cli() -> None:
    """Stele: an event-sourced records ledger with integrity proofs."""


for command in (demo, audit, log, record, trust, dev_pki, evidence, verify, serve, principal,
                renew, tsa, bench, worker, witness, monitor, federation, transfer, catalog):
    cli.add_command(command)


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


def _database_error(exc: Exception) -> int | None:
    """An unreachable or refusing database is the operator's input (the URL, the server)."""
    if not isinstance(exc, psycopg.Error | sqlite3.Error | PersistenceError):
        return None
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    click.echo(f"error: database: {first}", err=True)
    return EXIT_INPUT


def main(argv: list[str] | None = None) -> None:
    _quiet_logs()
    run(cli, argv, "stele", _database_error)


if __name__ == "__main__":
    main(sys.argv[1:])
