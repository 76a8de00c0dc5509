"""The monitor (ledger/federation/monitor.py), following a log from its published files alone.

The scene: a real log (a Ledger on SQLite) whose tiles are published, one snapshot per
checkpoint, into directories of their own (what a node serves at one moment), each with its
checkpoint cosigned by two witnesses the test holds the keys of, under the policy
`quorum both` (`group both all a b`). The monitor reads whichever snapshot is "served" now at
the log's URL, and the witnesses' evidence from a dict. A fork is a second log holding the
SAME key and origin (its key file copied before it is made) with other records: what it
signs is a split view of the first.

- A clean log gives one `checkpoint` finding per new size, nothing in between.
- Another history at the same URL is a `split_view` (larger: the consistency proof from the
  tiles fails; same size: another root), a smaller size a `rollback`; after an alarm the
  reference stays the last consistent view.
- Too few cosigners, another key's signature, no checkpoint: `quorum_not_met`,
  `note_invalid`, `unreachable`.
- `stale` once the newest cosignature is older than the bound; a fresh cosignature clears it.
- Witness evidence proven against the pinned key is a `split_view`, once; evidence the log
  did not sign is ignored; an unreachable witness is named.
- The state file: a restarted monitor still compares with what it saw.
- `stele monitor` over real HTTP: `--once` exit 0 on a clean log, exit 1 on a fork.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.config import Database, Settings
from ledger.federation.monitor import Finding, Monitor
from ledger.log.keys import KEY_FILE
from ledger.log.tiles import TileWriter
from ledger.service import Ledger
from tests.conftest import Clock
from tests.ledger.builders import create
from verifiers.canonical import b64
from verifiers.cosignature import cosign, cosigner_vkey
from verifiers.note import split_note
from verifiers.policy import parse_policy
from verifiers.tiles import CHECKPOINT, Fetch, directory_fetch
from verifiers.witness import equivocation_evidence

ROOT = Path(__file__).parents[2]
ORIGIN = "test.stele/log"
LOG_URL = "http://log.test"
STALE_AFTER = 300.0


@dataclass(frozen=True)
class Cosigner:
    """A witness of the policy, whose private key the test holds."""

    name: str  # its name in the policy
    key_name: str  # its cosigner key's name
    url: str
    private_key: Ed25519PrivateKey

    @property
    def vkey(self) -> str:
        raw = self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return cosigner_vkey(self.key_name, raw)


def cosigned(note: str, witnesses: Sequence[Cosigner], when: int) -> str:
    """`note` with a cosignature by each of `witnesses` at `when` (POSIX seconds)."""
    text, _ = split_note(note)
    return note + "".join(cosign(text, w.key_name, w.private_key, when) for w in witnesses)


def kinds(found: list[Finding]) -> list[tuple[str, bool]]:
    return [(f.kind, f.alarm) for f in found]


class Scene:
    def __init__(self, tmp: Path, clock: Clock) -> None:
        self.tmp, self.clock = tmp, clock
        self.a = Cosigner("a", "wa.test/witness", "http://wa.test", Ed25519PrivateKey.generate())
        self.b = Cosigner("b", "wb.test/witness", "http://wb.test", Ed25519PrivateKey.generate())
        self.opened: list[Ledger] = []
        self.numbers = itertools.count(1)
        self.honest = self.ledger("honest")
        self.served = tmp / "nothing-served"  # the snapshot the log's URL serves now
        self.evidence: dict[str, list[str] | Exception] = {}  # witness URL -> what it serves

    def ledger(self, name: str, *, key_of: Ledger | None = None) -> Ledger:
        """A log under ORIGIN in its own data directory; `key_of`: with that log's key."""
        data_dir = self.tmp / name
        data_dir.mkdir()
        if key_of is not None:
            shutil.copy2(key_of.settings.data_dir / KEY_FILE, data_dir / KEY_FILE)
        settings = Settings(data_dir=data_dir, origin=ORIGIN, dev=True,
                            database=Database(kind="sqlite", path=data_dir / "log.sqlite3"),
                            checkpoint_every=1000, checkpoint_interval=3600)
        ledger = Ledger(settings, clock=self.clock)
        self.opened.append(ledger)
        if key_of is not None:
            assert ledger.key.verifier == key_of.key.verifier
        return ledger

    def fork(self) -> Ledger:
        """Another history signed by the honest log's key (same origin, other records)."""
        return self.ledger("fork", key_of=self.honest)

    def grow_to(self, ledger: Ledger, size: int) -> None:
        while ledger.log.size() < size:
            create(ledger, next(self.numbers))
            ledger.log.integrate()
        assert ledger.log.size() == size

    def site(self, ledger: Ledger, name: str, *, witnesses: Sequence[Cosigner] | None = None,
             when: int | None = None) -> Path:
        """Cut a checkpoint of `ledger` at its size, publish its tiles into a directory of
        their own, and its checkpoint cosigned by `witnesses` (default both) at `when`
        (default the clock's now)."""
        ledger.log.checkpoint(force=True, publish=False)
        cp = ledger.log.checkpoint_at()
        root = self.tmp / "sites" / name
        TileWriter(ledger.store, root).publish(cp)
        self.recosign(root, cp.note, witnesses=witnesses, when=when)
        return root

    def recosign(self, root: Path, note: str, *, witnesses: Sequence[Cosigner] | None = None,
                 when: int | None = None) -> None:
        at = int(self.clock().timestamp()) if when is None else when
        (root / CHECKPOINT).write_text(cosigned(note, witnesses or (self.a, self.b), at))

    def policy(self, log_url: str = LOG_URL, a_url: str | None = None,
               b_url: str | None = None) -> str:
        return (f"log {self.honest.key.verifier} {log_url}\n"
                f"witness a {self.a.vkey} {a_url or self.a.url}\n"
                f"witness b {self.b.vkey} {b_url or self.b.url}\n"
                "group both all a b\nquorum both\n")

    def fetch_for(self, url: str) -> Fetch:
        assert url == LOG_URL
        return lambda path: directory_fetch(self.served)(path)

    def get(self, url: str) -> bytes:
        served = self.evidence.get(url.removesuffix("/v1/witness/evidence"), [])
        if isinstance(served, Exception):
            raise served
        return json.dumps({"evidence": [{"evidence": doc} for doc in served]}).encode()

    def monitor(self, state: Path | None = None) -> Monitor:
        return Monitor([parse_policy(self.policy())], stale_after=STALE_AFTER, state=state,
                       fetch_for=self.fetch_for, get=self.get, clock=self.clock)

    def note(self, ledger: Ledger) -> str:
        """The log's own (uncosigned) note of a checkpoint at its size (cut if need be)."""
        ledger.log.checkpoint(force=True, publish=False)
        return ledger.log.checkpoint_at().note


