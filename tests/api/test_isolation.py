"""Agencies kept apart, tried from outside: another agency's documents, registrations, holds
and state are never reached, nor revealed by a refusal; an id that is not a record is 404."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from domain.envelope import Actor
from ledger.config import Settings
from ledger.log.keys import LogKey
from tests.api.conftest import AGENCY, ARCHIVE, OTHER_AGENCY, Api
from tests.pki import self_signed_root
from verifiers.receipt import FORMAT as RECEIPT_FORMAT
from verifiers.receipt import sign_receipt

PEER = "archive.test/log"


@pytest.fixture
def peer(tmp_path: Path) -> LogKey:
    """The log key of an archive's node this node pins: the test signs its answers."""
    (tmp_path / "peer").mkdir()
    return LogKey.load_or_create(tmp_path / "peer", PEER)


@pytest.fixture
def settings(settings: Settings, tmp_path: Path, peer: LogKey) -> Settings:
    pinned = tmp_path / "peers"
    pinned.write_text(f"log {peer.verifier}\n", encoding="utf-8")
    return replace(settings, peer_logs=pinned)


def _record_body(issuer: str, digest: str, size: int, number: int = 1) -> dict[str, Any]:
    return {"metadata": {"doc_type": "Công văn", "number": str(number),
                         "notation": f"{number}/CV", "issued": "2010-01-05", "issuer": issuer,
                         "subject": "Về việc thử", "language": "vi", "pages": 1,
                         "access": "open", "reliability": "born_digital"},
            "retention": 10, "schedule": "S-1",
            "content": {"digest": digest, "size": size, "media_type": "text/plain"}}


def test_a_digest_alone_neither_registers_nor_reads_another_agencys_document(api: Api) -> None:
    secret = b"agency A's confidential memo"
    api.create("agency", data=secret)
    digest = api.upload("agency", secret)  # idempotent: the same digest
    # B never uploaded these bytes: it cannot register them, and is told what it would be told
    # of bytes that are not here at all.
    squat = api.post("/v1/records", "other", _record_body(OTHER_AGENCY, digest, len(secret)))
    assert squat.status_code == 404, squat.text
    assert squat.json()["code"] == "content_not_found"
    absent = "sha-256:" + "ab" * 32
    unknown = api.post("/v1/records", "other", _record_body(OTHER_AGENCY, absent, 1, 2))
    assert (unknown.status_code, unknown.json()["code"]) == (404, "content_not_found")
    api.ledger.log.integrate()  # content is read through integrated records
    assert api.get(f"/v1/content/{digest}", "other").status_code == 403
    assert api.get(f"/v1/content/{digest}", "agency").content == secret
    # Presenting the bytes (uploading them) is what lets B register a record of its own.
    assert api.upload("other", secret) == digest
    mine = api.post("/v1/records", "other", _record_body(OTHER_AGENCY, digest, len(secret), 3))
    assert mine.status_code == 201, mine.text
    api.ledger.log.integrate()
    assert api.get(f"/v1/content/{digest}", "other").content == secret


def test_another_agencys_registration_cannot_be_squatted(api: Api) -> None:
    data = b"decision 7"
    digest = api.upload("other", data)
    squat = api.post("/v1/records", "other", _record_body(AGENCY, digest, len(data), 7))
    assert squat.status_code == 403, squat.text
    assert squat.json()["code"] == "not_issuer"
    # The issuer's own registration of that document is still its to make.
    own = api.upload("agency", data)
    assert api.post("/v1/records", "agency",
                    _record_body(AGENCY, own, len(data), 7)).status_code == 201


def test_holds_are_placed_and_released_only_by_their_authority(api: Api) -> None:
    rid = api.create("agency")
    hold = f"/v1/records/{rid}/holds"
    body = {"hold": "TTr-1", "reason": "thanh tra",
            "legal_basis": {"number": "5/QĐ-TTr", "code": "5/QĐ-TTr", "date": "2031-03-09"}}
    assert api.post(hold, "inspector", body).status_code == 200
    # An unrelated archive neither releases it nor places holds on the agency's records.
    released = api.post(f"{hold}/release", "archivist", {"hold": "TTr-1", "reason": "x"})
    assert (released.status_code, released.json()["code"]) == (403, "not_custodian")
    placed = api.post(hold, "archivist", {"hold": "A-1", "reason": "x"})
    assert (placed.status_code, placed.json()["code"]) == (403, "not_custodian")
    # The custodian may not lift the inspectorate's hold; it may hold its own record.
    lifted = api.post(f"{hold}/release", "agency", {"hold": "TTr-1", "reason": "x"})
    assert (lifted.status_code, lifted.json()["code"]) == (403, "not_hold_authority")
    assert api.post(hold, "agency", {"hold": "OWN-1", "reason": "complaint"}).status_code == 200
    assert api.post(f"{hold}/release", "inspector",
                    {"hold": "TTr-1", "reason": "inspection closed"}).status_code == 200
    assert api.post(f"{hold}/release", "agency",
                    {"hold": "OWN-1", "reason": "settled"}).status_code == 200


