"""What verifiers.merkle and verifiers.note produce, checked by Go's golang.org/x/mod/sumdb.

Go's tlog computes its own tree hashes from the leaves and checks our inclusion proofs
(tlog.CheckRecord) and consistency proofs (tlog.CheckTree); Go's note.Open checks our signed
checkpoints. The small Go program is tests/verifiers/go/main.go, built once per session,
offline, in GOPATH mode against Debian's packaged sources.

Needs: apt packages golang-go and golang-golang-x-mod-dev (sources under
/usr/share/gocode; STELE_GOPATH overrides). Without `go` on PATH the tests skip, unless CI
is set or STELE_REQUIRE_GO=1, when they fail.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.verifiers.goprogram import GoRun, go_program
from verifiers.merkle import (
    CompactRange,
    consistency_ranges,
    hash_range,
    inclusion_ranges,
    leaf_hash,
    range_nodes,
)
from verifiers.note import format_checkpoint, sign_note, verifier_key

GO_SOURCE = Path(__file__).resolve().parent / "go"
ORIGIN = "stele.example/log"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))



def _public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes_raw()


@pytest.fixture(scope="session")
def go_checker(tmp_path_factory: pytest.TempPathFactory) -> GoRun:
    return go_program(GO_SOURCE, tmp_path_factory.mktemp("gointerop"), timeout=60)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _case(size1: int, size2: int, index: int) -> dict[str, Any]:
    """A tree of size2 leaves built as the ledger builds it, with our proofs and checkpoint."""
    leaves = [f"record {i}".encode() for i in range(size2)]
    edge = CompactRange()
    nodes: dict[tuple[int, int], bytes] = {}
    roots = {0: edge.root()}
    for n, leaf in enumerate(leaves, start=1):
        for level, node_index, h in edge.append(leaf_hash(leaf)):
            nodes[(level, node_index)] = h
        roots[n] = edge.root()

    def proof(ranges: list[tuple[int, int]]) -> list[str]:
        return [_b64(hash_range([nodes[p] for p in range_nodes(s, e)])) for s, e in ranges]

    checkpoint = format_checkpoint(ORIGIN, size2, roots[size2])
    return {
        "leaves": [_b64(leaf) for leaf in leaves],
        "index": index,
        "size1": size1,
        "size2": size2,
        "inclusion_proof": proof(inclusion_ranges(index, size2)),
        "consistency_proof": proof(consistency_ranges(size1, size2)),
        "root1": _b64(roots[size1]),
        "root2": _b64(roots[size2]),
        "note": sign_note(checkpoint, ORIGIN, KEY),
        "verifier_key": verifier_key(ORIGIN, _public(KEY)),
        "_checkpoint": checkpoint,
    }


def _shapes() -> list[tuple[int, int, int]]:
    # Every tree size up to 33 with edge indexes and old sizes, then a few larger trees.
    cases = set()
    for size2 in range(1, 34):
        for size1 in {1, size2 // 2 or 1, size2 - 1 or 1, size2}:
            for index in {0, size2 // 2, size2 - 1}:
                cases.add((size1, size2, index))
    cases |= {(100, 257, 200), (64, 1000, 999), (513, 1000, 512), (999, 1000, 3)}
    return sorted(cases)


def _request(case: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in case.items() if not k.startswith("_")}


def test_go_accepts_our_trees_proofs_and_checkpoints(go_checker: GoRun) -> None:
    shapes = _shapes()
    assert len(shapes) > 150
    for size1, size2, index in shapes:
        case = _case(size1, size2, index)
        got = go_checker(_request(case))
        where = f"size1={size1} size2={size2} index={index}"
        assert got["tree_hash1"] == case["root1"], where
        assert got["tree_hash2"] == case["root2"], where
        assert got["inclusion_error"] == "", where
        assert got["consistency_error"] == "", where
        assert got["note_error"] == "", where
        assert got["note_text"] == case["_checkpoint"], where
        assert got["note_signers"] == [ORIGIN], where


def _flip(b64: str) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[0] ^= 1
    return _b64(bytes(raw))


def test_go_rejects_tampered_proofs(go_checker: GoRun) -> None:
    case = _request(_case(6, 13, 9))
    assert case["inclusion_proof"]
    assert case["consistency_proof"]

    first, *rest = case["inclusion_proof"]
    bad = {**case, "inclusion_proof": [_flip(first), *rest]}
    assert go_checker(bad)["inclusion_error"] != ""

    bad = {**case, "consistency_proof": case["consistency_proof"][:-1]}
    assert go_checker(bad)["consistency_error"] != ""

    bad = {**case, "root1": _flip(case["root1"])}
    assert go_checker(bad)["consistency_error"] != ""

    bad = {**case, "root2": _flip(case["root2"])}
    got = go_checker(bad)
    assert got["inclusion_error"] != ""
    assert got["consistency_error"] != ""

    bad = {**case, "index": 8}
    assert go_checker(bad)["inclusion_error"] != ""


def test_go_rejects_tampered_notes(go_checker: GoRun) -> None:
    full = _case(3, 5, 1)
    case = _request(full)
    note = case["note"]

    # One byte of the signed text changed: the tree size line.
    tampered = note.replace("\n5\n", "\n6\n", 1)
    assert tampered != note
    assert go_checker({**case, "note": tampered})["note_error"] != ""

    # Signed by another key under the same name: Go finds no signature it can check.
    other = sign_note(full["_checkpoint"], ORIGIN, OTHER_KEY)
    assert go_checker({**case, "note": other})["note_error"] != ""

    # No blank line before the signature.
    assert go_checker({**case, "note": note.replace("\n\n", "\n", 1)})["note_error"] != ""

    # The right key, but the verifier is told of another one.
    wrong_key = {**case, "verifier_key": verifier_key(ORIGIN, _public(OTHER_KEY))}
    assert go_checker(wrong_key)["note_error"] != ""


def test_go_opens_the_catalog_index_under_each_of_its_keys(go_checker: GoRun,
                                                          tmp_path: Path) -> None:
    """The shared catalogs' index is a signed note with one signature per catalog key in force
    (two during a rotation): Go's note.Open accepts it under either key, and refuses it when
    the text is changed."""
    from datetime import UTC, datetime, timedelta

    from ledger.catalog.service import sign_all
    from ledger.log.keys import LogKey
    from verifiers.catalog import Index, IndexEntry, format_index

    keys = [LogKey.load_or_create(tmp_path, f"{ORIGIN}/catalogs{suffix}", f"{n}.pem")
            for n, suffix in ((1, ""), (2, "/2"))]
    now = datetime(2026, 12, 8, tzinfo=UTC)
    text = format_index(Index(ORIGIN, 1, now, now + timedelta(hours=24),
                              tuple(k.verifier for k in keys),
                              (IndexEntry("agencies", 1, "sha-256:" + "ab" * 32, 0),)))
    note = sign_all(text, keys)
    case = _request(_case(1, 1, 0))
    for key in keys:
        opened = go_checker({**case, "note": note, "verifier_key": key.verifier})
        assert opened["note_error"] == "" and opened["note_text"] == text
        assert opened["note_signers"] == [key.name]  # Go lists the signatures it verified
    tampered = note.replace("agencies 1", "agencies 2", 1)
    assert go_checker({**case, "note": tampered, "verifier_key": keys[0].verifier})[
        "note_error"] != ""
