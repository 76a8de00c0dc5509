"""The witness (ledger/witness/service.py): C2SP tlog-witness add-checkpoint, on both stores.

- Every answer of the protocol by its exact status, body and Content-Type.
- A split view from a real fork (a second log holding the same key) is refused and kept as
  evidence that `verifiers.witness.verify_equivocation` proves with the log's key alone.
- Every checkpoint cosigned is kept, not only the latest.
- Racing submissions move the head once: one 200, the others a 409 with the winner's size.
- A witness store restored from an older backup does not cosign a fork of its older state:
  it moves forward to the high-water file first (and what happens when that file is gone).
- The log's side (ledger/log/witnessing.py) against this witness over real HTTP.

The checkpoints submitted are the log's own: `_note` signs, with the log's key, the checkpoint
of its tree at any size, byte for byte what its checkpointer cuts at that size (Ed25519
signatures are deterministic), so that a test can pick the sizes it needs from one tree.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.config import Database, Settings
from ledger.log.keys import KEY_FILE, LogKey
from ledger.log.tree import consistency_proof, root_at
from ledger.log.witnessing import Witnessing, load_policy
from ledger.service import Ledger
from ledger.store.tables import LogStore
from ledger.witness.service import SIZE_TYPE, TEXT_TYPE, Answer, Witness
from tests.conftest import Clock, drop_schema, postgres_database
from tests.ledger.builders import create
from verifiers.canonical import b64, unb64
from verifiers.cosignature import CosignerKey, parse_cosigner_key, verify_cosignatures
from verifiers.merkle import consistency_ranges, leaf_hash, root_of, verify_consistency
from verifiers.note import (
    VerifierKey,
    format_checkpoint,
    open_note,
    parse_checkpoint,
    parse_verifier_key,
    sign_note,
)
from verifiers.policy import verify_witnessed
from verifiers.witness import (
    EquivocationUnprovenError,
    format_add_checkpoint,
    verify_equivocation,
)

ORIGIN = "test.stele/log"
WITNESS = "w.example/witness"


# -- the scene: a log, and a node running the witness that cosigns it ---------------------------
def _settings(data_dir: Path, database: Database, origin: str = ORIGIN,
              **more: Any) -> Settings:
    return Settings(data_dir=data_dir, database=database, origin=origin, checkpoint_every=1000,
                    checkpoint_interval=3600, dev=True, **more)


@pytest.fixture
def new_database(database: Database, tmp_path: Path) -> Iterator[Callable[[str], Database]]:
    """Another database of the kind `database` is (a SQLite file, or a PostgreSQL schema of
    its own, dropped afterwards): the logs' stores, beside the witness's own."""
    made: list[Database] = []

    def make(name: str) -> Database:
        if database.kind == "sqlite":
            return Database(kind="sqlite", path=tmp_path / f"{name}.sqlite3")
        made.append(postgres_database())
        return made[-1]

    yield make
    for db in made:
        drop_schema(db)


@dataclass
class Scene:
    log: Ledger  # the log the witness cosigns
    node: Ledger  # the node running the witness, on the `database` of the test
    witness: Witness
    log_key: VerifierKey  # the log's key, as a verifier pins it
    cosigner: CosignerKey  # the witness's key, parsed from its vkey
    clock: Clock
    tmp: Path
    new_database: Callable[[str], Database]
    opened: list[Any] = field(default_factory=list)

    def fork(self) -> Ledger:
        """A second log under the same origin and the SAME key (its key file copied before it
        is made), with its own store: what it signs is a split view of the first."""
        data_dir = self.tmp / "fork"
        data_dir.mkdir()
        shutil.copy2(self.tmp / "log" / KEY_FILE, data_dir / KEY_FILE)
        fork = Ledger(_settings(data_dir, self.new_database("fork")), clock=self.clock)
        self.opened.append(fork)
        assert fork.key.verifier == self.log.key.verifier
        return fork

    def another_witness(self) -> Witness:
        """The same witness (key, logs, high-water directory) on a connection of its own, as
        another process or thread of the node has."""
        store = LogStore(self.node.settings.database)
        self.opened.append(store)
        return Witness(store, self.witness.key, [self.log_key], self.witness.heads_dir,
                       self.clock)

    def head(self) -> tuple[int, bytes, str] | None:
        """The head row as the store holds it (not moved forward by the witness)."""
        with self.node.store.transaction() as tx:
            return tx.witness_head(ORIGIN)

    def evidence(self) -> list[dict[str, object]]:
        return self.witness.evidence(ORIGIN)


@pytest.fixture
def scene(database: Database, new_database: Callable[[str], Database], tmp_path: Path,
          clock: Clock) -> Iterator[Scene]:
    opened: list[Any] = []
    try:
        log = Ledger(_settings(tmp_path / "log", new_database("log")), clock=clock)
        opened.append(log)
        logs_file = tmp_path / "witnessed-logs"
        logs_file.write_text(f"log {log.key.verifier}\n")
        node = Ledger(_settings(tmp_path / "node", database, "test.stele/witness-node",
                                witness=True, witness_name=WITNESS, witness_logs=logs_file),
                      clock=clock)
        opened.append(node)
        assert node.witness is not None
        yield Scene(log, node, node.witness, parse_verifier_key(log.key.verifier),
                    parse_cosigner_key(node.witness.key.cosigner), clock, tmp_path,
                    new_database, opened)
    finally:
        for item in reversed(opened):
            item.close()


# -- helpers ------------------------------------------------------------------------------------
def _grow(ledger: Ledger, count: int, *, numbers: int = 0) -> int:
    """Register `count` records (a leaf each), integrate; the log's size. Records are
    numbered from `numbers` + the size: the same numbers at the same clock make the same
    events (record ids are derived, not random), so a fork takes other numbers."""
    start = ledger.log.size()
    for i in range(start, start + count):
        create(ledger, numbers + i)
    ledger.log.integrate()
    assert ledger.log.size() == start + count
    return start + count


def _sign(key: LogKey, origin: str, size: int, root: bytes) -> str:
    return sign_note(format_checkpoint(origin, size, root), key.name, key.private_key)


def _root(ledger: Ledger, size: int) -> bytes:
    with ledger.store.transaction() as tx:
        return root_at(tx, size)


def _note(ledger: Ledger, size: int) -> str:
    """The checkpoint `ledger` signs at `size` of its tree."""
    return _sign(ledger.key, ledger.settings.origin, size, _root(ledger, size))


def _proof(ledger: Ledger, old: int, size: int) -> list[bytes]:
    with ledger.store.transaction() as tx:
        return consistency_proof(tx, old, size)


def _submit(witness: Witness, old: int, proof: list[bytes], note: str) -> Answer:
    return witness.add_checkpoint(format_add_checkpoint(old, proof, note))


def _offer(witness: Witness, ledger: Ledger, old: int, size: int) -> Answer:
    """Submit `ledger`'s checkpoint at `size`, with its own proof from `old`."""
    return _submit(witness, old, _proof(ledger, old, size), _note(ledger, size))


