"""Transfers between two archives' nodes, as real `stele serve` processes on loopback, on SQLite
and on PostgreSQL: a round trip through the HTTP API (E-ARK and BagIt), the receiving node
killed while it registers a package (and stopped after registering one but before keeping its
receipt), and a damaged package rejected with a signed rejection.

The nodes are `north` (sending) and `central` (receiving) of a prepared Federation: each pins
the other's log key (peer-logs.txt) and trusts the other's development TSA. `south` is not
started; the transfers do not need it (its witness is unreachable, so no checkpoint here is
cosigned by a quorum, which no check below asks for)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ledger.bench.http import free_port
from ledger.config import Database, parse_database_url
from ledger.federation.nodes import REGIONS, Federation, Node
from ledger.service import Ledger
from tests.conftest import drop_schema
from tests.waiting import until
from verifiers.note import parse_verifier_key
from verifiers.receipt import open_receipt

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

SENDER, RECEIVER = "north", "central"
INCOMING = "/v1/transfers/incoming"
STRANGER = "000.00.09.G01"  # an agency with a principal on the receiving node


@dataclass
class Pair:
    sender: Node
    receiver: Node
    stranger: str  # a token of the receiving node's, for another agency than the destination


@pytest.fixture
def pair(database: Database, tmp_path: Path) -> Iterator[Pair]:
    base = None if database.kind == "sqlite" else database.connect_url()
    fed = Federation(tmp_path / "federation", ports={r: free_port() for r in REGIONS},
                     database=base, checkpoint_interval=0.3)
    sender, receiver = fed.nodes[SENDER], fed.nodes[RECEIVER]
    try:
        fed.prepare()
        with Ledger(receiver.settings()) as ledger:
            _, stranger = ledger.principals.add(name="another agency", role="agency",
                                                agency=STRANGER)
        for node in (sender, receiver):
            node.launch()
        for node in (sender, receiver):
            node.ready()
        yield Pair(sender, receiver, stranger)
    finally:
        fed.stop(kill=True)
        for node in fed.nodes.values():
            _drop(node)


def _drop(node: Node) -> None:
    db = parse_database_url(node.database, node.data_dir)
    if db.kind == "postgres":
        drop_schema(db)


# -- requests ----------------------------------------------------------------------------------
def _send(node: Node, method: str, path: str, data: bytes | None = None, *,
          content_type: str = "application/octet-stream", token: str | None = None,
          timeout: float = 300) -> tuple[int, bytes]:
    """A request with a raw body (a package, a receipt); the status and the raw answer."""
    headers = {"Authorization": f"Bearer {token or node.token}", "Content-Type": content_type}
    request = urllib.request.Request(node.url + path, data=data, method=method,
                                     headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _ok(node: Node, method: str, path: str, body: Any = None) -> Any:
    status, answer = node.call(method, path, body)
    assert status in (200, 201), (method, path, status, answer)
    return answer


# -- the sender's records ----------------------------------------------------------------------
def _create_action(node: Node, content: dict[str, Any], n: int, run: str) -> dict[str, Any]:
    return {"action": "record.create", "params": {
        "metadata": {
            "doc_type": "Công văn", "number": str(n), "notation": f"{n}/{run}",
            "issued": "2026-01-05", "issuer": node.agency, "subject": f"Nộp lưu {run} {n}",
            "language": "vi", "pages": 1, "access": "open", "reliability": "born_digital"},
        "retention": 10, "schedule": "B",
        "content": {"digest": content["digest"], "size": content["size"],
                    "media_type": "text/plain"}}}


def _batch(node: Node, actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list(_ok(node, "POST", "/v1/batch", {"actions": actions})["events"])


@dataclass
class Dossier:
    code: str
    records: list[str]  # ids, in the dossier's order
    documents: list[str]  # their content digests, each a document of its own


def _dossier(node: Node, notation: str, count: int) -> Dossier:
    """A closed dossier of `count` text records, each its own document, made through the API:
    one upload per document, then three requests."""
    code = f"{node.agency}.2026.{notation}"
    _ok(node, "POST", "/v1/dossiers", {"code": code, "title": f"Hồ sơ {notation}",
                                        "retention": 10})
    documents = [_upload(node, f"{notation} document {n}\n".encode()) for n in range(count)]
    created = _batch(node, [_create_action(node, c, n + 1, notation)
                            for n, c in enumerate(documents)])
    ids = [e["record"] for e in created]
    _batch(node, [{"action": "record.file", "params": {"record": rid, "dossier": code}}
                  for rid in ids])
    _ok(node, "POST", f"/v1/dossiers/{code}/close", {})
    return Dossier(code, ids, [c["digest"] for c in documents])


def _upload(node: Node, data: bytes) -> dict[str, Any]:
    status, answer = _send(node, "POST", "/v1/content", data, content_type="text/plain")
    assert status == 201, answer
    return dict(json.loads(answer))


# -- the transfer ------------------------------------------------------------------------------
def _initiate(sender: Node, receiver: Node, transfer: str, *, dossiers: list[str],
              records: list[str] | None = None, timeout: float = 60) -> dict[str, Any]:
    """POST /v1/transfers, again while it answers 409 `not_anchored` (the log anchors within
    a checkpoint interval or two of the last write)."""
    body = {"transfer": transfer, "destination": receiver.agency,
            "destination_kind": "historical_archive", "destination_log": receiver.origin,
            "registration": f"NL-{transfer}", "dossiers": dossiers, "records": records or []}

    def initiated() -> dict[str, Any] | None:
        status, answer = sender.call("POST", "/v1/transfers", body)
        if status == 409 and answer.get("code") == "not_anchored":
            return None
        assert status == 201, (status, answer)
        return dict(answer)

    return dict(until(initiated, f"{transfer} to be anchored and initiated", timeout=timeout))


def _package(sender: Node, transfer: str, format: str = "eark") -> bytes:
    status, data = _send(sender, "GET", f"/v1/transfers/{transfer}/package?format={format}")
    assert status == 200, data
    return data


def _receive(receiver: Node, sender: Node, package: bytes) -> tuple[int, bytes]:
    return _send(receiver, "POST", f"{INCOMING}?from={sender.origin}", package,
                 content_type="application/zip")


def _receipt(receiver: Node, sender: Node, package: bytes) -> str:
    status, answer = _receive(receiver, sender, package)
    assert status == 200, answer
    return answer.decode("utf-8")


def _conclude(sender: Node, transfer: str, note: str) -> dict[str, Any]:
    status, answer = _send(sender, "POST", f"/v1/transfers/{transfer}/receipt",
                           note.encode("utf-8"), content_type="text/plain")
    assert status == 200, answer
    return dict(json.loads(answer))


def _body(receiver: Node, note: str) -> dict[str, Any]:
    """A receipt's body, its signature checked against the receiving log's key."""
    signer, body = open_receipt(note, [parse_verifier_key(receiver.log_vkey)])
    assert signer == receiver.origin
    return body


def _record(node: Node, rid: str) -> dict[str, Any]:
    return dict(_ok(node, "GET", f"/v1/records/{rid}"))


def _evidence(node: Node, rid: str, timeout: float = 60) -> bytes:
    """The record's evidence bundle with its document, again while it answers 409
    `not_anchored` (the node anchors what it registered within a checkpoint interval)."""
    path = f"/v1/records/{rid}/evidence?with_content=true"

    def exported() -> bytes | None:
        status, data = _send(node, "GET", path)
        if status == 409 and json.loads(data).get("code") == "not_anchored":
            return None
        assert status == 200, data
        return data

    return bytes(until(exported, f"{rid} to be anchored on {node.region}", timeout=timeout))


def _listed(node: Node) -> list[str]:
    """Every record id `GET /v1/records` lists for the node's agency, page by page."""
    ids: list[str] = []
    cursor = -1
    while cursor is not None:
        page = _ok(node, "GET", f"/v1/records?limit=1000&cursor={cursor}")
        ids += [item["id"] for item in page["items"]]
        cursor = page["next"]
    return ids


