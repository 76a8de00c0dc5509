"""verifiers.witness (the tlog-witness add-checkpoint body, equivocation evidence) and
verifiers.merkle.consistency_roots, on real trees and Ed25519-signed checkpoints.

Trees are lists of leaf hashes. Their roots are `root_of` (the plain RFC 9162 MTH) and their
consistency proofs are built twice: the ledger's way (consistency_ranges, range_nodes and
hash_range over the nodes CompactRange.append reports) and as RFC 9162 §2.1.4.1 SUBPROOF
transcribed below, and the two must agree.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cached_property

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from verifiers.canonical import canonical_bytes
from verifiers.errors import MalformedError, NoteError, ProofError, RootMismatchError
from verifiers.merkle import (
    CompactRange,
    consistency_ranges,
    consistency_roots,
    hash_range,
    leaf_hash,
    range_nodes,
    root_of,
    verify_consistency,
)
from verifiers.note import format_checkpoint, parse_verifier_key, sign_note, verifier_key
from verifiers.witness import (
    MAX_PROOF_LINES,
    AddCheckpoint,
    EquivocationUnprovenError,
    equivocation_evidence,
    format_add_checkpoint,
    parse_add_checkpoint,
    verify_equivocation,
)

ORIGIN = "example.com/log"
LOG_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
VKEY = verifier_key(ORIGIN, LOG_KEY.public_key().public_bytes_raw())
PROPERTY = settings(max_examples=100, deadline=None)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --- Trees ----------------------------------------------------------------------------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _mth(d: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 over leaf hashes."""
    if len(d) == 1:
        return d[0]
    k = _k(len(d))
    return hashlib.sha256(b"\x01" + _mth(d[:k]) + _mth(d[k:])).digest()


def _subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    """RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], b) over leaf hashes."""
    if m == len(d):
        return [] if b else [_mth(d)]
    k = _k(len(d))
    if m <= k:
        return [*_subproof(m, d[:k], b), _mth(d[k:])]
    return [*_subproof(m - k, d[k:], False), _mth(d[:k])]


class Tree:
    """`size` leaves: b"leaf <i>" below `fork`, b"fork <i>" from it on."""

    def __init__(self, size: int, fork: int | None = None) -> None:
        fork = size if fork is None else fork
        self.hashes = [leaf_hash(b"leaf %d" % i if i < fork else b"fork %d" % i)
                       for i in range(size)]

    @cached_property
    def nodes(self) -> dict[tuple[int, int], bytes]:
        edge = CompactRange()
        nodes: dict[tuple[int, int], bytes] = {}
        for h in self.hashes:
            for level, index, node in edge.append(h):
                nodes[(level, index)] = node
        return nodes

    def root(self, n: int | None = None) -> bytes:
        return root_of(self.hashes[: len(self.hashes) if n is None else n])

    def proof(self, n: int, m: int | None = None) -> list[bytes]:
        m = len(self.hashes) if m is None else m
        ours = [hash_range([self.nodes[p] for p in range_nodes(s, e)])
                for s, e in consistency_ranges(n, m)]
        assert ours == _subproof(n, self.hashes[:m], True)
        return ours

    def note(self, n: int | None = None, *, key: Ed25519PrivateKey = LOG_KEY,
             origin: str = ORIGIN, name: str = ORIGIN) -> str:
        size = len(self.hashes) if n is None else n
        return sign_note(format_checkpoint(origin, size, self.root(size)), name, key)


def _is_power_of_two(n: int) -> bool:
    return n & (n - 1) == 0


# --- consistency_roots ------------------------------------------------------------------------


@st.composite
def two_sizes(draw: st.DrawFn) -> tuple[int, int]:
    m = draw(st.integers(2, 300))
    return draw(st.integers(1, m - 1)), m