def _held(size: int) -> Answer:
    """The 409 that tells the size the witness holds."""
    return Answer(409, f"{size}\n", SIZE_TYPE)


def _assert_cosigned(scene: Scene, note: str, answer: Answer) -> None:
    """A 200 whose body is one cosignature line of the witness's key over `note`, dated by
    the witness's clock."""
    assert (answer.status, answer.content_type) == (200, TEXT_TYPE), answer
    assert answer.body.startswith(f"\u2014 {WITNESS} ") and answer.body.count("\n") == 1
    assert answer.body.endswith("\n")
    assert verify_cosignatures(note + answer.body, [scene.cosigner]) == {
        WITNESS: int(scene.clock.now.timestamp())}


def _cosign(scene: Scene, old: int, size: int) -> str:
    """Have the witness cosign the log at `size` from `old`; the cosigned note."""
    note = _note(scene.log, size)
    answer = _submit(scene.witness, old, _proof(scene.log, old, size), note)
    _assert_cosigned(scene, note, answer)
    return note + answer.body


def _mark(scene: Scene) -> Path:
    """The witness's high-water file of the log: <heads dir>/<sha256(origin)[:32]>.note."""
    name = hashlib.sha256(ORIGIN.encode()).hexdigest()[:32] + ".note"
    return scene.node.settings.data_dir / "witness" / name