def test_who_may_act_is_checked_before_what_the_state_allows(api: Api) -> None:
    rid = api.create("agency")
    code = f"{AGENCY}.2010.HS-1"
    assert api.post("/v1/dossiers", "agency", {"code": code, "title": "Hồ sơ",
                                               "retention": 10}).status_code == 201
    assert api.post(f"/v1/records/{rid}/file", "agency", {"dossier": code}).status_code == 200
    assert api.post(f"/v1/dossiers/{code}/close", "agency", {}).status_code == 200
    theirs = api.create("other", number=2)
    tries = [  # (who, path, body): each would also be refused by the record's state
        ("other", f"/v1/records/{theirs}/file", {"dossier": code}),  # A's dossier is closed
        ("other", f"/v1/records/{rid}/file", {"dossier": code}),  # A's record is filed
        ("other", f"/v1/dossiers/{code}/close", {}),  # closed already
        # A's record is not anchored yet (not_anchored): custody is checked first
        ("archivist", "/v1/transfers", _transfer_body("T2", records=[rid])),
    ]
    for who, path, body in tries:
        answer = api.post(path, who, body)
        assert answer.status_code == 403, (path, answer.text)
        assert AGENCY not in answer.text, (path, answer.text)  # nor who holds it


def _transfer_body(transfer: str, **chosen: list[str]) -> dict[str, Any]:
    return {"transfer": transfer, "destination": ARCHIVE, "destination_kind": "agency_archive",
            "destination_log": PEER, "registration": "NL-1", **chosen}


def test_another_agencys_transfer_is_neither_shown_nor_answered(api: Api, peer: LogKey) -> None:
    """A transfer is its sending agency's: to another it is as one never sent (the same 404),
    and only the sender records its answer, checked before whether the answer fits; another
    agency's transfer is never sent. No refusal names the agency."""
    rid = api.create("agency")
    api.ledger.log.sync()  # every event anchored: a package can prove them
    assert api.post("/v1/transfers", "agency", _transfer_body("T1", records=[rid])
                    ).status_code == 201
    for suffix in ("", "/package"):
        sent, never = (api.get(f"/v1/transfers/{t}{suffix}", "other") for t in ("T1", "T0"))
        for answer in (sent, never):
            assert (answer.status_code, answer.json()["code"]) == (404, "transfer_not_found")
            assert AGENCY not in answer.text, answer.text
        assert sent.json()["detail"] == never.json()["detail"]
    # A receipt the pinned archive signed for T1, but for another package: the sender alone
    # is told so (receipt_transfer_mismatch); another agency is refused first.
    note = sign_receipt({"format": RECEIPT_FORMAT, "version": 1, "outcome": "received",
                         "transfer": "T1", "package_digest": "sha-256:" + "ab" * 32},
                        PEER, peer.private_key)
    refused = api.client.post("/v1/transfers/T1/receipt", content=note,
                              headers=api.headers("other"))
    assert (refused.status_code, refused.json()["code"]) == (403, "not_destination")
    assert AGENCY not in refused.text, refused.text
    mismatch = api.client.post("/v1/transfers/T1/receipt", content=note,
                               headers=api.headers("agency"))
    assert (mismatch.status_code, mismatch.json()["code"]) == (422, "receipt_transfer_mismatch")
    # The record has a transfer pending: another agency is refused before that is said.
    again = api.post("/v1/transfers", "other", _transfer_body("T2", records=[rid]))
    assert (again.status_code, again.json()["code"]) == (403, "not_custodian")
    assert AGENCY not in again.text, again.text
    assert api.get("/v1/transfers/T1", "agency").json()["outcome"] == "pending"


def test_an_id_that_is_not_a_record_is_not_found(api: Api) -> None:
    (anchor,) = api.ledger.records.do(Actor("c", "committee", "000.00.00.B01"), "trust.register",
                                      certificate=self_signed_root(), pki="TEST",
                                      purposes=["signing"])
    for path, readers in ((f"/v1/records/{anchor.record}", ("auditor", "agency")),
                          (f"/v1/records/{anchor.record}/history", ("auditor", "agency")),
                          (f"/v1/records/{anchor.record}/evidence",
                           ("auditor", "agency", "inspector"))):
        for who in readers:
            answer = api.get(path, who)
            assert answer.status_code == 404, (path, who, answer.text)
            assert answer.json()["code"] == "record_not_found"