# -- offline checks through the CLI ------------------------------------------------------------
def _cli(node: Node | None, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = dict(node.env() if node is not None else os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, timeout=300, check=False)


def _audit(node: Node) -> dict[str, Any]:
    """`stele audit --json` against the node's data directory and database."""
    done = _cli(node, "audit", "--json")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["bottom_line"] == "PASSED"
    return dict(report)


def _tsa_roots(into: Path, *nodes: Node) -> Path:
    """A PEM file of the nodes' TSA roots (`stele tsa cert --root`): what a court trusts."""
    pem = b""
    for node in nodes:
        done = _cli(node, "tsa", "cert", "--root", "--data-dir", str(node.data_dir))
        assert done.returncode == 0, done.stderr
        pem += done.stdout
    into.write_bytes(pem)
    return into


def _verify(bundle: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return _cli(None, "verify", str(bundle), "--json", *args)


# -- damage and crashes ------------------------------------------------------------------------
def _flipped(package: bytes) -> bytes:
    """The package re-zipped with one bit flipped in the middle of its first document."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(package)) as src, zipfile.ZipFile(out, "w") as dst:
        flipped = False
        for info in src.infolist():
            data = src.read(info)
            if not flipped and "/representations/" in info.filename and "/data/" in \
                    info.filename and not info.is_dir():
                damaged = bytearray(data)
                damaged[len(damaged) // 2] ^= 1
                data, flipped = bytes(damaged), True
            dst.writestr(info, data)
    assert flipped, "no document in the package"
    return out.getvalue()


def _adopted(node: Node, digest: str) -> bool:
    """The node's content store holds `digest` (ledger/store/content.py lays it out)."""
    hexdigest = digest.removeprefix("sha-256:")
    return (node.data_dir / "content" / hexdigest[:2] / hexdigest[2:]).exists()


def _answered(node: Node, route: str) -> bool:
    """The node's request log (serve.log, one line per answered request) names `route`."""
    return f'"route": "{route}"' in (node.data_dir / "serve.log").read_text("utf-8")


def _forget_receipts(node: Node) -> None:
    """Delete the receipts the (stopped) node kept, as if it died before keeping them."""
    with Ledger(node.settings()) as ledger, ledger.store.transaction() as tx:
        tx.execute(f"DELETE FROM {tx._p}stele_receipts")


def _post_in_background(receiver: Node, sender: Node, package: bytes
                        ) -> tuple[threading.Thread, list[object]]:
    answers: list[object] = []

    def post() -> None:
        try:
            answers.append(_receive(receiver, sender, package))
        except OSError as exc:  # the node was killed under the request
            answers.append(exc)

    thread = threading.Thread(target=post)
    thread.start()
    return thread, answers


# -- the tests ---------------------------------------------------------------------------------
def test_a_round_trip_moves_custody_and_both_histories_verify(
        pair: Pair, tmp_path: Path) -> None:
    sender, receiver = pair.sender, pair.receiver
    dossier = _dossier(sender, "TR-01", 3)
    single = sender.write(1, run="single")
    ids = [*dossier.records, *single]
    started = _initiate(sender, receiver, "TR-2026-01", dossiers=[dossier.code],
                        records=single)
    assert started["records"] == 4 and started["counts"]["dossiers"] == 1
    package = _package(sender, "TR-2026-01")
    assert _package(sender, "TR-2026-01") == package  # frozen: the same bytes each time

    # the destination agency must be the receiving principal's: another agency is refused
    status, answer = _send(receiver, "POST", f"{INCOMING}?from={sender.origin}", package,
                           content_type="application/zip", token=pair.stranger)
    assert status == 403 and json.loads(answer)["code"] == "not_destination", answer
    note = _receipt(receiver, sender, package)
    assert _receipt(receiver, sender, _package(sender, "TR-2026-01", "bagit")) == note
    assert _record(sender, ids[0])["state"]["custodian"] == sender.agency  # not yet

    concluded = _conclude(sender, "TR-2026-01", note)
    assert concluded == {"transfer": "TR-2026-01", "outcome": "received", "events": 4}
    assert _conclude(sender, "TR-2026-01", note)["events"] == 0  # the same answer: nothing
    assert _ok(sender, "GET", "/v1/transfers/TR-2026-01")["outcome"] == "received"
    for rid in ids:
        sent, held = _record(sender, rid), _record(receiver, rid)
        assert sent["state"]["custodian"] == held["state"]["custodian"] == receiver.agency
        assert sent["events"][-1]["event"]["type"] == "record.transfer_received"
        assert held["events"][0]["event"]["type"] == "record.received"
        assert held["state"]["content"] == sent["state"]["content"]
        assert held["state"]["content_present"]
    assert sorted(_listed(receiver)) == sorted(ids)

    bundle = tmp_path / "received.zip"
    bundle.write_bytes(_evidence(receiver, ids[0]))
    trust = _tsa_roots(tmp_path / "tsa-roots.pem", sender, receiver)
    pinned = ["--trust", str(trust), "--log-key", receiver.log_vkey]
    both = _verify(bundle, *pinned, "--source-log-key", sender.log_vkey)
    assert both.returncode == 0, both.stdout[-3000:]
    assert json.loads(both.stdout)["bottom_line"] == "PASSED"
    alone = _verify(bundle, *pinned)
    assert alone.returncode == 2, alone.stdout[-3000:]
    assert "log_key_not_pinned" in {c.get("code") for c in json.loads(alone.stdout)["checks"]}

    sender.stop()
    receiver.stop()
    _audit(sender)
    _audit(receiver)


def test_a_receiver_killed_mid_registration_registers_each_record_once(pair: Pair) -> None:
    sender, receiver = pair.sender, pair.receiver
    dossier = _dossier(sender, "TR-02", 200)
    ids = dossier.records
    _initiate(sender, receiver, "TR-2026-02", dossiers=[dossier.code], timeout=120)
    package = _package(sender, "TR-2026-02")

    # Killed once the first document is copied into the content store: every record has
    # been re-proven, the documents are being adopted, no event is written yet (or, if the
    # registration outran the poll, the one transaction is committed: never a part of it).
    thread, answers = _post_in_background(receiver, sender, package)
    until(lambda: _adopted(receiver, dossier.documents[0]) or answers,
          "the receiver to adopt the package's first document", every=0.01)
    assert not answers and not _answered(receiver, INCOMING), answers  # still in flight
    receiver.stop(kill=True)
    thread.join(timeout=60)
    assert answers and isinstance(answers[0], OSError), answers  # it never answered
    adopted = sum(_adopted(receiver, d) for d in dossier.documents)

    receiver.start()
    held = set(_listed(receiver))
    assert held in (set(), set(ids)), (len(held), adopted)  # nothing half-registered
    note = _receipt(receiver, sender, package)
    assert _receipt(receiver, sender, package) == note
    assert sorted(_listed(receiver)) == sorted(ids)
    for rid in ids:  # each registered exactly once: one record.received, nothing after
        assert [e["event"]["type"] for e in _record(receiver, rid)["events"]] == \
            ["record.received"], rid
    assert _conclude(sender, "TR-2026-02", note)["outcome"] == "received"
    assert {_record(sender, rid)["state"]["custodian"] for rid in ids} == {receiver.agency}
    receiver.stop()
    _audit(receiver)


def test_a_receiver_that_crashed_after_registering_answers_a_receipt_on_retry(
        pair: Pair) -> None:
    """The other half-state a crash can leave: the records' one transaction committed, the
    receipt not yet kept. Made by hand (the receipt row deleted while the node is down), so
    the retry meets it every time, and the log worker has checkpointed the records already."""
    sender, receiver = pair.sender, pair.receiver
    dossier = _dossier(sender, "TR-04", 3)
    _initiate(sender, receiver, "TR-2026-04", dossiers=[dossier.code])
    package = _package(sender, "TR-2026-04")
    first = _receipt(receiver, sender, package)
    receiver.stop()
    _forget_receipts(receiver)
    receiver.start()
    note = _receipt(receiver, sender, package)
    assert _receipt(receiver, sender, package) == note
    assert _body(receiver, note)["records"] == _body(receiver, first)["records"]
    assert sorted(_listed(receiver)) == sorted(dossier.records)
    assert _conclude(sender, "TR-2026-04", note)["outcome"] == "received"


def test_a_flipped_byte_is_rejected_over_http_and_custody_stays(pair: Pair) -> None:
    sender, receiver = pair.sender, pair.receiver
    dossier = _dossier(sender, "TR-03", 2)
    ids = dossier.records
    _initiate(sender, receiver, "TR-2026-03", dossiers=[dossier.code])
    status, answer = _receive(receiver, sender, _flipped(_package(sender, "TR-2026-03")))
    assert status == 422, answer
    problem = json.loads(answer)
    assert problem["code"] == "package_file_altered", problem
    assert _listed(receiver) == []  # nothing registered

    concluded = _conclude(sender, "TR-2026-03", problem["receipt"])
    assert concluded["outcome"] == "rejected" and concluded["events"] == len(ids)
    for rid in ids:
        record = _record(sender, rid)
        assert record["state"]["custodian"] == sender.agency
        assert record["state"]["transfer"] is None
        assert record["events"][-1]["event"]["type"] == "record.transfer_rejected"
    assert _ok(sender, "GET", "/v1/transfers/TR-2026-03")["outcome"] == "rejected"