def _set_head(scene: Scene, row: tuple[Any, ...] | None) -> None:
    """Put the head row back as it was (None: no row), as restoring the database from an
    older backup does."""
    p = scene.node.store.prefix
    with scene.node.store.transaction() as tx:
        if row is None:
            tx.execute(f"DELETE FROM {p}stele_witness_heads WHERE origin = ?", (ORIGIN,))
        else:
            tx.execute(f"UPDATE {p}stele_witness_heads SET size = ?, root = ?, note = ?,"
                       " updated_at = ? WHERE origin = ?", (*row, ORIGIN))


def _head_row(scene: Scene) -> tuple[Any, ...]:
    p = scene.node.store.prefix
    with scene.node.store.transaction() as tx:
        row = tx.execute(f"SELECT size, root, note, updated_at FROM {p}stele_witness_heads"
                         " WHERE origin = ?", (ORIGIN,)).fetchone()
    assert row is not None
    return (int(row[0]), bytes(row[1]), str(row[2]), str(row[3]))


def _assert_moved_to(scene: Scene, size: int) -> None:
    """The head row was moved forward to the high-water head: the log's checkpoint at `size`
    (its note is the file's, so it carries the witness's cosignature too)."""
    head = scene.head()
    assert head is not None and head[:2] == (size, _root(scene.log, size))
    assert head[2].startswith(_note(scene.log, size))


def _fork_sharing(ledger: Ledger, shared: int, size: int) -> tuple[str, list[bytes]]:
    """A split view signed by `ledger`'s key: a tree holding its first `shared` leaves, then
    others, up to `size`. Its checkpoint note and its consistency proof from `shared`, which
    verifies against the log's own root at `shared` (a witness that forgot it cosigned more
    than `shared` would cosign it)."""
    hashes = [leaf_hash(leaf) for _, leaf in ledger.log.leaves(0, shared)]
    hashes += [leaf_hash(f"forked leaf {i}".encode()) for i in range(shared, size)]
    proof = [root_of(hashes[start:end]) for start, end in consistency_ranges(shared, size)]
    root = root_of(hashes)
    verify_consistency(shared, size, proof, _root(ledger, shared), root)
    return _sign(ledger.key, ORIGIN, size, root), proof


def _flip(data: bytes) -> bytes:
    return bytes([data[0] ^ 1]) + data[1:]


def _tamper_signature(note: str) -> str:
    """`note` with one bit of its (last) signature flipped: same name and key ID."""
    text, _, line = note[:-1].rpartition("\n")
    prefix, _, encoded = line.rpartition(" ")
    raw = unb64(encoded)
    return f"{text}\n{prefix} {b64(raw[:-1] + bytes([raw[-1] ^ 1]))}\n"


# -- 1. each answer of the protocol ---------------------------------------------------------------
def test_200_is_one_cosignature_line_by_the_witness_key_at_the_witness_clock(
        scene: Scene) -> None:
    """The first checkpoint (old 0, no proof) is cosigned: one line, verified against the
    key the witness publishes, timestamped by its clock; the head and the kept copy are it."""
    _grow(scene.log, 5)
    scene.clock.advance(seconds=3)
    note = _note(scene.log, 5)
    _assert_cosigned(scene, note, _submit(scene.witness, 0, [], note))
    assert scene.head() == (5, _root(scene.log, 5), note)
    [kept] = scene.witness.cosigned(ORIGIN)
    assert kept["size"] == 5 and kept["timestamp"] == int(scene.clock.now.timestamp())
    assert [h["size"] for h in scene.witness.heads()] == [5]


