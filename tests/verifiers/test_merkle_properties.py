"""verifiers.merkle against a deliberately naive RFC 9162 reference.

The reference below is RFC 9162 §2.1.1 MTH, §2.1.3.1 PATH and §2.1.4.1 SUBPROOF transcribed
as recursion over Python slices, memoised per tree only so that checking every tree size
stays fast. The proofs under test are built the way the ledger builds them: from
inclusion_ranges / consistency_ranges, range_nodes and hash_range over the nodes that
CompactRange.append reported.
"""

from __future__ import annotations

import hashlib
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verifiers.errors import MalformedError, ProofError, RootMismatchError, VerificationError
from verifiers.merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_ranges,
    hash_range,
    inclusion_ranges,
    leaf_hash,
    node_hash,
    range_nodes,
    root_from_inclusion_proof,
    root_of,
    verify_consistency,
    verify_inclusion,
)

MAX_SIZE = 300
PROPERTY = settings(max_examples=150, deadline=None)


# --- The naive reference ------------------------------------------------------------------


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


class Naive:
    """RFC 9162 over the list of leaf data D, written as the RFC writes it."""

    def __init__(self, data: list[bytes]) -> None:
        self.d = data
        self.mth = cache(self._mth)

    def _mth(self, start: int, end: int) -> bytes:
        n = end - start
        if n == 0:
            return _sha256(b"")
        if n == 1:
            return _sha256(b"\x00" + self.d[start])
        k = _k(n)
        return _sha256(b"\x01" + self.mth(start, start + k) + self.mth(start + k, end))

    def path(self, m: int, start: int, end: int) -> list[bytes]:
        n = end - start
        if n == 1:
            return []
        k = _k(n)
        if m < k:
            return [*self.path(m, start, start + k), self.mth(start + k, end)]
        return [*self.path(m - k, start + k, end), self.mth(start, start + k)]

    def proof(self, m: int, n: int) -> list[bytes]:
        return self.subproof(m, 0, n, True)

    def subproof(self, m: int, start: int, end: int, b: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if b else [self.mth(start, end)]
        k = _k(n)
        if m <= k:
            return [*self.subproof(m, start, start + k, b), self.mth(start + k, end)]
        return [*self.subproof(m - k, start + k, end, False), self.mth(start, start + k)]


def path_shape(m: int, n: int) -> list[str]:
    """Which side each PATH(m, D[n]) hash sits on: all a verifier may derive from m and n."""
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*path_shape(m, k), "right"]
    return [*path_shape(m - k, n - k), "left"]


def proof_shape(m: int, n: int, b: bool = True) -> list[str]:
    """The same for SUBPROOF(m, D[n], b): where each hash goes in the old and new trees."""
    if m == n:
        return [] if b else ["seed"]
    k = _k(n)
    if m <= k:
        return [*proof_shape(m, k, b), "right-new-only"]
    return [*proof_shape(m - k, n - k, False), "left-both"]


# --- Trees built the ledger's way ---------------------------------------------------------


def leaf_data(seed: bytes, size: int) -> list[bytes]:
    return [seed + i.to_bytes(4, "big") for i in range(size)]


def grow(data: list[bytes]) -> tuple[CompactRange, dict[tuple[int, int], bytes]]:
    """Append every leaf; keep every node append reports, as the integrator stores them."""
    edge = CompactRange()
    nodes: dict[tuple[int, int], bytes] = {}
    for d in data:
        for level, index, h in edge.append(leaf_hash(d)):
            assert (level, index) not in nodes, "a node was reported twice"
            nodes[(level, index)] = h
    return edge, nodes


def fetch(nodes: dict[tuple[int, int], bytes], ranges: list[tuple[int, int]]) -> list[bytes]:
    return [hash_range([nodes[p] for p in range_nodes(start, end)]) for start, end in ranges]


