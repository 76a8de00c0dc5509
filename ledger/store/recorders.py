"""eventsourcing's application recorders, with one addition: statements of ours that run in the
events' own transaction.

`app.save(*events, statements=[(sql, params), ...])` writes the events and runs the statements
in one commit, so what must hold exactly when the events do (the stored answer to an
idempotent request) is committed with them or not at all. The SQL is in the store's own
placeholder style (`LogStore.sql`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import get_topic, retry

from ledger.store.tables import sqlite_writer

Statements = Sequence[tuple[str, Sequence[Any]]]


class SQLiteRecorder(SQLiteApplicationRecorder):
    def insert_events(self, stored_events: Sequence[StoredEvent],
                      **kwargs: Any) -> Sequence[int] | None:
        with sqlite_writer(self.datastore.pool.db_name):  # the file's one writer here
            return super().insert_events(stored_events, **kwargs)

    def _insert_events(self, c: Any, stored_events: Sequence[StoredEvent],
                       **kwargs: Any) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        for sql, params in kwargs.get("statements", ()):
            c.execute(sql, params)
        return ids


# A save larger than this is sent as plain statements, not in pipeline mode: psycopg 3.3 can
# deadlock on a pipelined message of tens of megabytes (the client waits for results while
# the server waits for the rest of the message). Ordinary writes stay pipelined, in one
# round trip.
PIPELINED_BYTES = 1 << 20


class PostgresRecorder(PostgresApplicationRecorder):
    def insert_events(self, stored_events: Sequence[StoredEvent],
                      **kwargs: Any) -> Sequence[int] | None:
        ids: Sequence[int] | None
        if sum(len(e.state) for e in stored_events) <= PIPELINED_BYTES:
            ids = super().insert_events(stored_events, **kwargs)
        else:
            ids = self._insert_unpipelined(stored_events, **kwargs)
        return ids

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _insert_unpipelined(self, stored_events: Sequence[StoredEvent],
                            **kwargs: Any) -> Sequence[int] | None:
        """The parent's steps, in the same order and one transaction, without a pipeline."""
        with self.datastore.get_connection() as conn, conn.transaction(), \
                conn.cursor() as curs:
            self._insert_events(curs, stored_events, **kwargs)
            self._insert_stored_events(curs, stored_events, **kwargs)
            return self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)

    def _insert_events(self, curs: Any, stored_events: Sequence[StoredEvent],
                       **kwargs: Any) -> None:
        # Runs in the transaction that inserts the events, just before they are inserted.
        super()._insert_events(curs, stored_events, **kwargs)
        for sql, params in kwargs.get("statements", ()):
            curs.execute(sql, params)


def recorder_env(kind: str) -> dict[str, str]:
    """The eventsourcing setting that makes the application use our recorder."""
    recorder = PostgresRecorder if kind == "postgres" else SQLiteRecorder
    return {"APPLICATION_RECORDER_TOPIC": get_topic(recorder)}