def test_404_for_a_log_not_listed(scene: Scene) -> None:
    """A validly signed checkpoint of an origin the witness does not list."""
    other = LogKey("other.example/log", Ed25519PrivateKey.generate())
    answer = _submit(scene.witness, 0, [], _sign(other, other.name, 1, b"\x01" * 32))
    assert answer.status == 404 and "other.example/log" in answer.body
    assert scene.head() is None


def test_403_without_a_valid_signature_of_the_listed_key(scene: Scene) -> None:
    """Signed by another key of the same name, only by an untrusted key, or with the listed
    key's signature corrupted: 403, nothing kept. An extra unknown signature beside the
    listed key's is ignored (the spec: MUST ignore signatures from unknown keys)."""
    _grow(scene.log, 3)
    root = _root(scene.log, 3)
    impostor = LogKey(ORIGIN, Ed25519PrivateKey.generate())  # same name, another key
    stranger = LogKey("stranger.example/log", Ed25519PrivateKey.generate())
    for note in (_sign(impostor, ORIGIN, 3, root), _sign(stranger, ORIGIN, 3, root),
                 _tamper_signature(_note(scene.log, 3))):
        answer = _submit(scene.witness, 0, [], note)
        assert answer.status == 403, (answer, note)
    assert scene.head() is None and scene.evidence() == []
    note = _note(scene.log, 3)
    both = note + _sign(stranger, ORIGIN, 3, root).rpartition("\n\n")[2]
    _assert_cosigned(scene, both, _submit(scene.witness, 0, [], both))


def test_400_for_an_old_size_above_the_checkpoint_and_for_malformed_bodies(
        scene: Scene) -> None:
    """Old 6 for a checkpoint of 5, and bodies that are not `old <size>`, at most 63 proof
    hashes, an empty line and a signed note: 400, nothing kept. (64 hashes is one too many;
    63 parse, and are then a proof that does not verify.)"""
    _grow(scene.log, 5)
    note = _note(scene.log, 5)
    assert _submit(scene.witness, 6, [], note).status == 400
    hash_line = b64(b"\x00" * 32) + "\n"
    for body in (b"", b"garbage", note.encode(), b"\xff\xfe\n\n" + note.encode(),
                 f"old 01\n\n{note}".encode(), f"old -1\n\n{note}".encode(),
                 f"old {2**64}\n\n{note}".encode(), f"old 0\nnot base64!\n\n{note}".encode(),
                 f"old 0\n{b64(b'short')}\n\n{note}".encode(),
                 f"old 0\n{hash_line * 64}\n{note}".encode(),
                 b"old 0\n\n", b"old 0\n\nnot a note\n",
                 f"old 0\n\n{note.partition(chr(10) * 2)[0]}\n".encode()):  # unsigned
        answer = scene.witness.add_checkpoint(body)
        assert (answer.status, answer.content_type) == (400, TEXT_TYPE), (body, answer)
    assert scene.witness.add_checkpoint(f"old 0\n{hash_line * 63}\n{note}".encode()).status == 422
    assert scene.head() is None


def test_409_with_the_held_size_when_old_is_not_it(scene: Scene) -> None:
    """An old size smaller or larger than the held one (each with a proof that verifies
    from that size): 409, `text/x.tlog.size`, body the held size; nothing else moves, no
    evidence (a stale client is no misbehaviour). From the held size it is then cosigned."""
    _grow(scene.log, 9)
    _cosign(scene, 0, 5)
    for old in (0, 3, 7):
        assert _offer(scene.witness, scene.log, old, 9) == _held(5), old
    assert _offer(scene.witness, scene.log, 4, 5) == _held(5)
    assert scene.head() == (5, _root(scene.log, 5), _note(scene.log, 5))
    assert scene.evidence() == []
    _cosign(scene, 5, 9)


