"""A record's whole life through the lifecycle service, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from domain.errors import DomainError
from ledger.config import Settings
from ledger.dev.pki import DevPki
from ledger.records import Command
from ledger.service import Ledger
from tests.conftest import Clock
from tests.ledger.builders import AGENCY, ARCHIVE, OTHER_AGENCY, create
from tests.pki import register_roots, sign_both
from verifiers.chain import verify_chain
from verifiers.report import Verdict


@pytest.fixture
def ledger(settings: Settings, clock: Clock) -> Ledger:
    with Ledger(settings, clock=clock) as ledger:
        yield ledger


def count_events(ledger: Ledger) -> int:
    with ledger.store.transaction() as tx:
        return tx.event_count()


def test_whole_life_is_one_unbroken_chain_in_the_log(ledger: Ledger, dev_pki: DevPki,
                                                       signed_pdf: bytes) -> None:
    register_roots(ledger, dev_pki)
    rid = create(ledger, 1, body=signed_pdf)
    digest = ledger.records.record(rid).content["digest"]
    code = f"{AGENCY.agency}.2010.HS01"
    ledger.records.do(AGENCY, "dossier.open", code=code, title="Hồ sơ 1", retention=10)
    ledger.records.execute(AGENCY, [
        *sign_both(ledger, AGENCY, rid, dev_pki),
        Command("record.file", {"record": rid, "dossier": code}),
    ])
    assert ledger.records.record(rid).issued
    ledger.records.do(AGENCY, "dossier.close", dossier=code)
    # The transfer as the transfer service writes it (tests/ledger/test_transfers.py makes a
    # real one between two nodes): its package digest, then the digest of the receiver's
    # signed receipt, which the ledger keeps.
    package = ledger.content.put(b"the transfer list")
    counts = {"dossiers": 1, "documents": 1, "bytes": 10}
    ledger.records.do(AGENCY, "record.transfer.initiate", record=rid, transfer="T1",
                      destination=ARCHIVE.agency, destination_kind="agency_archive",
                      registration="R1", package_digest=package, counts=counts)
    assert ledger.records.record(rid).custodian == AGENCY.agency  # custody moves only on receipt
    receipt = ledger.content.put(b"the archive's signed receipt")
    ledger.records.do(ARCHIVE, "record.transfer.receive", record=rid, transfer="T1",
                      package_digest=package, counts=counts, content_digest=digest,
                      receipt=receipt)
    assert ledger.records.record(rid).custodian == ARCHIVE.agency
    ledger.records.do(ARCHIVE, "record.hold.place", record=rid, hold="H1", reason="audit")
    ledger.records.do(ARCHIVE, "record.hold.release", record=rid, hold="H1", reason="done")
    ledger.records.do(ARCHIVE, "record.appraise", record=rid, council="HĐ", minutes="BB-1",
                      decision="destroy", retention=10)
    ledger.records.do(ARCHIVE, "record.destruction.approve", record=rid, decision="QĐ-1")
    ledger.records.do(ARCHIVE, "record.destruction.execute", record=rid, minutes="BB-2",
                      replicas_purged=1)

    history = ledger.records.history(rid)
    envelopes = verify_chain(history)
    assert [e["type"] for e in envelopes] == [
        "record.created", "record.signed", "record.signed", "record.filed",
        "record.transfer_initiated", "record.transfer_received", "record.hold_placed",
        "record.hold_released", "record.appraised", "record.destruction_approved",
        "record.destroyed",
    ]
    assert ledger.content.has(digest)  # purged only once the destruction is in the log
    ledger.log.sync()
    assert not ledger.content.has(digest)
    # The tombstone: the record and its whole chain stay, each event a leaf of the log.
    assert ledger.records.record(rid).status == "destroyed"
    indexes = ledger.records.leaf_indexes(rid)
    assert None not in indexes
    leaves = dict(ledger.log.leaves(0, ledger.log.size()))
    assert [leaves[i] for i in indexes] == history  # type: ignore[index]
    report = ledger.log.audit()
    assert report.bottom_line is Verdict.PASSED, [c.line() for c in report.failures]
    with pytest.raises(DomainError) as refused:
        ledger.records.do(ARCHIVE, "record.hold.place", record=rid, hold="H2", reason="late")
    assert refused.value.code == "record_destroyed"


def test_content_shared_by_a_live_record_is_not_purged(ledger: Ledger) -> None:
    gone = create(ledger, 1, body=b"same bytes")
    kept = create(ledger, 2, body=b"same bytes")
    ledger.records.do(AGENCY, "record.appraise", record=gone, council="HĐ", minutes="BB",
                      decision="destroy", retention=10)
    ledger.records.do(AGENCY, "record.destruction.approve", record=gone, decision="QĐ")
    ledger.records.do(AGENCY, "record.destruction.execute", record=gone, minutes="BB2",
                      replicas_purged=0)
    ledger.log.sync()
    assert ledger.content.has(ledger.records.record(kept).content["digest"])


def test_refused_command_changes_nothing(ledger: Ledger) -> None:
    rid = create(ledger, 1)
    before = count_events(ledger)
    with pytest.raises(DomainError) as refused:
        ledger.records.do(AGENCY, "record.hold.release", record=rid, hold="nope", reason="x")
    assert refused.value.code == "hold_not_found"
    with pytest.raises(DomainError) as refused:
        ledger.records.do(OTHER_AGENCY, "record.appraise", record=rid, council="HĐ", minutes="BB",
                          decision="retain", retention=20)
    assert refused.value.code == "not_custodian"
    assert count_events(ledger) == before


def test_batch_is_all_or_nothing(ledger: Ledger, dev_pki: DevPki, signed_pdf: bytes) -> None:
    register_roots(ledger, dev_pki)
    rid = create(ledger, 1, body=signed_pdf)
    before = count_events(ledger)
    with pytest.raises(DomainError) as refused:
        ledger.records.execute(AGENCY, [
            *sign_both(ledger, AGENCY, rid, dev_pki),
            Command("record.destruction.approve", {"record": rid, "decision": "QĐ"}),
        ])
    assert refused.value.code == "appraisal_required"
    assert count_events(ledger) == before
    assert ledger.records.record(rid).version == 1


def test_registering_the_same_document_twice_is_a_duplicate(ledger: Ledger) -> None:
    create(ledger, 7)
    with pytest.raises(DomainError) as refused:
        create(ledger, 7)
    assert refused.value.code == "duplicate"


def test_expected_version_guards_against_concurrent_change(ledger: Ledger) -> None:
    rid = create(ledger, 1)
    ledger.records.do(AGENCY, "record.hold.place", record=rid, hold="H", reason="r",
                      expected_version=1)
    with pytest.raises(DomainError) as refused:
        ledger.records.do(AGENCY, "record.hold.release", record=rid, hold="H", reason="r",
                          expected_version=1)
    assert refused.value.code == "conflict"


def test_unknown_and_missing_params_are_clear_errors(ledger: Ledger) -> None:
    rid = create(ledger, 1)
    with pytest.raises(DomainError) as refused:
        ledger.records.do(AGENCY, "record.hold.place", record=rid, hold="H")
    assert refused.value.code == "invalid_input"
    assert refused.value.evidence["missing"] == ["reason"]
    with pytest.raises(DomainError) as refused:
        ledger.records.do(AGENCY, "record.levitate", record=rid)
    assert refused.value.code == "invalid_input"
    with pytest.raises(DomainError) as refused:
        ledger.records.do(AGENCY, "record.hold.place", record="not-a-uuid", hold="H", reason="r")
    assert refused.value.code == "invalid_input"
    with pytest.raises(DomainError) as refused:
        ledger.records.record("00000000-0000-0000-0000-000000000000")
    assert refused.value.code == "record_not_found"


def test_create_needs_the_content_uploaded_first(ledger: Ledger) -> None:
    from tests.ledger.builders import metadata

    with pytest.raises(DomainError) as refused:
        ledger.records.do(AGENCY, "record.create", metadata=metadata(1), retention=10, schedule="S",
                          content={"digest": "sha-256:" + "e" * 64, "size": 1, "media_type": "x/y"})
    assert refused.value.code == "content_not_found"


def test_describe_shows_state_chain_and_premis_types(ledger: Ledger) -> None:
    rid = create(ledger, 1)
    ledger.log.sync()
    shown = ledger.records.describe(rid)
    assert shown["state"]["status"] == "registered"
    assert shown["events"][0]["leaf_index"] == 0
    assert shown["events"][0]["premis"].endswith("/eventType/cre")
    json.dumps(shown)  # JSON-serialisable as `stele record show` prints it