@PROPERTY
@given(sizes=two_sizes())
def test_consistency_roots_gives_the_root_of_the_first_n_leaves(sizes: tuple[int, int]) -> None:
    n, m = sizes
    tree = Tree(m)
    seed = tree.root(n) if _is_power_of_two(n) else None
    proof = tree.proof(n)
    verify_consistency(n, m, proof, tree.root(n), tree.root())
    assert consistency_roots(n, m, proof, tree.root(), seed=seed) == tree.root(n)
    if seed is None:  # a seed given when the proof holds the subtree itself is not used
        assert consistency_roots(n, m, proof, tree.root(), seed=b"\x00" * 32) == tree.root(n)


@PROPERTY
@given(sizes=two_sizes(), bit=st.integers(0, 255))
def test_consistency_roots_refuses_another_root2(sizes: tuple[int, int], bit: int) -> None:
    n, m = sizes
    tree = Tree(m)
    root2 = bytearray(tree.root())
    root2[bit // 8] ^= 1 << (bit % 8)
    seed = tree.root(n) if _is_power_of_two(n) else None
    with pytest.raises(RootMismatchError):
        consistency_roots(n, m, tree.proof(n), bytes(root2), seed=seed)
    # The root of another tree of m leaves will not do either.
    with pytest.raises(RootMismatchError):
        consistency_roots(n, m, tree.proof(n), Tree(m, fork=0).root(), seed=seed)


@PROPERTY
@given(sizes=two_sizes(), data=st.data())
def test_consistency_roots_refuses_an_altered_proof_or_seed(sizes: tuple[int, int],
                                                            data: st.DataObject) -> None:
    n, m = sizes
    tree = Tree(m)
    proof = tree.proof(n)
    seed = tree.root(n) if _is_power_of_two(n) else None
    i = data.draw(st.integers(0, len(proof) - 1))
    altered = [*proof[:i], bytes([proof[i][0] ^ 1]) + proof[i][1:], *proof[i + 1:]]
    with pytest.raises(RootMismatchError):
        consistency_roots(n, m, altered, tree.root(), seed=seed)
    if seed is not None:  # the seed is on the path to root2: it is bound too
        with pytest.raises(RootMismatchError):
            consistency_roots(n, m, proof, tree.root(), seed=bytes([seed[0] ^ 1]) + seed[1:])
    with pytest.raises(ProofError):
        consistency_roots(n, m, [*proof, proof[0]], tree.root(), seed=seed)
    if _is_power_of_two(n):
        with pytest.raises(ProofError):
            consistency_roots(n, m, proof, tree.root())


@PROPERTY
@given(sizes=two_sizes(), fork=st.integers(0, 299))
def test_consistency_roots_shows_the_larger_trees_own_prefix(sizes: tuple[int, int],
                                                             fork: int) -> None:
    n, m = sizes
    forked = Tree(m, fork=fork)
    seed = forked.root(n) if _is_power_of_two(n) else None
    got = consistency_roots(n, m, forked.proof(n), forked.root(), seed=seed)
    assert got == forked.root(n)
    assert (got == Tree(n).root()) == (fork >= n)


@pytest.mark.parametrize(("n", "m"), [(0, 5), (5, 5), (6, 5), (-1, 5), (1, 2**64)])
def test_consistency_roots_needs_0_lt_size1_lt_size2(n: int, m: int) -> None:
    with pytest.raises(ProofError):
        consistency_roots(n, m, [], b"\x00" * 32, seed=b"\x00" * 32)


def test_consistency_roots_refuses_bad_hashes() -> None:
    tree = Tree(7)
    with pytest.raises(ProofError):
        consistency_roots(3, 7, [h[:31] for h in tree.proof(3)], tree.root())
    with pytest.raises(ProofError):
        consistency_roots(3, 7, tree.proof(3), tree.root()[:31])
    with pytest.raises(ProofError):
        consistency_roots(4, 7, tree.proof(4), tree.root(), seed=b"\x00" * 31)


# --- add-checkpoint ---------------------------------------------------------------------------

# The tlog-witness "Example request body", verbatim.
SPEC_BODY = """old 20852014
PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=
jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=
5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=
/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=

example.com/behind-the-sofa
20852163
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
\u2014 example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=
"""  # noqa: E501


def test_the_spec_example_body_parses() -> None:
    got = parse_add_checkpoint(SPEC_BODY.encode())
    assert got.old == 20852014
    assert [_b64(p) for p in got.proof] == SPEC_BODY.split("\n")[1:5]
    assert got.note == SPEC_BODY.split("\n\n", 1)[1]
    assert got.note.startswith("example.com/behind-the-sofa\n20852163\n")
    assert format_add_checkpoint(got.old, got.proof, got.note) == SPEC_BODY.encode()


def test_round_trip_of_a_real_request() -> None:
    tree = Tree(40)
    body = format_add_checkpoint(25, tree.proof(25), tree.note())
    assert body.startswith(b"old 25\n" + _b64(tree.proof(25)[0]).encode() + b"\n")
    assert parse_add_checkpoint(body) == AddCheckpoint(25, tuple(tree.proof(25)), tree.note())


def test_old_zero_with_no_proof() -> None:
    note = Tree(3).note()
    body = format_add_checkpoint(0, [], note)
    assert body == b"old 0\n\n" + note.encode()
    assert parse_add_checkpoint(body) == AddCheckpoint(0, (), note)


@PROPERTY
@given(old=st.integers(0, 2**64 - 1),
       proof=st.lists(st.binary(min_size=32, max_size=32), max_size=MAX_PROOF_LINES))
def test_round_trip_for_any_old_size_and_proof(old: int, proof: list[bytes]) -> None:
    note = Tree(3).note()
    assert parse_add_checkpoint(format_add_checkpoint(old, proof, note)) == AddCheckpoint(
        old, tuple(proof), note)


NOTE = Tree(3).note()
H = _b64(b"\x11" * 32)


@pytest.mark.parametrize("body", [
    pytest.param(f"{H}\n\n{NOTE}", id="old-missing"),
    pytest.param(f"\n{NOTE}", id="old-line-empty"),
    pytest.param(f"new 5\n\n{NOTE}", id="other-word"),
    pytest.param(f"Old 5\n\n{NOTE}", id="old-capitalised"),
    pytest.param(f"old 01\n{H}\n\n{NOTE}", id="leading-zero"),
    pytest.param(f"old 00\n\n{NOTE}", id="zero-twice"),
    pytest.param(f"old -1\n\n{NOTE}", id="negative"),
    pytest.param(f"old +5\n\n{NOTE}", id="plus-sign"),
    pytest.param(f"old  5\n\n{NOTE}", id="two-spaces"),
    pytest.param(f"old\t5\n\n{NOTE}", id="tab"),
    pytest.param(f"old 5 \n\n{NOTE}", id="trailing-space"),
    pytest.param(f"old \n\n{NOTE}", id="no-size"),
    pytest.param(f"old 5\r\n\n{NOTE}", id="carriage-return"),
    pytest.param(f"old \u0665\n\n{NOTE}", id="non-ascii-digit"),
    pytest.param(f"old {2**64}\n\n{NOTE}", id="size-2**64"),
    pytest.param(f"old {10**20}\n\n{NOTE}", id="size-21-digits"),
    pytest.param("old 5\n" + f"{H}\n" * 64 + f"\n{NOTE}", id="64-proof-lines"),
    pytest.param(f"old 5\n{H}\n!!not-base64!!\n\n{NOTE}", id="bad-base64-line"),
    pytest.param(f"old 5\n{H[:-1]}\n\n{NOTE}", id="unpadded-base64"),
    pytest.param(f"old 5\n{_b64(bytes(31))}\n\n{NOTE}", id="hash-31-bytes"),
    pytest.param(f"old 5\n{_b64(bytes(33))}\n\n{NOTE}", id="hash-33-bytes"),
    pytest.param(f"old 5\n{H} \n\n{NOTE}", id="proof-line-trailing-space"),
    pytest.param(f"old 5\n{H}\n", id="no-empty-line"),
    pytest.param("old 5", id="only-the-old-line"),
    pytest.param(f"old 5\n{H}\n{NOTE}", id="no-empty-line-before-note"),
    pytest.param("old 5\n\n", id="empty-checkpoint"),
    pytest.param(f"old 5\n{H}\n\n", id="empty-checkpoint-after-proof"),
    pytest.param("", id="empty-body"),
])
def test_malformed_bodies_are_refused(body: str) -> None:
    with pytest.raises(MalformedError) as caught:
        parse_add_checkpoint(body.encode())
    assert caught.value.code == "malformed"


def test_63_proof_lines_are_allowed() -> None:
    body = ("old 5\n" + f"{H}\n" * 63 + f"\n{NOTE}").encode()
    assert len(parse_add_checkpoint(body).proof) == 63


@pytest.mark.parametrize("body", [b"old 5\n\n\xff\xfe", "old 5\n\nnote\n", None])
def test_bodies_that_are_not_utf8_bytes_are_refused(body: object) -> None:
    with pytest.raises(MalformedError):
        parse_add_checkpoint(body)  # type: ignore[arg-type]


# --- Equivocation ---------------------------------------------------------------------------


def _evidence(first: str, second: str, proof: list[bytes] | None = None, *,
              seed: bytes | None = None, origin: str = ORIGIN) -> bytes:
    return equivocation_evidence(first, second, proof or [], origin=origin,
                                 witness="witness.example/w1",
                                 found_at="2026-11-27T08:00:00Z", seed=seed)


def test_evidence_is_canonical_json_in_the_documented_shape() -> None:
    tree = Tree(40)
    evidence = _evidence(Tree(25, fork=10).note(), tree.note(), tree.proof(25))
    data = json.loads(evidence)
    assert canonical_bytes(data) == evidence
    assert data == {"format": "stele-equivocation", "version": 1, "origin": ORIGIN,
                    "witness": "witness.example/w1", "found_at": "2026-11-27T08:00:00Z",
                    "notes": [Tree(25, fork=10).note(), tree.note()],
                    "proof": [_b64(p) for p in tree.proof(25)], "seed": None}


def test_same_size_different_roots_is_proven() -> None:
    a, b = Tree(30).note(), Tree(30, fork=29).note()
    got = verify_equivocation(_evidence(a, b), VKEY)
    assert got.how == "same_size"
    assert got.origin == ORIGIN
    assert (got.first.root, got.second.root) == (Tree(30).root(), Tree(30, fork=29).root())
    # Either order, and with the key given parsed; from a mapping as well as bytes.
    assert verify_equivocation(_evidence(b, a), parse_verifier_key(VKEY)).first.root == \
        Tree(30, fork=29).root()
    assert verify_equivocation(json.loads(_evidence(a, b)), VKEY).how == "same_size"


@pytest.mark.parametrize(("fork", "n", "m"), [
    pytest.param(10, 25, 40, id="shared-prefix-then-diverging"),
    pytest.param(24, 25, 40, id="diverging-at-the-last-leaf"),
    pytest.param(0, 25, 40, id="diverging-from-the-first-leaf"),
    pytest.param(0, 1, 2, id="smallest"),
    pytest.param(3, 7, 8, id="larger-is-a-power-of-two"),
])
def test_a_forked_larger_tree_with_its_consistency_proof_is_proven(
        fork: int, n: int, m: int) -> None:
    honest, forked = Tree(n), Tree(m, fork=fork)
    assert not _is_power_of_two(n) or n == 1
    seed = forked.root(n) if _is_power_of_two(n) else None
    for first, second in [(honest.note(), forked.note()), (forked.note(), honest.note())]:
        got = verify_equivocation(_evidence(first, second, forked.proof(n), seed=seed), VKEY)
        assert got.how == "consistency_proof"
        assert (got.first.size, got.first.root) == (n, honest.root())
        assert (got.second.size, got.second.root) == (m, forked.root())


@pytest.mark.parametrize("n", [1, 2, 16, 32])
def test_a_power_of_two_smaller_size_needs_the_seed(n: int) -> None:
    honest, forked = Tree(n), Tree(40, fork=n // 2)
    proof = forked.proof(n)
    with pytest.raises(EquivocationUnprovenError) as caught:
        verify_equivocation(_evidence(honest.note(), forked.note(), proof), VKEY)
    assert caught.value.code == "equivocation_unproven"
    got = verify_equivocation(
        _evidence(honest.note(), forked.note(), proof, seed=forked.root(n)), VKEY)
    assert got.how == "consistency_proof"
    # The honest root as seed is not on the forked tree's path: no proof of anything.
    with pytest.raises(EquivocationUnprovenError):
        verify_equivocation(
            _evidence(honest.note(), forked.note(), proof, seed=honest.root()), VKEY)


@pytest.mark.parametrize(("n", "m"), [(25, 40), (16, 40), (1, 2), (39, 40), (7, 300)])
def test_consistent_checkpoints_are_unproven(n: int, m: int) -> None:
    tree = Tree(m)
    seed = tree.root(n) if _is_power_of_two(n) else None
    with pytest.raises(EquivocationUnprovenError) as caught:
        verify_equivocation(_evidence(tree.note(n), tree.note(), tree.proof(n), seed=seed), VKEY)
    assert caught.value.code == "equivocation_unproven"


def test_the_same_checkpoint_twice_is_unproven() -> None:
    with pytest.raises(EquivocationUnprovenError):
        verify_equivocation(_evidence(Tree(9).note(), Tree(9).note()), VKEY)


def test_an_empty_smaller_tree_is_unproven() -> None:
    empty = sign_note(format_checkpoint(ORIGIN, 0, b"\x00" * 32), ORIGIN, LOG_KEY)
    with pytest.raises(EquivocationUnprovenError):
        verify_equivocation(_evidence(empty, Tree(9).note()), VKEY)


def test_a_fork_at_or_after_the_smaller_size_is_unproven() -> None:
    forked = Tree(40, fork=25)  # same first 25 leaves as the honest tree
    with pytest.raises(EquivocationUnprovenError):
        verify_equivocation(_evidence(Tree(25).note(), forked.note(), forked.proof(25)), VKEY)


@pytest.mark.parametrize("which", [0, 1])
def test_a_note_signed_by_another_key_is_note_invalid(which: int) -> None:
    notes = [Tree(25).note(), Tree(40, fork=10).note()]
    notes[which] = (Tree(25) if which == 0 else Tree(40, fork=10)).note(key=OTHER_KEY)
    with pytest.raises(NoteError) as caught:
        verify_equivocation(_evidence(notes[0], notes[1], Tree(40, fork=10).proof(25)), VKEY)
    assert caught.value.code == "note_invalid"
    # Notes the log key signed, checked against another pinned key, are refused as well.
    other = verifier_key(ORIGIN, OTHER_KEY.public_key().public_bytes_raw())
    with pytest.raises(NoteError):
        verify_equivocation(_evidence(Tree(25).note(), Tree(40, fork=10).note(),
                                      Tree(40, fork=10).proof(25)), other)


def test_a_note_signed_under_another_key_name_is_note_invalid() -> None:
    same_key_other_name = Tree(25).note(name="example.com/other-log")
    with pytest.raises(NoteError):
        verify_equivocation(_evidence(same_key_other_name, Tree(40, fork=10).note(),
                                      Tree(40, fork=10).proof(25)), VKEY)


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_an_altered_proof_is_unproven(where: str) -> None:
    forked = Tree(40, fork=10)
    proof = forked.proof(25)
    i = {"first": 0, "middle": len(proof) // 2, "last": len(proof) - 1}[where]
    proof[i] = bytes([proof[i][0] ^ 0x80]) + proof[i][1:]
    with pytest.raises(EquivocationUnprovenError):
        verify_equivocation(_evidence(Tree(25).note(), forked.note(), proof), VKEY)


@pytest.mark.parametrize("change", ["drop", "extra", "empty", "other-size"])
def test_a_proof_of_the_wrong_shape_is_unproven(change: str) -> None:
    forked = Tree(40, fork=10)
    proof = {"drop": forked.proof(25)[:-1], "extra": [*forked.proof(25), b"\x00" * 32],
             "empty": [], "other-size": forked.proof(24)}[change]
    with pytest.raises(EquivocationUnprovenError):
        verify_equivocation(_evidence(Tree(25).note(), forked.note(), proof), VKEY)


def test_checkpoints_of_differing_origins_are_unproven() -> None:
    # Signed by the pinned key under its name, but one checkpoint names another origin.
    forked = Tree(40, fork=10)
    elsewhere = Tree(25).note(origin="example.com/elsewhere")
    with pytest.raises(EquivocationUnprovenError):
        verify_equivocation(_evidence(elsewhere, forked.note(), forked.proof(25)), VKEY)
    with pytest.raises(EquivocationUnprovenError):
        verify_equivocation(_evidence(Tree(25).note(origin="example.com/elsewhere"),
                                      Tree(25, fork=3).note(origin="example.com/elsewhere"),
                                      origin="example.com/elsewhere"), VKEY)
    # The evidence's own origin field must be the log's too.
    with pytest.raises(EquivocationUnprovenError):
        verify_equivocation(_evidence(Tree(25).note(), forked.note(), forked.proof(25),
                                      origin="example.com/elsewhere"), VKEY)


def _good() -> dict[str, object]:
    forked = Tree(40, fork=10)
    evidence: dict[str, object] = json.loads(
        _evidence(Tree(25).note(), forked.note(), forked.proof(25)))
    return evidence


@pytest.mark.parametrize(("field", "value"), [
    ("format", "stele-equivocation-v2"), ("format", None), ("version", 2), ("version", "1"),
    ("notes", [Tree(25).note()]), ("notes", "x"), ("notes", [1, 2]),
    ("notes", [Tree(25).note()] * 3), ("notes", ["not a note", "nor this"]),
    ("proof", "AAAA"), ("proof", [1]), ("proof", None), ("seed", 5),
    ("proof", ["not base64"]), ("proof", [_b64(bytes(31))]), ("seed", _b64(bytes(31))),
])
def test_evidence_not_in_the_format_is_malformed(field: str, value: object) -> None:
    evidence = _good()
    evidence[field] = value
    with pytest.raises(MalformedError) as caught:
        verify_equivocation(canonical_bytes(evidence), VKEY)
    assert caught.value.code == "malformed"


@pytest.mark.parametrize("evidence", [b"", b"not json", b"[1, 2]", b"\xff", b'"x"'])
def test_evidence_that_is_not_a_json_object_is_malformed(evidence: bytes) -> None:
    with pytest.raises(MalformedError):
        verify_equivocation(evidence, VKEY)


def test_missing_format_fields_are_malformed() -> None:
    for field in ("format", "version", "notes"):
        evidence = _good()
        del evidence[field]
        with pytest.raises(MalformedError):
            verify_equivocation(canonical_bytes(evidence), VKEY)


def test_a_bad_log_key_is_malformed() -> None:
    with pytest.raises(MalformedError):
        verify_equivocation(canonical_bytes(_good()), "not a vkey")
    with pytest.raises(MalformedError):
        verify_equivocation(canonical_bytes(_good()), 5)  # type: ignore[arg-type]


@st.composite
def fork_cases(draw: st.DrawFn) -> tuple[int, int, int]:
    m = draw(st.integers(2, 300))
    n = draw(st.integers(1, m - 1))
    return n, m, draw(st.integers(0, m - 1))


@PROPERTY
@given(case=fork_cases(), extra_seed=st.booleans())
def test_evidence_from_the_forked_tree_is_proven_iff_it_forked_before_n(
        case: tuple[int, int, int], extra_seed: bool) -> None:
    n, m, fork = case
    honest, forked = Tree(n), Tree(m, fork=fork)
    seed = forked.root(n) if _is_power_of_two(n) or extra_seed else None
    evidence = _evidence(honest.note(), forked.note(), forked.proof(n), seed=seed)
    if fork < n:
        got = verify_equivocation(evidence, VKEY)
        assert got.how == "consistency_proof"
        assert (got.first.size, got.second.size) == (n, m)
    else:
        with pytest.raises(EquivocationUnprovenError):
            verify_equivocation(evidence, VKEY)