def test_409_for_another_root_at_the_held_size_kept_as_proven_evidence(scene: Scene) -> None:
    """The log key signed two roots for size 5: 409 (the current spec text), the head kept,
    and the pair stored as evidence that proves the split view (`same_size`) against the
    log key alone."""
    _grow(scene.log, 5)
    _cosign(scene, 0, 5)
    other_root = hashlib.sha256(b"another tree of 5").digest()
    other = _sign(scene.log.key, ORIGIN, 5, other_root)
    assert _submit(scene.witness, 5, [], other) == _held(5)
    assert scene.head() == (5, _root(scene.log, 5), _note(scene.log, 5))
    [piece] = scene.evidence()
    assert piece["proven"] is True
    evidence = str(piece["evidence"]).encode()
    assert json.loads(evidence)["notes"] == [_note(scene.log, 5), other]
    split = verify_equivocation(evidence, scene.log_key)
    assert split.how == "same_size" and split.origin == ORIGIN
    assert {split.first.root, split.second.root} == {_root(scene.log, 5), other_root}
    assert json.loads(evidence)["witness"] == WITNESS


def test_422_for_a_proof_that_does_not_verify(scene: Scene) -> None:
    """A non-empty proof from old 0; a proof with one bit flipped; a proof missing a hash;
    a proof between equal sizes: 422, not cosigned. A corrupted proof is kept but NOT as
    proven evidence: anyone can send garbage, it shows nothing about the log."""
    _grow(scene.log, 9)
    note5, note9 = _note(scene.log, 5), _note(scene.log, 9)
    assert _submit(scene.witness, 0, _proof(scene.log, 3, 5), note5).status == 422
    assert scene.head() is None
    _cosign(scene, 0, 5)
    proof = _proof(scene.log, 5, 9)
    assert len(proof) >= 2
    for bad in ([_flip(proof[0]), *proof[1:]], [*proof[:-1], _flip(proof[-1])], proof[:-1]):
        answer = _submit(scene.witness, 5, bad, note9)
        assert (answer.status, answer.content_type) == (422, TEXT_TYPE), answer
    assert _submit(scene.witness, 5, [proof[0]], note5).status == 422
    assert scene.head() == (5, _root(scene.log, 5), note5)
    assert [p["proven"] for p in scene.evidence()] == [False, False, False]
    _cosign(scene, 5, 9)  # the right proof still goes through


def test_200_again_for_the_held_checkpoint_head_unchanged(scene: Scene) -> None:
    """Resubmitting the held checkpoint at its size (old = size, no proof) is cosigned again,
    at the new time, and leaves the head as it was."""
    _grow(scene.log, 5)
    _cosign(scene, 0, 5)
    before = scene.head()
    scene.clock.advance(seconds=30)
    note = _note(scene.log, 5)
    _assert_cosigned(scene, note, _submit(scene.witness, 5, [], note))
    assert scene.head() == before == (5, _root(scene.log, 5), note)
    assert [c["size"] for c in scene.witness.cosigned(ORIGIN)] == [5, 5]
    assert scene.evidence() == []


# -- 2. a split view from a real fork -------------------------------------------------------------
@pytest.mark.parametrize(("size", "proven"), [(5, True), (4, False)])
def test_a_fork_under_the_same_key_is_refused_and_kept_as_evidence(
        scene: Scene, size: int, proven: bool) -> None:
    """Log A and log B share the key and origin but hold other records. Cosign A at `size`,
    then submit B at 9 with B's own proof from `size`: 422, and the evidence (both notes, the
    proof) shows B's tree held another root at `size` than A's note: proven with the log
    key. When `size` is a power of two the proof omits the old root (the verifier is meant to
    bring its own), so what B held at `size` cannot be computed from the evidence: kept, with
    proven False; given B's root at `size` as the seed, it would prove."""
    _grow(scene.log, size)
    fork = scene.fork()
    _grow(fork, 9, numbers=1000)
    assert _root(fork, size) != _root(scene.log, size)
    _cosign(scene, 0, size)
    fork_proof = _proof(fork, size, 9)
    answer = _submit(scene.witness, size, fork_proof, _note(fork, 9))
    assert (answer.status, answer.content_type) == (422, TEXT_TYPE), answer
    assert scene.head() == (size, _root(scene.log, size), _note(scene.log, size))
    [piece] = scene.evidence()
    assert piece["proven"] is proven
    evidence = json.loads(str(piece["evidence"]))
    assert evidence["notes"] == [_note(scene.log, size), _note(fork, 9)]
    assert evidence["proof"] == [b64(h) for h in fork_proof]
    if proven:
        split = verify_equivocation(str(piece["evidence"]).encode(), scene.log_key)
        assert split.how == "consistency_proof"
        assert split.first == parse_checkpoint(
            open_note(_note(scene.log, size), [scene.log_key]).text)
        assert (split.second.size, split.second.root) == (9, _root(fork, 9))
    else:
        with pytest.raises(EquivocationUnprovenError):
            verify_equivocation(evidence, scene.log_key)
        seeded = verify_equivocation(evidence | {"seed": b64(_root(fork, size))}, scene.log_key)
        assert seeded.how == "consistency_proof"