@pytest.fixture
def scene(tmp_path: Path, clock: Clock) -> Iterator[Scene]:
    made = Scene(tmp_path, clock)
    yield made
    for ledger in made.opened:
        ledger.close()


def test_a_clean_log_gives_one_checkpoint_finding_per_new_size(scene: Scene) -> None:
    """The first poll reports the checkpoint with its cosigners; a new size is reported once
    more; a poll with nothing new reports nothing (and empty evidence raises nothing)."""
    monitor = scene.monitor()
    scene.grow_to(scene.honest, 3)
    scene.served = scene.site(scene.honest, "h3")
    first_at = int(scene.clock().timestamp())
    found = monitor.poll()
    assert kinds(found) == [("checkpoint", False)]
    assert found[0].origin == ORIGIN
    assert found[0].detail == {"size": 3, "root": b64(scene.honest.log.root(3)),
                               "cosigners": {"a": first_at, "b": first_at}}
    assert monitor.poll() == []

    scene.clock.advance(seconds=10)
    scene.grow_to(scene.honest, 5)
    scene.served = scene.site(scene.honest, "h5")
    found = monitor.poll()
    assert kinds(found) == [("checkpoint", False)]
    assert found[0].detail["size"] == 5
    assert found[0].detail["cosigners"] == {"a": first_at + 10, "b": first_at + 10}
    assert monitor.poll() == []


