"""The `stele` command line end to end, as an operator or auditor runs it."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.config import Database
from tests.conftest import database_url
from verifiers.merkle import leaf_hash, verify_consistency, verify_inclusion
from verifiers.note import open_note, parse_checkpoint, parse_verifier_key

pytestmark = pytest.mark.slow  # runs the real command line, one process per call

ROOT = Path(__file__).resolve().parents[2]


class Stele:
    """Runs the real command line in a working directory, against one database."""

    def __init__(self, cwd: Path, db: Database | None) -> None:
        self.cwd = cwd
        self.env = dict(os.environ, PYTHONPATH=str(ROOT), STELE_LOG_ORIGIN="cli.test/log",
                        STELE_ENV="dev")
        self.env.pop("STELE_DATABASE_URL", None)
        if db is not None:
            self.env["STELE_DATABASE_URL"] = database_url(db)
        exe = shutil.which("stele", path=str(Path(sys.executable).parent))
        self.command = [exe] if exe else [sys.executable, "-m", "api.cli"]

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*self.command, *args], cwd=self.cwd, env=self.env,
                              capture_output=True, text=True, timeout=300)
        assert "Traceback" not in done.stderr, done.stderr
        if ok:
            assert done.returncode == 0, done.stderr
        return done

    def json(self, *args: str) -> dict:  # type: ignore[type-arg]
        return json.loads(self.run(*args).stdout)


@pytest.fixture
def stele(tmp_path: Path, database: Database) -> Stele:
    return Stele(tmp_path, None if database.kind == "sqlite" else database)


def test_demo_runs_every_action_and_a_second_run_adds(stele: Stele) -> None:
    first = stele.run("demo", "--records", "10").stdout
    assert "audit: PASSED" in first and "10 records" in first
    size1 = stele.json("log", "status")["tree_size"]
    second = stele.run("demo", "--records", "5").stdout
    assert "audit: PASSED" in second
    status = stele.json("log", "status")
    assert status["tree_size"] > size1
    assert status["checkpoint"]["size"] == status["tree_size"]  # covers every leaf
    if stele.env.get("STELE_DATABASE_URL") is None:
        assert (stele.cwd / "stele-data" / "ledger.sqlite3").exists()


def test_outputs_verify_with_the_proof_kernel(stele: Stele) -> None:
    stele.run("demo", "--records", "5")
    first_note = stele.run("log", "checkpoint").stdout
    stele.run("demo", "--records", "3")
    note = stele.run("log", "checkpoint").stdout
    key = parse_verifier_key(stele.run("log", "key").stdout.strip())
    first = parse_checkpoint(open_note(first_note, [key]).text)
    latest = parse_checkpoint(open_note(note, [key]).text)
    assert latest.origin == "cli.test/log"
    assert stele.run("log", "checkpoint", "--size", str(first.size)).stdout == first_note

    lines = stele.run("log", "leaves", "--start", "0", "--end", str(latest.size)).stdout
    leaves = [json.loads(line) for line in lines.splitlines()]
    assert [leaf["index"] for leaf in leaves] == list(range(latest.size))
    for index in (0, first.size - 1, latest.size - 1):
        proof = stele.json("log", "prove", "--index", str(index))
        assert proof["tree_size"] == latest.size
        hashed = leaf_hash(base64.b64decode(leaves[index]["leaf"]))
        assert base64.b64decode(proof["leaf_hash"]) == hashed
        verify_inclusion(index, latest.size, hashed,
                         [base64.b64decode(p) for p in proof["proof"]], latest.root)
    consistency = stele.json("log", "consistency", "--first", str(first.size),
                             "--second", str(latest.size))
    verify_consistency(first.size, latest.size,
                       [base64.b64decode(p) for p in consistency["proof"]],
                       first.root, latest.root)


def _archive_node(stele: Stele, tmp_path: Path) -> Stele:
    """An archive's node (SQLite, in its own directory) and `stele`'s, each pinning the
    other's log key (STELE_PEER_LOGS); the archive trusts the sender's TSA (development)."""
    (tmp_path / "archive").mkdir()
    archive = Stele(tmp_path / "archive", None)
    archive.env["STELE_LOG_ORIGIN"] = "archive.test/log"
    for node, peer in ((stele, archive), (archive, stele)):
        pinned = node.cwd / "peers.policy"
        pinned.write_text(f"log {peer.run('log', 'key').stdout.strip()}\n", encoding="utf-8")
        node.env["STELE_PEER_LOGS"] = str(pinned)
    return archive


def _trust_tsa_of(sender: Stele, receiver: Stele) -> None:
    root = receiver.cwd / "sender-tsa-root.pem"
    root.write_text(sender.run("tsa", "cert", "--root").stdout, encoding="utf-8")
    receiver.run("trust", "add", str(root), "--pki", "the sender's development TSA",
                 "--purpose", "timestamping", "--agency", "000.00.00.B01")  # the committee


def test_record_actions_from_the_command_line(stele: Stele, tmp_path: Path) -> None:
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({
        "doc_type": "Công văn", "number": "15", "notation": "15/CV-VP", "issued": "2024-02-01",
        "issuer": "000.00.00.G01", "subject": "Về việc lưu trữ", "language": "vi", "pages": 1,
        "access": "open", "reliability": "born_digital"}))
    doc = tmp_path / "doc.pdf"
    doc.write_bytes(b"%PDF-1.7 test document")
    agency = ["--agency", "000.00.00.G01"]
    created = json.loads(stele.run("record", "create", "--metadata", str(meta), "--content",
                                   str(doc), "--retention", "20", "--schedule", "S-7",
                                   *agency).stdout)
    rid = created["record"]
    assert created["type"] == "record.created" and created["leaf_index"] == 0
    placed = json.loads(stele.run("record", "hold", "place", rid, "--hold", "L-1",
                                  "--reason", "litigation", *agency).stdout)
    assert placed["event"]["prev"] == created["hash"]
    # The transfer, to the historical archive's node: a package, its signed receipt.
    archive = _archive_node(stele, tmp_path)
    initiated = stele.json("transfer", "initiate", "T-1", "--destination", "000.00.00.H01",
                           "--destination-kind", "historical_archive", "--destination-log",
                           "archive.test/log", "--registration", "NL-1", "--record", rid,
                           *agency)
    assert initiated["records"] == 1
    package = tmp_path / "T-1.zip"
    exported = stele.json("transfer", "export", "T-1", "--output", str(package))
    assert exported["package_digest"] == initiated["package_digest"]
    _trust_tsa_of(stele, archive)
    refused = archive.run("transfer", "receive", str(package), "--from", "cli.test/log",
                          *agency, ok=False)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: not_destination:"), refused.stderr
    receipt = tmp_path / "receipt.txt"
    archive.run("transfer", "receive", str(package), "--from", "cli.test/log",
                "--agency", "000.00.00.H01", "--role", "archivist", "--receipt", str(receipt))
    held = archive.json("record", "show", rid)
    assert held["state"]["custodian"] == "000.00.00.H01"
    assert held["events"][0]["event"]["type"] == "record.received"
    assert stele.json("record", "show", rid)["state"]["custodian"] == "000.00.00.G01"
    concluded = stele.json("transfer", "receipt", str(receipt), "--transfer", "T-1", *agency)
    assert concluded == {"transfer": "T-1", "outcome": "received", "events": 1}
    assert stele.json("transfer", "show", "T-1", *agency)["outcome"] == "received"
    shown = stele.json("record", "show", rid)
    assert shown["state"]["custodian"] == "000.00.00.H01"
    assert [e["event"]["type"] for e in shown["events"]] == [
        "record.created", "record.hold_placed", "record.transfer_initiated",
        "record.transfer_received"]
    for node in (stele, archive):
        audit = node.run("audit", "--json")
        assert json.loads(audit.stdout)["bottom_line"] == "PASSED"


@pytest.mark.parametrize(("args", "code"), [
    (("record", "show", "not-a-uuid"), "invalid_input"),
    (("record", "show", "00000000-0000-0000-0000-000000000000"), "record_not_found"),
    (("log", "prove", "--index", "99999"), "out_of_range"),
    (("log", "leaves", "--start", "5", "--end", "99999"), "out_of_range"),
    (("log", "checkpoint", "--size", "99999"), "no_checkpoint"),
    (("log", "status", "--db", "mysql://nowhere/db"), "bad_config"),
])
def test_bad_input_is_one_clear_line(stele: Stele, args: tuple[str, ...], code: str) -> None:
    stele.run("demo", "--records", "1")
    done = stele.run(*args, ok=False)
    assert done.returncode == 3  # usage or input error (docs/cli.md)
    assert done.stderr.startswith(f"error: {code}:"), done.stderr


def test_unreachable_database_is_one_clear_line(tmp_path: Path) -> None:
    stele = Stele(tmp_path, None)
    done = stele.run("log", "status", "--db", "postgresql://nobody@127.0.0.1:1/none", ok=False)
    assert done.returncode == 3
    assert done.stderr.startswith("error: database:"), done.stderr


@pytest.mark.parametrize(("args", "status"), [
    (("log", "prove"), 3),  # a required option missing: click's usage error, as ours
    (("record", "create", "--metadata", "nowhere.json"), 3),
    (("no-such-command",), 3),
    (("demo", "--records", "0"), 3),
])
def test_usage_errors_exit_3(tmp_path: Path, args: tuple[str, ...], status: int) -> None:
    done = Stele(tmp_path, None).run(*args, ok=False)
    assert done.returncode == status, done.stderr
    assert done.stderr.strip(), "a usage error says what is wrong"


def test_demo_and_serve_refuse_development_trust_outside_dev(tmp_path: Path) -> None:
    stele = Stele(tmp_path, None)
    stele.env.pop("STELE_ENV")
    demo = stele.run("demo", "--records", "1", ok=False)
    assert demo.returncode == 3 and demo.stderr.startswith("error: development_trust:")
    serve = stele.run("serve", "--port", "1", ok=False)
    assert serve.returncode == 3 and "STELE_TSA_URLS" in serve.stderr, serve.stderr


def test_audit_outside_dev_cannot_vouch_for_the_development_tsa(stele: Stele) -> None:
    """Production trusts no development root: the dev demo's timestamps are INDETERMINATE
    there (exit 2), not FAILED, and not PASSED."""
    stele.run("demo", "--records", "1")
    stele.env.pop("STELE_ENV")
    done = stele.run("audit", ok=False)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr
    assert "tsa_untrusted" in done.stdout


def test_audit_fails_loudly_after_tampering(stele: Stele) -> None:
    stele.run("demo", "--records", "3")
    if stele.env.get("STELE_DATABASE_URL") is None:
        import sqlite3
        from contextlib import closing

        # `with connect()` only commits; closing() also closes (else a ResourceWarning later)
        with closing(sqlite3.connect(stele.cwd / "stele-data" / "ledger.sqlite3")) as conn, conn:
            conn.execute("UPDATE stele_nodes SET hash = zeroblob(32) WHERE level = 1 AND idx = 0")
    else:
        import psycopg

        from ledger.config import parse_database_url

        db = parse_database_url(stele.env["STELE_DATABASE_URL"], Path("."))
        with psycopg.connect(db.conninfo(), autocommit=True) as conn:
            conn.execute(f'UPDATE "{db.schema}".stele_nodes SET hash = %s '
                         "WHERE level = 1 AND idx = 0", (b"\0" * 32,))
    done = stele.run("audit", ok=False)
    assert done.returncode == 1
    assert "FAIL: tree: node_mismatch" in done.stdout
    report = json.loads(stele.run("audit", "--json", ok=False).stdout)
    assert report["bottom_line"] == "FAILED"


def test_audit_from_a_saved_checkpoint(stele: Stele) -> None:
    stele.run("demo", "--records", "2")
    saved = stele.cwd / "saved-checkpoint.txt"
    saved.write_text(stele.run("log", "checkpoint").stdout)
    stele.run("demo", "--records", "2")
    done = stele.run("audit", "--from-checkpoint", str(saved))
    assert "OK: saved_checkpoint" in done.stdout
    assert "OK: evidence" in done.stdout


def test_timestamp_and_evidence_record_of_an_anchored_checkpoint(stele: Stele) -> None:
    from verifiers.ers import verify_binding

    stele.run("demo", "--records", "2")
    status = stele.json("log", "status")
    # Anchored twice: before the demo's transfer (its package proves every event), at the end
    assert status["anchoring"]["anchored_checkpoints"] == 2
    size = status["checkpoint"]["size"] - 1  # the last checkpoint covers the anchor entry
    note = stele.run("log", "checkpoint", "--size", str(size)).stdout.encode()
    token = subprocess.run([*stele.command, "log", "timestamp", "--size", str(size)],
                           cwd=stele.cwd, env=stele.env, capture_output=True, check=True).stdout
    record = subprocess.run([*stele.command, "log", "evidence-record", "--size", str(size)],
                            cwd=stele.cwd, env=stele.env, capture_output=True, check=True).stdout
    binding = verify_binding(record, data_objects=[note])
    assert binding.bound
    assert binding.timestamps()[0][0] == token
    missing = stele.run("log", "timestamp", "--size", str(size + 1), ok=False)
    assert missing.stderr.startswith("error: not_anchored:")
