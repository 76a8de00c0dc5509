"""Shared fixtures: every ledger test runs on SQLite and on PostgreSQL.

PostgreSQL comes from STELE_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1:5432/test);
each test gets a fresh schema, dropped afterwards. Without the URL the PostgreSQL cases skip,
unless STELE_REQUIRE_POSTGRES=1 (as in CI), where a missing server is a failure.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from ledger.config import Database, Settings, parse_database_url
from ledger.dev.pki import DevPki
from tests.pki import make_pki, signed_document

PG_URL = os.environ.get("STELE_TEST_POSTGRES_URL", "")
REQUIRE_PG = os.environ.get("STELE_REQUIRE_POSTGRES") == "1"


class Clock:
    """A settable clock: tests pin time instead of sleeping."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 27, 8, 0, tzinfo=UTC))


def postgres_database() -> Database:
    if not PG_URL:
        if REQUIRE_PG:
            pytest.fail("STELE_REQUIRE_POSTGRES=1 but STELE_TEST_POSTGRES_URL is not set")
        pytest.skip("PostgreSQL not configured (set STELE_TEST_POSTGRES_URL)")
    base = parse_database_url(PG_URL, Path("."))
    schema = f"t_{secrets.token_hex(6)}"
    try:
        with psycopg.connect(base.conninfo(), autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except psycopg.OperationalError as exc:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL required but unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    return replace(base, schema=schema)


def drop_schema(db: Database) -> None:
    with psycopg.connect(db.conninfo(), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{db.schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        yield Database(kind="sqlite", path=tmp_path / "ledger.sqlite3")
        return
    db = postgres_database()
    try:
        yield db
    finally:
        drop_schema(db)


@pytest.fixture
def settings(database: Database, tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", database=database, origin="test.stele/log",
                    checkpoint_every=1000, checkpoint_interval=3600, dev=True)


def database_url(db: Database) -> str:
    """The URL a subprocess (CLI, writer) is given for `db`."""
    return db.connect_url()


@pytest.fixture(scope="session")
def dev_pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    """One development PKI for the whole session (tests/pki.py says how it is dated)."""
    return make_pki(tmp_path_factory.mktemp("pki") / "pki")


@pytest.fixture(scope="session")
def signed_pdf(dev_pki: DevPki) -> bytes:
    """A PDF signed by an individual (field Individual) and an agency (field Agency)."""
    return signed_document(dev_pki)
