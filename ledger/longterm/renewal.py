"""Renewal of every checkpoint's evidence record (RFC 4998 §5.2), before its proof can lapse.

Timestamp renewal: one RFC 4998 hash tree over the hash of every record's newest archive
timestamp, one token over its root (from the first configured TSA that answers), and each
record grows by one archive timestamp. Hash-tree renewal (when an algorithm weakens): the same
with H(h(note) || h(ATSSeq)) under the new algorithm, and each record grows by a new chain.
The renewal token is appended to the log as a `log.renewed` entry. Renewal is resumable and
done by the anchoring lease's holder alone (see `renew`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from eventsourcing.persistence import IntegrityError

from domain.anchor import LogRenewal
from domain.envelope import Actor
from domain.errors import InvalidInputError
from ledger.errors import CorruptStoreError, LeaseLostError, LedgerError, NothingToRenewError
from ledger.longterm.anchoring import Anchorer, newest_tsa_expiry, read_stamp, utc_text
from ledger.longterm.tsa_client import TsaRequestError, request_token
from ledger.store.tables import Tx
from verifiers.canonical import b64
from verifiers.digest import digest_of
from verifiers.errors import VerificationError
from verifiers.ers import (
    hash_tree,
    hash_tree_renewal_input,
    renew_hash_tree,
    renew_timestamp,
    timestamp_renewal_input,
)

ALGORITHMS = {"sha256": hashlib.sha256, "sha512": hashlib.sha512, "sha3_512": hashlib.sha3_512}


@dataclass(frozen=True)
class Renewal:
    kind: str
    algorithm: str
    records: int
    tsa: str
    gen_time: str


def due(anchorer: Anchorer, margin: timedelta) -> list[tuple[int, str, str]]:
    """(size, tsa, expiry) of every record whose newest TSA certificate expires within
    `margin` from now."""
    with anchorer.store.transaction() as tx:
        return tx.evidence_expiring(utc_text(anchorer.clock() + margin))


def renew(anchorer: Anchorer, *, reason: str, algorithm: str | None = None,
          hold: Callable[[], bool] = lambda: True) -> Renewal:
    """Renew every evidence record at once: timestamps, or (with `algorithm`) hash trees.
    A renewal left under way by a crash is finished first (and is the one returned).

    Each step is stored before the next: planned (the records and the tree root), stamped
    (the token), applied (every record renewed, in one transaction), done (the `log.renewed`
    entry saved). A restart resumes at the stored step; `hold` (the lease) is asked before the
    TSA is called, so only the lease holder calls it."""
    plan = _open_or_plan(anchorer, reason, algorithm)
    if plan.state == "planned":
        if not hold():
            raise LeaseLostError("another process holds the anchoring lease")
        token, tsa, anchor = _token(anchorer, plan.root, plan.algorithm)
        with anchorer.store.transaction() as tx:
            tx.renewal_step(plan.id, "planned", "stamped", token=token, tsa=tsa,
                            tsa_anchor=anchor)
        plan = _reload(anchorer, plan.id)
    if plan.state == "stamped":
        _apply(anchorer, plan)
        plan = _reload(anchorer, plan.id)
    assert plan.token is not None and plan.tsa is not None  # stamped before applied
    stamp = read_stamp(plan.token)
    token_digest = digest_of(plan.token)
    if plan.state == "applied":
        # The entry's id derives from the token: saved before a crash, the store refuses it
        # again, and the step is marked done all the same.
        with contextlib.suppress(IntegrityError):
            anchorer.save(LogRenewal.renew(
                actor=Actor("stele:log", "system", anchorer.actor.agency), at=anchorer.clock(),
                renewal=token_digest, kind=plan.kind, algorithm=plan.algorithm,
                reason=plan.reason, records=len(plan.records), tree_root=b64(plan.root),
                tsa=plan.tsa, token=token_digest, gen_time=stamp.gen_time.isoformat(),
                tsa_anchor=plan.tsa_anchor))
        with anchorer.store.transaction() as tx:
            tx.renewal_step(plan.id, "applied", "done")
    return Renewal(plan.kind, plan.algorithm, len(plan.records), plan.tsa,
                   stamp.gen_time.isoformat())


@dataclass(frozen=True)
class _Plan:
    id: str
    state: str
    kind: str
    algorithm: str
    reason: str
    records: list[tuple[int, str]]  # (checkpoint size, tsa) of every record renewed
    root: bytes
    tsa: str | None
    token: bytes | None
    tsa_anchor: str | None


def _plan_of(row: tuple[Any, ...]) -> _Plan:
    return _Plan(str(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]),
                 [(int(size), str(tsa)) for size, tsa in json.loads(row[5])], bytes(row[6]),
                 None if row[7] is None else str(row[7]),
                 None if row[8] is None else bytes(row[8]),
                 None if row[9] is None else str(row[9]))


def _reload(anchorer: Anchorer, renewal: str) -> _Plan:
    with anchorer.store.transaction() as tx:
        return _plan_of(tx.renewal(renewal))


def _inputs(tx: Tx, kind: str, alg: str,
            records: list[tuple[int, str, bytes]]) -> list[bytes]:
    if kind == "timestamp":
        return [timestamp_renewal_input(record) for _, _, record in records]
    notes = {size: note for size, _, note, _ in tx.checkpoints()}
    return [hash_tree_renewal_input(
        record, ALGORITHMS[alg](notes[size].encode("utf-8")).digest(), alg)
        for size, _, record in records]


def _open_or_plan(anchorer: Anchorer, reason: str, algorithm: str | None) -> _Plan:
    kind = "timestamp" if algorithm is None else "hash_tree"
    alg = algorithm or "sha256"
    if kind == "hash_tree" and alg not in ALGORITHMS:
        raise InvalidInputError(f"hash-tree renewal takes one of {sorted(ALGORITHMS)}",
                                alg=alg)
    with anchorer.store.transaction(exclusive=True) as tx:
        row = tx.open_renewal()
        if row is not None:
            return _plan_of(row)
        records = tx.evidence_records()
        if not records:
            raise NothingToRenewError("no evidence records to renew: nothing is anchored yet")
        root, _ = hash_tree(_inputs(tx, kind, alg, records), alg)
        renewal = uuid.uuid4().hex
        tx.plan_renewal((renewal, "planned", kind, alg, reason,
                         json.dumps([[size, tsa] for size, tsa, _ in records]), root, None,
                         None, None, anchorer.clock().isoformat()))
    return _Plan(renewal, "planned", kind, alg, reason,
                 [(size, tsa) for size, tsa, _ in records], root, None, None, None)


def _apply(anchorer: Anchorer, plan: _Plan) -> None:
    """Every planned record grows by the renewal, in one transaction with the step."""
    assert plan.token is not None
    with anchorer.store.transaction(exclusive=True) as tx:
        stored = {(size, tsa): record for size, tsa, record in tx.evidence_records()}
        records = [(size, tsa, stored[size, tsa]) for size, tsa in plan.records]
        root, trees = hash_tree(_inputs(tx, plan.kind, plan.algorithm, records),
                                plan.algorithm)
        if root != plan.root:
            raise CorruptStoreError("evidence records changed under a renewal",
                                    renewal=plan.id)
        now = anchorer.clock().isoformat()
        for (size, tsa, record), tree in zip(records, trees, strict=True):
            renewed = (renew_timestamp(record, plan.token, tree) if plan.kind == "timestamp"
                       else renew_hash_tree(record, plan.token, plan.algorithm, tree))
            tx.update_evidence(size, tsa, renewed, now, utc_text(newest_tsa_expiry(renewed)))
        if not tx.renewal_step(plan.id, "stamped", "applied"):
            raise LeaseLostError("another process applied this renewal first")


def _token(anchorer: Anchorer, digest: bytes, alg: str) -> tuple[bytes, str, str | None]:
    """One token over `digest`, from the first TSA that gives one that verifies."""
    failures = []
    for tsa in anchorer.policy.tsas:
        try:
            token = request_token(tsa, digest, hash_alg=alg)
            anchor = anchorer.check(read_stamp(token.der), digest, alg)
            return token.der, tsa.url, anchor
        except (TsaRequestError, VerificationError, LedgerError) as exc:
            failures.append(f"{tsa.url}: {exc}")
    raise LedgerError("no TSA gave a renewal token", failures=failures)
