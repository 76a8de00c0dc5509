"""RFC 9162 (Certificate Transparency v2) Merkle tree over SHA-256.

Hashes (RFC 9162 §2.1.1), inclusion proofs (§2.1.3), consistency proofs (§2.1.4), and the
compact range: the right edge of a tree being appended to, which the ledger's integrator and
the auditor both keep.

Coordinates: node (level, index) is the root of the perfect subtree over leaves
[index * 2**level, (index + 1) * 2**level); level 0 holds the leaf hashes. Tree sizes and leaf
indexes are uint64, as in RFC 9162's data structures; anything outside [0, 2**64) is refused.

Every public function raises only `verifiers.errors.VerificationError` subclasses.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from verifiers.errors import MalformedError, ProofError, RootMismatchError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "consistency_ranges",
    "consistency_roots",
    "hash_range",
    "inclusion_ranges",
    "leaf_hash",
    "node_hash",
    "range_nodes",
    "root_from_inclusion_proof",
    "root_of",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
_MAX_SIZE = 2**64 - 1

# RFC 9162 §2.1.1: MTH({}) = HASH(), the hash of the empty string.
EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256

# Input checks raise MalformedError for data to build a tree from, ProofError for proof inputs.
_ErrorClass = type[MalformedError] | type[ProofError]


def leaf_hash(leaf: bytes) -> bytes:
    """RFC 9162 §2.1.1: MTH({d(0)}) = HASH(0x00 || d(0))."""
    if not isinstance(leaf, bytes | bytearray | memoryview):
        raise MalformedError("leaf must be bytes", type=type(leaf).__name__)
    return _sha256(_LEAF_PREFIX + bytes(leaf)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: HASH(0x01 || MTH(left) || MTH(right)). Requires two 32-byte hashes."""
    _check_hash("left", left, MalformedError)
    _check_hash("right", right, MalformedError)
    return _sha256(_NODE_PREFIX + left + right).digest()


def _children(left: bytes, right: bytes) -> bytes:
    # node_hash without the checks, for inputs this module has already validated.
    return _sha256(_NODE_PREFIX + left + right).digest()


def _check_hash(what: str, value: object, error: _ErrorClass) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        length = len(value) if isinstance(value, bytes | bytearray) else None
        raise error(f"{what} is not a {HASH_SIZE}-byte hash", length=length)


def _check_hashes(what: str, values: Sequence[bytes], error: _ErrorClass) -> None:
    if isinstance(values, bytes | str) or not isinstance(values, Sequence):
        raise error(f"{what} must be a sequence of hashes", type=type(values).__name__)
    for i, value in enumerate(values):
        _check_hash(f"{what}[{i}]", value, error)


def _check_int(what: str, value: object, error: _ErrorClass) -> int:
    # bool is an int subclass; a True tree size is a caller's bug, not a size of 1.
    if not isinstance(value, int) or isinstance(value, bool):
        raise error(f"{what} must be an integer", type=type(value).__name__)
    if not 0 <= value <= _MAX_SIZE:
        raise error(f"{what} is outside [0, 2**64)", value=value)
    return value


def _largest_power_of_two_below(n: int) -> int:
    # RFC 9162 §2.1.1: "k is the largest power of two smaller than n". Requires n > 1.
    return 1 << ((n - 1).bit_length() - 1)


