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

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import get_topic

Statements = Sequence[tuple[str, Sequence[Any]]]


class SQLiteRecorder(SQLiteApplicationRecorder):
    def _insert_events(self, c: Any, stored_events: Sequence[StoredEvent],
                       **kwargs: Any) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        for sql, params in kwargs.get("statements", ()):
            c.execute(sql, params)
        return ids


class PostgresRecorder(PostgresApplicationRecorder):
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
