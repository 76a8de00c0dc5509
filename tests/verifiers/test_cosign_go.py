"""Cosigned checkpoints and consistency proofs made by verifiers/, checked by Go.

The Go program (tests/verifiers/go/cosign/main.go, built once per session, offline, in
GOPATH mode against Debian's packaged sources) opens the note with golang.org/x/mod/sumdb/note
and a cosignature/v1 verifier of its own, written from C2SP tlog-cosignature with only Go's
standard library, and checks the consistency proof with golang.org/x/mod/sumdb/tlog.CheckTree.
Go must accept what verifiers/ makes, and refuse the same things altered.

Needs: apt packages golang-go and golang-golang-x-mod-dev (sources under /usr/share/gocode;
STELE_GOPATH overrides). Without `go` on PATH the tests skip, unless CI is set or
STELE_REQUIRE_GO=1, when they fail.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.verifiers.goprogram import GoRun, go_program
from verifiers.cosignature import (
    CosignatureError,
    cosign,
    cosigner_vkey,
    parse_cosigner_key,
    verify_cosignatures,
)
from verifiers.merkle import CompactRange, consistency_ranges, hash_range, leaf_hash, range_nodes
from verifiers.note import format_checkpoint, sign_note, verifier_key

GO_SOURCE = Path(__file__).resolve().parent / "go" / "cosign"
ORIGIN = "stele.example/log"
LOG_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
WITNESSES = {
    "witness.example/w1": Ed25519PrivateKey.from_private_bytes(bytes(range(64, 96))),
    "witness.example/w2": Ed25519PrivateKey.from_private_bytes(bytes(range(96, 128))),
}
TIMES = {"witness.example/w1": 1_700_000_000, "witness.example/w2": 2**63 - 1}
OLD_SIZE, SIZE = 25, 40


@pytest.fixture(scope="session")
def go_cosign(tmp_path_factory: pytest.TempPathFactory) -> GoRun:
    return go_program(GO_SOURCE, tmp_path_factory.mktemp("gocosign"), timeout=60)


def _public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes_raw()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _tree() -> tuple[dict[int, bytes], list[bytes]]:
    """The roots at every size of a tree of 40 leaves, and the proof from 25 to 40 made the
    ledger's way (consistency ranges over the nodes CompactRange.append reports)."""
    edge = CompactRange()
    nodes: dict[tuple[int, int], bytes] = {}
    roots = {0: edge.root()}
    for n in range(SIZE):
        for level, index, h in edge.append(leaf_hash(b"record %d" % n)):
            nodes[(level, index)] = h
        roots[n + 1] = edge.root()
    proof = [hash_range([nodes[p] for p in range_nodes(s, e)])
             for s, e in consistency_ranges(OLD_SIZE, SIZE)]
    return roots, proof


def _request() -> dict[str, Any]:
    roots, proof = _tree()
    text = format_checkpoint(ORIGIN, SIZE, roots[SIZE])
    note = sign_note(text, ORIGIN, LOG_KEY)
    for name, key in WITNESSES.items():
        note += cosign(text, name, key, TIMES[name])
    return {
        "note": note,
        "log_vkey": verifier_key(ORIGIN, _public(LOG_KEY)),
        "witnesses": [{"name": n, "pubkey_b64": _b64(_public(k))} for n, k in WITNESSES.items()],
        "old_size": OLD_SIZE, "old_root": _b64(roots[OLD_SIZE]),
        "size": SIZE, "root": _b64(roots[SIZE]),
        "proof": [_b64(h) for h in proof],
    }


def _trusted() -> list[Any]:
    return [parse_cosigner_key(cosigner_vkey(n, _public(k))) for n, k in WITNESSES.items()]


def _flip_in_line(note: str, line_index: int, byte: int) -> str:
    """Flip one bit of byte `byte` of the decoded signature on signature line `line_index`."""
    text, _, block = note.rpartition("\n\n")
    lines = block.split("\n")
    name, encoded = lines[line_index][2:].split(" ")
    raw = bytearray(base64.b64decode(encoded))
    raw[byte] ^= 0x01
    lines[line_index] = f"\u2014 {name} {_b64(bytes(raw))}"
    return f"{text}\n\n" + "\n".join(lines)