def test_another_history_at_the_url_is_a_split_view_and_the_reference_stays(
        scene: Scene) -> None:
    """A fork served at the log's URL: larger (the consistency proof read from its tiles does
    not lead to the root seen) and same size with another root are split views, a smaller
    size a rollback. None of them becomes the reference: the honest log, served again, is
    quiet, and its next size is checked against the last consistent view (a clean
    checkpoint; had the fork's size 6 been adopted, it would be a split view)."""
    monitor = scene.monitor()
    scene.grow_to(scene.honest, 4)
    honest4 = scene.site(scene.honest, "h4")
    scene.served = honest4
    assert kinds(monitor.poll()) == [("checkpoint", False)]
    seen = (honest4 / CHECKPOINT).read_text()

    fork = scene.fork()
    forked: dict[int, Path] = {}
    for size in (3, 4, 6):
        scene.grow_to(fork, size)
        forked[size] = scene.site(fork, f"f{size}")

    scene.served = forked[6]
    found = monitor.poll()
    assert kinds(found) == [("split_view", True)]
    assert found[0].origin == ORIGIN
    assert {k: found[0].detail[k] for k in ("seen_size", "size", "seen", "now")} == {
        "seen_size": 4, "size": 6, "seen": seen, "now": (forked[6] / CHECKPOINT).read_text()}
    assert found[0].detail["reason"] == "root_mismatch"

    scene.served = forked[4]
    found = monitor.poll()
    assert kinds(found) == [("split_view", True)]
    assert found[0].detail["size"] == 4 and found[0].detail["seen"] == seen

    scene.served = forked[3]
    found = monitor.poll()
    assert kinds(found) == [("rollback", True)]
    assert (found[0].detail["seen_size"], found[0].detail["size"]) == (4, 3)

    scene.served = honest4
    assert monitor.poll() == []
    scene.grow_to(scene.honest, 6)
    scene.served = scene.site(scene.honest, "h6")
    found = monitor.poll()
    assert kinds(found) == [("checkpoint", False)]
    assert found[0].detail["size"] == 6


def test_unwitnessed_foreign_or_missing_checkpoints_are_alarms(scene: Scene) -> None:
    """Cosigned by one witness of `all a b`: quorum_not_met; signed by another key under the
    log's origin (cosigned by both): note_invalid; no checkpoint file: unreachable. None of
    them moves the reference: the honest checkpoint served again is quiet."""
    monitor = scene.monitor()
    scene.grow_to(scene.honest, 3)
    honest = scene.site(scene.honest, "h3")
    scene.served = honest
    assert kinds(monitor.poll()) == [("checkpoint", False)]

    scene.grow_to(scene.honest, 4)
    scene.served = scene.site(scene.honest, "only-a", witnesses=[scene.a])
    found = monitor.poll()
    assert kinds(found) == [("quorum_not_met", True)]
    assert (found[0].detail["cosigned"], found[0].detail["size"]) == ("a", 4)

    impostor = scene.ledger("impostor")  # same origin, a key of its own
    assert impostor.key.verifier != scene.honest.key.verifier
    scene.grow_to(impostor, 5)
    scene.served = scene.site(impostor, "impostor")
    found = monitor.poll()
    assert kinds(found) == [("note_invalid", True)]
    assert found[0].origin == ORIGIN

    empty = scene.tmp / "sites" / "empty"
    shutil.copytree(honest, empty)
    (empty / CHECKPOINT).unlink()
    scene.served = empty
    found = monitor.poll()
    assert kinds(found) == [("unreachable", True)]
    assert "checkpoint" in found[0].detail["reason"]

    scene.served = honest
    assert monitor.poll() == []


