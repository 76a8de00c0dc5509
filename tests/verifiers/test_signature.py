"""verifiers.signature (PAdES and detached CMS validation) against the development PKI.

Everything is dated from the session PKI (tests/pki.py: made at PKI_TIME = 2026-11-20,
ten-year signer certificates; `short` expires a day after PKI_TIME, `expired` a day before it,
`revoked` was revoked an hour before it) and validated at pinned times, with the revocation data
made for the moment it is needed (`pki.crl`, `pki.ocsp_response`).

Outside tools judge the same files: `openssl cms -verify` (detached CMS) and pyHanko's own
command line (`pyhanko sign validate` / `adesverify`). Without them those cases skip, unless
STELE_REQUIRE_OPENSSL=1 (or CI) for openssl, when a missing openssl is a failure.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PageObject
from pyhanko_certvalidator import registry

from ledger.dev.pki import DevPki, blank_pdf, sign_cms, sign_pdf
from tests.pki import PKI_TIME, SIGNED_AT
from verifiers.errors import MalformedError
from verifiers.report import Verdict
from verifiers.signature import (
    SignatureInputError,
    SignatureReport,
    cms_covers,
    validate_signature,
)

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
AT = SIGNED_AT + timedelta(minutes=10)  # the validation time of the everyday cases
TEXT = "QUYET DINH so 7/QD-TEST\nVe viec kiem thu chu ky"
DATA = b"Ho so luu tru so 0007/2026\n" * 30
LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")
CAS = ("NEAC CA", "NEAC", "BCY")
SHORT_SIGNED = PKI_TIME + timedelta(minutes=5)  # `short` is valid until PKI_TIME + 1 day
SHORT_LATER = PKI_TIME + 3 * DAY  # after `short` expired
SHORT_POE = SHORT_SIGNED + timedelta(minutes=10)


def _der(cert: Any) -> bytes:
    return bytes(cert.public_bytes(serialization.Encoding.DER))


def _revinfo(pki: DevPki, at: datetime, *parties: str) -> dict[str, Any]:
    """Fresh CRLs of every CA and OCSP answers for `parties` (signers and TSAs), made at `at`."""
    return {"crls": [pki.crl(ca, at) for ca in CAS],
            "ocsps": [pki.ocsp_response(p, at) for p in parties]}


@pytest.fixture(scope="module")
def pki(dev_pki: DevPki) -> DevPki:
    return dev_pki


@pytest.fixture(scope="module")
def neac(pki: DevPki) -> bytes:
    return _der(pki.roots["NEAC"])


@pytest.fixture(scope="module")
def bcy(pki: DevPki) -> bytes:
    return _der(pki.roots["BCY"])


@pytest.fixture(scope="module")
def roots(neac: bytes, bcy: bytes) -> list[bytes]:
    return [neac, bcy]


@pytest.fixture(scope="module")
def pdfs(pki: DevPki) -> dict[str, bytes]:
    """One PDF signed by `individual` at SIGNED_AT at each PAdES level."""
    blank = blank_pdf(TEXT)
    return {level: sign_pdf(blank, pki.party("individual"), level=level, pki=pki, at=SIGNED_AT)
            for level in LEVELS}


@pytest.fixture(scope="module")
def cms_sig(pki: DevPki) -> bytes:
    return sign_cms(DATA, pki.party("individual"), pki=pki, at=SIGNED_AT)


def _validate(signature: bytes, roots: list[bytes], at: datetime = AT,
              **kwargs: Any) -> SignatureReport:
    report = validate_signature(signature, trust_roots=roots, at=at, **kwargs)
    assert report.validated_at == at
    return report


def _signed_ranges(pdf: bytes) -> list[tuple[int, int]]:
    (sig,) = PdfFileReader(BytesIO(pdf)).embedded_regular_signatures
    start1, length1, start2, length2 = sig.byte_range
    return [(start1, start1 + length1), (start2, start2 + length2)]


def _flip(data: bytes, offset: int, mask: int = 0x01) -> bytes:
    return data[:offset] + bytes([data[offset] ^ mask]) + data[offset + 1:]


# -- 1. PAdES at every level -----------------------------------------------------------------


@pytest.mark.parametrize("level", LEVELS)
def test_pades_levels_pass_with_the_neac_root_as_anchor(
        pki: DevPki, pdfs: dict[str, bytes], roots: list[bytes], neac: bytes,
        level: str) -> None:
    pdf = pdfs[level]
    # B-B and B-T carry no revocation data: it comes with the request. B-LT and B-LTA carry
    # it in their DSS, and nothing else is given.
    extra = _revinfo(pki, AT, "individual", "tsa") if level in ("B-B", "B-T") else {}
    report = _validate(pdf, roots, **extra)
    assert report.verdict is Verdict.PASSED, report.summary()
    assert report.passed and report.subindication is None
    assert (report.format, report.field) == ("pades", "Signature1")
    assert report.signer == _der(pki.party("individual").cert)
    assert report.anchor == neac
    assert report.chain == (_der(pki.authority_cert("NEAC CA")), neac)  # root last
    assert report.signed_digest == "sha-256:" + hashlib.sha256(pdf).hexdigest()
    assert report.signing_time == SIGNED_AT  # the PDF's /M
    if level == "B-B":
        assert report.timestamp_time is None
        assert report.best_signature_time == AT  # nothing earlier proves it existed
    else:
        assert report.timestamp_time == SIGNED_AT  # the dev TSA dates its token `at`
        assert report.best_signature_time == SIGNED_AT
    if level in ("B-LT", "B-LTA"):  # the DSS was read: its CRLs and OCSP answers are reported
        assert len(report.crls) >= 2 and len(report.ocsps) >= 2
    summary = report.summary()
    assert summary["verdict"] == "PASSED" and summary["anchor"] is not None
    assert len(summary["chain"]) == 2


def test_b_b_without_revocation_data_is_indeterminate_not_failed(
        pdfs: dict[str, bytes], roots: list[bytes], neac: bytes) -> None:
    report = _validate(pdfs["B-B"], roots)
    assert report.verdict is Verdict.INDETERMINATE
    assert report.subindication == "CERTIFICATE_CHAIN_GENERAL_FAILURE"
    assert report.anchor == neac  # the path was found; only its revocation status is unknown
    # Control: with revocation checking soft, the same signature passes.
    assert _validate(pdfs["B-B"], roots, revocation="soft").verdict is Verdict.PASSED


def test_b_t_needs_the_signers_revocation_data_not_the_tsas(
        pki: DevPki, pdfs: dict[str, bytes], roots: list[bytes]) -> None:
    report = _validate(pdfs["B-T"], roots)
    assert report.verdict is Verdict.INDETERMINATE
    assert report.subindication == "CERTIFICATE_CHAIN_GENERAL_FAILURE"
    # The TSA's own revocation is checked only where found: the signer's data is enough.
    signer_only = _revinfo(pki, AT, "individual")
    signer_only["crls"] = signer_only["crls"][:2]  # NEAC CA and NEAC, not BCY
    assert _validate(pdfs["B-T"], roots, **signer_only).verdict is Verdict.PASSED


@pytest.mark.parametrize("case", ["B-T no revocation data", "B-LT byte changed",
                                  "B-LT no chain", "CMS with timestamp, no revocation data"])
def test_best_signature_time_is_never_after_the_validation_time(
        pki: DevPki, pdfs: dict[str, bytes], roots: list[bytes], bcy: bytes,
        case: str) -> None:
    """ETSI EN 319 102-1: best-signature-time starts at the validation time and only moves
    earlier; whatever the verdict, a report made at `at` is the same whenever it is made.
    (pyHanko's validation with time, when it stops early, reports its POE manager's default:
    datetime.now().)"""
    stamped = sign_cms(DATA, pki.party("individual"), pki=pki, timestamp=True, at=SIGNED_AT)
    flipped = _flip(pdfs["B-LT"], pdfs["B-LT"].index(b"QUYET DINH so 7"))
    signature, trusted, content = {
        "B-T no revocation data": (pdfs["B-T"], roots, None),
        "B-LT byte changed": (flipped, roots, None),
        "B-LT no chain": (pdfs["B-LT"], [bcy], None),
        "CMS with timestamp, no revocation data": (stamped, roots, DATA),
    }[case]
    report = _validate(signature, trusted, content=content)
    assert not report.passed
    assert report.best_signature_time <= AT, report.summary()


# -- 2. Two signatures in one PDF ------------------------------------------------------------


def test_two_signatures_each_validate_by_field(
        pki: DevPki, signed_pdf: bytes, roots: list[bytes], neac: bytes, bcy: bytes) -> None:
    extra = _revinfo(pki, AT, "individual", "agency")
    individual = _validate(signed_pdf, roots, field="Individual", **extra)
    agency = _validate(signed_pdf, roots, field="Agency", **extra)
    assert individual.verdict is Verdict.PASSED, individual.summary()
    assert agency.verdict is Verdict.PASSED, agency.summary()
    assert (individual.field, agency.field) == ("Individual", "Agency")
    assert individual.signer == _der(pki.party("individual").cert)
    assert agency.signer == _der(pki.party("agency").cert)
    assert (individual.anchor, agency.anchor) == (neac, bcy)
    assert agency.chain == (bcy,)  # BCY issues its parties directly
    # The later signature's incremental update does not count against the first one.
    assert individual.signing_time == SIGNED_AT
    assert agency.signing_time == SIGNED_AT + timedelta(minutes=5)


def test_several_signatures_need_a_field_and_an_unknown_field_is_refused(
        signed_pdf: bytes, roots: list[bytes]) -> None:
    with pytest.raises(SignatureInputError, match="several signatures") as several:
        validate_signature(signed_pdf, trust_roots=roots, at=AT)
    assert several.value.evidence["fields"] == ["Individual", "Agency"]
    with pytest.raises(SignatureInputError, match="no signature field") as unknown:
        validate_signature(signed_pdf, trust_roots=roots, at=AT, field="Signature1")
    assert unknown.value.evidence["field"] == "Signature1"
    with pytest.raises(SignatureInputError, match="no signature"):
        validate_signature(blank_pdf("unsigned"), trust_roots=roots, at=AT)


# -- 3. Tampering ----------------------------------------------------------------------------


@pytest.mark.parametrize("level", ["B-B", "B-LT"])
def test_one_byte_changed_in_the_signed_range_is_a_hash_failure(
        pki: DevPki, pdfs: dict[str, bytes], roots: list[bytes], level: str) -> None:
    pdf = pdfs[level]
    offset = pdf.index(b"QUYET DINH so 7")  # the page's text, in the first revision
    (first, _second) = _signed_ranges(pdf)
    assert first[0] <= offset < first[1]
    tampered = pdf[:offset] + b"X" + pdf[offset + 1:]
    report = _validate(tampered, roots, **_revinfo(pki, AT, "individual", "tsa"))
    assert report.verdict is Verdict.FAILED, report.summary()
    assert report.subindication == "HASH_FAILURE"
    assert report.signed_digest == "sha-256:" + hashlib.sha256(tampered).hexdigest()


@settings(max_examples=40, deadline=None)
@given(where=st.floats(min_value=0, max_value=1, exclude_max=True),
       mask=st.integers(min_value=1, max_value=255))
def test_any_change_in_the_signed_range_fails_or_is_refused(
        pdfs: dict[str, bytes], roots: list[bytes], where: float, mask: int) -> None:
    pdf = pdfs["B-B"]
    offsets = [o for start, end in _signed_ranges(pdf) for o in (start, end)]
    first, second = offsets[1] - offsets[0], offsets[3] - offsets[2]
    index = int(where * (first + second))
    offset = offsets[0] + index if index < first else offsets[2] + index - first
    try:
        report = validate_signature(_flip(pdf, offset, mask), trust_roots=roots, at=AT,
                                    revocation="soft")
    except MalformedError:
        return
    assert report.verdict is Verdict.FAILED, (offset, report.summary())


def _update(pdf: bytes, change: Callable[[IncrementalPdfFileWriter], None]) -> bytes:
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    change(writer)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def _replace_page_content(writer: IncrementalPdfFileWriter) -> None:
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    page[pdf_name("/Contents")] = writer.add_object(generic.StreamObject(
        stream_data=b"BT /F1 14 Tf 72 770 Td (QUYET DINH so 8/QD-GIA) Tj ET"))
    writer.update_container(page)


def _add_page(writer: IncrementalPdfFileWriter) -> None:
    contents = writer.add_object(generic.StreamObject(
        stream_data=b"BT /F1 14 Tf 72 770 Td (Phu luc them sau khi ky) Tj ET"))
    writer.insert_page(PageObject(contents=contents, media_box=(0, 0, 595, 842)))


def _add_annotation(writer: IncrementalPdfFileWriter) -> None:
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    annotation = writer.add_object(generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/Annot"), pdf_name("/Subtype"): pdf_name("/FreeText"),
        pdf_name("/Rect"): generic.ArrayObject(
            [generic.FloatObject(x) for x in (72, 600, 300, 650)]),
        pdf_name("/Contents"): generic.TextStringObject("HUY BO"),
        pdf_name("/DA"): generic.TextStringObject("/Helv 12 Tf 0 g")}))
    page[pdf_name("/Annots")] = generic.ArrayObject([annotation])
    writer.update_container(page)


UPDATES = {"page-content": _replace_page_content, "new-page": _add_page,
           "annotation": _add_annotation}


@pytest.fixture(scope="module")
def updated(pdfs: dict[str, bytes]) -> dict[str, bytes]:
    """The B-B PDF with one incremental update after signing, of each kind."""
    return {name: _update(pdfs["B-B"], change) for name, change in UPDATES.items()}


@pytest.mark.parametrize("update", list(UPDATES))
def test_an_incremental_update_after_signing_is_a_format_failure(
        pki: DevPki, updated: dict[str, bytes], roots: list[bytes], update: str) -> None:
    report = _validate(updated[update], roots, **_revinfo(pki, AT, "individual"))
    assert report.verdict is Verdict.FAILED, report.summary()
    assert report.subindication == "FORMAT_FAILURE"
    assert "modified after signing" in (report.message or "")


def test_detached_cms_over_changed_content_is_a_hash_failure(
        pki: DevPki, cms_sig: bytes, roots: list[bytes], neac: bytes) -> None:
    extra = _revinfo(pki, AT, "individual")
    good = _validate(cms_sig, roots, content=DATA, **extra)
    assert good.verdict is Verdict.PASSED, good.summary()
    assert (good.format, good.field, good.anchor) == ("cms", None, neac)
    assert good.chain[-1] == neac
    assert good.signing_time == SIGNED_AT  # the signingTime attribute
    assert good.signed_digest == "sha-256:" + hashlib.sha256(DATA).hexdigest()
    changed = _flip(DATA, 7)
    bad = _validate(cms_sig, roots, content=changed, **extra)
    assert bad.verdict is Verdict.FAILED
    assert bad.subindication == "HASH_FAILURE"
    assert cms_covers(cms_sig, DATA) is True
    assert cms_covers(cms_sig, changed) is False
    assert cms_covers(cms_sig, b"") is False


# -- 4. Trust --------------------------------------------------------------------------------


def test_roots_without_the_signers_root_find_no_chain(
        pki: DevPki, pdfs: dict[str, bytes], cms_sig: bytes, bcy: bytes) -> None:
    extra = _revinfo(pki, AT, "individual", "tsa")
    for signature, content in ((pdfs["B-B"], None), (pdfs["B-LT"], None), (cms_sig, DATA)):
        for roots in ([bcy], []):
            report = _validate(signature, roots, content=content, **extra)
            assert report.verdict is Verdict.INDETERMINATE, report.summary()
            assert report.subindication == "NO_CERTIFICATE_CHAIN_FOUND"
            assert report.anchor is None and report.chain == ()
            assert report.signer == _der(pki.party("individual").cert)


def test_no_trust_roots_never_means_the_system_store(
        monkeypatch: pytest.MonkeyPatch, pdfs: dict[str, bytes], cms_sig: bytes,
        neac: bytes) -> None:
    """The system store is made to hold the NEAC root: an empty list must still trust
    nothing (pyHanko falls back to the system store when given None)."""
    asked: list[str] = []

    def system_roots() -> list[asn1_x509.Certificate]:
        asked.append("system")
        return [asn1_x509.Certificate.load(neac)]

    monkeypatch.setattr(registry, "_system_trust_roots", system_roots)
    with pytest.warns(DeprecationWarning, match="trust list"):  # control: it is patched
        fallback = registry.SimpleTrustManager.build()
    assert fallback.is_root(asn1_x509.Certificate.load(neac))
    asked.clear()
    for signature, content in ((pdfs["B-B"], None), (cms_sig, DATA)):
        report = _validate(signature, [], content=content, revocation="soft")
        assert report.verdict is Verdict.INDETERMINATE
        assert report.subindication == "NO_CERTIFICATE_CHAIN_FOUND"
        assert report.anchor is None
    assert asked == []


# -- 5. Revocation and expiry ----------------------------------------------------------------


@pytest.fixture(scope="module")
def revoked_signed(pki: DevPki) -> dict[str, bytes]:
    """`revoked` (revoked at PKI_TIME - 1 h) signing after, and before, its revocation."""
    party, blank = pki.party("revoked"), blank_pdf(TEXT)
    before = PKI_TIME - 2 * HOUR
    return {"cms-after": sign_cms(DATA, party, pki=pki, at=PKI_TIME),
            "pdf-after": sign_pdf(blank, party, pki=pki, at=PKI_TIME),
            "pdf-B-T-after": sign_pdf(blank, party, level="B-T", pki=pki, at=PKI_TIME),
            "pdf-before": sign_pdf(blank, party, pki=pki, at=before),
            "pdf-B-T-before": sign_pdf(blank, party, level="B-T", pki=pki, at=before)}


@pytest.mark.parametrize("name", ["cms-after", "pdf-after", "pdf-B-T-after"])
def test_signing_after_revocation_is_failed_revoked(
        pki: DevPki, revoked_signed: dict[str, bytes], roots: list[bytes], name: str) -> None:
    at = PKI_TIME + HOUR
    report = _validate(revoked_signed[name], roots, at=at,
                       content=DATA if name.startswith("cms") else None,
                       **_revinfo(pki, at, "revoked", "tsa"))
    assert report.verdict is Verdict.FAILED, report.summary()
    assert report.subindication == "REVOKED"
    assert report.signing_time == PKI_TIME


def test_signing_before_revocation_needs_a_proof_of_existence(
        pki: DevPki, revoked_signed: dict[str, bytes], roots: list[bytes]) -> None:
    """Revoked after signing: without a timestamp nothing proves the signature predates the
    revocation (INDETERMINATE, never FAILED); the B-T signature's timestamp does, and so does
    the ledger's proof of existence (validation as of the POE, with the data of that time)."""
    at = PKI_TIME + HOUR
    extra = _revinfo(pki, at, "revoked", "tsa")
    bare = _validate(revoked_signed["pdf-before"], roots, at=at, **extra)
    assert bare.verdict is Verdict.INDETERMINATE, bare.summary()
    assert bare.subindication == "REVOKED_NO_POE"
    stamped = _validate(revoked_signed["pdf-B-T-before"], roots, at=at, **extra)
    assert stamped.verdict is Verdict.PASSED, stamped.summary()
    assert stamped.best_signature_time == PKI_TIME - 2 * HOUR
    poe = PKI_TIME - 90 * timedelta(minutes=1)  # before the revocation at PKI_TIME - 1 h
    proven = _validate(revoked_signed["pdf-before"], roots, at=at, poe=poe,
                       **_revinfo(pki, poe, "revoked"))
    assert proven.verdict is Verdict.PASSED, proven.summary()
    assert proven.best_signature_time == poe
    too_late = _validate(revoked_signed["pdf-before"], roots, at=at, poe=PKI_TIME,
                         **_revinfo(pki, PKI_TIME, "revoked"))
    assert too_late.verdict is Verdict.INDETERMINATE, too_late.summary()
    assert too_late.subindication == "REVOKED_NO_POE"


