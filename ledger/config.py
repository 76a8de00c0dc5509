"""Settings, from the environment: one object, read once, passed down."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ledger.errors import ConfigError

DEFAULT_DATA_DIR = "stele-data"
DEFAULT_ORIGIN = "stele.localhost/log"
DEFAULT_MAX_CONTENT_BYTES = 512 * 1024 * 1024
DEFAULT_MAX_PACKAGE_BYTES = 64 * 1024**3
DEFAULT_MAX_PACKAGE_FILES = 1_000_000
MIN_IDEMPOTENCY_HOURS = 24  # a client's retries over a day's outage still find their answer


@dataclass(frozen=True)
class Database:
    """Where the ledger lives: a SQLite file, or a PostgreSQL database and schema."""

    kind: str  # "sqlite" | "postgres"
    path: Path | None = None  # sqlite
    host: str = "127.0.0.1"
    port: int = 5432
    user: str = ""
    password: str = ""
    dbname: str = ""
    schema: str = "public"

    @property
    def url(self) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{self.path}"
        auth = self.user + (":***" if self.password else "")
        return f"postgresql://{auth}@{self.host}:{self.port}/{self.dbname}?schema={self.schema}"

    def connect_url(self) -> str:
        """The URL that reaches this database, password included (for child processes)."""
        if self.kind == "sqlite":
            return self.url
        auth = self.user + (f":{self.password}" if self.password else "")
        return f"postgresql://{auth}@{self.host}:{self.port}/{self.dbname}?schema={self.schema}"

    def conninfo(self) -> str:
        """libpq keyword/value string for psycopg."""
        parts = {
            "host": self.host, "port": str(self.port), "dbname": self.dbname,
            "user": self.user, "password": self.password,
        }
        return " ".join(f"{k}='{v}'" for k, v in parts.items() if v)

    def eventsourcing_env(self) -> dict[str, str]:
        if self.kind == "sqlite":
            return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(self.path)}
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": self.dbname,
            "POSTGRES_HOST": self.host,
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD": self.password,
            "POSTGRES_SCHEMA": self.schema,
            # Never the DB functions: they skip the table lock that keeps notification ids
            # committed in order, and a tailing integrator would miss events (FIELD-NOTES).
            "POSTGRES_ENABLE_DB_FUNCTIONS": "",
            "POSTGRES_LOCK_TIMEOUT": "30",
        }


def parse_database_url(url: str | None, data_dir: Path) -> Database:
    """`postgresql://user:pw@host:port/db?schema=s`, `sqlite:///path`, or None (the default
    SQLite file in the data directory)."""
    if not url:
        return Database(kind="sqlite", path=data_dir / "ledger.sqlite3")
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        # sqlite:///relative/file or sqlite:////absolute/file, as SQLAlchemy spells them.
        if not url.startswith("sqlite:///") or len(url) == len("sqlite:///"):
            raise ConfigError(f"SQLite URL must be sqlite:///path: {url!r}")
        path = unquote(url[len("sqlite:///"):])
        return Database(kind="sqlite", path=Path(path))
    if parts.scheme in ("postgresql", "postgres"):
        query = parse_qs(parts.query)
        schema = query.pop("schema", ["public"])[0]
        if query:
            raise ConfigError(f"unknown database URL parameters: {sorted(query)}")
        if not schema.isidentifier():
            raise ConfigError(f"schema must be a plain identifier: {schema!r}")
        try:
            port = parts.port or 5432
        except ValueError:
            raise ConfigError(f"bad port in database URL: {url!r}") from None
        dbname = unquote(parts.path.lstrip("/"))
        if not dbname:
            raise ConfigError(f"database URL names no database: {url!r}")
        return Database(
            kind="postgres", host=parts.hostname or "127.0.0.1", port=port,
            user=unquote(parts.username or ""), password=unquote(parts.password or ""),
            dbname=dbname, schema=schema,
        )
    raise ConfigError(
        f"unsupported database URL {url!r}: use postgresql://... or sqlite:///path"
    )


@dataclass(frozen=True)
class RateLimit:
    """`requests` per `seconds` for each client address: a token bucket that holds up to
    `requests` tokens (the burst) and refills at `requests / seconds` per second."""

    requests: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


DEFAULT_RATE_LIMIT = RateLimit(120, 60.0)
_PERIODS = {"second": 1.0, "minute": 60.0, "hour": 3600.0}


def parse_rate_limit(text: str) -> RateLimit | None:
    """`120/minute` (also `/second`, `/hour`) -> RateLimit; `off` -> None (no limit)."""
    value = text.strip().lower()
    if value == "off":
        return None
    count, _, period = value.partition("/")
    if not _digits(count) or int(count) < 1 or period not in _PERIODS:
        raise ConfigError(f"STELE_RATE_LIMIT must be like 120/minute (per second, minute or "
                          f"hour), or off, not {text!r}")
    return RateLimit(int(count), _PERIODS[period])


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _whole_number(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name, str(default)).strip()
    if not _digits(raw) or int(raw) < minimum:
        raise ConfigError(f"{name} must be a whole number of at least {minimum}, not {raw!r}")
    return int(raw)


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    database: Database = field(
        default_factory=lambda: Database(
            kind="sqlite", path=Path(DEFAULT_DATA_DIR) / "ledger.sqlite3"
        )
    )
    origin: str = DEFAULT_ORIGIN
    checkpoint_every: int = 1000  # entries
    checkpoint_interval: float = 1.0  # seconds
    # False in processes started after the tables exist (server workers): concurrent CREATE
    # statements on PostgreSQL can fail with "tuple concurrently updated" (FIELD-NOTES).
    create_tables: bool = True
    # Anchoring: RFC 3161 TSAs (none: the built-in development TSA, in-process), how many
    # tokens each checkpoint needs (k of n), and the PEM file of the TSA roots we trust.
    tsa_urls: tuple[str, ...] = ()
    tsa_quorum: int = 1
    tsa_roots: Path | None = None
    operator_agency: str = "000.00.00.A00"  # the agency code of the log's own entries
    renewal_margin_days: int = 730  # renew when a TSA certificate in use has less left
    renewal_check_seconds: float = 3600.0  # how often (across processes) renewal is checked
    # The anchoring lease: one process anchors and renews; another takes over this long after
    # the holder stopped extending it.
    lease_seconds: float = 120.0
    # Development trust (`--dev`, STELE_ENV=dev): the built-in TSA when no TSA is configured,
    # and the development PKI's roots as trust anchors. Never in production.
    dev: bool = False
    # The HTTP API: the largest document `POST /v1/content` takes; the rate limit of callers
    # without a token on the public operations (None: no limit); how long the answers of
    # idempotent requests are kept (at least MIN_IDEMPOTENCY_HOURS).
    max_content_bytes: int = DEFAULT_MAX_CONTENT_BYTES
    rate_limit: RateLimit | None = DEFAULT_RATE_LIMIT
    idempotency_hours: int = MIN_IDEMPOTENCY_HOURS
    # Where the log is published as C2SP tlog-tiles (None: <data dir>/tiles).
    tiles: Path | None = None
    # Witnessing. `witness`: this node runs a C2SP tlog-witness (POST /add-checkpoint) named
    # `witness_name`, cosigning the logs whose `log` lines are in the tlog-policy file
    # `witness_logs`. `witness_policy`: the tlog-policy file of this log's own witnesses
    # (their URLs) and quorum; with it, checkpoints are submitted to them and only those the
    # quorum cosigned are published.
    witness: bool = False
    witness_name: str = ""
    witness_logs: Path | None = None
    witness_policy: Path | None = None
    # Transfers between archives: the peer logs this node takes packages and receipts from
    # (the `log` lines of a tlog-policy file: their pinned keys), and the limits on a package
    # received (bytes uncompressed, files).
    peer_logs: Path | None = None
    max_package_bytes: int = DEFAULT_MAX_PACKAGE_BYTES
    max_package_files: int = DEFAULT_MAX_PACKAGE_FILES
    # Shared catalogs. On the centre: how long each signed index it publishes stays valid
    # (it is re-signed when half of that has passed). On a consumer: the centre's tiles URL,
    # the trust file pinning its log key and catalog keys, how often to sync, and how long
    # after the index expires writes that a catalog checks still go on.
    catalog_index_hours: float = 24.0
    catalog_from: str | None = None
    catalog_trust: Path | None = None
    catalog_sync_seconds: float = 300.0
    catalog_grace_hours: float = 24.0

    @property
    def tiles_dir(self) -> Path:
        return self.tiles if self.tiles is not None else self.data_dir / "tiles"

    @classmethod
    def from_env(cls, db_url: str | None = None, data_dir: str | None = None, *,
                 dev: bool = False) -> Settings:
        """`dev`: the caller asked for development trust (`--dev`); STELE_ENV=dev does too."""
        env = os.environ
        mode = env.get("STELE_ENV", "").strip().lower()
        if mode not in ("", "dev", "production"):
            raise ConfigError(f"STELE_ENV must be dev or production, not {mode!r}")
        directory = Path(data_dir or env.get("STELE_DATA_DIR") or DEFAULT_DATA_DIR)
        try:
            every = int(env.get("STELE_CHECKPOINT_EVERY", "1000"))
            interval = float(env.get("STELE_CHECKPOINT_INTERVAL", "1.0"))
        except ValueError as exc:
            raise ConfigError(f"bad checkpoint setting: {exc}") from None
        if every < 1 or interval <= 0:
            raise ConfigError("checkpoint settings must be positive")
        urls = tuple(u.strip() for u in env.get("STELE_TSA_URLS", "").split(",") if u.strip())
        try:
            quorum = int(env.get("STELE_TSA_QUORUM", "1"))
        except ValueError as exc:
            raise ConfigError(f"bad STELE_TSA_QUORUM: {exc}") from None
        if not 1 <= quorum <= max(1, len(urls)):
            raise ConfigError(f"STELE_TSA_QUORUM must be between 1 and the number of TSAs "
                              f"({len(urls) or 1}), not {quorum}")
        if urls and not env.get("STELE_TSA_ROOTS"):
            raise ConfigError("STELE_TSA_URLS needs STELE_TSA_ROOTS: the PEM file of the TSA "
                              "roots to trust")
        try:
            margin = int(env.get("STELE_RENEWAL_MARGIN_DAYS", "730"))
            check = float(env.get("STELE_RENEWAL_CHECK_SECONDS", "3600"))
            lease = float(env.get("STELE_LEASE_SECONDS", "120"))
        except ValueError as exc:
            raise ConfigError(f"bad renewal or lease setting: {exc}") from None
        if check <= 0 or lease <= 0:
            raise ConfigError("STELE_RENEWAL_CHECK_SECONDS and STELE_LEASE_SECONDS must be "
                              "positive")
        origin = env.get("STELE_LOG_ORIGIN", DEFAULT_ORIGIN)
        if not origin or any(c.isspace() for c in origin) or "+" in origin:
            raise ConfigError(f"log origin must have no spaces and no '+': {origin!r}")
        max_content = _whole_number(env, "STELE_MAX_CONTENT_BYTES", DEFAULT_MAX_CONTENT_BYTES)
        rate_limit = (parse_rate_limit(env["STELE_RATE_LIMIT"]) if "STELE_RATE_LIMIT" in env
                      else DEFAULT_RATE_LIMIT)
        idempotency_hours = _whole_number(env, "STELE_IDEMPOTENCY_HOURS", MIN_IDEMPOTENCY_HOURS,
                                          minimum=MIN_IDEMPOTENCY_HOURS)
        return cls(
            data_dir=directory,
            database=parse_database_url(db_url or env.get("STELE_DATABASE_URL"), directory),
            origin=origin,
            checkpoint_every=every,
            checkpoint_interval=interval,
            create_tables=env.get("STELE_CREATE_TABLES", "1") != "0",
            tsa_urls=urls,
            tsa_quorum=quorum,
            tsa_roots=Path(env["STELE_TSA_ROOTS"]) if env.get("STELE_TSA_ROOTS") else None,
            operator_agency=env.get("STELE_OPERATOR_AGENCY", "000.00.00.A00"),
            renewal_margin_days=margin,
            renewal_check_seconds=check,
            lease_seconds=lease,
            dev=dev or mode == "dev",
            max_content_bytes=max_content,
            rate_limit=rate_limit,
            idempotency_hours=idempotency_hours,
            tiles=Path(env["STELE_TILES_DIR"]) if env.get("STELE_TILES_DIR") else None,
            peer_logs=Path(env["STELE_PEER_LOGS"]) if env.get("STELE_PEER_LOGS") else None,
            max_package_bytes=_whole_number(env, "STELE_MAX_PACKAGE_BYTES",
                                            DEFAULT_MAX_PACKAGE_BYTES),
            max_package_files=_whole_number(env, "STELE_MAX_PACKAGE_FILES",
                                            DEFAULT_MAX_PACKAGE_FILES),
            **_witnessing(env, origin),
            **_catalogs(env),
        )


def _catalogs(env: Mapping[str, str]) -> dict[str, Any]:
    source = env.get("STELE_CATALOG_FROM", "").strip() or None
    trust = env.get("STELE_CATALOG_TRUST", "").strip()
    if source and not trust:
        raise ConfigError("STELE_CATALOG_FROM needs STELE_CATALOG_TRUST: the file pinning the "
                          "centre's log key and catalog keys")
    try:
        hours = {name: float(env.get(var, default)) for name, var, default in (
            ("catalog_index_hours", "STELE_CATALOG_INDEX_HOURS", "24"),
            ("catalog_sync_seconds", "STELE_CATALOG_SYNC_SECONDS", "300"),
            ("catalog_grace_hours", "STELE_CATALOG_GRACE_HOURS", "24"))}
    except ValueError as exc:
        raise ConfigError(f"bad STELE_CATALOG_* setting: {exc}") from None
    if hours["catalog_index_hours"] <= 0 or hours["catalog_sync_seconds"] <= 0 or (
            hours["catalog_grace_hours"] < 0):
        raise ConfigError("STELE_CATALOG_INDEX_HOURS and STELE_CATALOG_SYNC_SECONDS must be "
                          "positive, STELE_CATALOG_GRACE_HOURS not negative")
    return {"catalog_from": source, "catalog_trust": Path(trust) if trust else None, **hours}


def _witnessing(env: Mapping[str, str], origin: str) -> dict[str, Any]:
    switch = env.get("STELE_WITNESS", "off").strip().lower()
    if switch not in ("on", "off"):
        raise ConfigError(f"STELE_WITNESS must be on or off, not {switch!r}")
    logs = env.get("STELE_WITNESS_LOGS", "").strip()
    if switch == "on" and not logs:
        raise ConfigError("STELE_WITNESS=on needs STELE_WITNESS_LOGS: the tlog-policy file "
                          "whose log lines are the logs this witness cosigns")
    name = env.get("STELE_WITNESS_NAME", "").strip() or f"{origin}/witness"
    if any(c.isspace() for c in name) or "+" in name:
        raise ConfigError(f"witness name must have no spaces and no '+': {name!r}")
    policy = env.get("STELE_WITNESS_POLICY", "").strip()
    return {"witness": switch == "on", "witness_name": name,
            "witness_logs": Path(logs) if logs else None,
            "witness_policy": Path(policy) if policy else None}