# --- Tree hash --------------------------------------------------------------------------


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over already-hashed leaves, written as RFC 9162 §2.1.1 defines it.

    The plain recursive definition, kept obviously correct as a reference; `CompactRange`
    computes the same root incrementally. An empty sequence gives `EMPTY_ROOT`.
    """
    _check_hashes("leaf_hashes", leaf_hashes, MalformedError)
    hashes = list(leaf_hashes)

    def mth(start: int, end: int) -> bytes:
        # RFC 9162 §2.1.1: MTH(D[n]) = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n])), k < n <= 2k.
        n = end - start
        if n == 1:
            return hashes[start]
        k = _largest_power_of_two_below(n)
        return _children(mth(start, start + k), mth(start + k, end))

    return mth(0, len(hashes)) if hashes else EMPTY_ROOT


# --- Inclusion proofs -------------------------------------------------------------------


def _inclusion_proof_length(index: int, size: int) -> int:
    # The path to leaf `index` splits from the path to leaf `size - 1` at level
    # inner = bitlen(index ^ (size - 1)); below that it has one sibling per level, above it
    # one left sibling per set bit of index >> inner (as in transparency-dev/merkle).
    # Requires 0 <= index < size.
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def root_from_inclusion_proof(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]
) -> bytes:
    """The root implied by an inclusion proof for leaf `index` in a tree of `size` leaves.

    RFC 9162 §2.1.3.2. Requires 0 <= index < size and a proof of exactly the RFC 9162
    §2.1.3.1 length; raises ProofError otherwise, and for any hash that is not 32 bytes.
    """
    _check_int("index", index, ProofError)
    _check_int("size", size, ProofError)
    # RFC 9162 §2.1.3.2 step 1: leaf_index must be below tree_size.
    if index >= size:
        raise ProofError("leaf index is not below the tree size", index=index, size=size)
    _check_hash("leaf_hash", leaf_hash, ProofError)
    _check_hashes("proof", proof, ProofError)
    want = _inclusion_proof_length(index, size)
    if len(proof) != want:
        raise ProofError("inclusion proof has the wrong length", length=len(proof), want=want)

    # RFC 9162 §2.1.3.2 steps 2-4.
    fn, sn = index, size - 1
    r = leaf_hash
    for p in proof:
        if sn == 0:  # step 4a; unreachable once the length is right, kept as the RFC has it
            raise ProofError("inclusion proof is too long", index=index, size=size)
        if fn & 1 or fn == sn:
            r = _children(p, r)
            # Step 4b.ii: when LSB(fn) is not set, shift until it is or fn is 0.
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = _children(r, p)
        fn >>= 1
        sn >>= 1
    # RFC 9162 §2.1.3.2 step 5: sn must have reached 0.
    if sn != 0:
        raise ProofError("inclusion proof is too short", index=index, size=size)
    return r


def verify_inclusion(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that leaf `index` with `leaf_hash` is in the tree of `size` leaves with `root`.

    RFC 9162 §2.1.3.2. Requires 0 <= index < size. Raises ProofError for a proof that does not
    fit its parameters and RootMismatchError when it leads to another root.
    """
    calculated = root_from_inclusion_proof(index, size, leaf_hash, proof)
    if not isinstance(root, bytes) or calculated != root:
        raise RootMismatchError(root if isinstance(root, bytes) else b"", calculated)


# --- Consistency proofs -----------------------------------------------------------------


