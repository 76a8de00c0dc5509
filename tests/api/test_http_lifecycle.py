"""A record's whole life through HTTP, and what the API promises about writes."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from ledger.config import Database, Settings
from ledger.dev.pki import DevPki
from ledger.log.keys import LogKey
from tests.api.conftest import ARCHIVE, Api, serving
from tests.pki import pem
from verifiers.bundle import read_bundle, verify_bundle
from verifiers.chain import verify_chain
from verifiers.merkle import verify_inclusion
from verifiers.note import open_note, parse_checkpoint, parse_verifier_key
from verifiers.report import Verdict


def _register_roots(api: Api, pki: DevPki) -> dict[str, str]:
    """The committee registers the PKI's roots over HTTP; their fingerprints by PKI name."""
    anchors = {}
    for name in pki.roots:
        answer = api.post("/v1/trust/anchors", "committee", {
            "certificate": pem(pki, name), "pki": name, "purposes": ["signing"]})
        assert answer.status_code == 201, answer.text
        anchors[name] = answer.json()["events"][0]["event"]["data"]["fingerprint"]
    return anchors


ARCHIVE_ORIGIN = "archive.test/log"


@pytest.fixture
def nodes(settings: Settings, tmp_path: Path) -> Iterator[tuple[Api, Api]]:
    """The agency's node (on the backend under test) and the archive's (SQLite), each
    pinning the other's log key (STELE_PEER_LOGS) for transfers."""
    archive = replace(settings, data_dir=tmp_path / "archive", origin=ARCHIVE_ORIGIN,
                      database=Database(kind="sqlite", path=tmp_path / "archive.sqlite3"))
    keys = {}
    for node in (settings, archive):
        node.data_dir.mkdir(parents=True)
        keys[node.origin] = LogKey.load_or_create(node.data_dir, node.origin).verifier

    def pinning(node: Settings, peer: Settings) -> Settings:
        path = node.data_dir.with_suffix(".peers")
        path.write_text(f"log {keys[peer.origin]}\n", encoding="utf-8")
        return replace(node, peer_logs=path)

    with serving(pinning(settings, archive)) as agency_node, \
            serving(pinning(archive, settings)) as archive_node:
        yield agency_node, archive_node


def _transfer(api: Api, archive: Api, dossier: str) -> None:
    """Send `dossier` to the archive's node over HTTP: initiate, export the package, the
    archive receives it (re-proving it against this node's pinned key) and answers a signed
    receipt, which this node records: custody moves."""
    api.ledger.log.sync()  # what the log worker does: every event anchored, so provable
    for der in api.ledger.longterm.anchorer.policy.trust_roots:  # its timestamps' root
        assert archive.post("/v1/trust/anchors", "committee", {
            "certificate": base64.b64encode(der).decode(), "pki": "the agency node's TSA",
            "purposes": ["timestamping"]}).status_code == 201
    sent = api.post("/v1/transfers", "agency", {
        "transfer": "T1", "destination": ARCHIVE, "destination_kind": "agency_archive",
        "destination_log": ARCHIVE_ORIGIN, "registration": "R1", "dossiers": [dossier]})
    assert sent.status_code == 201, sent.text
    package = api.client.get("/v1/transfers/T1/package", headers=api.headers("agency"))
    assert package.status_code == 200, package.text
    assert package.headers["content-type"] == "application/zip"
    receipt = archive.client.post("/v1/transfers/incoming", content=package.content,
                                  params={"from": api.ledger.settings.origin},
                                  headers=archive.headers("archivist"))
    assert receipt.status_code == 200, receipt.text
    assert receipt.headers["content-type"].startswith("text/plain")
    assert api.get("/v1/transfers/T1", "agency").json()["outcome"] == "pending"
    concluded = api.client.post("/v1/transfers/T1/receipt", content=receipt.content,
                                headers=api.headers("agency"))
    assert concluded.status_code == 200, concluded.text
    assert concluded.json() == {"transfer": "T1", "outcome": "received", "events": 1}
    shown = api.get("/v1/transfers/T1", "auditor").json()
    assert shown["outcome"] == "received" and shown["receipt"] == receipt.text


def _sign(api: Api, pki: DevPki, rid: str, party: str, signer_class: str, field: str) -> Any:
    now = datetime.now(UTC)
    issuer = pki.issuer_of(party)
    cas = ["NEAC CA", "NEAC"] if issuer.startswith("NEAC") else ["BCY"]
    data = [api.upload("agency", pki.crl(ca, now)) for ca in cas]
    data.append(api.upload("agency", pki.ocsp_response(party, now)))
    return api.post(f"/v1/records/{rid}/sign", "agency", {
        "signer_class": signer_class, "field": field, "validation_data": data})


