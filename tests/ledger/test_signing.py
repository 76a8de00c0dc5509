"""The `sign` action for real: signatures validated with pyHanko against the trust-anchor
registry at the moment of signing, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from asn1crypto import crl

from domain.errors import DomainError
from ledger.config import Settings
from ledger.dev.pki import DevPki, sign_cms
from ledger.service import Ledger
from tests.conftest import Clock
from tests.ledger.builders import AGENCY, create
from tests.pki import COMMITTEE, pem, register_roots, sign


@pytest.fixture
def ledger(settings: Settings, clock: Clock) -> Iterator[Ledger]:
    with Ledger(settings, clock=clock) as ledger:
        yield ledger


def _signed(ledger: Ledger, rid: str) -> list[dict]:
    return [e["event"]["data"] for e in ledger.records.describe(rid)["events"]
            if e["event"]["type"] == "record.signed"]


def count_events(ledger: Ledger) -> int:
    with ledger.store.transaction() as tx:
        return tx.event_count()


def test_a_signed_pdf_is_validated_and_the_record_is_issued(
        ledger: Ledger, dev_pki: DevPki, signed_pdf: bytes) -> None:
    neac, bcy = register_roots(ledger, dev_pki, "NEAC", "BCY")
    rid = create(ledger, 1, body=signed_pdf)
    sign(ledger, AGENCY, rid, dev_pki, "individual", signer_class="individual",
         field="Individual")
    assert not ledger.records.record(rid).issued  # one signature is not enough (Decree 30 Art. 5)
    sign(ledger, AGENCY, rid, dev_pki, "agency", signer_class="organization", field="Agency")
    assert ledger.records.record(rid).issued
    individual, agency = _signed(ledger, rid)
    assert individual["format"] == "pades"
    assert individual["validation"]["verdict"] == "PASSED"
    assert individual["validation"]["anchor"] == neac
    assert agency["validation"]["anchor"] == bcy
    assert individual["signed_digest"] == ledger.records.record(rid).content["digest"]
    assert individual["signature"] == ledger.records.record(rid).content["digest"]
    # Everything the validation rested on is in the content store, named in the event.
    assert len(individual["chain"]) == 2  # NEAC CA, NEAC root
    for digest in [individual["signer"], *individual["chain"],
                   *individual["validation"]["crls"], *individual["validation"]["ocsps"]]:
        assert ledger.content.has(digest)
    crls = [crl.CertificateList.load(ledger.content.get(d))
            for d in individual["validation"]["crls"]]
    assert {c.issuer.native["common_name"] for c in crls} >= {
        "NEAC Public Service CA (Stele dev)", "NEAC Root CA (Stele dev)"}
    assert len(individual["validation"]["ocsps"]) == 1


def test_detached_cms_over_the_content(ledger: Ledger, dev_pki: DevPki) -> None:
    register_roots(ledger, dev_pki)
    body = b"<xml>a record that is not a PDF</xml>"
    rid = create(ledger, 2, body=body)
    sign(ledger, AGENCY, rid, dev_pki, "individual", signer_class="individual",
         signature=sign_cms(body, dev_pki.party("individual"), pki=dev_pki, at=ledger.clock()))
    (event,) = _signed(ledger, rid)
    assert event["format"] == "cms"
    assert event["validation"]["verdict"] == "PASSED"
    assert ledger.content.has(event["signature"])


def test_missing_revocation_data_is_indeterminate_not_failed(
        ledger: Ledger, dev_pki: DevPki) -> None:
    register_roots(ledger, dev_pki)
    body = b"no CRL, no OCSP"
    rid = create(ledger, 3, body=body)
    sign(ledger, AGENCY, rid, dev_pki, "individual", signer_class="individual",
         signature=sign_cms(body, dev_pki.party("individual"), pki=dev_pki, at=ledger.clock()),
         revocation=False)
    (event,) = _signed(ledger, rid)
    assert event["validation"]["verdict"] == "INDETERMINATE"
    assert event["validation"]["subindication"]


def test_a_signature_over_other_content_is_refused(ledger: Ledger, dev_pki: DevPki,
                                                   signed_pdf: bytes) -> None:
    register_roots(ledger, dev_pki)
    rid = create(ledger, 4, body=b"the real content")
    before = count_events(ledger)
    other = sign_cms(b"other content", dev_pki.party("individual"), pki=dev_pki,
                     at=ledger.clock())
    with pytest.raises(DomainError) as refused:
        sign(ledger, AGENCY, rid, dev_pki, "individual", signer_class="individual",
             signature=other)
    assert refused.value.code == "digest_mismatch"
    with pytest.raises(DomainError) as refused:  # a signed PDF that is not the record's content
        sign(ledger, AGENCY, rid, dev_pki, "individual", signer_class="individual",
             signature=signed_pdf, field="Individual")
    assert refused.value.code == "digest_mismatch"
    assert count_events(ledger) == before


def test_a_pdf_changed_after_signing_is_recorded_failed(
        ledger: Ledger, dev_pki: DevPki, signed_pdf: bytes) -> None:
    register_roots(ledger, dev_pki)
    # Change one byte of the page's text, inside the bytes both signatures cover.
    at = signed_pdf.index(b"QUYET DINH")
    changed = signed_pdf[:at] + b"X" + signed_pdf[at + 1:]
    rid = create(ledger, 5, body=changed)
    sign(ledger, AGENCY, rid, dev_pki, "individual", signer_class="individual",
         field="Individual")
    (event,) = _signed(ledger, rid)
    assert event["validation"]["verdict"] == "FAILED"
    assert not ledger.records.record(rid).issued


def test_a_signer_revoked_before_signing_is_recorded_failed(
        ledger: Ledger, dev_pki: DevPki) -> None:
    register_roots(ledger, dev_pki)
    body = b"signed with a revoked key"
    rid = create(ledger, 6, body=body)
    sign(ledger, AGENCY, rid, dev_pki, "revoked", signer_class="individual",
         signature=sign_cms(body, dev_pki.party("revoked"), pki=dev_pki, at=ledger.clock()))
    (event,) = _signed(ledger, rid)
    assert (event["validation"]["verdict"], event["validation"]["subindication"]) == (
        "FAILED", "REVOKED")


@pytest.mark.parametrize("registered", [(), ("BCY",)])
def test_a_chain_to_an_unregistered_root_is_refused(
        ledger: Ledger, dev_pki: DevPki, signed_pdf: bytes, registered: tuple[str, ...]) -> None:
    if registered:
        register_roots(ledger, dev_pki, *registered)
    rid = create(ledger, 7, body=signed_pdf)
    before = count_events(ledger)
    with pytest.raises(DomainError) as refused:
        sign(ledger, AGENCY, rid, dev_pki, "individual", signer_class="individual",
             field="Individual")
    assert refused.value.code == "untrusted_signer"
    assert count_events(ledger) == before


def test_anchors_are_judged_as_they_stood_when_the_signature_was_made(
        ledger: Ledger, dev_pki: DevPki, clock: Clock, signed_pdf: bytes) -> None:
    neac, _ = register_roots(ledger, dev_pki)
    rid = create(ledger, 8, body=signed_pdf)
    ledger.records.do(COMMITTEE, "trust.suspend", anchor=neac, reason="key ceremony audit")
    with pytest.raises(DomainError) as refused:
        sign(ledger, AGENCY, rid, dev_pki, "individual", signer_class="individual",
             field="Individual")
    assert refused.value.code == "untrusted_signer"
    clock.advance(hours=1)
    ledger.records.do(COMMITTEE, "trust.reinstate", anchor=neac, reason="audit passed")
    sign(ledger, AGENCY, rid, dev_pki, "individual", signer_class="individual",
         field="Individual")
    # Retired: it vouches for what is proven signed before retirement (a signature
    # timestamp), but not for a signature with no proof of its time, nor one made after.
    body = b"signed and timestamped before retirement"
    timestamped = sign_cms(body, dev_pki.party("individual"), pki=dev_pki, timestamp=True,
                           at=ledger.clock())
    clock.advance(hours=1)
    ledger.records.do(COMMITTEE, "trust.retire", anchor=neac, reason="NEAC root re-keyed")
    clock.advance(hours=1)
    rid2 = create(ledger, 9, body=body)
    sign(ledger, AGENCY, rid2, dev_pki, "individual", signer_class="individual",
         signature=timestamped)
    (event,) = _signed(ledger, rid2)
    assert event["validation"]["verdict"] == "PASSED"
    assert event["validation"]["timestamp_time"] < event["validation"]["validated_at"]
    body = b"signed after retirement"
    rid3 = create(ledger, 10, body=body)
    with pytest.raises(DomainError) as refused:
        sign(ledger, AGENCY, rid3, dev_pki, "individual", signer_class="individual",
             signature=sign_cms(body, dev_pki.party("individual"), pki=dev_pki,
                                at=ledger.clock()))
    assert refused.value.code == "untrusted_signer"
    assert "retired" in refused.value.message


def test_only_the_committee_manages_anchors_and_the_registry_counts_what_depends(
        ledger: Ledger, dev_pki: DevPki, signed_pdf: bytes) -> None:
    with pytest.raises(DomainError) as refused:
        ledger.records.do(AGENCY, "trust.register", certificate=pem(dev_pki, "NEAC"), pki="NEAC",
                          purposes=["signing"])
    assert refused.value.code == "committee_only"
    neac, _ = register_roots(ledger, dev_pki)
    with pytest.raises(DomainError) as refused:
        register_roots(ledger, dev_pki, "NEAC")
    assert refused.value.code == "duplicate"
    rid = create(ledger, 11, body=signed_pdf)
    sign(ledger, AGENCY, rid, dev_pki, "individual", signer_class="individual",
         field="Individual")
    ledger.log.integrate()
    shown = ledger.trust.show(neac)
    assert shown["depends"]["signatures"]["count"] == 1
    assert shown["depends"]["records"] == 1
    assert [h["type"] for h in shown["history"]] == ["trust.anchor_registered"]
    assert ledger.trust.expiring(timedelta(days=365 * 30), ledger.clock())
    assert not ledger.trust.expiring(timedelta(days=1), ledger.clock())