@pytest.fixture(scope="module")
def expired_signed(pki: DevPki) -> dict[str, bytes]:
    """`expired` (valid until PKI_TIME - 1 day) signing after, and before, its expiry."""
    party, blank = pki.party("expired"), blank_pdf(TEXT)
    return {"cms-after": sign_cms(DATA, party, pki=pki, at=PKI_TIME),
            "pdf-after": sign_pdf(blank, party, pki=pki, at=PKI_TIME),
            "pdf-B-T-after": sign_pdf(blank, party, level="B-T", pki=pki, at=PKI_TIME),
            "pdf-before": sign_pdf(blank, party, pki=pki, at=PKI_TIME - 2 * DAY)}


@pytest.mark.parametrize("name", ["cms-after", "pdf-after", "pdf-B-T-after"])
def test_signing_after_expiry_is_failed_expired(
        pki: DevPki, expired_signed: dict[str, bytes], roots: list[bytes], name: str) -> None:
    at = PKI_TIME + HOUR
    report = _validate(expired_signed[name], roots, at=at,
                       content=DATA if name.startswith("cms") else None,
                       **_revinfo(pki, at, "expired", "tsa"))
    assert report.verdict is Verdict.FAILED, report.summary()
    assert report.subindication == "EXPIRED"


def test_signed_before_expiry_without_proof_is_indeterminate(
        pki: DevPki, expired_signed: dict[str, bytes], roots: list[bytes]) -> None:
    at = PKI_TIME + HOUR
    report = _validate(expired_signed["pdf-before"], roots, at=at,
                       **_revinfo(pki, at, "expired"))
    assert report.verdict is Verdict.INDETERMINATE, report.summary()
    assert report.subindication == "OUT_OF_BOUNDS_NO_POE"