# -- 3. every checkpoint cosigned is kept ---------------------------------------------------------
def test_every_checkpoint_cosigned_is_kept(scene: Scene) -> None:
    """Sizes 3 < 6 < 11, a minute apart: all three are listed, each a note of the log key
    with the witness's cosignature of its time."""
    _grow(scene.log, 11)
    times = []
    old = 0
    for size in (3, 6, 11):
        scene.clock.advance(minutes=1)
        times.append(int(scene.clock.now.timestamp()))
        _cosign(scene, old, size)
        old = size
    kept = scene.witness.cosigned(ORIGIN)
    assert [(k["size"], k["timestamp"]) for k in kept] == list(zip((3, 6, 11), times,
                                                                   strict=True))
    for k, when in zip(kept, times, strict=True):
        note = str(k["note"])
        checkpoint = parse_checkpoint(open_note(note, [scene.log_key]).text)
        assert (checkpoint.size, checkpoint.root) == (k["size"], _root(scene.log, checkpoint.size))
        assert verify_cosignatures(note, [scene.cosigner]) == {WITNESS: when}
    assert [(h["origin"], h["size"]) for h in scene.witness.heads()] == [(ORIGIN, 11)]


# -- 4. atomicity ---------------------------------------------------------------------------------
THREADS = 8
ROUNDS = 5


def test_racing_submissions_move_the_head_once(scene: Scene) -> None:
    """Eight witnesses (each its own connection) get eight different valid checkpoints from
    the same old size at once: exactly one 200, seven 409 with the winner's size, the head is
    the winner's and only it was cosigned. Round one races the first INSERT of the head,
    the others its UPDATE."""
    _grow(scene.log, THREADS * ROUNDS)
    witnesses = [scene.another_witness() for _ in range(THREADS)]
    old, winners = 0, []
    for _ in range(ROUNDS):
        sizes = [old + 1 + i for i in range(THREADS)]
        bodies = [format_add_checkpoint(old, _proof(scene.log, old, s), _note(scene.log, s))
                  for s in sizes]
        answers = _race([partial(w.add_checkpoint, b)
                         for w, b in zip(witnesses, bodies, strict=True)])
        won = [s for s, a in zip(sizes, answers, strict=True) if a.status == 200]
        assert len(won) == 1, answers
        assert sorted(answers, key=lambda a: a.status)[1:] == [_held(won[0])] * (THREADS - 1)
        assert scene.head() == (won[0], _root(scene.log, won[0]), _note(scene.log, won[0]))
        winners.append(won[0])
        old = won[0]
    assert [c["size"] for c in scene.witness.cosigned(ORIGIN)] == winners


def _race(calls: list[Callable[[], Answer]]) -> list[Answer]:
    """Run each call in a thread of its own, released together; their answers in order."""
    barrier = threading.Barrier(len(calls))
    answers: list[Answer | None] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            answers[i] = calls[i]()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert all(a is not None for a in answers)
    return [a for a in answers if a is not None]


