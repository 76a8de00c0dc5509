"""`stele audit`: the whole store replayed through `verifiers.log_audit`, plus the checks only
the database can answer (every stored event is in the log, exactly once)."""

from __future__ import annotations

from collections.abc import Callable

from ledger.logstore import LogStore
from ledger.tree import consistency_proof
from verifiers.log_audit import StoredCheckpoint, audit_log
from verifiers.note import VerifierKey
from verifiers.report import Check, Report, Verdict


def audit(
    store: LogStore,
    key: VerifierKey,
    origin: str,
    progress: Callable[[int], None] | None = None,
) -> Report:
    with store.transaction() as tx:
        size, cursor = tx.head()
        checkpoints = [StoredCheckpoint(s, r, n) for s, r, n, _ in tx.checkpoints()]
        events = tx.event_count()
        integrated = tx.events_up_to(cursor)

    def leaves(start: int, end: int) -> list[tuple[int, bytes, bytes]]:
        with store.transaction() as tx:
            return [(i, h, e) for i, _, h, e in tx.leaves(start, end)]

    def inner(level: int, start: int, end: int) -> list[tuple[int, bytes]]:
        with store.transaction() as tx:
            return tx.inner_nodes(level, start, end)

    def consistency(first: int, second: int) -> list[bytes]:
        with store.transaction() as tx:
            return consistency_proof(tx, first, second)

    report = audit_log(size=size, leaves=leaves, inner_nodes=inner, checkpoints=checkpoints,
                       consistency=consistency, keys=[key], origin=origin, progress=progress)
    # Every event up to the integrator's cursor must be a leaf: as many events as leaves.
    coverage = (
        Check("coverage", Verdict.PASSED)
        if integrated == size
        else Check("coverage", Verdict.FAILED, "event_not_in_log",
                   "stored events and leaves differ in number up to the cursor",
                   {"events": integrated, "leaves": size})
    )
    summary = dict(report.summary, events=events, backlog=events - integrated)
    return Report(checks=(*report.checks, coverage), summary=summary)