@pytest.fixture(scope="module")
def short_signed(pki: DevPki) -> dict[str, bytes]:
    """`short` signing at SHORT_SIGNED, a day before its certificate expires."""
    party, blank = pki.party("short"), blank_pdf(TEXT)
    signed = {"cms-ts": sign_cms(DATA, party, pki=pki, timestamp=True, at=SHORT_SIGNED),
              "cms": sign_cms(DATA, party, pki=pki, at=SHORT_SIGNED)}
    for level in LEVELS:
        signed[level] = sign_pdf(blank, party, level=level, pki=pki, at=SHORT_SIGNED)
    return signed


def test_timestamped_cms_outlives_the_signer_certificate(
        pki: DevPki, short_signed: dict[str, bytes], roots: list[bytes]) -> None:
    """Validated two days after `short` expired. The signature timestamp, made before the
    expiry, is itself the proof of existence ETSI asks for: PASSED with or without `poe`
    (the ledger's proof adds nothing here)."""
    extra = _revinfo(pki, SHORT_SIGNED, "short", "tsa")
    for poe in (None, SHORT_POE):
        report = _validate(short_signed["cms-ts"], roots, at=SHORT_LATER, content=DATA,
                           poe=poe, **extra)
        assert report.verdict is Verdict.PASSED, (poe, report.summary())
        assert report.timestamp_time == report.best_signature_time == SHORT_SIGNED
    # Without any revocation data for the path it cannot pass.
    bare = _validate(short_signed["cms-ts"], roots, at=SHORT_LATER, content=DATA)
    assert bare.verdict is Verdict.INDETERMINATE