def flip(h: bytes, bit: int) -> bytes:
    return h[: bit // 8] + bytes([h[bit // 8] ^ (1 << (bit % 8))]) + h[bit // 8 + 1 :]


sizes = st.integers(min_value=1, max_value=MAX_SIZE)
seeds = st.binary(max_size=8)


@st.composite
def size_and_index(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(sizes)
    return size, draw(st.integers(min_value=0, max_value=size - 1))


@st.composite
def two_sizes(draw: st.DrawFn) -> tuple[int, int]:
    size2 = draw(sizes)
    return draw(st.integers(min_value=0, max_value=size2)), size2


# --- Tree hashes and the compact range ------------------------------------------------------


@PROPERTY
@given(seed=seeds, size=sizes)
def test_roots_agree_at_every_size(seed: bytes, size: int) -> None:
    data = leaf_data(seed, size)
    naive = Naive(data)
    hashes = [leaf_hash(d) for d in data]
    edge = CompactRange()
    assert edge.root() == root_of([]) == naive.mth(0, 0) == EMPTY_ROOT
    for n in range(1, size + 1):
        edge.append(hashes[n - 1])
        assert edge.size == n
        assert edge.root() == root_of(hashes[:n]) == naive.mth(0, n)
        assert len(edge.hashes) == n.bit_count()
        assert hash_range(list(edge.hashes)) == edge.root()


@PROPERTY
@given(seed=seeds, size=sizes)
def test_append_reports_every_complete_node_once_with_its_hash(seed: bytes, size: int) -> None:
    data = leaf_data(seed, size)
    naive = Naive(data)
    _, nodes = grow(data)
    # A tree of n leaves has floor(n / 2**level) complete nodes at each level.
    assert len(nodes) == sum(size >> level for level in range(size.bit_length()))
    for (level, index), h in nodes.items():
        assert h == naive.mth(index << level, (index + 1) << level)


@PROPERTY
@given(seed=seeds, size=sizes, data=st.data())
def test_compact_range_resumed_mid_way_continues_identically(
    seed: bytes, size: int, data: st.DataObject
) -> None:
    cut = data.draw(st.integers(min_value=0, max_value=size), label="cut")
    hashes = [leaf_hash(d) for d in leaf_data(seed, size)]
    whole, nodes = grow(leaf_data(seed, cut))
    assert list(whole.hashes) == [nodes[p] for p in CompactRange.positions(cut)]
    resumed = CompactRange(cut, [nodes[p] for p in CompactRange.positions(cut)])
    assert resumed.size == cut
    assert resumed.root() == whole.root()
    for h in hashes[cut:]:
        assert resumed.append(h) == whole.append(h)
        assert resumed.root() == whole.root()
        assert resumed.hashes == whole.hashes
    assert whole.root() == root_of(hashes)


def test_positions_are_the_set_bits_of_size_leftmost_first() -> None:
    assert CompactRange.positions(0) == []
    assert CompactRange.positions(1) == [(0, 0)]
    assert CompactRange.positions(8) == [(3, 0)]
    assert CompactRange.positions(13) == [(3, 0), (2, 2), (0, 12)]


def test_compact_range_refuses_a_wrong_number_of_hashes() -> None:
    h = leaf_hash(b"x")
    with pytest.raises(MalformedError):
        CompactRange(3, [h])
    with pytest.raises(MalformedError):
        CompactRange(2, [h, h])
    with pytest.raises(MalformedError):
        CompactRange(1, [b"short"])
    with pytest.raises(MalformedError):
        CompactRange().append(b"short")


def test_range_nodes_refuses_ranges_whose_fold_is_not_their_mth() -> None:
    # [1, 4) is not a subtree: MTH(D[1:4]) = H(H(d1, d2), d3), but the aligned pieces
    # [1, 2) and [2, 4) fold to H(d1, H(d2, d3)).
    with pytest.raises(ProofError):
        range_nodes(1, 4)
    with pytest.raises(ProofError):
        range_nodes(3, 2)
    assert range_nodes(4, 4) == []
    assert range_nodes(8, 13) == [(2, 2), (0, 12)]


def test_node_hash_and_leaf_hash_domain_separation() -> None:
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert a == _sha256(b"\x00a")
    assert node_hash(a, b) == _sha256(b"\x01" + a + b)
    # An interior node does not verify as a leaf (the flaw of merkletools, see FIELD-NOTES).
    assert leaf_hash(a + b) != node_hash(a, b)
    with pytest.raises(MalformedError):
        node_hash(a, b"short")


# --- Inclusion proofs -----------------------------------------------------------------------


@PROPERTY
@given(seed=seeds, si=size_and_index())
def test_inclusion_proofs_equal_the_naive_path_and_verify(seed: bytes, si: tuple[int, int]) -> None:
    size, index = si
    data = leaf_data(seed, size)
    naive = Naive(data)
    _, nodes = grow(data)
    proof = fetch(nodes, inclusion_ranges(index, size))
    assert proof == naive.path(index, 0, size)
    root = naive.mth(0, size)
    leaf = leaf_hash(data[index])
    assert root_from_inclusion_proof(index, size, leaf, proof) == root
    verify_inclusion(index, size, leaf, proof, root)


@PROPERTY
@given(seed=seeds, si=size_and_index(), data=st.data())
def test_tampered_inclusion_proofs_fail(
    seed: bytes, si: tuple[int, int], data: st.DataObject
) -> None:
    size, index = si
    leaves = leaf_data(seed, size)
    naive = Naive(leaves)
    proof = naive.path(index, 0, size)
    root = naive.mth(0, size)
    leaf = leaf_hash(leaves[index])

    with pytest.raises(RootMismatchError):
        verify_inclusion(index, size, leaf, proof, flip(root, data.draw(st.integers(0, 255))))
    with pytest.raises(RootMismatchError):
        verify_inclusion(index, size, leaf_hash(b"not" + leaves[index]), proof, root)
    if proof:
        at = data.draw(st.integers(0, len(proof) - 1), label="proof[i]")
        bad = [*proof]
        bad[at] = flip(bad[at], data.draw(st.integers(0, 255), label="bit"))
        with pytest.raises(RootMismatchError):
            verify_inclusion(index, size, leaf, bad, root)
    with pytest.raises(ProofError):
        verify_inclusion(index, size, leaf, [*proof, root], root)

    other = data.draw(st.integers(0, 2 * MAX_SIZE).filter(lambda i: i != index), label="index")
    with pytest.raises(VerificationError):
        verify_inclusion(other, size, leaf, proof, root)

    # A proof does not bind the tree size by itself: where the wrong size gives the same
    # shape of path, it is the very same computation and verifies. That is why sizes come
    # from signed checkpoints. Otherwise it must fail.
    wrong = data.draw(st.integers(1, 2 * MAX_SIZE).filter(lambda s: s != size), label="size")
    if index < wrong and path_shape(index, wrong) == path_shape(index, size):
        verify_inclusion(index, wrong, leaf, proof, root)
    else:
        with pytest.raises(VerificationError):
            verify_inclusion(index, wrong, leaf, proof, root)


def test_a_proof_alone_does_not_bind_the_tree_size() -> None:
    # PATH(0, D[3]) = [d1, d2] hashes as H(H(d0, d1), d2), which is also how a verifier
    # combines a two-hash path for leaf 0 of a tree of 4. Sizes must come from checkpoints.
    naive = Naive([b"a", b"b", b"c"])
    proof, root = naive.path(0, 0, 3), naive.mth(0, 3)
    assert path_shape(0, 3) == path_shape(0, 4)
    verify_inclusion(0, 4, leaf_hash(b"a"), proof, root)
    with pytest.raises(ProofError):  # leaf 0 of 5 has a three-hash path
        verify_inclusion(0, 5, leaf_hash(b"a"), proof, root)


def test_inclusion_refuses_bad_shapes() -> None:
    h = leaf_hash(b"x")
    for index, size, proof in [(0, 0, []), (1, 1, []), (-1, 2, [h]), (0, 2**64, []), (0, 1, [h])]:
        with pytest.raises(ProofError):
            root_from_inclusion_proof(index, size, h, proof)
    with pytest.raises(ProofError):
        root_from_inclusion_proof(0, 2, h, [b"short"])
    with pytest.raises(ProofError):
        root_from_inclusion_proof(0, 1, b"short", [])
    with pytest.raises(ProofError):
        inclusion_ranges(3, 3)


# --- Consistency proofs ---------------------------------------------------------------------


@PROPERTY
@given(seed=seeds, sizes12=two_sizes())
def test_consistency_proofs_equal_the_naive_proof_and_verify(
    seed: bytes, sizes12: tuple[int, int]
) -> None:
    size1, size2 = sizes12
    data = leaf_data(seed, size2)
    naive = Naive(data)
    _, nodes = grow(data)
    proof = fetch(nodes, consistency_ranges(size1, size2))
    want = naive.proof(size1, size2) if 0 < size1 < size2 else []
    assert proof == want
    verify_consistency(size1, size2, proof, naive.mth(0, size1), naive.mth(0, size2))


@PROPERTY
@given(seed=seeds, sizes12=two_sizes(), data=st.data())
def test_tampered_consistency_proofs_fail(
    seed: bytes, sizes12: tuple[int, int], data: st.DataObject
) -> None:
    size1, size2 = sizes12
    leaves = leaf_data(seed, size2)
    naive = Naive(leaves)
    proof = naive.proof(size1, size2) if 0 < size1 < size2 else []
    root1, root2 = naive.mth(0, size1), naive.mth(0, size2)
    bit = data.draw(st.integers(0, 255), label="bit")

    with pytest.raises(VerificationError):
        verify_consistency(size1, size2, proof, flip(root1, bit), root2)
    if size1 > 0:  # every tree extends the empty one: with size1 = 0, root2 is free
        with pytest.raises(VerificationError):
            verify_consistency(size1, size2, proof, root1, flip(root2, bit))
    if proof:
        at = data.draw(st.integers(0, len(proof) - 1), label="proof[i]")
        bad = [*proof]
        bad[at] = flip(bad[at], bit)
        with pytest.raises(VerificationError):
            verify_consistency(size1, size2, bad, root1, root2)
        with pytest.raises(ProofError):
            verify_consistency(size1, size2, proof[:-1], root1, root2)
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, [*proof, root2], root1, root2)
    with pytest.raises(ProofError):
        verify_consistency(size2 + 1, size2, [], root1, root2)

    # As for inclusion, a wrong size verifies exactly when it gives the same proof shape
    # (or when the old tree is empty, which every tree extends).
    wrong1 = data.draw(st.integers(1, 2 * MAX_SIZE).filter(lambda s: s != size1), label="size1")
    wrong2 = data.draw(st.integers(1, 2 * MAX_SIZE).filter(lambda s: s != size2), label="size2")
    for s1, s2 in [(wrong1, size2), (size1, wrong2)]:
        same = (s1 == size1 == 0) or (
            0 < size1 < size2
            and 0 < s1 < s2
            and proof_shape(s1, s2) == proof_shape(size1, size2)
            and (s1 & (s1 - 1) == 0) == (size1 & (size1 - 1) == 0)
        )
        if same:
            verify_consistency(s1, s2, proof, root1, root2)
        else:
            with pytest.raises(VerificationError):
                verify_consistency(s1, s2, proof, root1, root2)


def test_consistency_edges() -> None:
    h = leaf_hash(b"x")
    verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)
    verify_consistency(0, 5, [], EMPTY_ROOT, h)
    verify_consistency(3, 3, [], h, h)
    with pytest.raises(RootMismatchError):
        verify_consistency(0, 5, [], h, h)  # the empty tree has one root
    with pytest.raises(RootMismatchError):
        verify_consistency(0, 0, [], h, h)
    with pytest.raises(RootMismatchError):
        verify_consistency(3, 3, [], h, EMPTY_ROOT)
    with pytest.raises(ProofError):
        verify_consistency(0, 5, [h], EMPTY_ROOT, h)
    with pytest.raises(ProofError):
        verify_consistency(3, 3, [h], h, h)
    with pytest.raises(ProofError):
        verify_consistency(1, 2, [], h, h)
    with pytest.raises(ProofError):
        verify_consistency(1, 2, None, h, h)  # type: ignore[arg-type]
    assert consistency_ranges(0, 7) == consistency_ranges(7, 7) == []
    with pytest.raises(ProofError):
        consistency_ranges(8, 7)
