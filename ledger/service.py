"""The ledger of one data directory and database: it opens the store and builds the services
that callers use, each for one concern:

- `records` (ledger/records.py): writes (commands, all or nothing) and reads of records;
- `log` (ledger/log/service.py): integration, checkpoints, proofs, status, the audit;
- `longterm` (ledger/longterm/service.py): anchoring, renewal, the roots that vouch;
- `transfers` (ledger/transfer/service.py): packages sent to and received from peer logs;
- `catalogs` (ledger/catalog/service.py): the shared catalogs, published, synced, looked up;
- `trust` (the trust-anchor registry), `principals` (who may call the API), `content`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from ledger.access.principals import Principals
from ledger.catalog.held import HeldCatalogs
from ledger.catalog.service import Catalogs
from ledger.config import Settings
from ledger.errors import ConfigError
from ledger.log.checkpoints import Checkpointer
from ledger.log.integrator import Integrator
from ledger.log.keys import WITNESS_KEY_FILE, LogKey
from ledger.log.service import Log
from ledger.log.tiles import TileWriter
from ledger.log.witnessing import Witnessing, load_policy
from ledger.longterm.service import LongTerm
from ledger.records import Records
from ledger.store.application import RecordsApplication
from ledger.store.content import ContentStore
from ledger.store.idempotency import Idempotency
from ledger.store.recorders import recorder_env
from ledger.store.tables import LogStore
from ledger.transfer.service import Transfers
from ledger.trust.registry import TrustRegistry
from ledger.trust.signatures import SignatureIntake
from ledger.witness.service import Witness, load_witnessed_logs


class Ledger:
    """The ledger of one data directory and database."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime] | None = None) -> None:
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = LogStore(settings.database)
        try:
            with self.store.schema_lock():
                if settings.create_tables:
                    self.store.create_tables()  # first: on PostgreSQL this makes the schema
                self.app = RecordsApplication(
                    env=settings.database.eventsourcing_env()
                    | recorder_env(settings.database.kind)
                    | {"CREATE_TABLE": "y" if settings.create_tables else "n"})
            self.content = ContentStore(settings.data_dir / "content", self.store)
            self.key = LogKey.load_or_create(settings.data_dir, settings.origin)
            self._check_identity()
        except BaseException:  # a refused start leaves no connection open
            self.store.close()
            if hasattr(self, "app"):
                self.app.close()
            raise
        self.principals = Principals(self.store)
        self.idempotency = Idempotency(self.store,
                                       retention=timedelta(hours=settings.idempotency_hours))
        self.trust = TrustRegistry(self.store, self.app)
        self.intake = SignatureIntake(self.content, self.trust)
        self.integrator = Integrator(self.store, self.content)
        self.checkpointer = Checkpointer(
            self.store, self.key, settings.origin, settings.checkpoint_every,
            settings.checkpoint_interval, self.clock,
        )
        self.longterm = LongTerm(settings=settings, store=self.store, app=self.app,
                                 trust=self.trust, clock=self.clock)
        self.witnessing = None if settings.witness_policy is None else Witnessing(
            self.store, self.checkpointer, load_policy(settings.witness_policy, self.key),
            clock=self.clock)
        self.witness = None if not settings.witness else Witness(
            self.store,
            LogKey.load_or_create(settings.data_dir, settings.witness_name, WITNESS_KEY_FILE),
            [log.key for log in load_witnessed_logs(settings.witness_logs)],
            settings.data_dir / "witness", self.clock)
        self.log = Log(settings=settings, store=self.store, key=self.key,
                       integrator=self.integrator, checkpointer=self.checkpointer,
                       longterm=self.longterm, witnessing=self.witnessing,
                       tiles=TileWriter(self.store, settings.tiles_dir,
                                        witnessed=self.witnessing is not None),
                       clock=self.clock)
        self.held = HeldCatalogs(self.store, self.clock,
                                 grace=timedelta(hours=settings.catalog_grace_hours),
                                 required=settings.catalog_from is not None)
        self.records = Records(settings=settings, clock=self.clock, store=self.store,
                               app=self.app, content=self.content, intake=self.intake,
                               held=self.held)
        self.transfers = Transfers(self)
        self.catalogs = Catalogs(settings=settings, store=self.store, records=self.records,
                                 held=self.held, clock=self.clock)

    def _check_identity(self) -> None:
        """A log has one origin and one checkpoint key, for life: refuse to sign its
        checkpoints under another name or key (a misconfigured node, a wrong data dir)."""
        with self.store.transaction(exclusive=True) as tx:
            origin = tx.claim_meta("origin", self.settings.origin)
            verifier = tx.claim_meta("verifier_key", self.key.verifier)
        if origin != self.settings.origin:
            raise ConfigError(
                f"this log's origin is {origin!r}, but STELE_LOG_ORIGIN says "
                f"{self.settings.origin!r}"
            )
        if verifier != self.key.verifier:
            raise ConfigError(
                "the checkpoint key in the data directory is not this log's key",
                log_key=verifier, data_dir_key=self.key.verifier,
            )

    def close(self) -> None:
        """Close the connections; hand the anchoring lease over at once if this held it."""
        try:
            self.longterm.release()
        finally:
            self.idempotency.close()
            if self.witnessing is not None:
                self.witnessing.close()
            self.store.close()
            self.app.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
