"""The Record aggregate against the rules of DOMAIN.md: each rule accepted and refused.

Pure domain: no database, no clock. A refused command must raise a DomainError with the stable
`code` and leave the record exactly as it was (`build.refused`), so nothing could be saved.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid5

import pytest
import rfc8785

from domain.envelope import Actor
from domain.errors import DomainError
from domain.record import Record, record_id
from verifiers.canonical import parse_canonical
from verifiers.chain import verify_chain
from verifiers.errors import ChainError

if TYPE_CHECKING:
    from tests.domain.conftest import Builder

RECORD_NAMESPACE = UUID("6f1c3a52-8f0e-5d0b-9a51-3b7a6f1e2c40")  # domain/record.py, by value
HANOI = timezone(timedelta(hours=7))


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def registration_name(issuer: str, year: str, number: str, notation: str) -> str:
    """The UUIDv5 name of a record id: RFC 8785 JSON of [issuer, year, number, notation]."""
    return rfc8785.dumps([issuer, year, number, notation]).decode("utf-8")


def canonical_bytes_round_trip(data: bytes) -> bool:
    return rfc8785.dumps(parse_canonical(data)) == data


# == create ======================================================================================


def test_register_creates_one_event_with_the_actor_as_custodian(build: Builder) -> None:
    record = build.record()
    assert record.version == 1
    assert [e.TYPE for e in build.events(record)] == ["record.created"]
    assert record.custodian == build.AGENCY
    assert record.status == "registered"
    assert not record.issued
    assert record.content == build.content()


def test_an_agency_registers_only_what_it_issued(build: Builder) -> None:
    # The id is the registration (issuer, number, notation, year): another agency registering
    # it first would squat the issuer's own registration.
    with pytest.raises(DomainError) as info:
        build.record(actor=build.OUTSIDER)  # metadata names the agency as issuer
    assert info.value.code == "not_issuer"
    assert build.record(actor=build.OUTSIDER, issuer=build.OUTSIDER.agency).custodian == (
        build.OUTSIDER.agency)


@pytest.mark.parametrize("text", ["a\x00b", "x\ud800y", "bell\x07", "\udfff"])
def test_text_fields_refuse_nul_control_characters_and_lone_surrogates(build: Builder,
                                                                         text: str) -> None:
    with pytest.raises(DomainError) as info:
        build.record(subject=text)
    assert info.value.code == "invalid_input"
    assert text not in str(info.value.evidence)  # never echoed: it may not be encodable


def test_text_fields_keep_line_breaks_and_tabs(build: Builder) -> None:
    assert build.record(subject="Về việc\n\tthử").metadata["subject"] == "Về việc\n\tthử"


def test_record_id_is_uuid5_of_the_registration_key(build: Builder) -> None:
    record = build.record()
    name = registration_name(build.AGENCY, "2020", "12", "QĐ-UBND")
    assert name == '["000.00.12.H29","2020","12","QĐ-UBND"]'
    assert record.id == uuid5(RECORD_NAMESPACE, name)
    assert record.id.version == 5


def test_same_registration_gives_the_same_id(build: Builder) -> None:
    first = build.record()
    again = build.record(at=build.T_AFTER, subject="another subject", pages=9, retention=20)
    # Only the key matters: issue date within the same year, subject, pages... do not.
    later_same_year = build.record(issued="2020-11-30")
    assert first.id == again.id == later_same_year.id == record_id(build.metadata())


@pytest.mark.parametrize(
    "change",
    [{"number": "13"}, {"notation": "QĐ-BNV"}, {"issuer": "000.00.34.H50"},
     {"issued": "2021-03-04"}],
    ids=["number", "notation", "issuer", "year"],
)
def test_each_part_of_the_registration_key_changes_the_id(
    build: Builder, change: dict[str, Any]
) -> None:
    assert record_id(build.metadata(**change)) != record_id(build.metadata())


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"retention": 15}, "retention"),
        ({"retention": "forever"}, "retention"),
        ({"retention": True}, "retention"),
        ({"retention": 10.0}, "retention"),
        ({"content_": {"digest": "sha256:" + "a" * 64, "size": 1, "media_type": "x/y"}}, "digest"),
        ({"content_": {"digest": "sha-256:" + "A" * 64, "size": 1, "media_type": "x/y"}}, "digest"),
        ({"content_": {"digest": "sha-256:" + "a" * 64, "size": -1, "media_type": "x/y"}}, "size"),
        ({"content_": {"digest": "sha-256:" + "a" * 64, "size": 1}}, "content keys"),
        ({"content_": {"digest": "sha-256:" + "a" * 64, "size": 1, "media_type": "x/y",
                       "bytes": "..."}}, "content keys"),
        ({"schedule": " "}, "schedule"),
        ({"issuer": "G01"}, "issuer"),
        ({"issued": "04/03/2020"}, "issued"),
        ({"pages": 0}, "pages"),
        ({"access": "secret"}, "access"),
        ({"reliability": "scanned"}, "reliability"),
        ({"subject": ""}, "subject"),
        ({"author": "someone"}, "unknown field"),
    ],
)
def test_register_refuses_malformed_input(
    build: Builder, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(DomainError) as info:
        build.record(**kwargs)
    assert info.value.code == "invalid_input", field


def test_register_refuses_an_actor_without_an_agency_code(build: Builder) -> None:
    with pytest.raises(DomainError) as info:
        build.record(actor=build.CLERK.__class__(id="x", role="agency", agency="UBND"))
    assert info.value.code == "invalid_input"


def test_register_refuses_a_naive_time(build: Builder) -> None:
    with pytest.raises(DomainError) as info:
        build.record(at=datetime(2020, 3, 4, 8, 0))
    assert info.value.code == "invalid_input"


@pytest.mark.parametrize("number", [None, ["12"]])
def test_register_refuses_a_number_that_is_not_text(build: Builder, number: Any) -> None:
    # Regression: str() before the check registered number=None as the text "None".
    with pytest.raises(DomainError) as info:
        build.record(number=number)
    assert info.value.code == "invalid_input"


def test_different_registration_keys_never_share_an_id(build: Builder) -> None:
    # Regression: the key was joined with an unescaped "|", so these two collided.
    first = record_id(build.metadata(number="1|A", notation="B"))
    second = record_id(build.metadata(number="1", notation="A|B"))
    assert first != second


# == retention ===================================================================================


@pytest.mark.parametrize("years", [10, 20, 30, 50, 70])
@pytest.mark.parametrize("issued", ["2020-01-01", "2020-03-04", "2020-12-31"])
def test_retention_ends_on_1_january_of_issue_year_plus_one_plus_years(
    build: Builder, years: int, issued: str
) -> None:
    record = build.record(retention=years, issued=issued)
    assert record.retention_end() == date(2020 + 1 + years, 1, 1)


def test_permanent_retention_never_ends(build: Builder) -> None:
    assert build.record(retention="permanent").retention_end() is None


# == sign ========================================================================================


def test_sign_appends_a_signed_event(build: Builder) -> None:
    record = build.record()
    build.sign(record, "individual")
    assert record.version == 2
    assert build.last_type(record) == "record.signed"
    assert record.signatures == [
        {"version": 2, "signer_class": "individual",
         "signer": build.digest(b"certificate of individual"), "verdict": "PASSED"}
    ]


def test_sign_refuses_a_signature_over_other_content(build: Builder) -> None:
    record = build.record()
    with build.refused("digest_mismatch", record):
        build.sign(record, signed_digest=build.digest(b"another document"))


def test_only_the_custodian_signs(build: Builder) -> None:
    record = build.record()
    with build.refused("not_custodian", record):
        build.sign(record, actor=build.OUTSIDER)


@pytest.mark.parametrize(
    "override",
    [
        {"format": "xades"},
        {"signer_class": "robot"},
        {"signed_digest": "deadbeef"},
        {"signer": "fingerprint"},
        {"chain": "sha-256:" + "a" * 64},
        {"chain": ["not a digest"]},
        {"signature": ""},
        {"signing_time": ""},
        {"validation": {"verdict": "VALID"}},
        {"validation": {}},
        {"validation": "PASSED"},
    ],
    ids=lambda o: next(iter(o)) + "=" + repr(next(iter(o.values())))[:20],
)
def test_sign_refuses_malformed_input(build: Builder, override: dict[str, Any]) -> None:
    record = build.record()
    with build.refused("invalid_input", record):
        build.sign(record, **override)


@pytest.mark.parametrize(
    ("signatures", "issued"),
    [
        ([], False),
        ([("individual", "PASSED")], False),
        ([("organization", "PASSED")], False),
        ([("individual", "PASSED"), ("individual", "PASSED")], False),
        ([("individual", "PASSED"), ("organization", "FAILED")], False),
        ([("individual", "INDETERMINATE"), ("organization", "PASSED")], False),
        ([("individual", "FAILED"), ("organization", "INDETERMINATE")], False),
        ([("individual", "PASSED"), ("organization", "PASSED")], True),
        ([("organization", "PASSED"), ("individual", "PASSED")], True),
        ([("individual", "FAILED"), ("organization", "PASSED"), ("individual", "PASSED")], True),
    ],
)
def test_issued_needs_a_passed_individual_and_a_passed_organization_signature(
    build: Builder, signatures: list[tuple[str, str]], issued: bool
) -> None:
    record = build.record()
    for signer_class, verdict in signatures:
        build.sign(record, signer_class, verdict)
    assert record.issued is issued
    assert record.status == ("issued" if issued else "registered")


ROOT_CA = "sha-256:" + hashlib.sha256(b"root CA").hexdigest()


def test_sign_refuses_a_signature_without_the_anchor_that_vouched_for_it(build: Builder) -> None:
    record = build.record()
    with build.refused("untrusted_signer", record):
        build.sign(record, validation={"verdict": "PASSED"})


def test_sign_refuses_validation_data_that_cannot_be_hashed(build: Builder) -> None:
    # Regression: the verifiers' MalformedError escaped, after the event had been applied.
    record = build.record()
    with build.refused("invalid_input", record):
        build.sign(record, validation={"verdict": "PASSED", "anchor": ROOT_CA, "crl_number": 2**64})


def test_a_refused_signature_does_not_count_toward_issued(build: Builder) -> None:
    # Regression: a sign refused while hashing still counted, making the record "issued".
    record = build.record()
    build.sign(record, "organization")
    with contextlib.suppress(Exception):
        build.sign(record, "individual", validation={"verdict": "PASSED", "anchor": ROOT_CA,
                                                    "x": float("nan")})
    assert record.version == 2
    assert not record.issued


def test_every_accepted_event_parses_back_from_its_bytes(build: Builder) -> None:
    # Regression: 1e20 was accepted and written as digits that parse_canonical refuses, so the
    # ledger's mapper stored the event and could never load the record again.
    record = build.record()
    try:
        build.sign(record, validation={"verdict": "PASSED", "crl_number": 1e20})
    except DomainError:
        return  # refusing such data would be a fix too
    for event in build.events(record):
        assert canonical_bytes_round_trip(event.canonical())


# == transfer ====================================================================================


def test_initiating_a_transfer_keeps_custody_with_the_sender(build: Builder) -> None:
    record = build.transfer_pending()
    assert build.last_type(record) == "record.transfer_initiated"
    assert record.custodian == build.AGENCY
    assert record.status == "transfer_pending"
    # Exactly one custodian: the destination may not act as one before receipt...
    with build.refused("not_custodian", record):
        build.sign(record, actor=build.ARCHIVIST)
    with build.refused("not_custodian", record):
        build.appraise(record, actor=build.ARCHIVIST)
    # ...while the sender still may.
    build.sign(record, "individual", at=build.T_RECEIVE)


def test_only_the_custodian_initiates_a_transfer(build: Builder) -> None:
    record = build.issued()
    for actor in (build.OUTSIDER, build.ARCHIVIST):
        with build.refused("not_custodian", record):
            record.initiate_transfer(actor=actor, at=build.T_TRANSFER, **build.transfer())


def test_one_transfer_at_a_time(build: Builder) -> None:
    record = build.transfer_pending()
    with build.refused("transfer_pending", record):
        record.initiate_transfer(
            actor=build.CLERK, at=build.T_RECEIVE,
            **build.transfer(transfer="NL-2022-02", destination=build.HISTORICAL),
        )


@pytest.mark.parametrize(
    "override",
    [
        {"destination": "000.00.12.H29"},  # the custodian itself
        {"destination": "archive"},
        {"destination_kind": "private_archive"},
        {"package_digest": "sha-256:xyz"},
        {"counts": {"dossiers": 1, "documents": 1}},
        {"counts": {"dossiers": 1, "documents": -1, "bytes": 3}},
        {"registration": ""},
        {"transfer": ""},
        {"legal_basis": {"number": "45/QĐ-UBND", "date": "20 May 2022"}},
        {"legal_basis": {"number": "45/QĐ-UBND", "date": "2022-05-20", "signed_by": "x"}},
    ],
    ids=lambda o: next(iter(o)),
)
def test_initiate_transfer_refuses_malformed_input(
    build: Builder, override: dict[str, Any]
) -> None:
    record = build.issued()
    with build.refused("invalid_input", record):
        record.initiate_transfer(
            actor=build.CLERK, at=build.T_TRANSFER, **build.transfer(**override)
        )


def test_a_classified_record_does_not_go_to_a_historical_archive(build: Builder) -> None:
    record = build.issued(access="classified")
    with build.refused("classified_record", record):
        record.initiate_transfer(
            actor=build.CLERK, at=build.T_TRANSFER,
            **build.transfer(destination=build.HISTORICAL, destination_kind="historical_archive"),
        )


@pytest.mark.parametrize(
    ("access", "kind"),
    [("classified", "agency_archive"), ("conditional", "historical_archive"),
     ("open", "historical_archive")],
)
def test_other_transfers_by_access_level_are_accepted(
    build: Builder, access: str, kind: str
) -> None:
    record = build.issued(access=access)
    record.initiate_transfer(
        actor=build.CLERK, at=build.T_TRANSFER,
        **build.transfer(destination=build.HISTORICAL, destination_kind=kind),
    )
    assert build.last_type(record) == "record.transfer_initiated"


def test_custody_changes_on_a_matching_receipt(build: Builder) -> None:
    record = build.transfer_pending()
    record.receive_transfer(actor=build.ARCHIVIST, at=build.T_RECEIVE, **build.receipt())
    assert build.last_type(record) == "record.transfer_received"
    assert record.custodian == build.ARCHIVE
    assert record.transfer is None
    assert record.status == "issued"
    # The new custodian acts; the old one no longer can.
    build.sign(record, "organization", actor=build.ARCHIVIST, at=build.T_APPRAISE)
    with build.refused("not_custodian", record):
        build.sign(record, actor=build.CLERK, at=build.T_APPRAISE)
    with build.refused("not_custodian", record):
        record.initiate_transfer(
            actor=build.CLERK, at=build.T_APPRAISE,
            **build.transfer(transfer="NL-2030-01", destination=build.HISTORICAL),
        )


@pytest.mark.parametrize(
    "override",
    [
        {"package_digest": "sha-256:" + "0" * 64},
        {"counts": {"dossiers": 2, "documents": 1, "bytes": 33}},
        {"counts": {"dossiers": 1, "documents": 2, "bytes": 33}},
        {"counts": {"dossiers": 1, "documents": 1, "bytes": 34}},
        {"content_digest": "sha-256:" + "0" * 64},
    ],
    ids=["package_digest", "counts.dossiers", "counts.documents", "counts.bytes",
         "content_digest"],
)
def test_custody_does_not_change_on_a_mismatched_receipt(
    build: Builder, override: dict[str, Any]
) -> None:
    record = build.transfer_pending()
    assert build.COUNTS["bytes"] == 33
    with build.refused("receipt_mismatch", record):
        record.receive_transfer(
            actor=build.ARCHIVIST, at=build.T_RECEIVE, **build.receipt(**override)
        )
    assert record.custodian == build.AGENCY


@pytest.mark.parametrize("actor_name", ["CLERK", "OUTSIDER", "HISTORIAN"])
def test_only_the_destination_answers_a_transfer(build: Builder, actor_name: str) -> None:
    record = build.transfer_pending()
    actor = getattr(build, actor_name)
    with build.refused("not_destination", record):
        record.receive_transfer(actor=actor, at=build.T_RECEIVE, **build.receipt())
    with build.refused("not_destination", record):
        record.reject_transfer(actor=actor, at=build.T_RECEIVE, transfer="NL-2022-01", reason="x",
                               receipt=build.RECEIPT)


def test_receipt_or_rejection_needs_that_transfer_pending(build: Builder) -> None:
    idle = build.issued()  # nobody is its destination: no one learns whether one is pending
    with build.refused("not_destination", idle):
        idle.receive_transfer(actor=build.ARCHIVIST, at=build.T_RECEIVE, **build.receipt())
    with build.refused("not_destination", idle):
        idle.reject_transfer(
            actor=build.ARCHIVIST, at=build.T_RECEIVE, transfer="NL-2022-01", reason="x",
            receipt=build.RECEIPT)
    pending = build.transfer_pending()
    with build.refused("no_transfer_pending", pending):
        pending.receive_transfer(
            actor=build.ARCHIVIST, at=build.T_RECEIVE, **build.receipt(transfer="NL-1999-99")
        )


def test_a_rejected_transfer_leaves_custody_and_allows_another(build: Builder) -> None:
    record = build.transfer_pending()
    with build.refused("invalid_input", record):
        record.reject_transfer(
            actor=build.ARCHIVIST, at=build.T_RECEIVE, transfer="NL-2022-01", reason="",
            receipt=build.RECEIPT)
    record.reject_transfer(
        actor=build.ARCHIVIST, at=build.T_RECEIVE, transfer="NL-2022-01",
        reason="package digest differs", receipt=build.RECEIPT)
    assert build.last_type(record) == "record.transfer_rejected"
    assert record.custodian == build.AGENCY
    assert record.transfer is None
    record.initiate_transfer(
        actor=build.CLERK, at=build.T_APPRAISE, **build.transfer(transfer="NL-2022-02")
    )
    assert record.status == "transfer_pending"


# == appraise ====================================================================================


@pytest.mark.parametrize(
    ("before", "decision", "after"),
    [(10, "retain", 20), (30, "retain", "permanent"), (30, "destroy", 10), (10, "destroy", 10),
     ("permanent", "retain", "permanent")],
)
def test_appraisal_sets_the_retention(
    build: Builder, before: Any, decision: str, after: Any
) -> None:
    record = build.record(retention=before)
    build.appraise(record, decision, after)
    assert build.last_type(record) == "record.appraised"
    assert record.retention == after
    assert record.appraisal == {"minutes": "BB-HĐXĐGT-2030-07", "decision": decision, "version": 2}


@pytest.mark.parametrize(("decision", "retention"), [("retain", 70), ("destroy", 10),
                                                    ("destroy", "permanent")])
def test_permanent_is_final(build: Builder, decision: str, retention: Any) -> None:
    record = build.record(retention="permanent")
    with build.refused("retention_permanent", record):
        build.appraise(record, decision, retention)


def test_a_retention_raised_to_permanent_cannot_be_lowered_again(build: Builder) -> None:
    record = build.record(retention=30)
    build.appraise(record, "retain", "permanent")
    with build.refused("retention_permanent", record):
        build.appraise(record, "retain", 30, at=build.T_AFTER)


def test_a_destroy_decision_cannot_keep_the_record_forever(build: Builder) -> None:
    record = build.record(retention=30)
    with build.refused("invalid_input", record):
        build.appraise(record, "destroy", "permanent")


@pytest.mark.parametrize(("decision", "retention"), [("keep", 10), ("retain", 15),
                                                    ("retain", None)])
def test_appraise_refuses_malformed_input(build: Builder, decision: str, retention: Any) -> None:
    record = build.record()
    with build.refused("invalid_input", record):
        build.appraise(record, decision, retention)


def test_only_the_custodian_appraises(build: Builder) -> None:
    record = build.record()
    with build.refused("not_custodian", record):
        build.appraise(record, actor=build.OUTSIDER)


# == holds =======================================================================================


def test_holds_are_placed_and_released_by_id(build: Builder) -> None:
    record = build.record()
    build.hold(record, "H-1")
    build.hold(record, "H-2")
    assert build.last_type(record) == "record.hold_placed"
    assert set(record.holds) == {"H-1", "H-2"}
    with build.refused("hold_exists", record):
        build.hold(record, "H-1")
    record.release_hold(actor=build.INSPECTOR, at=build.T_AFTER, hold="H-1", reason="closed")
    assert build.last_type(record) == "record.hold_released"
    assert set(record.holds) == {"H-2"}
    with build.refused("hold_not_found", record):
        record.release_hold(actor=build.INSPECTOR, at=build.T_AFTER, hold="H-1", reason="again")
    with build.refused("hold_not_found", record):
        record.release_hold(actor=build.INSPECTOR, at=build.T_AFTER, hold="H-9", reason="x")


def test_an_inspector_holds_any_record_and_only_its_agency_releases_it(build: Builder) -> None:
    record = build.record()
    build.hold(record, "TTr-1")  # an inspectorate, on an agency's record
    assert record.holds["TTr-1"]["agency"] == build.INSPECTOR.agency
    other_inspectorate = Actor(id="inspector-2", role="inspector", agency=build.HISTORIAN.agency)
    with build.refused("not_hold_authority", record):
        record.release_hold(actor=other_inspectorate, at=build.T_AFTER, hold="TTr-1", reason="x")
    with build.refused("not_hold_authority", record):  # nor the custodian: it is not its hold
        record.release_hold(actor=build.CLERK, at=build.T_AFTER, hold="TTr-1", reason="x")
    with build.refused("not_custodian", record):  # an unrelated archive acts on nothing here
        record.release_hold(actor=build.ARCHIVIST, at=build.T_AFTER, hold="TTr-1", reason="x")
    record.release_hold(actor=build.INSPECTOR, at=build.T_AFTER, hold="TTr-1", reason="closed")
    assert record.holds == {}


def test_a_custodian_holds_its_own_records_only(build: Builder) -> None:
    record = build.record()
    with build.refused("not_custodian", record):
        build.hold(record, "H-A", actor=build.ARCHIVIST)
    build.hold(record, "H-own", actor=build.CLERK)
    with build.refused("not_hold_authority", record):
        record.release_hold(actor=build.INSPECTOR, at=build.T_AFTER, hold="H-own", reason="x")
    record.release_hold(actor=build.CLERK, at=build.T_AFTER, hold="H-own", reason="done")


def test_place_hold_refuses_malformed_input(build: Builder) -> None:
    record = build.record()
    with build.refused("invalid_input", record):
        build.hold(record, "")
    with build.refused("invalid_input", record):
        record.place_hold(actor=build.INSPECTOR, at=build.T_HOLD, hold="H-1", reason=" ")


def test_release_hold_refuses_a_hold_id_that_is_not_text(build: Builder) -> None:
    # Regression: a list hold id raised a builtin TypeError (unhashable) from a dict lookup.
    record = build.record()
    with build.refused("invalid_input", record):
        record.release_hold(
            actor=build.INSPECTOR, at=build.T_HOLD, hold=["H-1"],  # type: ignore[arg-type]
            reason="x",
        )


# == destroy =====================================================================================


def test_destruction_is_approved_then_executed(build: Builder) -> None:
    record = build.appraised()
    build.approve(record)
    assert build.last_type(record) == "record.destruction_approved"
    assert record.status == "destruction_approved"
    assert record.destruction == {"decision": "QĐ-HUY-2031-03", "appraisal": "BB-HĐXĐGT-2030-07"}
    build.destroy(record)
    event = build.events(record)[-1]
    assert event.TYPE == "record.destroyed"
    assert event.data() == {"decision": "QĐ-HUY-2031-03", "minutes": "BB-HUY-2031-04",
                            "replicas_purged": 2}
    assert record.status == "destroyed"
    # The tombstone keeps the record's identity and digests.
    assert record.content["digest"] == build.CONTENT_DIGEST


def test_a_permanent_record_is_never_destroyed(build: Builder) -> None:
    record = build.issued(retention="permanent")
    with build.refused("record_permanent", record):
        build.approve(record, at=datetime(2200, 1, 1, tzinfo=UTC))


def test_a_record_made_permanent_by_appraisal_is_never_destroyed(build: Builder) -> None:
    record = build.appraised()
    build.appraise(record, "retain", "permanent", at=build.T_APPROVE)
    with build.refused("record_permanent", record):
        build.approve(record, at=build.T_AFTER)


def test_destruction_needs_an_appraisal(build: Builder) -> None:
    record = build.issued()
    with build.refused("appraisal_required", record):
        build.approve(record)


def test_destruction_needs_an_appraisal_that_decided_to_destroy(build: Builder) -> None:
    record = build.appraised("retain", 10)
    with build.refused("appraisal_required", record):
        build.approve(record)


@pytest.mark.parametrize(
    "at",
    [
        datetime(2030, 12, 31, 16, 59, 59, 999999, tzinfo=UTC),  # 23:59:59.999999 in Ha Noi
        datetime(2030, 12, 31, 23, 59, 59, 999999, tzinfo=HANOI),
        datetime(2025, 1, 1, tzinfo=UTC),
    ],
)
def test_destruction_waits_for_the_retention_period(build: Builder, at: datetime) -> None:
    record = build.appraised()
    with build.refused("retention_not_expired", record):
        build.approve(record, at=at)


def test_retention_expires_on_1_january_in_viet_nam(build: Builder) -> None:
    # Periods run on the legal calendar (UTC+7): 1 January 2031 begins at 17:00 UTC the day
    # before, whatever zone the caller's time is in.
    new_year = datetime(2031, 1, 1, tzinfo=HANOI)
    for at in (new_year, new_year.astimezone(UTC)):
        record = build.appraised()
        build.approve(record, at=at)
        assert build.last_type(record) == "record.destruction_approved"
    record = build.appraised()
    with build.refused("retention_not_expired", record):
        build.approve(record, at=new_year.astimezone(UTC) - timedelta(microseconds=1))


def test_retention_is_counted_from_the_appraised_period(build: Builder) -> None:
    # Issued 2020 with 30 years; an appraisal lowers it to 10 and decides destruction.
    record = build.record(retention=30)
    build.appraise(record, "destroy", 10)
    build.approve(record, at=build.RETENTION_END)
    assert record.retention_end() == date(2031, 1, 1)


def test_an_active_hold_forbids_approval(build: Builder) -> None:
    record = build.appraised()
    build.hold(record, at=build.T_APPRAISE)
    with build.refused("record_on_hold", record):
        build.approve(record)


def test_a_hold_placed_after_approval_blocks_execution(build: Builder) -> None:
    record = build.approved()
    build.hold(record)
    with build.refused("record_on_hold", record):
        build.destroy(record)
    record.release_hold(actor=build.INSPECTOR, at=build.T_DESTROY, hold="TTr-2031-05",
                        reason="inspection closed")
    build.destroy(record, at=build.T_AFTER)
    assert record.status == "destroyed"


def test_a_pending_transfer_forbids_destruction(build: Builder) -> None:
    record = build.appraised()
    record.initiate_transfer(actor=build.CLERK, at=build.T_APPRAISE, **build.transfer())
    with build.refused("transfer_pending", record):
        build.approve(record)


def test_execution_needs_a_destruction_decision(build: Builder) -> None:
    record = build.appraised()
    with build.refused("destruction_not_approved", record):
        build.destroy(record)


def test_a_later_appraisal_clears_a_destruction_approval(build: Builder) -> None:
    record = build.approved()
    build.appraise(record, "destroy", 10, at=build.T_HOLD, minutes="BB-HĐXĐGT-2031-02")
    assert record.destruction is None
    assert record.status == "issued"
    with build.refused("destruction_not_approved", record):
        build.destroy(record)


def test_a_later_retain_appraisal_forbids_approval_again(build: Builder) -> None:
    record = build.approved()
    build.appraise(record, "retain", 20, at=build.T_HOLD)
    with build.refused("destruction_not_approved", record):
        build.destroy(record)
    with build.refused("appraisal_required", record):
        build.approve(record, at=build.T_DESTROY)


def test_only_the_custodian_approves_and_executes(build: Builder) -> None:
    record = build.appraised()
    with build.refused("not_custodian", record):
        build.approve(record, actor=build.OUTSIDER)
    build.approve(record)
    with build.refused("not_custodian", record):
        build.destroy(record, actor=build.OUTSIDER)


@pytest.mark.parametrize("replicas", [-1, True, "2"])
def test_destroy_refuses_malformed_input(build: Builder, replicas: Any) -> None:
    record = build.approved()
    with build.refused("invalid_input", record):
        record.destroy(
            actor=build.CLERK, at=build.T_DESTROY, minutes="BB", replicas_purged=replicas
        )


# Every command on a destroyed record, each with otherwise valid arguments.
AFTER_DESTRUCTION: dict[str, Any] = {
    "sign": lambda b, r, d: b.sign(r, "organization", at=b.T_AFTER),
    "file": lambda b, r, d: r.file(actor=b.CLERK, at=b.T_AFTER, dossier=d),
    "initiate_transfer": lambda b, r, d: r.initiate_transfer(
        actor=b.CLERK, at=b.T_AFTER, **b.transfer()),
    "receive_transfer": lambda b, r, d: r.receive_transfer(
        actor=b.ARCHIVIST, at=b.T_AFTER, **b.receipt()),
    "reject_transfer": lambda b, r, d: r.reject_transfer(
        actor=b.ARCHIVIST, at=b.T_AFTER, transfer="NL-2022-01", reason="x", receipt=b.RECEIPT),
    "appraise": lambda b, r, d: b.appraise(r, "retain", 10, at=b.T_AFTER),
    "change_access": lambda b, r, d: r.change_access(
        actor=b.CLERK, at=b.T_AFTER, access="classified",
        legal_basis={"number": "1/QĐ", "code": "1/QĐ", "date": "2040-01-01"}),
    "place_hold": lambda b, r, d: b.hold(r, at=b.T_AFTER),
    "release_hold": lambda b, r, d: r.release_hold(
        actor=b.INSPECTOR, at=b.T_AFTER, hold="H-1", reason="x"),
    "approve_destruction": lambda b, r, d: b.approve(r, at=b.T_AFTER),
    "destroy": lambda b, r, d: b.destroy(r, at=b.T_AFTER),
    "check_may_sign": lambda b, r, d: r.check_may_sign(b.CLERK),
    "check_may_transfer": lambda b, r, d: r.check_may_transfer(
        b.CLERK, b.transfer()["destination"], b.transfer()["destination_kind"]),
}


def test_every_command_is_covered_after_destruction() -> None:
    public = {
        name for name, value in vars(Record).items()
        if callable(value) and not isinstance(value, type) and not name.startswith("_")
        and name not in ("register", "retention_end")  # the constructor and a query
    }
    assert public == set(AFTER_DESTRUCTION)


@pytest.mark.parametrize("command", sorted(AFTER_DESTRUCTION))
def test_nothing_follows_destruction(build: Builder, command: str) -> None:
    record = build.destroyed()
    dossier = build.dossier(at=build.T_AFTER)
    # No transfer is pending, so nobody is its destination: that refusal comes first.
    code = ("not_destination" if command in ("receive_transfer", "reject_transfer")
            else "record_destroyed")
    with build.refused(code, record, dossier):
        AFTER_DESTRUCTION[command](build, record, dossier)


# Every command of the custodian, by another agency, on a record whose state would refuse it
# too: who may act is checked first, so the refusal tells nothing of the state.
AS_OUTSIDER: dict[str, Any] = {
    "sign": lambda b, r, d: b.sign(r, "organization", at=b.T_AFTER, actor=b.OUTSIDER),
    "file": lambda b, r, d: r.file(actor=b.OUTSIDER, at=b.T_AFTER, dossier=d),
    "initiate_transfer": lambda b, r, d: r.initiate_transfer(
        actor=b.OUTSIDER, at=b.T_AFTER, **b.transfer()),
    "receive_transfer": lambda b, r, d: r.receive_transfer(
        actor=b.OUTSIDER, at=b.T_AFTER, **b.receipt()),
    "reject_transfer": lambda b, r, d: r.reject_transfer(
        actor=b.OUTSIDER, at=b.T_AFTER, transfer="NL-2022-01", reason="x", receipt=b.RECEIPT),
    "appraise": lambda b, r, d: b.appraise(r, "retain", 10, at=b.T_AFTER, actor=b.OUTSIDER),
    "change_access": lambda b, r, d: r.change_access(
        actor=b.OUTSIDER, at=b.T_AFTER, access="classified",
        legal_basis={"number": "1/QĐ", "code": "1/QĐ", "date": "2040-01-01"}),
    "place_hold": lambda b, r, d: b.hold(r, at=b.T_AFTER, actor=b.OUTSIDER),
    "release_hold": lambda b, r, d: r.release_hold(
        actor=b.OUTSIDER, at=b.T_AFTER, hold="H-1", reason="x"),
    "approve_destruction": lambda b, r, d: b.approve(r, at=b.T_AFTER, actor=b.OUTSIDER),
    "destroy": lambda b, r, d: b.destroy(r, at=b.T_AFTER, actor=b.OUTSIDER),
    "check_may_sign": lambda b, r, d: r.check_may_sign(b.OUTSIDER),
    "check_may_transfer": lambda b, r, d: r.check_may_transfer(
        b.OUTSIDER, b.transfer()["destination"], b.transfer()["destination_kind"]),
}


def test_every_command_is_covered_as_an_outsider() -> None:
    assert set(AS_OUTSIDER) == set(AFTER_DESTRUCTION)


@pytest.mark.parametrize("state", ["destroyed", "filed"])
@pytest.mark.parametrize("command", sorted(AS_OUTSIDER))
def test_who_may_act_is_checked_before_the_state(build: Builder, command: str,
                                                 state: str) -> None:
    if state == "destroyed":
        record, dossier = build.destroyed(), build.dossier(at=build.T_AFTER)
    else:  # filed into a dossier that is closed since
        record, dossier = build.filed()
        dossier.close(actor=build.CLERK, at=build.T_CLOSE)
    code = "not_destination" if command in ("receive_transfer", "reject_transfer") else (
        "not_custodian")
    with build.refused(code, record, dossier):
        AS_OUTSIDER[command](build, record, dossier)
    with pytest.raises(DomainError) as info:
        AS_OUTSIDER[command](build, record, dossier)
    assert build.CLERK.agency not in str(info.value.evidence)  # nor who holds it


def test_filing_into_another_agencys_dossier_is_refused_before_its_state(build: Builder) -> None:
    _, dossier = build.filed()  # already filed, and the dossier then closed
    dossier.close(actor=build.CLERK, at=build.T_CLOSE)
    theirs = build.record(actor=build.OUTSIDER, number="77", issuer=build.OUTSIDER.agency)
    with build.refused("not_custodian", theirs, dossier):
        theirs.file(actor=build.OUTSIDER, at=build.T_AFTER, dossier=dossier)


# == status ======================================================================================


def test_status_follows_the_lifecycle(build: Builder) -> None:
    assert build.record().status == "registered"
    assert build.issued().status == "issued"
    assert build.transfer_pending().status == "transfer_pending"
    assert build.transferred().status == "issued"
    assert build.approved().status == "destruction_approved"
    assert build.destroyed().status == "destroyed"


# == time ========================================================================================


def test_retention_expiry_does_not_depend_on_the_time_zone_of_at(build: Builder) -> None:
    # Regression: at.date() was taken in the caller's zone, so one instant was expired at
    # +07:00 and not in UTC (the zone of the stored `at`).
    instant = datetime(2031, 1, 1, 0, 30, tzinfo=HANOI)  # = 2030-12-31T17:30:00Z
    verdicts = []
    for at in (instant, instant.astimezone(UTC)):
        record = build.appraised()
        try:
            build.approve(record, at=at)
            verdicts.append("approved")
        except DomainError as exc:
            verdicts.append(exc.code)
    assert verdicts[0] == verdicts[1]


def test_a_naive_time_is_refused_without_changing_the_record(build: Builder) -> None:
    # Regression: the event was applied and the version bumped before hashing refused the time.
    record = build.record()
    with build.refused("invalid_input", record):
        build.hold(record, at=datetime(2031, 3, 10, 8, 0))


# == envelope and hash chain =====================================================================


def lifecycle(build: Builder) -> Record:
    """A record through every record event type, in a plausible order."""
    record, _ = build.filed()
    record.initiate_transfer(actor=build.CLERK, at=build.T_TRANSFER, **build.transfer())
    record.reject_transfer(actor=build.ARCHIVIST, at=build.T_TRANSFER + timedelta(days=1),
                           transfer="NL-2022-01", reason="counts differ", receipt=build.RECEIPT)
    record.initiate_transfer(actor=build.CLERK, at=build.T_TRANSFER + timedelta(days=2),
                             **build.transfer(transfer="NL-2022-02"))
    record.receive_transfer(actor=build.ARCHIVIST, at=build.T_RECEIVE,
                            **build.receipt(transfer="NL-2022-02"))
    build.appraise(record, actor=build.ARCHIVIST)
    build.hold(record, at=build.T_APPRAISE + timedelta(days=1))
    record.release_hold(actor=build.INSPECTOR, at=build.T_APPRAISE + timedelta(days=2),
                        hold="TTr-2031-05", reason="inspection closed")
    build.approve(record, actor=build.ARCHIVIST)
    build.destroy(record, actor=build.ARCHIVIST)
    return record


EVENT_DATA_FIELDS = {
    "record.created": {"metadata", "retention", "schedule", "content", "custodian"},
    "record.signed": {"format", "signer_class", "signed_digest", "signer", "chain",
                      "signing_time", "signature", "validation"},
    "record.filed": {"dossier", "dossier_code"},
    "record.transfer_initiated": {"transfer", "destination", "destination_kind", "registration",
                                  "package_digest", "counts", "legal_basis"},
    "record.transfer_received": {"transfer", "package_digest", "counts", "content_digest",
                                 "receipt"},
    "record.transfer_rejected": {"transfer", "reason", "receipt"},
    "record.appraised": {"council", "minutes", "decision", "retention", "legal_basis"},
    "record.hold_placed": {"hold", "reason", "legal_basis"},
    "record.hold_released": {"hold", "reason"},
    "record.destruction_approved": {"decision", "appraisal", "legal_basis"},
    "record.destroyed": {"decision", "minutes", "replicas_purged"},
}


def test_every_record_event_type_has_its_documented_data_fields(build: Builder) -> None:
    events = build.events(lifecycle(build))
    assert {e.TYPE for e in events} == set(EVENT_DATA_FIELDS)
    for event in events:
        envelope = json.loads(event.canonical())
        assert set(envelope["data"]) == EVENT_DATA_FIELDS[event.TYPE], event.TYPE


def test_envelope_has_exactly_the_documented_keys(build: Builder) -> None:
    for event in build.events(lifecycle(build)):
        envelope = json.loads(event.canonical())
        assert set(envelope) == {"v", "record", "version", "type", "at", "actor", "prev", "data"}
        assert envelope["v"] == 1
        assert set(envelope["actor"]) == {"id", "role", "agency"}


def test_created_event_bytes_are_the_rfc8785_form_of_the_envelope(build: Builder) -> None:
    record = build.record()
    expected: dict[str, Any] = {
        "v": 1,
        "record": str(uuid5(RECORD_NAMESPACE, registration_name(build.AGENCY, "2020", "12",
                                                                "QĐ-UBND"))),
        "version": 1,
        "type": "record.created",
        "at": "2020-03-04T08:00:00.000000Z",
        "actor": {"id": "clerk-1", "role": "agency", "agency": build.AGENCY},
        "prev": None,
        "data": {
            "metadata": build.metadata(),
            "retention": 10,
            "schedule": "TT05/2025 Phụ lục I, mục 1.2",
            "content": build.content(),
            "custodian": build.AGENCY,
        },
    }
    assert build.events(record)[0].canonical() == rfc8785.dumps(expected)


@pytest.mark.parametrize(
    ("at", "text"),
    [
        (datetime(2020, 3, 4, 8, 0, tzinfo=UTC), "2020-03-04T08:00:00.000000Z"),
        (datetime(2020, 3, 4, 15, 0, 0, 123456, tzinfo=HANOI), "2020-03-04T08:00:00.123456Z"),
        (datetime(2020, 3, 4, 3, 30, 0, 1, tzinfo=HANOI), "2020-03-03T20:30:00.000001Z"),
    ],
)
def test_at_is_utc_with_microseconds_and_z(build: Builder, at: datetime, text: str) -> None:
    record = build.record(at=at)
    assert json.loads(build.events(record)[0].canonical())["at"] == text


def test_prev_is_base64_sha256_of_the_previous_events_canonical_bytes(build: Builder) -> None:
    record = lifecycle(build)
    events = build.events(record)
    stored = [e.canonical() for e in events]
    previous: bytes | None = None
    for number, data in enumerate(stored, start=1):
        envelope = json.loads(data)
        assert rfc8785.dumps(envelope) == data  # canonical as stored
        assert envelope["record"] == str(record.id)
        assert envelope["version"] == number
        if previous is None:
            assert envelope["type"] == "record.created"
            assert envelope["prev"] is None
        else:
            assert envelope["prev"] == sha256_b64(previous)
        previous = data
    assert record.head == sha256_b64(stored[-1])
    # The verifiers' chain check agrees with the recomputation above.
    assert len(verify_chain(stored)) == len(stored)


def test_replaying_the_events_rebuilds_the_record(build: Builder) -> None:
    record = lifecycle(build)
    replayed = None
    for event in build.events(record):
        replayed = event.mutate(replayed)
    assert replayed is not None
    assert replayed.head == record.head
    assert replayed.version == record.version
    assert replayed.custodian == build.ARCHIVE
    assert replayed.status == "destroyed"


def test_an_event_that_does_not_link_to_its_predecessor_stops_the_replay(build: Builder) -> None:
    events = build.events(build.issued())
    forged = object.__new__(type(events[1]))
    state = {k: v for k, v in vars(events[1]).items() if k != "_canonical"}
    state["prev"] = sha256_b64(b"some other event")
    object.__setattr__(forged, "__dict__", state)
    replayed = events[0].mutate(None)
    with pytest.raises(ChainError) as info:
        forged.mutate(replayed)
    assert info.value.code == "chain_broken"


LEGAL = {"number": "07/QĐ-BCY", "code": "07/QĐ-BCY", "date": "2022-04-01"}


def test_a_declassified_record_may_go_to_a_historical_archive(build: Builder) -> None:
    record = build.issued(access="classified")
    record.change_access(actor=build.CLERK, at=build.T_TRANSFER, access="open", legal_basis=LEGAL)
    assert build.last_type(record) == "record.access_changed"
    assert record.metadata["access"] == "open"
    record.initiate_transfer(
        actor=build.CLERK, at=build.T_TRANSFER,
        **build.transfer(destination=build.HISTORICAL, destination_kind="historical_archive"),
    )
    assert build.last_type(record) == "record.transfer_initiated"


def test_access_changes_only_by_the_custodian_on_a_legal_basis(build: Builder) -> None:
    record = build.issued(access="classified")
    with build.refused("not_custodian", record):
        record.change_access(actor=build.OUTSIDER, at=build.T_TRANSFER, access="open",
                             legal_basis=LEGAL)
    with build.refused("invalid_input", record):
        record.change_access(actor=build.CLERK, at=build.T_TRANSFER, access="open")
    with build.refused("invalid_input", record):
        record.change_access(actor=build.CLERK, at=build.T_TRANSFER, access="classified",
                             legal_basis=LEGAL)
    with build.refused("invalid_input", record):
        record.change_access(actor=build.CLERK, at=build.T_TRANSFER, access="secret",
                             legal_basis=LEGAL)


def test_a_destruction_approval_lapses_when_custody_changes(build: Builder) -> None:
    record = build.approved()
    record.initiate_transfer(actor=build.CLERK, at=build.T_APPROVE, **build.transfer())
    record.receive_transfer(actor=build.ARCHIVIST, at=build.T_APPROVE, **build.receipt())
    assert record.custodian == build.ARCHIVE
    assert record.destruction is None
    with build.refused("destruction_not_approved", record):
        record.destroy(actor=build.ARCHIVIST, at=build.T_DESTROY, minutes="BB", replicas_purged=0)