def test_stale_once_the_newest_cosignature_is_older_than_the_bound(scene: Scene) -> None:
    """At exactly `stale_after` seconds: nothing; one second more: a stale alarm with the
    age and the bound (each poll, while it lasts); the same checkpoint cosigned anew clears
    it (and is not reported as a new checkpoint), even when only one witness cosigned anew:
    the newest cosignature counts."""
    monitor = scene.monitor()
    scene.grow_to(scene.honest, 3)
    first_at = int(scene.clock().timestamp())
    root = scene.site(scene.honest, "h3")
    scene.served = root
    assert kinds(monitor.poll()) == [("checkpoint", False)]

    scene.clock.advance(seconds=STALE_AFTER)
    assert monitor.poll() == []
    scene.clock.advance(seconds=1)
    found = monitor.poll()
    assert kinds(found) == [("stale", True)]
    assert found[0].detail == {"size": 3, "age": STALE_AFTER + 1, "bound": STALE_AFTER}
    assert kinds(monitor.poll()) == [("stale", True)]

    old_a = cosigned(scene.note(scene.honest), [scene.a], first_at)
    (root / CHECKPOINT).write_text(cosigned(old_a, [scene.b], int(scene.clock().timestamp())))
    assert monitor.poll() == []


def test_witness_evidence_proven_against_the_pinned_key_is_a_split_view_once(
        scene: Scene) -> None:
    """Two notes the log's key signed at one size with other roots, kept by witness a: one
    split_view naming a, not repeated on the next poll. Notes another key signed under the
    log's origin (both, or one beside a real note) prove nothing: no alarm, a witness cannot
    frame a log. A witness whose evidence cannot be read: unreachable, naming it."""
    scene.grow_to(scene.honest, 4)
    scene.served = scene.site(scene.honest, "h4")
    fork = scene.fork()
    scene.grow_to(fork, 4)
    honest_note, forked_note = scene.note(scene.honest), scene.note(fork)
    proven = equivocation_evidence(honest_note, forked_note, [], origin=ORIGIN,
                                   witness=scene.a.key_name, found_at="2026-11-27T08:00:00Z")
    scene.evidence[scene.a.url] = [proven.decode()]

    monitor = scene.monitor()
    found = monitor.poll()
    assert kinds(found) == [("checkpoint", False), ("split_view", True)]
    evidence = found[1]
    assert evidence.origin == ORIGIN
    assert {k: evidence.detail[k] for k in ("witness", "how", "sizes")} == {
        "witness": "a", "how": "same_size", "sizes": [4, 4]}
    assert monitor.poll() == []

    impostor = scene.ledger("impostor")
    scene.grow_to(impostor, 2)
    first = scene.note(impostor)
    scene.grow_to(impostor, 3)
    framing = [
        equivocation_evidence(first, scene.note(impostor), [], origin=ORIGIN,
                              witness=scene.b.key_name, found_at="2026-11-27T08:01:00Z"),
        equivocation_evidence(honest_note, first, [], origin=ORIGIN,
                              witness=scene.b.key_name, found_at="2026-11-27T08:02:00Z"),
    ]
    scene.evidence[scene.b.url] = [doc.decode() for doc in framing]
    assert monitor.poll() == []

    scene.evidence[scene.b.url] = OSError("connection refused")
    found = monitor.poll()
    assert kinds(found) == [("unreachable", True)]
    assert found[0].origin == "b" and found[0].detail["witness"] == "b"
    assert "connection refused" in found[0].detail["reason"]


