"""Proofs and roots from the stored tree: O(log n) node reads, never a rebuild.

Which subtrees a proof needs is decided by `verifiers.merkle` (pure); this module only fetches
those nodes, in one query, and folds them.
"""

from __future__ import annotations

from ledger.errors import CorruptStoreError, LogRangeError
from ledger.store.tables import Tx
from verifiers.merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_ranges,
    hash_range,
    inclusion_ranges,
    range_nodes,
)


def _range_hashes(tx: Tx, ranges: list[tuple[int, int]]) -> list[bytes]:
    plans = [range_nodes(start, end) for start, end in ranges]
    found = tx.nodes(key for plan in plans for key in plan)
    try:
        return [hash_range([found[key] for key in plan]) for plan in plans]
    except KeyError as exc:
        raise CorruptStoreError("a tree node is missing from the store", node=str(exc)) from None


def _check_size(tx: Tx, size: int) -> None:
    current = tx.size()
    if not 0 <= size <= current:
        raise LogRangeError(f"tree size {size} is outside 0..{current}", size=size, current=current)


def root_at(tx: Tx, size: int) -> bytes:
    """MTH(D[0:size]) from stored nodes."""
    _check_size(tx, size)
    if size == 0:
        return EMPTY_ROOT
    return _range_hashes(tx, [(0, size)])[0]


def inclusion_proof(tx: Tx, index: int, size: int) -> list[bytes]:
    """RFC 9162 §2.1.3.1 inclusion path of leaf `index` in the tree of `size` leaves."""
    _check_size(tx, size)
    if not 0 <= index < size:
        raise LogRangeError(f"leaf index {index} is outside 0..{size - 1}", index=index, size=size)
    return _range_hashes(tx, inclusion_ranges(index, size))


def consistency_proof(tx: Tx, size1: int, size2: int) -> list[bytes]:
    """RFC 9162 §2.1.4.1 consistency proof from the tree of `size1` leaves to `size2`."""
    _check_size(tx, size2)
    if not 0 <= size1 <= size2:
        raise LogRangeError(
            f"first size {size1} must be between 0 and {size2}", first=size1, second=size2
        )
    if size1 == 0 or size1 == size2:
        return []
    return _range_hashes(tx, consistency_ranges(size1, size2))


def compact_range(tx: Tx, size: int) -> CompactRange:
    """The right edge of the tree at `size`: where the next leaf is appended."""
    positions = CompactRange.positions(size)
    found = tx.nodes(positions)
    try:
        return CompactRange(size, [found[p] for p in positions])
    except KeyError as exc:
        raise CorruptStoreError("a tree node is missing from the store", node=str(exc)) from None
