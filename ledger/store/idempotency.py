"""Idempotency-Key: a retry returns the first answer and writes nothing twice, at any time.

The first request with a key claims it (a row with no answer yet), runs, and stores its answer.
A write's answer is stored in the very transaction that saves its events
(`answer_statement`, run by the recorder), so a write that committed always has its answer: a
retry after a crash between the commit and the reply, however late, gets that answer again
(`Idempotent-Replayed: true`), never a second write or a refusal of the first one (`duplicate`).
A refusal (which wrote nothing) is stored after it. A retry with the same key and the same
request gets the stored answer; with another request (another body, path or If-Match), 422
`idempotency_key_reused`; while the first is still running, 409 `idempotency_in_progress`.

While the first request runs, its claim is kept alive (`keep_alive`: the claim's time is
renewed every STALE/4 by the process's renewer, on a connection of its own), so a slow request
is never run twice. A
claim whose request died before committing stops being renewed and is released after STALE;
the retry then runs again, which is safe: nothing was written. Answers are kept for the
retention period (STELE_IDEMPOTENCY_HOURS, at least 24 h); then `purge` deletes them and the
key may be used afresh.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from domain.errors import InvalidInputError
from ledger.errors import IdempotencyInProgressError, IdempotencyKeyReusedError
from ledger.store.tables import LogStore

log = structlog.get_logger("stele.idempotency")

STALE = timedelta(seconds=60)
RETENTION = timedelta(hours=24)
MAX_KEY = 200


@dataclass(frozen=True)
class Replay:
    status: int
    body: Any


class Idempotency:
    def __init__(self, store: LogStore, *, stale: timedelta = STALE,
                 retention: timedelta = RETENTION) -> None:
        self.store = store
        self.stale = stale
        self.retention = retention
        self._lock = threading.Lock()
        self._alive: dict[tuple[str, str], int] = {}  # running requests' claims
        self._renewer: threading.Thread | None = None
        self._wake = threading.Event()
        self._next_renewal = 0.0
        self._closed = False

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
                f"SELECT request_hash, status, response, created_at FROM {p}stele_idempotency"
                " WHERE principal = ? AND key = ?", (principal, key)).fetchone()
            if row[3] < (now - self.retention).isoformat():  # expired: the key is new again
                renewed = tx.execute(
                    f"UPDATE {p}stele_idempotency SET request_hash = ?, status = NULL,"
                    " response = NULL, created_at = ? WHERE principal = ? AND key = ?"
                    " AND created_at = ?", (digest, now.isoformat(), principal, key, row[3]))
                if renewed.rowcount == 1:
                    return None
                raise IdempotencyInProgressError(
                    "another request claimed this key just now; retry later")
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
        """Renew the claim while the block runs: one renewer thread per process renews every
        running request's claim every STALE/4, in one transaction on a connection of its own
        (so a request waiting on the store's lock in this process still keeps its claim). It
        starts with the first claim and stops once a period passes with none, so a request
        costs no thread and no connection of its own."""
        claim = (principal, key)
        with self._lock:
            self._alive[claim] = self._alive.get(claim, 0) + 1
            if self._renewer is None:
                self._renewer = threading.Thread(target=self._renew, name="stele-idempotency",
                                                 daemon=True)
                self._renewer.start()
            elif self._next_renewal - time.monotonic() > self.period:
                self._wake.set()  # the period was shortened: renew sooner
        try:
            yield
        finally:
            with self._lock:
                if self._alive[claim] == 1:
                    del self._alive[claim]
                else:
                    self._alive[claim] -= 1

    @property
    def period(self) -> float:
        return self.stale.total_seconds() / 4

    def _renew(self) -> None:
        store: LogStore | None = None
        try:
            while True:
                with self._lock:
                    self._next_renewal = time.monotonic() + self.period
                self._wake.wait(self.period)
                self._wake.clear()
                if self._closed:
                    return
                with self._lock:
                    claims = list(self._alive)
                    if not claims:  # a period with no request running: stop
                        self._renewer = None
                        return
                try:
                    store = store or LogStore(self.store.database)
                    now = datetime.now(UTC).isoformat()
                    with store.transaction() as tx:
                        for principal, key in claims:
                            tx.execute(f"UPDATE {store.prefix}stele_idempotency"
                                       " SET created_at = ? WHERE principal = ? AND key = ?"
                                       " AND status IS NULL", (now, principal, key))
                except Exception as exc:  # the next period retries; a claim has 4 of them
                    log.error("idempotency.renewal_error", error=f"{type(exc).__name__}: {exc}")
        finally:
            if store is not None:
                store.close()
            with self._lock:
                if self._renewer is threading.current_thread():
                    self._renewer = None

    def close(self) -> None:
        """Stop the renewer (its connection closes with it)."""
        with self._lock:
            self._closed = True
            renewer = self._renewer
        self._wake.set()
        if renewer is not None:
            renewer.join(timeout=30)

    def answer_statement(self, principal: str, key: str, status: int,
                         body: Any) -> tuple[str, tuple[Any, ...]]:
        """The statement that stores an answer: for the transaction that saves the events."""
        return (self.store.sql(f"UPDATE {self.store.prefix}stele_idempotency SET status = ?,"
                               " response = ? WHERE principal = ? AND key = ?"),
                (status, json.dumps(body, ensure_ascii=False), principal, key))

    def answer(self, principal: str, key: str, status: int, body: Any) -> None:
        """Store the answer of a request that wrote nothing (a refusal)."""
        sql, params = self.answer_statement(principal, key, status, body)
        with self.store.transaction() as tx:
            tx.execute(sql, params)

    def purge(self, now: datetime | None = None) -> int:
        """Delete the answers and claims older than the retention period; how many."""
        before = ((now or datetime.now(UTC)) - self.retention).isoformat()
        with self.store.transaction() as tx:
            return int(tx.execute(f"DELETE FROM {self.store.prefix}stele_idempotency"
                                  " WHERE created_at < ?", (before,)).rowcount)

    def release(self, principal: str, key: str) -> None:
        """Forget a claim whose request failed unexpectedly, so a retry runs again."""
        with self.store.transaction() as tx:
            tx.execute(f"DELETE FROM {self.store.prefix}stele_idempotency"
                       " WHERE principal = ? AND key = ? AND status IS NULL", (principal, key))
