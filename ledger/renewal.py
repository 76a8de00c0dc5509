"""Renewal of every checkpoint's evidence record (RFC 4998 §5.2), before its proof can lapse.

Timestamp renewal: one RFC 4998 hash tree over the hash of every record's newest archive
timestamp, one token over its root (from the first configured TSA that answers), and each
record grows by one archive timestamp. Hash-tree renewal (when an algorithm weakens): the same
with H(h(note) || h(ATSSeq)) under the new algorithm, and each record grows by a new chain.
The renewal token is appended to the log as a `log.renewed` entry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from domain.anchor import LogRenewal
from domain.envelope import Actor
from ledger.anchoring import Anchorer, gen_time_of, newest_tsa_expiry, utc_text
from ledger.errors import LedgerError
from ledger.timestamp_client import TimestampError, request_token
from verifiers.canonical import b64
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


def renew(anchorer: Anchorer, *, reason: str, algorithm: str | None = None) -> Renewal:
    """Renew every evidence record at once: timestamps, or (with `algorithm`) hash trees."""
    with anchorer.store.transaction() as tx:
        records = tx.evidence_records()
        notes = {size: note for size, _, note, _ in tx.checkpoints()}
    if not records:
        raise LedgerError("no evidence records to renew: nothing is anchored yet")
    kind = "timestamp" if algorithm is None else "hash_tree"
    alg = algorithm or "sha256"
    if kind == "hash_tree" and alg not in ALGORITHMS:
        raise LedgerError(f"hash-tree renewal takes one of {sorted(ALGORITHMS)}", alg=alg)
    if kind == "timestamp":
        inputs = [timestamp_renewal_input(record) for _, _, record in records]
    else:
        inputs = [hash_tree_renewal_input(
            record, ALGORITHMS[alg](notes[size].encode("utf-8")).digest(), alg)
            for size, _, record in records]
    root, trees = hash_tree(inputs, alg)
    token, tsa, tsa_anchor = _token(anchorer, root, alg)
    renewed = [
        renew_timestamp(record, token, tree) if kind == "timestamp"
        else renew_hash_tree(record, token, alg, tree)
        for (_, _, record), tree in zip(records, trees, strict=True)
    ]
    now = anchorer.clock()
    gen_time = gen_time_of(token)
    with anchorer.store.transaction() as tx:
        for (size, tsa_url, _), record in zip(records, renewed, strict=True):
            tx.update_evidence(size, tsa_url, record, now.isoformat(),
                               utc_text(newest_tsa_expiry(record)))
    anchorer.save(LogRenewal.renew(
        actor=Actor("stele:log", "system", anchorer.actor.agency), at=now,
        renewal="sha-256:" + hashlib.sha256(token).hexdigest(), kind=kind, algorithm=alg,
        reason=reason, records=len(records), tree_root=b64(root), tsa=tsa,
        token="sha-256:" + hashlib.sha256(token).hexdigest(), gen_time=gen_time.isoformat(),
        tsa_anchor=tsa_anchor))
    return Renewal(kind, alg, len(records), tsa, gen_time.isoformat())


def _token(anchorer: Anchorer, digest: bytes, alg: str) -> tuple[bytes, str, str | None]:
    """One token over `digest`, from the first TSA that gives one that verifies."""
    failures = []
    for tsa in anchorer.policy.tsas:
        try:
            token = request_token(tsa, digest, hash_alg=alg)
            anchor = anchorer.check(token.der, digest, alg)
            return token.der, tsa.url, anchor
        except (TimestampError, VerificationError, LedgerError) as exc:
            failures.append(f"{tsa.url}: {exc}")
    raise LedgerError("no TSA gave a renewal token", failures=failures)
