"""The integrator: reads the notification log in order and appends each event as the next leaf.

Leaf indexes are assigned here, densely, by exactly one writer at a time (an exclusive
transaction), in the same transaction that stores the leaves, the new tree nodes and the
cursor (the notification id of the last leaf). So after any crash the log is a prefix of the
notification log, with no gap and no duplicate; the next run carries on from the cursor.
PostgreSQL notification ids may have gaps (rolled-back inserts burn ids); we never use them as
leaf indexes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ledger.errors import CorruptStoreError
from ledger.log.tree import compact_range
from ledger.store.content import ContentStore
from ledger.store.tables import LogStore
from verifiers.merkle import leaf_hash

BATCH = 10_000  # events per integrator transaction: fewer, larger SQLite WAL commits


@dataclass(frozen=True)
class Integrated:
    first: int  # index of the first new leaf
    count: int


class Integrator:
    def __init__(self, store: LogStore, content: ContentStore, batch: int = BATCH) -> None:
        self.store = store
        self.content = content
        self.batch = batch

    def run(self, progress: Callable[[int], None] | None = None) -> Integrated:
        """Integrate everything written so far; returns what this call appended."""
        first, total = -1, 0
        while True:
            start, count = self._batch()
            if count == 0:
                break
            if first < 0:
                first = start
            total += count
            if progress is not None:
                progress(count)
        self.purge()
        return Integrated(first=max(first, 0), count=total)

    def _batch(self) -> tuple[int, int]:
        with self.store.transaction(exclusive=True) as tx:
            size, cursor = tx.head()
            events = tx.events_after(cursor, self.batch)
            if not events:
                return size, 0
            edge = compact_range(tx, size)
            leaves: list[tuple[int, int, bytes]] = []
            nodes: list[tuple[int, int, bytes]] = []
            created: list[tuple[str, str, str | None, str, str, int]] = []
            later: list[tuple[str, str, bytes, int]] = []  # receipts and destructions, in order
            uses: list[tuple[str, str, int, str]] = []  # what depends on which trust anchor
            for notification_id, record, version, state in events:
                tail = _tail(state)
                if tail.get("record", "").replace("-", "") != record or (
                    tail.get("version") != version
                ):
                    raise CorruptStoreError(
                        "stored event bytes belong to another event",
                        notification_id=notification_id,
                    )
                kind, index = tail.get("type"), edge.size
                if kind in ("record.created", "record.received"):
                    agency = _actor_agency(state)
                    created.append((tail["record"], "record", _content_digest(state), agency,
                                    agency, index))
                elif kind == "dossier.opened":
                    agency = _actor_agency(state)
                    created.append((tail["record"], "dossier", None, agency, agency, index))
                elif kind in ("record.transfer_received", "record.destroyed"):
                    later.append((kind, tail["record"], state, index))
                elif kind in _ANCHOR_USES:
                    uses += _anchor_uses(kind, state, index)
                for level, node_index, node in edge.append(leaf_hash(state)):
                    if level == 0:
                        leaves.append((node_index, notification_id, node))
                    else:
                        nodes.append((level, node_index, node))
            tx.append(leaves, nodes)
            tx.add_records(created)
            tx.add_anchor_uses(uses)
            for kind, record_id, state, index in later:
                if kind == "record.destroyed":
                    tx.destroyed(record_id, index)
                else:  # custody moves to the receiver: only the destination may receive
                    tx.set_custodian(record_id, _actor_agency(state))
            return size, len(events)

    def purge(self) -> list[str]:
        """Delete the content of destroyed records that nothing else holds; safe to repeat
        after a crash (a digest leaves the queue in the transaction that deletes it)."""
        with self.store.transaction() as tx:
            pending = tx.pending_purges()
        return [digest for digest in pending if self.content.purge_unheld(digest)]


# The integrator reads only what it needs from each event, relying on the canonical form: keys
# are sorted, so an envelope ends `,"record":...,"type":...,"v":1,"version":N}` after `data`,
# and no JSON string holds an unescaped quote, so the last `,"record":"` is the envelope's own.
# The full parse and every check are the audit's (verifiers/log_audit.py); this is the hot path.
_RECORD_KEY = b',"record":"'
# `content` sorts first in the data of record.created and record.received
_CONTENT_DIGEST = b'"data":{"content":{"digest":"'


def _tail(state: bytes) -> dict[str, Any]:
    start = state.rfind(_RECORD_KEY)
    try:
        value = json.loads(b"{" + state[start + 1 :]) if start >= 0 else None
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise CorruptStoreError("stored event is not an envelope")
    return value


_ACTOR_AGENCY = b'{"actor":{"agency":"'  # every envelope opens with its actor's agency

# Events that rest on a trust anchor: a validated signature, a checkpoint's timestamp.
_ANCHOR_USES = {"record.signed": "signature", "log.anchored": "timestamp",
                "log.renewed": "renewal"}


def _anchor_uses(kind: str, state: bytes, index: int) -> list[tuple[str, str, int, str]]:
    event = json.loads(state)  # rare events: the full parse is affordable
    data = event["data"]
    anchor = (data.get("validation") or {}).get("anchor") if kind == "record.signed" else (
        data.get("tsa_anchor"))
    return [(anchor, _ANCHOR_USES[kind], index, event["at"])] if anchor else []


def _actor_agency(state: bytes) -> str:
    if not state.startswith(_ACTOR_AGENCY):
        raise CorruptStoreError("event does not open with its actor")
    start = len(_ACTOR_AGENCY)
    return state[start : state.index(b'"', start)].decode("ascii")


def _content_digest(state: bytes) -> str:
    start = state.find(_CONTENT_DIGEST)
    if start < 0:
        raise CorruptStoreError("created event without a content digest")
    start += len(_CONTENT_DIGEST)
    return state[start : state.index(b'"', start)].decode("ascii")