def test_untimestamped_cms_after_expiry_needs_the_ledgers_proof_of_existence(
        pki: DevPki, short_signed: dict[str, bytes], roots: list[bytes]) -> None:
    """Past validation: with a POE before the expiry, the signature is validated as of the
    POE with the revocation data captured at signing, and passes."""
    extra = _revinfo(pki, SHORT_SIGNED, "short")
    without = _validate(short_signed["cms"], roots, at=SHORT_LATER, content=DATA, **extra)
    assert without.verdict is Verdict.INDETERMINATE, without.summary()
    assert without.subindication == "OUT_OF_BOUNDS_NO_POE"
    with_poe = _validate(short_signed["cms"], roots, at=SHORT_LATER, content=DATA,
                         poe=SHORT_POE, **extra)
    assert with_poe.verdict is Verdict.PASSED, with_poe.summary()
    assert with_poe.best_signature_time == SHORT_POE
    # A POE after the expiry proves nothing useful.
    late = _validate(short_signed["cms"], roots, at=SHORT_LATER, content=DATA,
                     poe=SHORT_LATER - HOUR, **extra)
    assert late.verdict is Verdict.INDETERMINATE, late.summary()


@pytest.mark.parametrize("signature", ["pdf", "cms"])
def test_a_proof_of_existence_with_the_data_of_its_time(
        pki: DevPki, pdfs: dict[str, bytes], cms_sig: bytes, roots: list[bytes],
        signature: str) -> None:
    """An untimestamped, valid signature with the ledger's proof of existence stays PASSED,
    and the proof becomes its best signature time."""
    poe = SIGNED_AT + timedelta(minutes=1)
    signed, content = (pdfs["B-B"], None) if signature == "pdf" else (cms_sig, DATA)
    report = _validate(signed, roots, content=content, poe=poe,
                       **_revinfo(pki, SIGNED_AT, "individual"))
    assert report.verdict is Verdict.PASSED, report.summary()
    assert report.best_signature_time == poe
    # A proof dated after the validation time proves nothing more than the validation time.
    later = _validate(signed, roots, content=content, poe=AT + DAY,
                      **_revinfo(pki, AT, "individual"))
    assert later.verdict is Verdict.PASSED, later.summary()
    assert later.best_signature_time == AT
    # Validation as of the POE hears revocation data issued after it too (retroactive): a
    # "good" published later still vouches for the time of the POE.
    fresh = _revinfo(pki, AT, "individual")
    assert _validate(signed, roots, content=content, **fresh).verdict is Verdict.PASSED
    later_data = _validate(signed, roots, content=content, poe=poe, **fresh)
    assert later_data.verdict is Verdict.PASSED, later_data.summary()


