"""`stele audit`: the whole store replayed through `verifiers.log_audit`, plus the checks only
the database can answer (every stored event is in the log, exactly once), every evidence
record re-verified (RFC 4998 §5.3, now), and, given a checkpoint an auditor kept, proof that
today's log extends it (split-view detection)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from ledger.log.tree import consistency_proof, root_at
from ledger.store.tables import LogStore
from verifiers.errors import VerificationError
from verifiers.evidence import verify_evidence_record
from verifiers.log_audit import StoredCheckpoint, audit_log
from verifiers.merkle import verify_consistency
from verifiers.note import VerifierKey, open_note, parse_checkpoint
from verifiers.report import Check, Report, Verdict
from verifiers.timestamp import TrustedRoot


def audit(
    store: LogStore,
    key: VerifierKey,
    origin: str,
    progress: Callable[[int], None] | None = None,
    *,
    tsa_roots: Sequence[bytes | TrustedRoot] = (),
    at: datetime | None = None,
    saved_checkpoint: str | None = None,
) -> Report:
    with store.transaction(snapshot=True) as tx:  # head, checkpoints and counts of one state
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
    extra = _evidence(store, tsa_roots, at or datetime.now(UTC))
    if saved_checkpoint is not None:
        extra.append(_extends(store, key, origin, saved_checkpoint))
    return Report(checks=(*report.checks, coverage, *extra), summary=summary)


def _evidence(store: LogStore, roots: Sequence[bytes | TrustedRoot], at: datetime) -> list[Check]:
    """One check per evidence record: bound to its checkpoint note, every archive timestamp
    valid when the next was made, the newest valid at `at`."""
    with store.transaction(snapshot=True) as tx:
        records = tx.evidence_records()
        notes = {size: row[2] for size in {s for s, _, _ in records}
                 if (row := tx.checkpoint(size)) is not None}
    checks = []  # one per record that does not pass; one "evidence" check if all pass
    for size, tsa, record in records:
        name = f"evidence[{size}:{tsa}]"
        if size not in notes:
            checks.append(Check(name, Verdict.FAILED, "evidence_without_checkpoint",
                                "an evidence record for a checkpoint that is not stored"))
            continue
        report = verify_evidence_record(record, data=notes[size].encode("utf-8"),
                                        trust_roots=roots, at=at)
        if report.failures:
            worst = report.failures[0]
            checks.append(Check(name, report.bottom_line, worst.code, worst.line(),
                                {"proof_of_existence": report.summary["proof_of_existence"]}))
    if not checks:
        checks.append(Check("evidence", Verdict.PASSED, evidence={"records": len(records)}))
    return checks


def _extends(store: LogStore, key: VerifierKey, origin: str, saved: str) -> Check:
    """Does today's log extend a checkpoint the auditor saved earlier? If not, the log showed
    two different histories (a split view), which its signatures make provable."""
    try:
        body = parse_checkpoint(open_note(saved, [key]).text)
    except VerificationError as exc:
        return Check("saved_checkpoint", Verdict.FAILED, exc.code, exc.message)
    if body.origin != origin:
        return Check("saved_checkpoint", Verdict.FAILED, "wrong_origin",
                     "the saved checkpoint is of another log", {"origin": body.origin})
    with store.transaction() as tx:
        size = tx.size()
        if body.size > size:
            return Check("saved_checkpoint", Verdict.FAILED, "split_view",
                         "the saved checkpoint is larger than the log: it shows a history "
                         "this log does not have", {"saved": body.size, "log": size})
        root = root_at(tx, size)
        proof = consistency_proof(tx, body.size, size)
    try:
        verify_consistency(body.size, size, proof, body.root, root)
    except VerificationError as exc:
        return Check("saved_checkpoint", Verdict.FAILED, "split_view",
                     "today's log does not extend the saved checkpoint", {
                         "saved": body.size, "log": size, "detail": exc.diagnostics()})
    return Check("saved_checkpoint", Verdict.PASSED, evidence={"saved": body.size, "log": size})
