"""What every `stele` subcommand shares: the store options, opening the ledger, the acting
principal, JSON output and progress bars."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from domain.envelope import Actor
from ledger.config import Settings
from ledger.records import Command
from ledger.service import Ledger
from verifiers.report import Report


class StoreOptions:
    def __init__(self, db: str | None, data_dir: str | None, dev: bool = False) -> None:
        self.db = db
        self.data_dir = data_dir
        self.dev = dev

    def settings(self) -> Settings:
        return Settings.from_env(self.db, self.data_dir, dev=self.dev)


def store_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`--db`, `--data-dir` and `--dev` on every command."""

    @click.option("--dev", is_flag=True,
                  help="Development trust: the built-in TSA when STELE_TSA_URLS is unset, and "
                       "the development PKI's roots (also STELE_ENV=dev). Never in production.")
    @click.option("--data-dir", envvar="STELE_DATA_DIR", default=None,
                  help="Data directory (default ./stele-data).")
    @click.option("--db", "db", envvar="STELE_DATABASE_URL", default=None, metavar="URL",
                  help="postgresql://user@host:port/db[?schema=s] or sqlite:///path "
                       "(default: SQLite in the data directory).")
    @functools.wraps(fn)
    def wrapper(*args: Any, db: str | None, data_dir: str | None, dev: bool,
                **kwargs: Any) -> Any:
        return fn(*args, store=StoreOptions(db, data_dir, dev), **kwargs)

    return wrapper


@contextmanager
def open_ledger(store: StoreOptions) -> Iterator[Ledger]:
    ledger = Ledger(store.settings())
    try:
        yield ledger
    finally:
        ledger.close()


def print_failures(report: Report) -> None:
    for check in report.failures:
        click.echo(check.line(), err=True)


def emit(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, sort_keys=True))


def progress_bar(length: int, label: str) -> Any:
    """A progress bar on a terminal, nothing otherwise (so piped output stays clean)."""
    if sys.stderr.isatty():
        return click.progressbar(length=length, label=label, file=sys.stderr)
    return _NoBar()


class _NoBar:
    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int) -> None:
        return None


def actor_options(fn: Callable[..., Any] | None = None, *,
                  role: str = "agency") -> Callable[..., Any]:
    """`--agency`, `--role` and `--actor`: who acts (the CLI is the operator's own tool)."""
    if fn is None:
        return functools.partial(actor_options, role=role)

    @click.option("--agency", envvar="STELE_AGENCY", required=True,
                  help="The acting agency's 13-character code ($STELE_AGENCY).")
    @click.option("--role", envvar="STELE_ROLE", default=role, show_default=True)
    @click.option("--actor", "actor_id", envvar="STELE_ACTOR", default=None,
                  help="Principal id recorded in the event (default cli:$USER).")
    @functools.wraps(fn)
    def wrapper(*args: Any, agency: str, role: str, actor_id: str | None, **kw: Any) -> Any:
        who = actor_id or f"cli:{os.environ.get('USER', 'operator')}"
        return fn(*args, actor=Actor(who, role, agency), **kw)

    return wrapper


def write_commands(store: StoreOptions, actor: Actor, commands: list[Command]) -> None:
    with open_ledger(store) as ledger:
        written = ledger.records.execute(actor, commands)
        ledger.log.integrate()
        ledger.log.checkpoint()
        for event in written:
            indexes = ledger.records.leaf_indexes(event.record)
            emit(dict(event.as_json(), leaf_index=indexes[event.version - 1]))