def test_whole_life_over_http(nodes: tuple[Api, Api], dev_pki: DevPki,
                              signed_pdf: bytes) -> None:
    api, archive = nodes
    anchors = _register_roots(api, dev_pki)
    rid = api.create(data=signed_pdf)
    digest = api.get(f"/v1/records/{rid}", "agency").json()["state"]["content"]["digest"]
    for party, signer_class, field in (("individual", "individual", "Individual"),
                                       ("agency", "organization", "Agency")):
        answer = _sign(api, dev_pki, rid, party, signer_class, field)
        assert answer.status_code == 200, answer.text
        validation = answer.json()["events"][0]["event"]["data"]["validation"]
        assert validation["verdict"] == "PASSED", validation
    assert api.get(f"/v1/records/{rid}", "agency").json()["state"]["issued"] is True
    api.ledger.log.integrate()
    shown = api.get(f"/v1/trust/anchors/{anchors['NEAC']}", "auditor").json()
    assert shown["depends"]["signatures"]["count"] == 1
    code = "000.00.00.G01.2010.HS-1"
    assert api.post("/v1/dossiers", "agency", {"code": code, "title": "Hồ sơ",
                                               "retention": 10}).status_code == 201
    assert api.post(f"/v1/records/{rid}/file", "agency", {"dossier": code}).status_code == 200
    assert api.post(f"/v1/dossiers/{code}/close", "agency", {}).status_code == 200
    _register_roots(archive, dev_pki)  # the archive's node validates the signatures anew
    _transfer(api, archive, code)
    held = archive.get(f"/v1/records/{rid}", "archivist").json()
    assert held["state"]["custodian"] == ARCHIVE
    assert held["events"][0]["event"]["type"] == "record.received"
    # The archive now holds the record on this node too: its archivist acts on it here.
    assert api.get(f"/v1/records/{rid}", "archivist").json()["state"]["custodian"] == ARCHIVE
    assert api.post(f"/v1/records/{rid}/holds", "inspector",
                    {"hold": "H1", "reason": "inspection"}).status_code == 200
    assert api.post(f"/v1/records/{rid}/holds/release", "inspector",
                    {"hold": "H1", "reason": "done"}).status_code == 200
    for path, body in (
        ("appraise", {"council": "HĐ", "minutes": "BB", "decision": "destroy", "retention": 10}),
        ("destruction/approve", {"decision": "QĐ-1"}),
        ("destruction/execute", {"minutes": "BB-2", "replicas_purged": 1}),
    ):
        answer = api.post(f"/v1/records/{rid}/{path}", "archivist", body)
        assert answer.status_code == 200, answer.text

    # The actor of every event is the authenticated principal.
    history = api.get(f"/v1/records/{rid}/history", "auditor").json()["events"]
    actors = {e["event"]["actor"]["role"] for e in history}
    assert actors == {"agency", "archivist", "inspector"}
    api.ledger.log.sync()
    chain = verify_chain([api.ledger.records.history(rid)[i] for i in range(len(history))])
    assert chain[-1]["type"] == "record.destroyed"

    # The log, from the public endpoints, verifies with the proof kernel.
    key = parse_verifier_key(api.client.get("/v1/log/key").text.strip())
    note = api.client.get("/v1/log/checkpoint").text
    checkpoint = parse_checkpoint(open_note(note, [key]).text)
    shown = api.get(f"/v1/records/{rid}", "archivist").json()
    last = shown["events"][-1]
    proof = api.client.get("/v1/log/proof/inclusion",
                           params={"index": last["leaf_index"]}).json()
    verify_inclusion(last["leaf_index"], checkpoint.size, base64.b64decode(proof["leaf_hash"]),
                     [base64.b64decode(p) for p in proof["proof"]], checkpoint.root)
    # The document is purged; the tombstone answers the inspector.
    assert api.get(f"/v1/content/{digest}", "auditor").status_code == 404
    verified = api.client.post("/v1/verify", json={"digest": digest}).json()
    assert verified["registered"]
    assert verified["records"][0]["status"] == "destroyed"
    assert api.ledger.log.audit().bottom_line is Verdict.PASSED