def test_go_verifies_the_log_signature_both_cosignatures_and_the_proof(
        go_cosign: GoRun) -> None:
    request = _request()
    got = go_cosign(request)
    assert got["note_error"] == ""
    assert got["verified"] == [ORIGIN, *WITNESSES]
    assert got["timestamps"] == TIMES
    assert got["proof_error"] == ""
    # The same cosignatures, as verifiers/ reads them.
    assert verify_cosignatures(request["note"], _trusted()) == TIMES


@pytest.mark.parametrize(("line", "byte", "what"), [
    (1, 4 + 8 + 10, "signature byte of w1"),
    (2, 4 + 8 + 63, "last signature byte of w2"),
    (1, 4 + 7, "timestamp byte of w1"),
])
def test_go_refuses_a_flipped_cosignature_byte(go_cosign: GoRun, line: int, byte: int,
                                                what: str) -> None:
    request = _request()
    request["note"] = _flip_in_line(request["note"], line, byte)
    got = go_cosign(request)
    assert got["note_error"] != "", what
    assert got["verified"] == []
    with pytest.raises(CosignatureError):  # and so does verifiers/
        verify_cosignatures(request["note"], _trusted())


def test_go_ignores_a_cosignature_whose_key_id_changed(go_cosign: GoRun) -> None:
    # Name and key ID no longer both match: an unknown signer, ignored by both.
    request = _request()
    request["note"] = _flip_in_line(request["note"], 2, 0)
    got = go_cosign(request)
    assert got["note_error"] == ""
    assert got["verified"] == [ORIGIN, "witness.example/w1"]
    assert verify_cosignatures(request["note"], _trusted()) == {
        "witness.example/w1": TIMES["witness.example/w1"]}


def test_go_refuses_a_cosignature_of_another_checkpoint(go_cosign: GoRun) -> None:
    roots, _ = _tree()
    request = _request()
    other = format_checkpoint(ORIGIN, OLD_SIZE, roots[OLD_SIZE])
    w1 = "witness.example/w1"
    text = request["note"].rpartition("\n\n")[0] + "\n"
    request["note"] = (sign_note(text, ORIGIN, LOG_KEY)
                       + cosign(other, w1, WITNESSES[w1], TIMES[w1]))
    assert go_cosign(request)["note_error"] != ""
    with pytest.raises(CosignatureError):
        verify_cosignatures(request["note"], _trusted())


def test_a_bad_repeated_cosignature_go_skips_is_refused_by_verifiers(go_cosign: GoRun) -> None:
    # Go's note.Open checks only the first signature of each (name, key ID) and drops the
    # rest unverified; verifiers/ checks every one (stricter, as verifiers/note.py says).
    roots, _ = _tree()
    request = _request()
    other = format_checkpoint(ORIGIN, OLD_SIZE, roots[OLD_SIZE])
    request["note"] += cosign(other, "witness.example/w1", WITNESSES["witness.example/w1"], 5)
    assert go_cosign(request)["note_error"] == ""
    with pytest.raises(CosignatureError):
        verify_cosignatures(request["note"], _trusted())


@pytest.mark.parametrize("change", ["flip-first", "flip-last", "drop", "old-root", "root"])
def test_go_refuses_an_altered_proof(go_cosign: GoRun, change: str) -> None:
    request = _request()
    proof = [base64.b64decode(p) for p in request["proof"]]
    if change == "flip-first":
        proof[0] = bytes([proof[0][0] ^ 1]) + proof[0][1:]
    elif change == "flip-last":
        proof[-1] = proof[-1][:31] + bytes([proof[-1][31] ^ 0x80])
    elif change == "drop":
        proof = proof[:-1]
    elif change == "old-root":
        request["old_root"] = _b64(bytes(32))
    else:
        request["root"] = _b64(bytes(32))
    request["proof"] = [_b64(p) for p in proof]
    got = go_cosign(request)
    assert got["proof_error"] != ""
    assert got["note_error"] == ""  # the note is untouched
