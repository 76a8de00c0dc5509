"""The product's promise, end to end: re-prove a record's authenticity decades after every
certificate expired (the long-term scenario).

A PKI whose signer certificate expires one day after signing, and whose first TSA certificate
expires two months later. The document is signed, ingested, anchored by the first TSA, and
its evidence record renewed by a second TSA before the first expires. Then the bundle is
verified offline ten and thirty years later: PASSED, with the proofs of existence shown.
Without the renewal: INDETERMINATE. A signer revoked before signing: FAILED. A signer revoked
after the proof of existence: PASSED, even given the later CRL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from ledger.bundle import export
from ledger.config import Settings
from ledger.dev.pki import DevPki, sign_cms
from ledger.longterm.anchoring import AnchorPolicy
from ledger.longterm.renewal import renew
from ledger.service import Ledger
from tests.bundles import dev_tsa
from tests.conftest import Clock
from tests.ledger.builders import AGENCY, create
from tests.pki import register_roots, sign
from verifiers.bundle import read_bundle, verify_bundle
from verifiers.report import Report, Verdict

pytestmark = pytest.mark.slow  # replays decades of signing and renewal

P = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)  # the signing day
Q = P + timedelta(days=2)  # a second PKI, whose "revoked" signer is revoked at Q - 1h
TSA_DAYS = 60  # the first TSA's certificate: two months
TSA2_DAYS = 40 * 365  # the second's: forty years


@dataclass
class Story:
    ledger: Ledger
    pki: DevPki
    later_pki: DevPki
    bundles: dict[str, bytes]  # name -> bundle
    poe: dict[str, datetime]

    def roots(self) -> list[bytes]:
        return [r.public_bytes(serialization.Encoding.DER)
                for pki in (self.pki, self.later_pki) for r in pki.roots.values()]

    def verify(self, name: str, years: int, **kw: object) -> Report:
        at = P.replace(year=P.year + years)
        return verify_bundle(read_bundle(self.bundles[name]), trust_roots=self.roots(), at=at,
                             log_key=self.ledger.key.verifier, **kw)  # type: ignore[arg-type]


def _signed(ledger: Ledger, pki: DevPki, number: int, party: str,
            revocation_at: datetime | None = None) -> str:
    """A CMS-signed record. `revocation_at`: when the CRLs and OCSP answer it comes with were
    issued (default: now); an older date stands for a CA that had not yet published."""
    body = f"decision {number}, signed by {party}".encode()
    rid = create(ledger, number, body=body)
    signature = sign_cms(body, pki.party(party), pki=pki, at=ledger.clock())
    if revocation_at is None:
        sign(ledger, AGENCY, rid, pki, party, signer_class="individual", signature=signature)
    else:
        blobs = [pki.crl("NEAC CA", revocation_at), pki.crl("NEAC", revocation_at),
                 pki.ocsp_response(party, revocation_at)]
        ledger.records.do(AGENCY, "record.sign", record=rid, signer_class="individual",
                          signature=ledger.content.put(signature),
                  validation_data=[ledger.content.put(b) for b in blobs])
    return rid


@pytest.fixture
def story(settings: Settings, tmp_path: Path) -> Iterator[Story]:
    pki = DevPki.create(tmp_path / "pki", P, tsa_days=TSA_DAYS, tsa2_days=TSA2_DAYS)
    later = DevPki.create(tmp_path / "later", Q, tsa_days=TSA_DAYS, tsa2_days=TSA2_DAYS)
    clock = Clock(P + timedelta(hours=1))
    with Ledger(settings, clock=clock) as ledger:
        ledger.longterm.set_anchor_policy(AnchorPolicy([dev_tsa(pki, "tsa", clock)], 1, []))
        register_roots(ledger, pki)
        register_roots(ledger, later)
        # Signed and ingested on the signing day; `short` expires a day later, `revoked` was
        # revoked an hour before it signed.
        records = {"short": _signed(ledger, pki, 1, "short"),
                   "revoked": _signed(ledger, pki, 2, "revoked")}
        ledger.log.sync()  # anchored by the first TSA
        # A day later, a signer whose certificate will be revoked after this proof.
        clock.advance(days=1)
        records["revoked_later"] = _signed(ledger, later, 3, "revoked")
        ledger.log.sync()
        # After its revocation, a signer of the later PKI signs; the CA has not published the
        # revocation yet, so the answers that come with it (issued before it) say "good", and
        # the ledger records PASSED. Only a CRL published later tells.
        clock.advance(days=1)
        records["revoked_unpublished"] = _signed(ledger, later, 4, "revoked",
                                                 revocation_at=Q - timedelta(hours=2))
        ledger.log.sync()
        bundles = {"short_unrenewed": export(ledger, records["short"], with_content=True)}
        # A month on, before the first TSA expires: renew with the second.
        clock.advance(days=30)
        ledger.longterm.set_anchor_policy(AnchorPolicy([dev_tsa(pki, "tsa2", clock)], 1, []))
        renew(ledger.longterm.anchorer, reason="the first TSA certificate expires within 30 days")
        ledger.log.sync()
        for name, rid in records.items():
            bundles[name] = export(ledger, rid, with_content=True)
        poe = {"short": P + timedelta(hours=1), "revoked_later": P + timedelta(days=1, hours=1)}
        recorded = ledger.records.describe(records["revoked_unpublished"])["events"][1]
        assert recorded["event"]["data"]["validation"]["verdict"] == "PASSED"
        yield Story(ledger, pki, later, bundles, poe)


def _signature_checks(report: Report) -> list[dict[str, object]]:
    return [c.as_json() for c in report.checks if c.name.startswith("signature[")]


@pytest.mark.parametrize("years", [10, 30])
def test_a_renewed_record_is_proven_decades_later(story: Story, years: int) -> None:
    report = story.verify("short", years)
    assert report.bottom_line is Verdict.PASSED, [c.line() for c in report.failures]
    (signature,) = _signature_checks(report)
    evidence = signature["evidence"]
    assert evidence["proof_of_existence"] == story.poe["short"].isoformat().replace(
        "+00:00", "Z")
    assert evidence["verdict"] == "PASSED"
    # Every event is shown with its proof of existence.
    assert set(report.summary["proof_of_existence"]) == {"1", "2"}


@pytest.mark.parametrize("years", [10, 30])
def test_without_the_renewal_it_is_indeterminate(story: Story, years: int) -> None:
    report = story.verify("short_unrenewed", years)
    assert report.bottom_line is Verdict.INDETERMINATE
    assert any(c.code == "no_proof_of_existence" for c in report.checks)


def test_a_signer_revoked_before_signing_fails(story: Story) -> None:
    report = story.verify("revoked", 10)
    assert report.bottom_line is Verdict.FAILED
    (signature,) = _signature_checks(report)
    assert (signature["verdict"], signature["code"]) == ("FAILED", "REVOKED")


def test_a_signer_revoked_after_the_proof_of_existence_passes(story: Story) -> None:
    # The later CRL, which says the certificate was revoked at Q - 1h, after the POE.
    crl = story.later_pki.crl("NEAC CA", Q + timedelta(days=1))
    for extra in ({}, {"crls": [crl]}):
        report = story.verify("revoked_later", 10, **extra)
        assert report.bottom_line is Verdict.PASSED, [c.line() for c in report.failures]


def test_a_revocation_published_later_but_dated_before_the_proof_is_heard(story: Story) -> None:
    # Ingested at P + 2d + 1h, after the revocation at Q - 1h = P + 2d - 1h, with answers
    # issued before it. Years later the auditor brings the CRL the CA published since.
    published = story.later_pki.crl("NEAC CA", Q + timedelta(days=3))
    assert story.verify("revoked_unpublished", 10).bottom_line is Verdict.PASSED
    report = story.verify("revoked_unpublished", 10, crls=[published])
    assert report.bottom_line is Verdict.FAILED
    (signature,) = _signature_checks(report)
    assert (signature["verdict"], signature["code"]) == ("FAILED", "REVOKED")