@pytest.mark.parametrize("level", ["B-T", "B-LT", "B-LTA"])
@pytest.mark.parametrize("at", [SHORT_SIGNED + HOUR, SHORT_LATER], ids=["valid", "expired"])
def test_timestamped_pades_by_a_short_lived_signer(
        pki: DevPki, short_signed: dict[str, bytes], roots: list[bytes], level: str,
        at: datetime) -> None:
    """B-T (revocation data from signing time given), B-LT and B-LTA (their own DSS), before
    and after `short` expired: PASSED, proven to exist at the signature timestamp.

    For B-LTA, pyHanko's LTA validation runs past signature validation even after a PASSED
    validation with time, starting from the wall clock (not the validation time), and lets
    its failure replace the PASSED; verifiers.signature keeps the validation-with-time
    verdict then (see test_pyhanko_cli_b_lta_past_validation_follows_the_wall_clock)."""
    extra = _revinfo(pki, SHORT_SIGNED, "short", "tsa") if level == "B-T" else {}
    report = _validate(short_signed[level], roots, at=at, **extra)
    assert report.verdict is Verdict.PASSED, report.summary()
    assert report.timestamp_time == report.best_signature_time == SHORT_SIGNED


def test_b_b_by_a_short_lived_signer_after_expiry_needs_a_poe(
        pki: DevPki, short_signed: dict[str, bytes], roots: list[bytes]) -> None:
    extra = _revinfo(pki, SHORT_SIGNED, "short")
    assert _validate(short_signed["B-B"], roots, at=SHORT_SIGNED + HOUR,
                     **extra).verdict is Verdict.PASSED
    report = _validate(short_signed["B-B"], roots, at=SHORT_LATER, **extra)
    assert report.verdict is Verdict.INDETERMINATE, report.summary()
    assert report.subindication == "OUT_OF_BOUNDS_NO_POE"
    # The ledger's proof of existence from before the expiry: validated as of it, PASSED.
    proven = _validate(short_signed["B-B"], roots, at=SHORT_LATER, poe=SHORT_POE, **extra)
    assert proven.verdict is Verdict.PASSED, proven.summary()
    assert proven.best_signature_time == SHORT_POE