def test_idempotent_retry_returns_the_first_answer_and_writes_once(api: Api) -> None:
    rid = api.create()
    body = {"hold": "H1", "reason": "r"}
    first = api.post(f"/v1/records/{rid}/holds", "inspector", body, **{"Idempotency-Key": "k1"})
    again = api.post(f"/v1/records/{rid}/holds", "inspector", body, **{"Idempotency-Key": "k1"})
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(api.ledger.records.history(rid)) == 2
    reused = api.post(f"/v1/records/{rid}/holds", "inspector", {"hold": "H2", "reason": "r"},
                      **{"Idempotency-Key": "k1"})
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"
    # A refusal is an answer too: the retry gets the same refusal.
    refused = api.post(f"/v1/records/{rid}/holds", "inspector", body,
                       **{"Idempotency-Key": "k2"})
    assert refused.status_code == 409 and refused.json()["code"] == "hold_exists"
    assert api.post(f"/v1/records/{rid}/holds", "inspector", body,
                    **{"Idempotency-Key": "k2"}).json() == refused.json()


def test_if_match_guards_against_concurrent_change(api: Api) -> None:
    rid = api.create()
    etag = api.get(f"/v1/records/{rid}", "agency").headers["ETag"]
    assert etag == '"1"'
    ok = api.post(f"/v1/records/{rid}/holds", "inspector", {"hold": "H", "reason": "r"},
                  **{"If-Match": etag})
    assert ok.status_code == 200
    stale = api.post(f"/v1/records/{rid}/holds/release", "inspector",
                     {"hold": "H", "reason": "r"}, **{"If-Match": etag})
    assert stale.status_code == 409 and stale.json()["code"] == "conflict"


def test_errors_are_problem_json_with_stable_codes(api: Api) -> None:
    missing = api.post("/v1/records/00000000-0000-0000-0000-000000000000/holds", "inspector",
                       {"hold": "H", "reason": "r"})
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["code"] == "record_not_found"
    malformed = api.post("/v1/records", "agency", {"metadata": {}, "retention": 10})
    assert malformed.status_code == 422
    fields = {e["field"] for e in malformed.json()["errors"]}
    assert {"schedule", "content"} <= fields
    smuggled = api.post("/v1/records", "agency", {"metadata": {}, "retention": 10,
                                                  "schedule": "S", "content": {},
                                                  "actor": {"id": "someone-else"}})
    assert smuggled.status_code == 422  # the actor is never taken from the client
    too_big = api.client.post("/v1/batch", content=b"x" * (5 * 1024 * 1024),
                              headers=api.headers("agency", **{"Content-Type": "application/json"}))
    assert too_big.status_code == 413
    rule = api.post(f"/v1/records/{api.create()}/destruction/approve", "agency",
                    {"decision": "QĐ"})
    assert rule.status_code == 409 and rule.json()["code"] == "appraisal_required"
    assert "Traceback" not in rule.text


def test_batch_is_all_or_nothing(api: Api) -> None:
    rid = api.create()
    answer = api.post("/v1/batch", "inspector", {"actions": [
        {"action": "record.hold.place", "params": {"record": rid, "hold": "A", "reason": "r"}},
        {"action": "record.hold.release", "params": {"record": rid, "hold": "B", "reason": "r"}},
    ]})
    assert answer.status_code == 404 and answer.json()["code"] == "hold_not_found"
    assert len(api.ledger.records.history(rid)) == 1
    ok = api.post("/v1/batch", "inspector", {"actions": [
        {"action": "record.hold.place", "params": {"record": rid, "hold": "A", "reason": "r"}},
        {"action": "record.hold.release", "params": {"record": rid, "hold": "A", "reason": "r"}},
    ]})
    assert ok.status_code == 200 and len(ok.json()["events"]) == 2


def test_listing_is_scoped_to_the_agency_and_paginated(api: Api) -> None:
    mine = [api.create("agency", n) for n in range(3)]
    theirs = api.create("other", 9)
    api.ledger.log.integrate()
    page = api.get("/v1/records", "agency", limit=2).json()
    assert [i["id"] for i in page["items"]] == mine[:2]
    rest = api.get("/v1/records", "agency", limit=2, cursor=page["next"]).json()
    assert [i["id"] for i in rest["items"]] == mine[2:] and rest["next"] is None
    assert api.get("/v1/records", "agency", agency="000.00.00.G02").status_code == 403
    everyone = api.get("/v1/records", "auditor").json()["items"]
    assert {i["id"] for i in everyone} == {*mine, theirs}


def test_content_upload_checks_the_announced_digest(api: Api) -> None:
    bad = api.client.post("/v1/content", content=b"abc", headers=api.headers(
        "agency", **{"X-Content-Digest": "sha-256:" + "0" * 64}))
    assert bad.status_code == 422 and bad.json()["code"] == "digest_mismatch"
    rid = api.create(data=b"secret minutes")
    digest = api.get(f"/v1/records/{rid}", "agency").json()["state"]["content"]["digest"]
    api.ledger.log.integrate()
    assert api.get(f"/v1/content/{digest}", "agency").content == b"secret minutes"
    assert api.get(f"/v1/content/{digest}", "other").status_code == 403