def test_a_head_moved_between_read_and_update_gives_409_with_the_new_size(
        scene: Scene, monkeypatch: pytest.MonkeyPatch) -> None:
    """The race, forced: witness `first` reads the head (5), then `second` cosigns 8 before
    `first` updates. `first`'s checkpoint of 7 is valid from 5, but the head is no longer 5:
    409 with 8, and 7 is never cosigned (an update without the compare would roll the head
    back from 8 to 7)."""
    _grow(scene.log, 8)
    _cosign(scene, 0, 5)
    first, second = scene.another_witness(), scene.another_witness()
    read = first._head
    fired: list[Answer] = []

    def read_then_lose(origin: str) -> tuple[int, bytes, str] | None:
        head = read(origin)
        if not fired:
            fired.append(_offer(second, scene.log, 5, 8))
        return head

    monkeypatch.setattr(first, "_head", read_then_lose)
    assert _offer(first, scene.log, 5, 7) == _held(8)
    assert fired[0].status == 200
    assert scene.head() == (8, _root(scene.log, 8), _note(scene.log, 8))
    assert [c["size"] for c in scene.witness.cosigned(ORIGIN)] == [5, 8]


# -- 5. a witness store restored from an older backup ---------------------------------------------
def test_a_restored_store_moves_forward_to_the_high_water_head(scene: Scene) -> None:
    """Cosign 5 then 8; put the head row back to 5 (a database restored from a backup of
    then). A fork that shares the first 5 leaves, with a proof that verifies from the root
    of 5, is not cosigned: the witness moves forward to the high-water head (8) first and
    answers 409 with 8. The honest log, from 8, is still cosigned.

    The limit: restore the data directory too (the high-water file gone) and the witness
    has truly forgotten 8: it answers 409 with 5, and then cosigns the fork. The mark lives
    in the data directory: restore only the database, never the data directory, or the
    witness forgets what it cosigned and can be made to cosign a split view."""
    _grow(scene.log, 12)
    _cosign(scene, 0, 5)
    at_5 = _head_row(scene)
    cosigned_8 = _cosign(scene, 5, 8)
    assert _mark(scene).read_text("utf-8") == cosigned_8
    fork, fork_proof = _fork_sharing(scene.log, 5, 9)

    _set_head(scene, at_5)
    assert scene.head() == (5, _root(scene.log, 5), _note(scene.log, 5))
    assert _submit(scene.witness, 5, fork_proof, fork) == _held(8)
    _assert_moved_to(scene, 8)
    _cosign(scene, 8, 12)

    _set_head(scene, at_5)
    _mark(scene).unlink()
    assert _offer(scene.witness, scene.log, 12, 12) == _held(5)
    answer = _submit(scene.witness, 5, fork_proof, fork)
    assert answer.status == 200  # the defence's limit (see the docstring), not a wish


def test_a_store_restored_from_before_the_first_cosignature(scene: Scene) -> None:
    """No head row at all (a backup from before the witness cosigned anything) but a
    high-water file: the witness takes the file's head, and a submission from 0 gets 409."""
    _grow(scene.log, 8)
    _cosign(scene, 0, 3)
    _cosign(scene, 3, 8)
    _set_head(scene, None)
    assert scene.head() is None
    assert _offer(scene.witness, scene.log, 0, 5) == _held(8)
    _assert_moved_to(scene, 8)


# -- 6. the log's side, against this witness over HTTP --------------------------------------------
class _Front(ThreadingHTTPServer):
    """A witness behind HTTP: POST /add-checkpoint goes to `witness`; `statuses` lists each
    answer given; with `fail` set it answers 500."""

    daemon_threads = True

    def __init__(self, witness: Witness) -> None:
        super().__init__(("127.0.0.1", 0), _FrontHandler)
        self.witness = witness
        self.statuses: list[int] = []
        self.fail = False