# -- 6. Robustness ---------------------------------------------------------------------------


def _outcome(call: Callable[[], Any]) -> str:
    """What a call gave: a report's verdict, a bool, or 'malformed'; anything else fails."""
    try:
        result = call()
    except MalformedError:
        return "malformed"
    if isinstance(result, SignatureReport):
        return result.verdict.value
    assert isinstance(result, bool), result
    return str(result)


@pytest.mark.parametrize("fraction", [0.0, 0.001, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999])
def test_truncated_signatures_are_malformed_or_judged(
        pdfs: dict[str, bytes], cms_sig: bytes, roots: list[bytes], fraction: float) -> None:
    for level in ("B-B", "B-LTA"):
        pdf = pdfs[level]
        cut = pdf[:int(len(pdf) * fraction)]
        outcome = _outcome(lambda cut=cut: validate_signature(cut, trust_roots=roots, at=AT))
        # Cut inside the document timestamp's revision, a B-LTA PDF still holds its whole
        # signed revision and its DSS (pyHanko's lenient reader finds them): it may pass.
        whole = len(cut) >= _signed_ranges(pdf)[1][1]
        assert outcome in ("malformed", "FAILED", "INDETERMINATE", *(["PASSED"] * whole)), (
            level, len(cut), outcome)
    cut = cms_sig[:int(len(cms_sig) * fraction)]
    assert _outcome(lambda: validate_signature(cut, trust_roots=roots, at=AT,
                                               content=DATA)) == "malformed"
    assert _outcome(lambda: cms_covers(cut, DATA)) == "malformed"


@settings(max_examples=60, deadline=None)
@given(blob=st.binary(max_size=600), prefix=st.sampled_from([b"", b"%PDF-1.7\n", b"0\x82"]))
def test_random_bytes_are_malformed_or_judged(roots: list[bytes], blob: bytes,
                                              prefix: bytes) -> None:
    signature = prefix + blob
    assert _outcome(lambda: validate_signature(signature, trust_roots=roots, at=AT,
                                               content=None if prefix[:1] == b"%" else DATA)
                    ) in ("malformed", "FAILED", "INDETERMINATE")
    assert _outcome(lambda: cms_covers(signature, DATA)) in ("malformed", "False")


@settings(max_examples=40, deadline=None)
@given(offset=st.integers(min_value=0), mask=st.integers(min_value=1, max_value=255))
def test_a_changed_cms_byte_never_passes_over_other_content(
        cms_sig: bytes, roots: list[bytes], offset: int, mask: int) -> None:
    """A byte of the CMS changed: whatever it hits, never a builtin exception, and never
    PASSED unless the byte was one the signature does not protect (its certificate set is
    unsigned, so a flip there can at most lose the chain)."""
    tampered = _flip(cms_sig, offset % len(cms_sig), mask)
    assert _outcome(lambda: validate_signature(tampered, trust_roots=roots, at=AT,
                                               content=DATA, revocation="soft")) in (
        "malformed", "FAILED", "INDETERMINATE", "PASSED")
    assert _outcome(lambda: validate_signature(tampered, trust_roots=roots, at=AT,
                                               content=_flip(DATA, 0), revocation="soft")) in (
        "malformed", "FAILED", "INDETERMINATE")


def _with_content(detached: bytes) -> bytes:
    """The same signature with DATA embedded (an attached CMS)."""
    info = cms.ContentInfo.load(detached)
    signed = info["content"]
    signed["encap_content_info"] = cms.ContentInfo({"content_type": "data", "content": DATA})
    return bytes(cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump())


def _two_signers(detached: bytes) -> bytes:
    info = cms.ContentInfo.load(detached)
    signed = info["content"]
    signer = signed["signer_infos"][0]
    signed["signer_infos"] = cms.SignerInfos([signer, signer])
    return bytes(cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump())


def test_cms_shapes_we_do_not_validate_are_refused(cms_sig: bytes, roots: list[bytes]) -> None:
    attached = _with_content(cms_sig)
    with pytest.raises(SignatureInputError, match="not detached"):
        validate_signature(attached, trust_roots=roots, at=AT, content=DATA)
    with pytest.raises(SignatureInputError, match="not detached"):
        cms_covers(attached, DATA)
    with pytest.raises(SignatureInputError, match="exactly one signer"):
        validate_signature(_two_signers(cms_sig), trust_roots=roots, at=AT, content=DATA)
    data_info = cms.ContentInfo({"content_type": "data", "content": DATA}).dump()
    with pytest.raises(SignatureInputError, match="not a CMS SignedData"):
        validate_signature(data_info, trust_roots=roots, at=AT, content=DATA)
    with pytest.raises(SignatureInputError, match="needs the content"):
        validate_signature(cms_sig, trust_roots=roots, at=AT)


_NAIVE = datetime(2026, 11, 21)
BAD_ARGUMENTS: dict[str, dict[str, Any]] = {
    "signature None": {"signature": None},
    "signature str": {"signature": "%PDF-1.7"},
    "roots None": {"trust_roots": None},
    "roots int": {"trust_roots": 5},
    "roots one DER": {"trust_roots": b"\x30\x03\x02\x01\x01"},
    "roots str": {"trust_roots": "NEAC"},
    "roots [None]": {"trust_roots": [None]},
    "roots [junk]": {"trust_roots": [b"not a certificate"]},
    "at None": {"at": None},
    "at str": {"at": "2026-11-21T00:10:00Z"},
    "at naive": {"at": _NAIVE},
    "poe str": {"poe": "yesterday"},
    "poe naive": {"poe": _NAIVE},
    "certs None": {"certs": None},
    "crls None": {"crls": None},
    "ocsps int": {"ocsps": 3},
    "crls [certificate]": {"crls": "ROOT"},
    "ocsps [junk]": {"ocsps": [b"\x30\x00"]},
    "certs [CRL]": {"certs": "CRL"},
    "tsa_roots int": {"tsa_roots": 1},
    "tsa_roots [str]": {"tsa_roots": ["x"]},
    "revocation unknown": {"revocation": "strict"},
    "revocation None": {"revocation": None},
    "content for a PDF": {"content": DATA},
}