def test_principals_admin_and_revocation(api: Api) -> None:
    made = api.post("/v1/principals", "admin", {"name": "clerk", "role": "agency",
                                                "agency": "000.00.00.G03"})
    assert made.status_code == 201
    token = made.json()["token"]
    who = made.json()["principal"]["id"]
    listed = api.get("/v1/principals", "admin").json()["items"]
    assert who in {p["id"] for p in listed}
    assert all("token" not in p for p in listed)
    auth = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/v1/records", headers=auth).status_code == 200
    assert api.post(f"/v1/principals/{who}/revoke", "admin").status_code == 200
    assert api.client.get("/v1/records", headers=auth).status_code == 401


def test_a_claim_without_answer_is_in_progress_then_released_when_stale(api: Api) -> None:
    from datetime import UTC, datetime, timedelta

    rid = api.create()
    body = {"hold": "H", "reason": "r"}
    fingerprint = f"/v1/records/{rid}/holds\nNone\n" + (
        '{"hold":"H","reason":"r","legal_basis":null}')
    principal = api.ledger.principals.authenticate(api.tokens["inspector"])
    assert principal is not None
    idem = api.ledger.idempotency
    assert idem.claim(principal.id, "k", fingerprint.encode()) is None  # a request that died
    busy = api.post(f"/v1/records/{rid}/holds", "inspector", body, **{"Idempotency-Key": "k"})
    assert busy.status_code == 409 and busy.json()["code"] == "idempotency_in_progress"
    old = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    with api.ledger.store.transaction() as tx:
        tx.execute(f"UPDATE {api.ledger.store.prefix}stele_idempotency SET created_at = ?",
                   (old,))
    retried = api.post(f"/v1/records/{rid}/holds", "inspector", body, **{"Idempotency-Key": "k"})
    assert retried.status_code == 200
    assert len(api.ledger.records.history(rid)) == 2


def test_evidence_bundle_over_http_verifies_offline(api: Api, dev_pki: DevPki,
                                                    signed_pdf: bytes) -> None:
    _register_roots(api, dev_pki)
    rid = api.create(data=signed_pdf)
    for party, signer_class, field in (("individual", "individual", "Individual"),
                                       ("agency", "organization", "Agency")):
        assert _sign(api, dev_pki, rid, party, signer_class, field).status_code == 200
    api.ledger.log.sync()  # what the log worker does in the background
    answer = api.client.get(f"/v1/records/{rid}/evidence", params={"with_content": True},
                            headers=api.headers("inspector"))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/zip"
    tsa_root = api.ledger.longterm.anchorer.policy.trust_roots
    roots = [r.public_bytes(Encoding.DER) for r in dev_pki.roots.values()] + list(tsa_root)
    report = verify_bundle(read_bundle(answer.content), trust_roots=roots,
                           at=datetime.now(UTC), log_key=api.ledger.key.verifier)
    assert report.bottom_line is Verdict.PASSED, [c.line() for c in report.failures]
    other = api.client.get(f"/v1/records/{rid}/evidence", headers=api.headers("other"))
    assert other.status_code == 403


def test_a_claim_is_kept_alive_while_its_request_runs(api: Api,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A request slower than the stale period keeps its claim: a retry meanwhile is told to
    wait, never run a second time; once the first answers, the retry replays its answer."""
    import threading
    import time
    from datetime import timedelta

    rid = api.create()
    idem = api.ledger.idempotency
    monkeypatch.setattr(idem, "stale", timedelta(seconds=0.4))
    execute = api.ledger.records.execute
    started = threading.Event()

    def slow(*args: object, **kwargs: object) -> object:
        started.set()
        time.sleep(1.5)  # well past the stale period
        return execute(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(api.ledger.records, "execute", slow)
    body = {"hold": "H", "reason": "r"}
    first: list[object] = []
    thread = threading.Thread(target=lambda: first.append(api.post(
        f"/v1/records/{rid}/holds", "inspector", body, **{"Idempotency-Key": "slow"})))
    thread.start()
    assert started.wait(10)
    time.sleep(0.8)
    busy = api.post(f"/v1/records/{rid}/holds", "inspector", body, **{"Idempotency-Key": "slow"})
    assert busy.status_code == 409 and busy.json()["code"] == "idempotency_in_progress"
    thread.join(30)
    replayed = api.post(f"/v1/records/{rid}/holds", "inspector", body,
                        **{"Idempotency-Key": "slow"})
    assert replayed.status_code == 200 and replayed.headers["Idempotent-Replayed"] == "true"
    assert len(api.ledger.records.history(rid)) == 2  # created, one hold