class _FrontHandler(BaseHTTPRequestHandler):
    # HTTP/1.1: the log's client keeps its connection alive between rounds, as the spec asks,
    # and Witnessing.close() closes it (an unclosed socket is a ResourceWarning, an error in
    # this suite).
    protocol_version = "HTTP/1.1"
    server: _Front

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != "/add-checkpoint":
            status, kind, text = 404, TEXT_TYPE, "no such path\n"
        elif self.server.fail:
            status, kind, text = 500, TEXT_TYPE, "the witness is down\n"
        else:
            answer = self.server.witness.add_checkpoint(body)
            status, kind, text = answer.status, answer.content_type, answer.body
        self.server.statuses.append(status)
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:  # quiet
        pass


@contextmanager
def _serving(witness: Witness) -> Iterator[_Front]:
    front = _Front(witness)
    thread = threading.Thread(target=front.serve_forever, daemon=True)
    thread.start()
    try:
        yield front
    finally:
        front.shutdown()
        front.server_close()
        thread.join(timeout=10)


def _witnessed(ledger: Ledger) -> tuple[int, str, str] | None:
    with ledger.store.transaction() as tx:
        return tx.latest_witnessed()


def test_the_log_gets_its_checkpoints_cosigned_over_http(scene: Scene) -> None:
    """`Witnessing` against the witness behind a real HTTP server: a round cosigns the
    latest checkpoint and stores it witnessed (verified under the policy); after the log
    lost what its witness holds, a 409 tells it and the round succeeds from there; a
    witness answering 500 is an error, and is not called again at once (backoff)."""
    log = scene.log
    with _serving(scene.witness) as front:
        policy_file = scene.tmp / "witness-policy"
        policy_file.write_text(
            f"log {log.key.verifier} http://x\n"
            f"witness w {scene.witness.key.cosigner} http://127.0.0.1:{front.server_port}\n"
            "quorum w\n")
        policy = load_policy(policy_file, log.key)
        witnessing = Witnessing(log.store, log.checkpointer, policy, timeout=10,
                                clock=scene.clock)
        try:
            _grow(log, 5)
            first = log.checkpointer.cut(force=True)
            assert first is not None and first.note == _note(log, 5)  # as the module says
            [outcome] = witnessing.round()
            assert (outcome.witness, outcome.size, outcome.error) == ("w", 5, None)
            assert outcome.line is not None
            witnessed = _witnessed(log)
            assert witnessed is not None and witnessed[:2] == (5, first.note + outcome.line)
            assert verify_witnessed(witnessed[1], policy).cosigners == {
                "w": int(scene.clock.now.timestamp())}
            assert witnessing.round() == []  # cosigned already: nothing to send
            assert front.statuses == [200]

            _grow(log, 4)
            log.checkpointer.cut(force=True)
            assert [o.size for o in witnessing.round()] == [9]
            assert front.statuses == [200, 200]  # from 5, with a proof

            with log.store.transaction() as tx:  # a restart that lost what the witness holds
                tx.execute(f"DELETE FROM {log.store.prefix}stele_witness_peers")
            _grow(log, 3)
            third = log.checkpointer.cut(force=True)
            assert third is not None
            [outcome] = witnessing.round()
            assert (outcome.size, outcome.error) == (12, None)
            assert front.statuses[2:] == [409, 200]  # learnt 9 from the 409, then cosigned
            witnessed = _witnessed(log)
            assert witnessed is not None and witnessed[0] == 12
            verify_witnessed(witnessed[1], policy)

            front.fail = True
            _grow(log, 2)
            log.checkpointer.cut(force=True)
            [outcome] = witnessing.round()
            assert outcome.error is not None and outcome.error.startswith("500")
            assert witnessing.round() == []  # backing off: not called again at once
            assert front.statuses[4:] == [500]
            witnessed = _witnessed(log)
            assert witnessed is not None and witnessed[0] == 12
            with log.store.transaction() as tx:
                assert tx.witness_peers()["w"][0] == 12
                assert tx.witness_peers()["w"][3] == outcome.error
        finally:
            witnessing.close()
    assert [h["size"] for h in scene.witness.heads()] == [12]