@pytest.mark.parametrize("case", list(BAD_ARGUMENTS))
def test_wrong_arguments_are_malformed_errors(pki: DevPki, pdfs: dict[str, bytes],
                                              roots: list[bytes], case: str) -> None:
    arguments: dict[str, Any] = {"signature": pdfs["B-B"], "trust_roots": roots, "at": AT}
    arguments.update(BAD_ARGUMENTS[case])
    stand_ins = {"ROOT": [roots[0]], "CRL": [pki.crl("NEAC", AT)]}
    for key in ("crls", "certs"):
        if isinstance(arguments.get(key), str):
            arguments[key] = stand_ins[arguments[key]]
    signature = arguments.pop("signature")
    with pytest.raises(MalformedError):
        validate_signature(signature, **arguments)


def test_wrong_content_types_for_cms(cms_sig: bytes, roots: list[bytes]) -> None:
    with pytest.raises(MalformedError):
        validate_signature(cms_sig, trust_roots=roots, at=AT, content="text")  # type: ignore[arg-type]
    with pytest.raises(MalformedError):
        cms_covers("not bytes", DATA)  # type: ignore[arg-type]
    # Content that is not bytes is never covered (bool, not an exception).
    assert _outcome(lambda: cms_covers(cms_sig, "text")) in ("False", "malformed")  # type: ignore[arg-type]
    assert _outcome(lambda: cms_covers(cms_sig, None)) in ("False", "malformed")  # type: ignore[arg-type]


def test_a_corrupt_signing_time_in_the_pdf_is_not_a_crash(
        pdfs: dict[str, bytes], roots: list[bytes]) -> None:
    """The signature dictionary's /M is inside the signed bytes: a corrupt one is tampering
    (FAILED) or unreadable input (MalformedError), never pyHanko's PdfReadError."""
    pdf = pdfs["B-B"]
    start = pdf.index(b"/M (D")
    end = pdf.index(b")", start)
    for corrupt in (b"/M (D\\07220261321000000Z", b"/M (D\\07220261121000000Q",
                    b"/M <44>" + b" " * (end - start - 7)):
        corrupt = corrupt[:end - start].ljust(end - start, b" ")
        tampered = pdf[:start] + corrupt + pdf[end:]
        assert len(tampered) == len(pdf)
        assert _outcome(lambda t=tampered: validate_signature(
            t, trust_roots=roots, at=AT, revocation="soft")) in ("malformed", "FAILED")


# -- 7. Outside tools ------------------------------------------------------------------------


def _openssl() -> str:
    found = shutil.which("openssl")
    if found is None:
        message = "`openssl` is not on PATH: apt-get install -y openssl"
        if os.environ.get("CI") or os.environ.get("STELE_REQUIRE_OPENSSL") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return found


def _pyhanko() -> Path:
    found = Path(sys.executable).parent / "pyhanko"
    if not found.exists():
        pytest.skip("pyhanko-cli is not installed in this environment (pip install pyhanko-cli)")
    return found


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120)


def _openssl_verify(tool: str, pki: DevPki, signature: Path, content: Path, root: str,
                    at: datetime) -> subprocess.CompletedProcess[str]:
    # OpenSSL 3.0's `cms` has no -untrusted (it takes it for a cipher name): the chain goes in
    # with -certfile. -attime pins the chain check to our validation time.
    return _run(tool, "cms", "-verify", "-binary", "-inform", "DER", "-in", signature,
                "-content", content, "-CAfile", pki.directory / f"roots/{root}.pem",
                "-certfile", pki.directory / "chains/individual.pem", "-purpose", "any",
                "-attime", str(int(at.timestamp())), "-out", os.devnull)


def test_openssl_agrees_on_detached_cms(pki: DevPki, cms_sig: bytes, roots: list[bytes],
                                        tmp_path: Path) -> None:
    tool = _openssl()
    stamped = sign_cms(DATA, pki.party("individual"), pki=pki, timestamp=True, at=SIGNED_AT)
    changed = _flip(DATA, 7)
    (tmp_path / "data").write_bytes(DATA)
    (tmp_path / "changed").write_bytes(changed)
    extra = _revinfo(pki, AT, "individual", "tsa")
    for name, signature in (("plain.p7s", cms_sig), ("stamped.p7s", stamped)):
        path = tmp_path / name
        path.write_bytes(signature)
        accepted = _openssl_verify(tool, pki, path, tmp_path / "data", "NEAC", AT)
        assert accepted.returncode == 0, accepted.stderr
        assert "Verification successful" in accepted.stderr
        rejected = _openssl_verify(tool, pki, path, tmp_path / "changed", "NEAC", AT)
        assert rejected.returncode != 0 and "content verify error" in rejected.stderr
        untrusted = _openssl_verify(tool, pki, path, tmp_path / "data", "BCY", AT)
        assert untrusted.returncode != 0, untrusted.stderr
    # Our verdicts on the same files (the timestamped one is slow to parse: once is enough).
    assert _validate(stamped, roots, content=DATA, **extra).verdict is Verdict.PASSED
    assert _validate(cms_sig, roots, content=DATA, **extra).verdict is Verdict.PASSED
    assert _validate(cms_sig, roots, content=changed, **extra).subindication == "HASH_FAILURE"
    assert _validate(cms_sig, [roots[1]], content=DATA,
                     **extra).subindication == "NO_CERTIFICATE_CHAIN_FOUND"


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat()


