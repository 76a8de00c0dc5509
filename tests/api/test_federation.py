"""Three regional nodes that witness each other, as real `stele serve` processes on loopback,
on SQLite and on PostgreSQL: quorum cosigning, a split view refused and raised, a node killed
mid-write, and a log restored from an older backup."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ledger.bench.http import free_port
from ledger.config import Database, parse_database_url
from ledger.dev.tsa import load_or_create
from ledger.federation.monitor import SPLIT_VIEW, Monitor
from ledger.federation.nodes import REGIONS, Federation, Node
from ledger.log.keys import KEY_FILE
from ledger.log.tree import consistency_proof
from ledger.service import Ledger
from tests.waiting import until
from verifiers.cosignature import parse_cosigner_key, verify_cosignatures
from verifiers.note import format_checkpoint, parse_verifier_key, sign_note
from verifiers.policy import Policy, parse_policy, verify_witnessed
from verifiers.report import Verdict
from verifiers.witness import format_add_checkpoint, verify_equivocation

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture
def federation(database: Database, tmp_path: Path) -> Iterator[Federation]:
    base = None if database.kind == "sqlite" else database.connect_url()
    fed = Federation(tmp_path / "federation", ports={r: free_port() for r in REGIONS},
                     database=base, checkpoint_interval=0.3)
    fed.prepare()
    try:
        yield fed
    finally:
        fed.stop(kill=True)
        for node in fed.nodes.values():
            _drop(node)


def _drop(node: Node) -> None:
    db = parse_database_url(node.database, node.data_dir)
    if db.kind == "postgres":
        with psycopg.connect(db.conninfo(), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{db.schema}" CASCADE')


def _policies(fed: Federation) -> list[Policy]:
    return [parse_policy(fed.policy(r).read_bytes()) for r in REGIONS]


def _witnessed_size(node: Node) -> int:
    witnessing = node.status()["witnessing"] or {}
    return int((witnessing.get("witnessed") or {}).get("size", 0))


def _no_conflicting_cosignatures(fed: Federation) -> int:
    """Every checkpoint any witness ever cosigned is the log's own tree head at that size,
    and its cosignature verifies: no witness cosigned two views of one log. The count."""
    logs = {n.origin: n for n in fed.nodes.values()}
    counted = 0
    for node in fed.nodes.values():
        with Ledger(node.settings()) as ledger, ledger.store.transaction() as tx:
            rows = tx.witness_cosigned()
        cosigner = parse_cosigner_key(node.witness_vkey)
        for origin, size, root, timestamp, note, line in rows:
            with Ledger(logs[origin].settings()) as log:
                assert log.log.root(size) == root, (node.region, origin, size)
            assert verify_cosignatures(note + line, [cosigner]) == {node.witness_name: timestamp}
            counted += 1
    return counted


def _evidence(witness: Node, origin: str) -> list[dict[str, object]]:
    status, answer = witness.call("GET", f"/v1/witness/evidence?origin={origin}")
    assert status == 200, answer
    return list(answer["evidence"])


def _published_checkpoint(node: Node) -> str:
    """The node's tiles checkpoint, once its publisher (a process of its own, polling) has
    written the latest cosigned one."""
    def published() -> str | None:
        status, note = node.call("GET", "/v1/log/tiles/checkpoint")
        witnessed = node.call("GET", "/v1/log/checkpoint/witnessed")[1]
        return str(note) if status == 200 and note == witnessed else None

    return str(until(published, f"{node.region}'s tiles checkpoint"))


def _cli(node: Node, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=ROOT, input=stdin,
                          env=dict(node.env(), PYTHONPATH=str(ROOT)), capture_output=True,
                          timeout=120, check=False)


def test_three_nodes_cosign_each_other_and_the_monitor_is_clean(federation: Federation) -> None:
    fed = federation
    fed.start()
    written = fed.write_for(4)
    assert all(count >= 10 for count in written.values()), written
    covered = fed.wait_witnessed(timeout=60)
    assert set(covered) == set(REGIONS), covered
    for region, node in fed.nodes.items():
        others = {r for r in REGIONS if r != region}
        assert set(covered[region]["cosigners"]) == others  # both other regions, itself not
        # the published checkpoint (tiles and API) is the cosigned one, with its quorum
        note = _published_checkpoint(node)
        policy = parse_policy(fed.policy(region).read_bytes())
        assert set(verify_witnessed(note, policy).cosigners) == others
    findings = Monitor(_policies(fed), stale_after=60).poll()
    assert [f for f in findings if f.alarm] == []
    assert sorted(f.origin for f in findings) == sorted(n.origin for n in fed.nodes.values())
    _bundles_carry_the_quorum(fed)
    fed.stop()
    for region, node in fed.nodes.items():
        policy = parse_policy(fed.policy(region).read_bytes())
        with Ledger(node.settings()) as ledger:
            with ledger.store.transaction() as tx:
                sizes = [r[0] for r in tx.execute("SELECT size FROM stele_witnessed").fetchall()
                         ] if ledger.store.database.kind == "sqlite" else None
            assert ledger.log.audit().bottom_line is Verdict.PASSED
        if sizes is not None:
            assert len(sizes) >= 2  # the log went on being cosigned as it grew
    assert _no_conflicting_cosignatures(fed) >= 6


def _stopped_at_cosigned_size(fed: Federation, region: str) -> int:
    """Stop `region`'s node and return the size both other witnesses hold for its log, once
    that is one size and not a power of two (an RFC 6962 proof from a power of two omits the
    old root, so a conflict from there cannot be proven from the proof alone)."""
    node = fed.nodes[region]
    while True:
        fed.wait_witnessed(timeout=60)
        node.stop()
        heads = set()
        for other in fed.nodes.values():
            if other is not node:
                _, answer = other.call("GET", "/v1/witness")
                heads |= {h["size"] for h in answer["heads"] if h["origin"] == node.origin}
        if len(heads) == 1 and (held := heads.pop()) & (held - 1):
            return held
        node.start()
        node.write(1, run=f"P{time.monotonic_ns()}")


def _bundles_carry_the_quorum(fed: Federation) -> None:
    """An evidence bundle of north's carries the checkpoint both other regions cosigned;
    `stele verify --witness-policy` requires that quorum and names each cosigner."""
    north = fed.nodes["north"]
    record = north.write(1, run="E")[0]
    assert "north" in fed.wait_witnessed(timeout=120), "north's quorum did not cosign in time"
    bundle = north.data_dir.parent / "north-evidence.zip"
    request = urllib.request.Request(f"{north.url}/v1/records/{record}/evidence",
                                     headers={"Authorization": f"Bearer {north.token}"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        bundle.write_bytes(answer.read())
    tsa = north.data_dir.parent / "north-tsa.pem"
    tsa.write_bytes(load_or_create(north.data_dir / "tsa").chain_pem())
    verify = [sys.executable, "-m", "api.cli", "verify", str(bundle), "--trust", str(tsa)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    passed = subprocess.run([*verify, "--witness-policy", str(fed.policy("north")), "--json"],
                            cwd=ROOT, env=env, capture_output=True, timeout=120, check=False)
    assert passed.returncode == 0, passed.stdout[-2000:]
    report = json.loads(passed.stdout)
    assert set(report["summary"]["witnessed"]["cosigners"]) == {"central", "south"}
    # a policy whose quorum is a witness that did not cosign: FAILED, quorum_not_met
    other = north.data_dir.parent / "north-by-itself.txt"
    other.write_text(f"log {north.log_vkey}\nwitness self {north.witness_vkey}\nquorum self\n")
    failed = subprocess.run([*verify, "--witness-policy", str(other), "--json"], cwd=ROOT,
                            env=env, capture_output=True, timeout=120, check=False)
    assert failed.returncode == 1
    codes = {c.get("code") for c in json.loads(failed.stdout)["checks"]}
    assert "quorum_not_met" in codes
    # pinned log key, no policy: the witnessed checkpoint is checked, its cosigners are not
    plain = subprocess.run([*verify, "--log-key", north.log_vkey], cwd=ROOT, env=env,
                           capture_output=True, timeout=120, check=False)
    assert plain.returncode == 0 and b"cosignatures not checked" in plain.stdout


def _fork_of(fed: Federation, region: str, root: Path) -> Node:
    """Another node with `region`'s log key and origin but a store of its own: a second
    history signed by the same key (what an operator showing two versions would run)."""
    real = fed.nodes[region]
    directory = root / f"{region}-fork"
    directory.mkdir(parents=True)
    shutil.copy2(real.data_dir / KEY_FILE, directory / KEY_FILE)
    database = (f"sqlite:///{directory / 'ledger.sqlite3'}" if real.database.startswith("sqlite")
                else real.database.replace(f"_{region}", f"_{region}fork"))
    fork = Node(region=f"{region}-fork", port=free_port(), data_dir=directory,
                database=database, origin=real.origin,
                witness_name=f"{region}-fork.localhost/witness", agency=real.agency,
                log_vkey=real.log_vkey, extra_env=dict(real.extra_env))
    shutil.copy2(real.policy, fork.policy)  # it submits to the same witnesses
    shutil.copy2(real.witnessed_logs, fork.witnessed_logs)
    shutil.copy2(real.peer_logs, fork.peer_logs)
    with Ledger(fork.settings()) as ledger:
        _, fork.token = ledger.principals.add(name="fork", role="agency", agency=fork.agency)
    return fork


def test_a_split_view_is_refused_kept_as_evidence_and_raised(federation: Federation,
                                                             tmp_path: Path) -> None:
    fed = federation
    fed.start()
    north = fed.nodes["north"]
    north.write(6, run="A")
    held = _stopped_at_cosigned_size(fed, "north")
    fork = _fork_of(fed, "north", tmp_path)
    fork.start()
    try:
        fork.write(held + 5, run="F")
        for region in ("central", "south"):
            found = until(lambda r=region: _evidence(fed.nodes[r], north.origin),
                          f"{region}'s evidence", timeout=30, every=0.2)
            assert isinstance(found, list)
            proven = verify_equivocation(str(found[0]["evidence"]).encode(), north.log_vkey)
            assert proven.how == "consistency_proof" and proven.first.size == held
        # the exact answers: the fork's tree from the witnesses' size is 422 ...
        with Ledger(fork.settings()) as ledger:
            ledger.log.checkpoint(force=True)
            latest = ledger.log.checkpoint_at()
            with ledger.store.transaction() as tx:
                proof = consistency_proof(tx, held, latest.size)
            fork_root = ledger.log.root(held)
            key = ledger.key
        for region in ("central", "south"):
            assert _post(fed.nodes[region], b"")[0] == 400
            answer = _post(fed.nodes[region], format_add_checkpoint(held, proof, latest.note))
            assert answer[0] == 422, answer
            # ... and its head at the witnesses' own size is 409, naming that size
            same = sign_note(format_checkpoint(north.origin, held, fork_root), key.name,
                             key.private_key)
            assert _post(fed.nodes[region], format_add_checkpoint(held, [], same)) == (
                409, "text/x.tlog.size", f"{held}\n")
        # the fork's own status says the witnesses refuse it
        errors = [w["error"] for w in fork.status()["witnessing"]["witnesses"]]
        assert all(e and ("422" in e or "split view" in e) for e in errors), errors
        # the monitor raises within one polling interval
        started = time.monotonic()
        watched = subprocess.run(
            [sys.executable, "-m", "api.cli", "monitor", "--interval", "1",
             *[a for r in REGIONS for a in ("--policy", str(fed.policy(r)))]],
            cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True,
            timeout=60, check=False)
        assert watched.returncode == 1, watched.stderr
        assert time.monotonic() - started < 15
        events = [json.loads(line) for line in watched.stdout.splitlines()]
        assert any(e["event"] == SPLIT_VIEW and e["origin"] == north.origin for e in events)
        # the evidence exported from a witness's store proves it offline, pinned key only
        exported = _cli(fed.nodes["central"], "witness", "evidence", north.origin)
        assert exported.returncode == 1 and exported.stdout.count(b"\n") >= 1
        checked = subprocess.run(
            [sys.executable, "-m", "api.cli", "witness", "verify-evidence", "-",
             "--log-key", north.log_vkey], cwd=ROOT, input=exported.stdout,
            env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, timeout=60,
            check=False)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert all(json.loads(line)["proven"] for line in checked.stdout.splitlines())
        wrong = subprocess.run(
            [sys.executable, "-m", "api.cli", "witness", "verify-evidence", "-",
             "--log-key", fed.nodes["south"].log_vkey], cwd=ROOT, input=exported.stdout,
            env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, timeout=60,
            check=False)
        assert wrong.returncode == 1  # against another log's key it proves nothing
    finally:
        fork.stop(kill=True)
        _drop(fork)
    assert _no_conflicting_cosignatures(fed) >= 2  # the fork was never cosigned


def _post(node: Node, body: bytes) -> tuple[int, str, str]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(node.url + "/add-checkpoint", data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.headers.get("Content-Type", ""), answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode()


def _snapshot(fed: Federation) -> dict[str, list[int]]:
    sizes = {}
    for region, node in fed.nodes.items():
        with Ledger(node.settings()) as ledger, ledger.store.transaction() as tx:
            sizes[region] = [int(r[0]) for r in tx.execute(
                f"SELECT size FROM {tx._p}stele_witnessed ORDER BY size").fetchall()]
    return sizes


def test_a_node_killed_mid_write_catches_up(federation: Federation) -> None:
    fed = federation
    fed.start()
    fed.nodes["central"].write(5, run="A")
    fed.wait_witnessed(timeout=60)
    import threading

    killer = threading.Timer(1.5, lambda: fed.nodes["central"].stop(kill=True))
    killer.start()
    written = fed.write_for(4)
    killer.join()
    assert written["central"] < written["north"] or written["central"] < 400
    before = _snapshot(fed)
    fed.nodes["central"].start()
    covered = fed.wait_witnessed(timeout=90)
    assert set(covered) == set(REGIONS), covered
    after = _snapshot(fed)
    for region in REGIONS:
        assert set(before[region]) <= set(after[region])  # no cosigned checkpoint lost
        assert after[region][-1] == covered[region]["size"]
    assert _no_conflicting_cosignatures(fed) >= 6
    fed.stop()
    for node in fed.nodes.values():
        with Ledger(node.settings()) as ledger:
            assert ledger.log.audit().bottom_line is Verdict.PASSED


def _backup(node: Node, into: Path) -> None:
    db = parse_database_url(node.database, node.data_dir)
    if db.kind == "sqlite":
        assert db.path is not None
        with sqlite3.connect(db.path) as src, sqlite3.connect(into) as dst:
            src.backup(dst)
        return
    subprocess.run(["pg_dump", "-h", db.host, "-p", str(db.port), "-U", db.user or "postgres",
                    "-n", db.schema, "-f", str(into), db.dbname], check=True, timeout=120)


def _restore(node: Node, backup: Path) -> None:
    db = parse_database_url(node.database, node.data_dir)
    if db.kind == "sqlite":
        assert db.path is not None
        for suffix in ("-wal", "-shm"):
            Path(f"{db.path}{suffix}").unlink(missing_ok=True)
        shutil.copy2(backup, db.path)
        return
    _drop(node)
    subprocess.run(["psql", "-q", "-h", db.host, "-p", str(db.port), "-U", db.user or "postgres",
                    "-d", db.dbname, "-f", str(backup)], check=True, timeout=120,
                   capture_output=True)


def test_a_log_restored_from_an_older_backup_is_caught(federation: Federation,
                                                       tmp_path: Path) -> None:
    fed = federation
    fed.start()
    north = fed.nodes["north"]
    north.write(5, run="A")
    fed.wait_witnessed(timeout=60)
    backup = tmp_path / "north.backup"
    _backup(north, backup)
    north.write(12, run="B")
    held = _stopped_at_cosigned_size(fed, "north")
    _restore(north, backup)  # the database only: what a restore from backup does
    north.start()
    north.write(held + 5, run="D")  # new history past what the witnesses hold
    for region in ("central", "south"):
        found = until(lambda r=region: _evidence(fed.nodes[r], north.origin),
                      f"{region}'s evidence", timeout=30, every=0.2)
        assert isinstance(found, list)
        proven = verify_equivocation(str(found[0]["evidence"]).encode(), north.log_vkey)
        assert proven.first.size == held
    witnesses = north.status()["witnessing"]["witnesses"]
    assert all(w["error"] for w in witnesses), witnesses
    findings = Monitor(_policies(fed), stale_after=600).poll()
    assert any(f.kind == SPLIT_VIEW and f.origin == north.origin for f in findings)
    # The witnesses never moved onto the restored history: nothing of north's cosigned past
    # the size they held (what they cosigned before is the history the restore erased).
    for region in ("central", "south"):
        with Ledger(fed.nodes[region].settings()) as ledger, ledger.store.transaction() as tx:
            sizes = [row[1] for row in tx.witness_cosigned(north.origin)]
        assert sizes and max(sizes) == held, (region, sizes)


def test_the_witness_policy_pins_the_log(federation: Federation) -> None:
    """A policy's log line must be this log's key: a node given another log's policy does not
    start (it would submit checkpoints no witness expects)."""
    fed = federation
    north, south = fed.nodes["north"], fed.nodes["south"]
    shutil.copy2(fed.policy("south"), north.policy)
    with pytest.raises(RuntimeError):
        north.start(wait=30)
    assert "does not list this log's key" in (north.data_dir / "serve.log").read_text()
    assert parse_verifier_key(south.log_vkey).name == south.origin