def _consistency_proof_length(size1: int, size2: int) -> int:
    # Requires 0 < size1 < size2. The proof is the inclusion path of leaf size1 - 1 in the
    # tree of size2, less the levels inside the perfect subtree of 2**shift leaves that ends
    # at size1 (shift = trailing zeros of size1), plus that subtree's root unless it is the
    # whole old tree (size1 a power of two, when root1 stands in for it).
    shift = (size1 & -size1).bit_length() - 1
    seed = 0 if size1 == 1 << shift else 1
    return seed + _inclusion_proof_length(size1 - 1, size2) - shift


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree of `size2` leaves with `root2` extends the one of `size1` with `root1`.

    RFC 9162 §2.1.4.2, which covers 0 < size1 < size2. The edges:
    - size1 > size2: ProofError (a log does not shrink).
    - size1 == size2: the proof must be empty and the roots equal; for size 0 the root must
      also be EMPTY_ROOT, the only root of an empty tree.
    - size1 == 0 < size2: the empty tree is a prefix of every tree; the proof must be empty,
      root1 must be EMPTY_ROOT and root2 a 32-byte hash.
    Raises ProofError for a proof that does not fit the sizes, RootMismatchError otherwise.
    """
    _check_int("size1", size1, ProofError)
    _check_int("size2", size2, ProofError)
    if size1 > size2:
        raise ProofError("size1 is larger than size2", size1=size1, size2=size2)
    _check_hashes("proof", proof, ProofError)
    if size1 == size2:
        if proof:
            raise ProofError("equal tree sizes need an empty proof", length=len(proof))
        if not isinstance(root1, bytes) or not isinstance(root2, bytes):
            raise ProofError("roots must be bytes")
        if root1 != root2:
            raise RootMismatchError(root1, root2)
        if size1 == 0 and root1 != EMPTY_ROOT:
            raise RootMismatchError(EMPTY_ROOT, root1)
        return
    _check_hash("root1", root1, ProofError)
    _check_hash("root2", root2, ProofError)
    if size1 == 0:
        if proof:
            raise ProofError("a proof from the empty tree must be empty", length=len(proof))
        if root1 != EMPTY_ROOT:
            raise RootMismatchError(EMPTY_ROOT, root1)
        return
    fr, sr = _consistency_roots(size1, size2, proof, root1)
    if fr != root1:
        raise RootMismatchError(root1, fr)
    if sr != root2:
        raise RootMismatchError(root2, sr)


def _consistency_roots(size1: int, size2: int, proof: Sequence[bytes],
                       seed: bytes) -> tuple[bytes, bytes]:
    # RFC 9162 §2.1.4.2 steps 1-7 for 0 < size1 < size2, less the final comparisons: the roots
    # of the first `size1` leaves and of all `size2` that the proof leads to. `seed` stands in
    # for the subtree over [0, size1) when size1 is a power of two (the proof omits it).
    want = _consistency_proof_length(size1, size2)
    if len(proof) != want:
        raise ProofError("consistency proof has the wrong length", length=len(proof), want=want)

    # RFC 9162 §2.1.4.2 step 1 (an empty proof) is excluded by the length check: want >= 1.
    # Step 2: if size1 is an exact power of 2, prepend root1 (the seed) to the path.
    path = [seed, *proof] if size1 & (size1 - 1) == 0 else list(proof)
    # Steps 3-4.
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Steps 5-6.
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:  # step 6a; unreachable once the length is right, kept as the RFC has it
            raise ProofError("consistency proof is too long", size1=size1, size2=size2)
        if fn & 1 or fn == sn:
            fr = _children(c, fr)
            sr = _children(c, sr)
            # Step 6b.iii: when LSB(fn) is not set, shift until it is or fn is 0.
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = _children(sr, c)
        fn >>= 1
        sn >>= 1
    # Step 7 (in part): sn must be 0.
    if sn != 0:
        raise ProofError("consistency proof is too short", size1=size1, size2=size2)
    return fr, sr


def consistency_roots(size1: int, size2: int, proof: Sequence[bytes], root2: bytes, *,
                      seed: bytes | None = None) -> bytes:
    """The root of the first `size1` leaves of the tree of `size2` leaves with `root2`, as a
    consistency proof shows it: what the larger tree says its own prefix was.

    For 0 < size1 < size2. The proof must lead to `root2` (RootMismatchError otherwise),
    which binds the nodes it holds to that tree; the old root it leads to is then that tree's
    root at `size1`, to compare with another checkpoint of `size1` (a differing one proves
    the two trees conflict). When size1 is a power of two the proof leaves out the subtree
    over [0, size1), whose root *is* the old root; give it as `seed` (ProofError without it).
    """
    _check_int("size1", size1, ProofError)
    _check_int("size2", size2, ProofError)
    if not 0 < size1 < size2:
        raise ProofError("consistency_roots needs 0 < size1 < size2", size1=size1, size2=size2)
    _check_hashes("proof", proof, ProofError)
    _check_hash("root2", root2, ProofError)
    if size1 & (size1 - 1) == 0:
        if seed is None:
            raise ProofError("size1 is a power of two: the proof omits the old root, give it "
                             "as seed", size1=size1)
        _check_hash("seed", seed, ProofError)
    else:
        seed = b""  # unused: the proof begins with the subtree
    fr, sr = _consistency_roots(size1, size2, proof, seed)
    if sr != root2:
        raise RootMismatchError(root2, sr)
    return fr


# --- Proof construction over stored nodes -------------------------------------------------


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The [start, end) leaf ranges whose MTH form the inclusion path of leaf `index`.

    RFC 9162 §2.1.3.1 PATH(m, D[n]), in proof order (nearest the leaf first). Requires
    0 <= index < size (ProofError otherwise). Each range is a subtree of the RFC 9162 split,
    so `range_nodes` decomposes it and `hash_range` of those node hashes is its MTH.
    """
    _check_int("index", index, ProofError)
    _check_int("size", size, ProofError)
    if index >= size:
        raise ProofError("leaf index is not below the tree size", index=index, size=size)
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    # Walk from the root down; PATH appends the sibling after the recursive call, so the
    # top-down order found here is the reverse of the proof order.
    while end - start > 1:
        k = _largest_power_of_two_below(end - start)
        if index < start + k:
            # PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])
            ranges.append((start + k, end))
            end = start + k
        else:
            # PATH(m, D[n]) = PATH(m - k, D[k:n]) : MTH(D[0:k])
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def consistency_ranges(size1: int, size2: int) -> list[tuple[int, int]]:
    """The [start, end) leaf ranges whose MTH form the consistency proof from size1 to size2.

    RFC 9162 §2.1.4.1 PROOF(m, D[n]) = SUBPROOF(m, D[n], true), in proof order. Requires
    0 <= size1 <= size2 (ProofError otherwise); returns [] when size1 is 0 or equals size2,
    matching what `verify_consistency` expects. Ranges are subtrees, as for
    `inclusion_ranges`.
    """
    _check_int("size1", size1, ProofError)
    _check_int("size2", size2, ProofError)
    if size1 > size2:
        raise ProofError("size1 is larger than size2", size1=size1, size2=size2)
    if size1 == 0 or size1 == size2:
        return []
    ranges: list[tuple[int, int]] = []
    start, end, m, b = 0, size2, size1, True
    while True:
        if m == end - start:
            # SUBPROOF(m, D[m], b) = {} if b, else {MTH(D[m])}.
            if not b:
                ranges.append((start, end))
            break
        k = _largest_power_of_two_below(end - start)
        if m <= k:
            # SUBPROOF(m, D[n], b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            ranges.append((start + k, end))
            end = start + k
        else:
            # SUBPROOF(m, D[n], b) = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            ranges.append((start, start + k))
            start, m, b = start + k, m - k, False
    ranges.reverse()
    return ranges