def _pyhanko_validate(pki: DevPki, pdf: Path, at: datetime, *roots: str,
                      command: str = "validate") -> subprocess.CompletedProcess[str]:
    trust = [a for root in roots for a in ("--trust", str(pki.directory / f"roots/{root}.pem"))]
    return _run(_pyhanko(), "--no-plugins", "sign", command, *trust, "--trust-replace",
                "--validation-time", _iso(at), pdf)


def test_pyhanko_cli_agrees_on_our_pdfs(
        pki: DevPki, pdfs: dict[str, bytes], signed_pdf: bytes, updated: dict[str, bytes],
        roots: list[bytes], tmp_path: Path) -> None:
    """`pyhanko sign validate --validation-time T`: exit 0 for what we pass, non-zero for
    what we fail. With --validation-time the CLI turns revocation checking off (its --help
    says so) and does not read the DSS: B-LT and B-B are judged alike, on the chain alone;
    our revocation verdicts are checked against `adesverify` below."""
    _pyhanko()
    cases: dict[str, tuple[bytes, tuple[str, ...], bool]] = {
        **{level: (pdfs[level], ("NEAC", "BCY"), True) for level in LEVELS},  # BCY: the TSA
        "two": (signed_pdf, ("NEAC", "BCY"), True),
        "flipped": (_flip(pdfs["B-B"], pdfs["B-B"].index(b"QUYET DINH so 7")), ("NEAC",),
                    False),
        "page-content": (updated["page-content"], ("NEAC",), False),
        "wrong-root": (pdfs["B-B"], ("BCY",), False),
    }
    for name, (pdf, _trusted, _ok) in cases.items():
        (tmp_path / f"{name}.pdf").write_bytes(pdf)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(zip(cases, pool.map(
            lambda name: _pyhanko_validate(pki, tmp_path / f"{name}.pdf", AT, *cases[name][1]),
            cases), strict=True))
    extra = _revinfo(pki, AT, "individual", "agency", "tsa")
    for name, (pdf, trusted, ok) in cases.items():
        result = results[name]
        assert (result.returncode == 0) == ok, (name, result.stdout, result.stderr)
        fields = ["Individual", "Agency"] if name == "two" else ["Signature1"]
        for field in fields:
            ours = _validate(pdf, [r for r, n in zip(roots, ("NEAC", "BCY"), strict=True)
                                   if n in trusted], field=field, **extra)
            assert ours.passed == ok, (name, field, ours.summary())
            if ok:
                assert f"{field}:" in result.stdout and ":INTACT:TRUSTED" in result.stdout
    assert ":INVALID" in results["flipped"].stdout
    assert "ILLEGAL_MODIFICATIONS" in results["page-content"].stdout
    assert ":INTACT:UNTRUSTED" in results["wrong-root"].stdout


def test_pyhanko_adesverify_agrees_on_revocation_data(
        pki: DevPki, pdfs: dict[str, bytes], roots: list[bytes], tmp_path: Path) -> None:
    """`adesverify` checks revocation from the DSS only (nothing is given to it otherwise):
    B-LT and B-LTA pass, B-B and B-T do not, as our verdicts without extra revocation data."""
    _pyhanko()
    for level in LEVELS:
        path = tmp_path / f"{level}.pdf"
        path.write_bytes(pdfs[level])
        result = _pyhanko_validate(pki, path, AT, "NEAC", "BCY", command="adesverify")
        ours = _validate(pdfs[level], roots)
        assert (result.returncode == 0) == ours.passed, (level, result.stdout, ours.summary())
        assert ours.passed == (level in ("B-LT", "B-LTA")), ours.summary()


def test_pyhanko_cli_b_lta_past_validation_follows_the_wall_clock(
        pki: DevPki, short_signed: dict[str, bytes], roots: list[bytes],
        tmp_path: Path) -> None:
    """`adesverify` accepts the B-LT and B-LTA PDFs of `short` at a time when `short` was
    valid, as we do. Its log shows why verifiers.signature needs its B-LTA workaround: the
    LTA path's past signature validation slides from the wall clock, to a control time after
    the validation time (and after `short` expired), and fails there ("end-entity certificate
    expired"); the CLI's exit code follows pyHanko's older status API, which ignores that,
    but the AdES indication of ades_lta_validation does not. If the log stops showing this,
    pyHanko has fixed it and the workaround can go."""
    _pyhanko()
    if datetime.now(UTC) <= pki.party("short").cert.not_valid_after_utc:
        pytest.skip("the wall clock is before `short` expired; nothing to show")
    at = SHORT_SIGNED + HOUR
    for level in ("B-LT", "B-LTA"):
        path = tmp_path / f"{level}.pdf"
        path.write_bytes(short_signed[level])
        result = _pyhanko_validate(pki, path, at, "NEAC", "BCY", command="adesverify")
        assert result.returncode == 0, (level, result.stdout, result.stderr)
        assert ":INTACT:TRUSTED" in result.stdout
        assert _validate(short_signed[level], roots, at=at).passed, level
        log = result.stdout + result.stderr
        slid = re.findall(r"AdES time slide yields (\S+ \S+) as the control time", log)
        if level == "B-LTA":
            assert slid, log
            assert all(datetime.fromisoformat(t) > at for t in slid), slid
            assert "end-entity certificate expired" in log
        else:
            assert not slid, log  # no document timestamp: no past validation
