"""A full audit of a log, from fetch functions: no database, so it runs on any source.

Replays every leaf in order and re-proves, with the rules of this package:
(1) each leaf's bytes are a canonical event envelope; (2) its stored leaf hash is RFC 9162's
hash of those bytes; (3) each record's hash chain (version and `prev`) is unbroken;
(4) every stored interior node equals the one recomputed from the leaves; (5) each checkpoint's
root equals the recomputed root at its size, its signed note verifies under the log key and
states that origin, size and root; (6) successive checkpoints are consistent (RFC 9162 §2.1.4).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from verifiers.chain import ChainFollower
from verifiers.errors import VerificationError
from verifiers.merkle import CompactRange, leaf_hash, verify_consistency
from verifiers.note import VerifierKey, open_note, parse_checkpoint
from verifiers.report import Check, Report, Verdict

PAGE = 5000

# (index, stored leaf hash, event bytes) for start <= index < end
LeafFetch = Callable[[int, int], Sequence[tuple[int, bytes, bytes]]]
# (level, first index, end index) -> stored (index, hash) of interior nodes at that level
NodeFetch = Callable[[int, int, int], Sequence[tuple[int, bytes]]]
# (size1, size2) -> consistency proof built by the log under audit
ProofFetch = Callable[[int, int], Sequence[bytes]]


@dataclass(frozen=True)
class StoredCheckpoint:
    size: int
    root: bytes
    note: str


class _Findings:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.checks: list[Check] = []
        self.counts: Counter[str] = Counter()

    def fail(self, name: str, code: str, message: str, **evidence: Any) -> None:
        self.counts[code] += 1
        if len(self.checks) < self.limit:
            self.checks.append(Check(name, Verdict.FAILED, code, message, evidence))


def audit_log(
    *,
    size: int,
    leaves: LeafFetch,
    inner_nodes: NodeFetch,
    checkpoints: Sequence[StoredCheckpoint],
    consistency: ProofFetch,
    keys: Sequence[VerifierKey],
    origin: str,
    progress: Callable[[int], None] | None = None,
    max_failures: int = 1000,
    page: int = PAGE,
) -> Report:
    """Audit the log of `size` leaves. Never raises for what it finds: every finding is a
    FAILED check with a stable code (leaf_mismatch, envelope_invalid, chain_broken,
    node_mismatch, node_missing, checkpoint_root_mismatch, checkpoint_signature_invalid,
    checkpoint_body_mismatch, checkpoint_beyond_log, checkpoint_inconsistent, leaf_missing)."""
    started = time.perf_counter()
    found = _Findings(max_failures)
    chains = ChainFollower()
    edge = CompactRange()
    due = sorted(checkpoints, key=lambda c: c.size)
    for cp in due:
        if cp.size > size:
            found.fail("checkpoint", "checkpoint_beyond_log", "checkpoint is larger than the log",
                       size=cp.size, log_size=size)
    pending = [cp for cp in due if 0 < cp.size <= size]
    roots: dict[int, bytes] = {}

    for start in range(0, size, page):
        end = min(start + page, size)
        rows = leaves(start, end)
        computed: dict[int, dict[int, bytes]] = {}
        expected_index = start
        for index, stored_hash, event in rows:
            if index != expected_index:
                found.fail("leaf", "leaf_missing", "leaf indexes are not dense",
                           expected=expected_index, found=index)
                break
            expected_index += 1
            if not event:
                found.fail("leaf", "leaf_event_missing", "no stored event for this leaf",
                           index=index)
            else:
                try:
                    chains.follow(event)
                except VerificationError as exc:
                    code = "chain_broken" if exc.code == "chain_broken" else "envelope_invalid"
                    found.fail("event", code, exc.message, index=index, **exc.evidence)
            recomputed = leaf_hash(event)
            if recomputed != stored_hash:
                found.fail("leaf", "leaf_mismatch", "stored leaf hash is not the hash of the event",
                           index=index, stored=stored_hash.hex(), recomputed=recomputed.hex())
            for level, node_index, node in edge.append(recomputed):
                if level > 0:
                    computed.setdefault(level, {})[node_index] = node
            while pending and pending[0].size == edge.size:
                roots[edge.size] = edge.root()
                _check_checkpoint(found, pending.pop(0), edge.root(), keys, origin)
        if expected_index != end:
            found.fail("leaf", "leaf_missing", "leaves are missing", first_missing=expected_index,
                       end=end)
            break
        for level, nodes in computed.items():
            lo, hi = min(nodes), max(nodes) + 1
            stored = dict(inner_nodes(level, lo, hi))
            for node_index, node in nodes.items():
                have = stored.get(node_index)
                if have is None:
                    found.fail("tree", "node_missing", "interior node is not stored",
                               level=level, index=node_index)
                elif have != node:
                    found.fail("tree", "node_mismatch", "stored node differs from recomputed",
                               level=level, index=node_index, stored=have.hex(),
                               recomputed=node.hex())
        if progress is not None:
            progress(end - start)

    previous: StoredCheckpoint | None = None
    for cp in due:
        if cp.size > size or cp.size == 0:
            continue
        if previous is not None:
            try:
                verify_consistency(previous.size, cp.size, consistency(previous.size, cp.size),
                                   previous.root, cp.root)
            except VerificationError as exc:
                found.fail("consistency", "checkpoint_inconsistent", exc.message,
                           first=previous.size, second=cp.size)
        previous = cp

    elapsed = time.perf_counter() - started
    checks = list(found.checks)
    for name in ("event", "leaf", "tree", "checkpoint", "consistency"):
        if not any(c.name == name for c in checks):
            checks.append(Check(name, Verdict.PASSED))
    return Report(
        checks=tuple(checks),
        summary={
            "leaves": size,
            "records": len(chains.heads),
            "checkpoints": len(due),
            "failures": dict(found.counts),
            "seconds": round(elapsed, 3),
            "events_per_second": round(size / elapsed) if elapsed > 0 else None,
        },
    )


def _check_checkpoint(
    found: _Findings, cp: StoredCheckpoint, root: bytes, keys: Sequence[VerifierKey], origin: str
) -> None:
    if cp.root != root:
        found.fail("checkpoint", "checkpoint_root_mismatch",
                   "stored checkpoint root is not the recomputed root", size=cp.size,
                   stored=cp.root.hex(), recomputed=root.hex())
    try:
        note = open_note(cp.note, keys)
    except VerificationError as exc:
        found.fail("checkpoint", "checkpoint_signature_invalid", exc.message, size=cp.size)
        return
    try:
        body = parse_checkpoint(note.text)
    except VerificationError as exc:
        found.fail("checkpoint", "checkpoint_body_mismatch", exc.message, size=cp.size)
        return
    if (body.origin, body.size, body.root) != (origin, cp.size, root):
        found.fail("checkpoint", "checkpoint_body_mismatch",
                   "signed checkpoint states another origin, size or root", size=cp.size,
                   origin=body.origin, stated_size=body.size)
