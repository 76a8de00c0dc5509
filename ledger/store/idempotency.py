"""Idempotency-Key: a retry returns the first answer and writes nothing twice.

The first request with a key claims it (a row with no answer yet), runs, and stores its answer
(success or refusal). A retry with the same key and the same body gets that answer again; with
another body, 422 `idempotency_key_reused`; while the first is still running, 409
`idempotency_in_progress`. While the first request runs, its claim is kept alive
(`keep_alive`: the claim's time is renewed every STALE/4 on a connection of its own), so a slow
request is never run twice. A claim whose request died without an answer (a crash between the
ledger write and storing the answer) stops being renewed and is released after STALE; the retry
then runs again, and the ledger's own rules make that safe for creates (same registration, same
id: `duplicate`) and for any request sent with If-Match.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.errors import InvalidInputError
from ledger.errors import IdempotencyInProgressError, IdempotencyKeyReusedError
from ledger.store.tables import LogStore

STALE = timedelta(seconds=60)
MAX_KEY = 200


@dataclass(frozen=True)
class Replay:
    status: int
    body: Any


class Idempotency:
    def __init__(self, store: LogStore, *, stale: timedelta = STALE) -> None:
        self.store = store
        self.stale = stale

    def claim(self, principal: str, key: str, request: bytes) -> Replay | None:
        """Claim `key` for this request; or the stored answer of the first one."""
        if not key or len(key) > MAX_KEY:
            raise InvalidInputError(f"Idempotency-Key must be 1 to {MAX_KEY} characters")
        digest = hashlib.sha256(request).digest()
        now = datetime.now(UTC)
        p = self.store.prefix
        # No lock beyond the primary key: of two concurrent first requests, one inserts and
        # the other (after waiting for that commit) sees the claim.
        with self.store.transaction() as tx:
            inserted = tx.execute(
                f"INSERT INTO {p}stele_idempotency (principal, key, request_hash, created_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (principal, key, digest, now.isoformat())).rowcount
            if inserted == 1:
                return None
            row = tx.execute(
                f"SELECT request_hash, status, response FROM {p}stele_idempotency"
                " WHERE principal = ? AND key = ?", (principal, key)).fetchone()
            if bytes(row[0]) != digest:
                raise IdempotencyKeyReusedError(
                    "this Idempotency-Key was used with another request")
            if row[1] is not None:
                return Replay(int(row[1]), json.loads(row[2]))
            taken = tx.execute(
                f"UPDATE {p}stele_idempotency SET created_at = ? WHERE principal = ? AND key = ?"
                " AND status IS NULL AND created_at < ?",
                (now.isoformat(), principal, key, (now - self.stale).isoformat())).rowcount
        if taken == 1:
            return None  # the first request died without an answer: run again
        raise IdempotencyInProgressError(
            "the first request with this key is still running; retry later")

    @contextmanager
    def keep_alive(self, principal: str, key: str) -> Iterator[None]:
        """Renew the claim while the block runs. The renewals use a connection of their own,
        so a request waiting on the store's lock in this process still keeps its claim."""
        done = threading.Event()

        def renew() -> None:
            store = LogStore(self.store.database)
            try:
                while not done.wait(self.stale.total_seconds() / 4):
                    with store.transaction() as tx:
                        tx.execute(f"UPDATE {store.prefix}stele_idempotency SET created_at = ?"
                                   " WHERE principal = ? AND key = ? AND status IS NULL",
                                   (datetime.now(UTC).isoformat(), principal, key))
            finally:
                store.close()

        thread = threading.Thread(target=renew, name="stele-idempotency", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def answer(self, principal: str, key: str, status: int, body: Any) -> None:
        with self.store.transaction() as tx:
            tx.execute(f"UPDATE {self.store.prefix}stele_idempotency SET status = ?, response = ?"
                       " WHERE principal = ? AND key = ?",
                       (status, json.dumps(body, ensure_ascii=False), principal, key))

    def release(self, principal: str, key: str) -> None:
        """Forget a claim whose request failed unexpectedly, so a retry runs again."""
        with self.store.transaction() as tx:
            tx.execute(f"DELETE FROM {self.store.prefix}stele_idempotency"
                       " WHERE principal = ? AND key = ? AND status IS NULL", (principal, key))
