"""A lease in the store: one process at a time does a side effect (anchoring and renewal call
the TSAs), and another takes over once the holder stops extending it (it died or hangs).

The lease is a row (name, owner, expiry) taken or extended in one transaction, on SQLite and
PostgreSQL alike. Its holder extends it before each side effect (`hold`); a holder that lost it
stops. Clocks of the processes sharing a store are assumed to agree within a small fraction of
the lease's time (NTP), as for every lease.
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import UTC, datetime, timedelta

from ledger.store.tables import LogStore

ANCHORING = "anchoring"  # the lease of anchoring and renewal


def owner_id() -> str:
    """Who holds a lease: host, process and a random part (a restarted pid is someone else)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class Lease:
    def __init__(self, store: LogStore, name: str, *, ttl: timedelta,
                 owner: str | None = None) -> None:
        self.store = store
        self.name = name
        self.ttl = ttl
        self.owner = owner or owner_id()
        self._until: datetime | None = None

    def hold(self) -> bool:
        """Take or extend the lease; True while this process holds it. Extends only once half
        of its time is spent, so holding costs a write every ttl/2, not every call."""
        now = datetime.now(UTC)
        if self._until is not None and now < self._until - self.ttl / 2:
            return True
        until = now + self.ttl
        with self.store.transaction() as tx:
            held = tx.take_lease(self.name, self.owner, now.isoformat(), until.isoformat())
        self._until = until if held else None
        return held

    def release(self) -> None:
        """Give the lease up now (a clean stop), so another process takes over at once."""
        if self._until is None:
            return  # not ours (or lost): nothing to give
        self._until = None
        with self.store.transaction() as tx:
            tx.release_lease(self.name, self.owner)