def range_nodes(start: int, end: int) -> list[tuple[int, int]]:
    """The perfect subtrees (level, index) that make up the subtree [start, end), left to right.

    Requires start <= end and that [start, end) be a subtree of the RFC 9162 split: start a
    multiple of the smallest power of two >= end - start (every range `inclusion_ranges` and
    `consistency_ranges` return is). Then MTH(D[start:end]) is `hash_range` of these nodes'
    hashes: the RFC 9162 §2.1.1 split of such a range cuts off its largest perfect subtree
    first. Any other range raises ProofError rather than name nodes whose fold is not its MTH.
    An empty range has no nodes (its MTH is EMPTY_ROOT).
    """
    _check_int("start", start, ProofError)
    _check_int("end", end, ProofError)
    if start > end:
        raise ProofError("range start is after its end", start=start, end=end)
    width = end - start
    if width and start % (1 << (width - 1).bit_length()):
        raise ProofError("range is not a subtree of the Merkle tree", start=start, end=end)
    nodes: list[tuple[int, int]] = []
    pos = start
    for level in range(width.bit_length() - 1, -1, -1):
        if width >> level & 1:
            nodes.append((level, pos >> level))
            pos += 1 << level
    return nodes


def hash_range(nodes: Sequence[bytes]) -> bytes:
    """Fold subtree hashes from the right with node_hash: h0 . (h1 . (... . hn)).

    With the hashes of `range_nodes(start, end)` this is MTH(D[start:end]); with the hashes of
    `CompactRange.positions(size)` it is the root of the tree of `size` leaves. No hashes give
    EMPTY_ROOT. Raises MalformedError for a hash that is not 32 bytes.
    """
    _check_hashes("nodes", nodes, MalformedError)
    if not nodes:
        return EMPTY_ROOT
    r = nodes[-1]
    for h in reversed(nodes[:-1]):
        r = _children(h, r)
    return r


# --- Compact range ------------------------------------------------------------------------


class CompactRange:
    """The right edge of a tree being appended to: the compact range [0, size).

    It holds one hash per set bit of `size`: the roots of the perfect subtrees that
    decompose [0, size), largest (leftmost) first, at `positions(size)`. That is enough to
    append leaves and compute the root without the rest of the tree, and `append` reports
    every node it completes so a caller can store the whole tree as it grows.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        """Resume a range from its size and the hashes at `positions(size)`, leftmost first.

        Raises MalformedError unless there is exactly one 32-byte hash per set bit of size.
        """
        _check_int("size", size, MalformedError)
        _check_hashes("hashes", hashes, MalformedError)
        if len(hashes) != size.bit_count():
            raise MalformedError(
                "a compact range holds one hash per set bit of its size",
                size=size,
                hashes=len(hashes),
                want=size.bit_count(),
            )
        self._size = size
        self._hashes = list(hashes)

    @staticmethod
    def positions(size: int) -> list[tuple[int, int]]:
        """(level, index) of the perfect subtrees that decompose [0, size), leftmost first."""
        return range_nodes(0, size)

    @property
    def size(self) -> int:
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The subtree roots at `positions(size)`, leftmost first (a copy)."""
        return tuple(self._hashes)

    def append(self, leaf_hash: bytes) -> list[tuple[int, int, bytes]]:
        """Append one leaf hash; return every node completed, as (level, index, hash).

        The leaf itself comes first (level 0, index = the old size), then each parent it
        completes, bottom up. Raises MalformedError for a hash that is not 32 bytes or a tree
        already holding 2**64 - 1 leaves.
        """
        if leaf_hash.__class__ is not bytes or len(leaf_hash) != HASH_SIZE:
            _check_hash("leaf_hash", leaf_hash, MalformedError)
        index = self._size
        if index == _MAX_SIZE:
            raise MalformedError("tree is full", size=index)
        done = [(0, index, leaf_hash)]
        hashes = self._hashes
        h = leaf_hash
        level = 0
        # Each trailing 1 bit of the old size is a perfect subtree of the same height just to
        # the left; it merges with the new one into their parent.
        while index & 1:
            h = _sha256(_NODE_PREFIX + hashes.pop() + h).digest()
            index >>= 1
            level += 1
            done.append((level, index, h))
        hashes.append(h)
        self._size += 1
        return done

    def root(self) -> bytes:
        """MTH of the leaves so far: the hashes folded right to left; EMPTY_ROOT when empty."""
        hashes = self._hashes
        if not hashes:
            return EMPTY_ROOT
        r = hashes[-1]
        for h in reversed(hashes[:-1]):
            r = _children(h, r)
        return r

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size}, root={self.root().hex()})"