def test_a_restarted_monitor_remembers_what_it_saw(scene: Scene, tmp_path: Path) -> None:
    """A monitor that saw size 4 keeps it in its state file; a new Monitor on that file is
    quiet on the same checkpoint and raises split_view on a fork of size 6 (and of size 4),
    where a monitor without the file would take the fork as its first checkpoint."""
    state = tmp_path / "monitor-state.json"
    scene.grow_to(scene.honest, 4)
    honest = scene.site(scene.honest, "h4")
    scene.served = honest
    assert kinds(scene.monitor(state).poll()) == [("checkpoint", False)]
    assert json.loads(state.read_text())[ORIGIN]["size"] == 4

    fork = scene.fork()
    scene.grow_to(fork, 4)
    forked4 = scene.site(fork, "f4")
    scene.grow_to(fork, 6)
    forked6 = scene.site(fork, "f6")

    restarted = scene.monitor(state)
    assert restarted.poll() == []
    scene.served = forked6
    found = restarted.poll()
    assert kinds(found) == [("split_view", True)]
    assert (found[0].detail["seen_size"], found[0].detail["size"]) == (4, 6)
    scene.served = forked4
    assert kinds(scene.monitor(state).poll()) == [("split_view", True)]
    assert json.loads(state.read_text())[ORIGIN]["size"] == 4  # an alarm is not saved

    scene.served = forked6
    assert kinds(scene.monitor().poll()) == [("checkpoint", False)]  # without the file


# -- the CLI, over real HTTP -------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    """The served snapshot under /v1/log/tiles/, and an empty evidence list at any
    .../v1/witness/evidence."""

    def __init__(self, scene: Scene, *args: Any) -> None:
        self.scene = scene
        super().__init__(*args)

    def do_GET(self) -> None:
        tiles = "/v1/log/tiles/"
        body: bytes | None = None
        if self.path.endswith("/v1/witness/evidence"):
            body = json.dumps({"evidence": []}).encode()
        elif self.path.startswith(tiles):
            try:
                body = directory_fetch(self.scene.served)(self.path[len(tiles):])
            except Exception:  # any failure is a 404 here
                body = None
        self.send_response(404 if body is None else 200)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server(scene: Scene) -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, scene))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def _cli(policy: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    return subprocess.Popen([sys.executable, "-m", "api.cli", "monitor", "--policy",
                             str(policy), *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _lines(process: subprocess.Popen[str], into: queue.Queue[str]) -> None:
    for line in process.stdout or ():
        into.put(line)


def test_cli_once_is_clean_and_a_fork_exits_1_with_a_split_view(
        scene: Scene, server: str, tmp_path: Path) -> None:
    """`stele monitor --once` against a clean log over HTTP: exit 0, one JSON checkpoint
    line. A running `--interval 0.2` monitor that saw the honest log: once the URL serves
    the fork, it exits 1 within a few seconds with a split_view JSON line (cosignatures at
    the real time: the CLI's clock is the real one)."""
    policy = tmp_path / "policy.txt"
    policy.write_text(scene.policy(server, f"{server}/wa", f"{server}/wb"))
    scene.grow_to(scene.honest, 4)
    now = int(time.time())
    scene.served = scene.site(scene.honest, "h4", when=now)
    fork = scene.fork()
    scene.grow_to(fork, 6)
    forked = scene.site(fork, "f6", when=now)

    with _cli(policy, "--once") as once:
        out, err = once.communicate(timeout=60)
    assert once.returncode == 0, err
    assert [json.loads(line) for line in out.splitlines()] == [
        {"event": "checkpoint", "origin": ORIGIN, "alarm": False, "size": 4,
         "root": b64(scene.honest.log.root(4)), "cosigners": {"a": now, "b": now}}]

    with _cli(policy, "--interval", "0.2") as running:
        lines: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(target=_lines, args=(running, lines), daemon=True)
        reader.start()
        try:
            assert json.loads(lines.get(timeout=60))["event"] == "checkpoint"
            scene.served = forked
            switched = time.monotonic()
            assert running.wait(timeout=10) == 1
            assert time.monotonic() - switched < 5
            reader.join(5)
            alarm = json.loads(lines.get(timeout=1))
            assert (alarm["event"], alarm["origin"], alarm["alarm"]) == (
                "split_view", ORIGIN, True)
            assert (alarm["seen_size"], alarm["size"]) == (4, 6)
            assert lines.empty()
        finally:
            if running.poll() is None:
                running.kill()
