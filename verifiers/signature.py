"""Document signatures (PAdES and detached CMS), validated with pyHanko as ETSI EN 319 102-1
prescribes, against trust roots the caller chooses, with only the validation data it is given.

One entry point, `validate_signature`, serves both moments that matter:
- at signing (the ledger's `sign` action): validation time now, revocation data supplied with
  the request or embedded in the PDF's DSS, nothing fetched;
- years later (the offline verifier): with the ledger's proof of existence `poe` (the time a
  timestamped checkpoint proved the signature existed), the signature is validated as of that
  time, point-in-time, with the validation data captured at signing; the POE is also given to
  pyHanko as a known POE of the signature value. So an expiry or a revocation after the POE
  no longer matters; one before it still does.

Nothing is fetched from the network, ever: the kernel must give the same answer offline.
The verdict has three values; "expired after signing" or "revocation unknown" are
INDETERMINATE with their ETSI sub-indication, never FAILED.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from asn1crypto import cms, crl, ocsp, x509
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate, AdESPassed
from pyhanko.sign.general import find_unique_cms_attribute
from pyhanko.sign.validation.ades import (
    AdESBasicValidationResult,
    ades_basic_validation,
    ades_lta_validation,
    ades_with_time_validation,
)
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko.sign.validation.generic_cms import extract_tst_data_iter
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.policy_decl import (
    LocalKnowledge,
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko.sign.validation.status import ModificationInfo, SignatureCoverageLevel
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.ltv.poe import KnownPOE, POEType, digest_for_poe
from pyhanko_certvalidator.ltv.types import ValidationTimingInfo
from pyhanko_certvalidator.policy_decl import (
    CertRevTrustPolicy,
    RevocationCheckingPolicy,
    RevocationCheckingRule,
)
from pyhanko_certvalidator.registry import SimpleTrustManager
from pyhanko_certvalidator.revinfo.archival import CRLContainer, OCSPContainer

from verifiers.canonical import utc_iso
from verifiers.certs import fingerprint
from verifiers.digest import digest_of
from verifiers.errors import MalformedError, guard_parse, require_bytes
from verifiers.report import Verdict
from verifiers.timestamp import run_sync

Revocation = Literal["require", "soft"]
FORMATS = ("pades", "cms")

# pyHanko logs a warning for every PDF without document timestamps; that is not news here.
for _name in ("pyhanko.sign.validation.ades", "pyhanko.sign.validation.generic_cms"):
    logging.getLogger(_name).setLevel(logging.ERROR)


class SignatureInputError(MalformedError):
    """A signature that cannot be validated at all (not a PDF or CMS, no such field, detached
    CMS without its content)."""

    code = "signature_malformed"


@dataclass(frozen=True)
class SignatureReport:
    """The result of validating one signature, and everything it rested on."""

    format: str  # "pades" | "cms"
    field: str | None  # the PDF signature field
    verdict: Verdict
    subindication: str | None  # ETSI EN 319 102-1 sub-indication, None when PASSED
    message: str | None
    signed_digest: str  # sha-256 of the signed file (PAdES) or of the detached content (CMS)
    signer: bytes  # DER of the signer's certificate
    chain: tuple[bytes, ...]  # DER of the validated path above the signer, the anchor last
    anchor: bytes | None  # DER of the trust root the path ends at (None: no path found)
    signing_time: datetime | None  # as claimed by the signer (signingTime / PDF /M)
    timestamp_time: datetime | None  # the signature timestamp's genTime, if it has one
    best_signature_time: datetime  # ETSI: the earliest time the signature is proven to exist
    validated_at: datetime
    certificates: tuple[bytes, ...] = ()  # every certificate that was available
    crls: tuple[bytes, ...] = dataclasses.field(default=(), repr=False)  # every CRL available
    ocsps: tuple[bytes, ...] = dataclasses.field(default=(), repr=False)  # and OCSP response

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.PASSED

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary (fingerprints, not certificates)."""
        def when(t: datetime | None) -> str | None:
            return None if t is None else utc_iso(t)
        return {
            "format": self.format, "field": self.field, "verdict": self.verdict.value,
            "subindication": self.subindication, "message": self.message,
            "signed_digest": self.signed_digest, "signer": fingerprint(self.signer),
            "chain": [fingerprint(c) for c in self.chain],
            "anchor": None if self.anchor is None else fingerprint(self.anchor),
            "signing_time": when(self.signing_time), "timestamp_time": when(self.timestamp_time),
            "best_signature_time": when(self.best_signature_time),
            "validated_at": when(self.validated_at),
        }



def detect_format(signature: bytes) -> str:
    return "pades" if signature.lstrip()[:5] == b"%PDF-" else "cms"


def validate_signature(
    signature: bytes,
    *,
    trust_roots: Sequence[bytes],
    at: datetime,
    content: bytes | None = None,
    field: str | None = None,
    certs: Sequence[bytes] = (),
    crls: Sequence[bytes] = (),
    ocsps: Sequence[bytes] = (),
    poe: datetime | None = None,
    revocation: Revocation = "require",
    tsa_roots: Sequence[bytes] | None = None,
) -> SignatureReport:
    """Validate a signed PDF (`signature` is the PDF; `field` names the signature, needed
    when there are several) or a detached CMS signature over `content`, at time `at`.

    `trust_roots` are DER certificates: the only roots trusted (never the bundle's, never the
    system's). `certs`, `crls` and `ocsps` are extra validation data (DER); a PDF's DSS and a
    CMS's own certificates are used too. `poe`: a time at which the signature is proven to
    have existed. With `revocation="require"`, every certificate of the path but the root
    needs a CRL or OCSP answer, or the verdict is INDETERMINATE. `tsa_roots`: the roots
    trusted for signature and document timestamps (default: `trust_roots`); their TSAs'
    revocation is checked where declared and found, as for the log's own anchoring.
    """
    signature = require_bytes(signature, "signature")
    if not isinstance(at, datetime) or at.utcoffset() is None:
        raise MalformedError("at must be an aware datetime", at=repr(at))
    if poe is not None and (not isinstance(poe, datetime) or poe.utcoffset() is None):
        raise MalformedError("poe must be an aware datetime", poe=repr(poe))
    if revocation not in ("require", "soft"):
        raise MalformedError("revocation must be 'require' or 'soft'", revocation=repr(revocation))
    trust_roots, certs = _ders(trust_roots, "trust_roots"), _ders(certs, "certs")
    crls, ocsps = _ders(crls, "crls"), _ders(ocsps, "ocsps")
    if tsa_roots is not None:
        tsa_roots = _ders(tsa_roots, "tsa_roots")
    knowledge = LocalKnowledge(
        known_certs=[guard_parse("certificate", _load, x509.Certificate, c) for c in certs],
        known_crls=[CRLContainer(guard_parse("CRL", _load, crl.CertificateList, c))
                    for c in crls],
        known_ocsps=[OCSPContainer(guard_parse("OCSP response", _load, ocsp.OCSPResponse, o))
                     for o in ocsps],
    )
    roots = _Roots([guard_parse("trust root", _load, x509.Certificate, r) for r in trust_roots],
                   [guard_parse("TSA root", _load, x509.Certificate, r)
                    for r in (trust_roots if tsa_roots is None else tsa_roots)])
    if detect_format(signature) == "pades":
        if content is not None:
            raise SignatureInputError("a signed PDF carries its own content; give no content")
        return _pades(signature, field, roots, at, knowledge, poe, revocation)
    if content is None:
        raise SignatureInputError("a detached CMS signature needs the content it signs")
    return _cms(signature, require_bytes(content, "content"), roots, at, knowledge, poe,
                revocation)


def _ders(value: object, what: str) -> list[Any]:
    """A list or tuple of DER values (each is checked when it is parsed)."""
    if not isinstance(value, Sequence) or isinstance(value, str | bytes | bytearray | memoryview):
        raise MalformedError(f"{what} must be a list of DER byte strings",
                             type=type(value).__name__)
    return list(value)


def _load(kind: Any, der: bytes) -> Any:
    value = kind.load(require_bytes(der, kind.__name__), strict=True)
    value.native  # noqa: B018  (parse it all now, so bad input fails here)
    return value


@dataclass(frozen=True)
class _Roots:
    signing: list[x509.Certificate]
    timestamping: list[x509.Certificate]


def _policy(roots: list[x509.Certificate], rule: RevocationCheckingRule,
            retroactive: bool) -> CertValidationPolicySpec:
    return CertValidationPolicySpec(
        trust_manager=SimpleTrustManager.build(trust_roots=roots),  # a list: never the OS's
        revinfo_policy=CertRevTrustPolicy(RevocationCheckingPolicy(rule, rule),
                                          retroactive_revinfo=retroactive),
    )


def _spec(roots: _Roots, knowledge: LocalKnowledge, revocation: Revocation,
          poe: datetime | None = None) -> SignatureValidationSpec:
    """With a POE the validation is in the past, and revocation data issued after it counts
    too (pyHanko's `retroactive_revinfo`): a CRL published later that dates a revocation
    before the POE must be heard; one dating it after the POE changes nothing."""
    rule = (RevocationCheckingRule.CRL_OR_OCSP_REQUIRED if revocation == "require"
            else RevocationCheckingRule.CHECK_IF_DECLARED_SOFT)
    retroactive = poe is not None
    return SignatureValidationSpec(
        cert_validation_policy=_policy(roots.signing, rule, retroactive),
        ts_cert_validation_policy=_policy(roots.timestamping,
                                          RevocationCheckingRule.CHECK_IF_DECLARED_SOFT,
                                          retroactive),
        revinfo_gathering_policy=RevocationInfoGatheringSpec(
            online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY),
        local_knowledge=knowledge,
    )


def _timing(at: datetime, poe: datetime | None) -> ValidationTimingInfo:
    """Without a proof of existence, validate at `at`. With one, validate as of the POE
    (point-in-time, ETSI past validation): the question is whether the signature was good
    when it was proven to exist; the evidence record that proves the POE is checked up to
    `at` by the caller (verifiers.evidence)."""
    when = at if poe is None else min(at, poe)
    return ValidationTimingInfo(validation_time=when, best_signature_time=when,
                                point_in_time_validation=poe is not None)


def _with_poe(knowledge: LocalKnowledge, signer_info: cms.SignerInfo,
              poe: datetime | None) -> LocalKnowledge:
    if poe is None:
        return knowledge
    value = signer_info["signature"].native
    known = KnownPOE(POEType.PROVIDED, digest_for_poe(value), poe)
    return LocalKnowledge(known_certs=knowledge.known_certs, known_crls=knowledge.known_crls,
                          known_ocsps=knowledge.known_ocsps,
                          known_poes=[*knowledge.known_poes, known])


# -- PAdES -------------------------------------------------------------------------------------
def _pades(pdf: bytes, field: str | None, roots: _Roots, at: datetime,
           knowledge: LocalKnowledge, poe: datetime | None,
           revocation: Revocation) -> SignatureReport:
    reader = guard_parse("PDF", _pdf_reader, pdf)
    signatures = guard_parse("PDF signatures", lambda: list(reader.embedded_regular_signatures))
    if not signatures:
        raise SignatureInputError("the PDF holds no signature")
    names = [s.field_name for s in signatures]
    if field is None:
        if len(signatures) > 1:
            raise SignatureInputError("the PDF holds several signatures; name the field",
                                      fields=names)
        embedded = signatures[0]
    else:
        found = [s for s in signatures if s.field_name == field]
        if not found:
            raise SignatureInputError("no signature field of that name", field=field,
                                      fields=names)
        embedded = found[0]
    dss = guard_parse("PDF DSS", _dss, reader)
    knowledge = _with_poe(_merge(knowledge, *dss), embedded.signer_info, poe)
    timing = _timing(at, poe)
    later_doc_timestamps = [t for t in reader.embedded_timestamp_signatures
                            if t.signed_revision > embedded.signed_revision]

    # Everything that reads the PDF or the CMS runs inside guard_parse, the arguments too:
    # a damaged byte range or SignedData fails there as MalformedError.
    def with_time() -> Any:
        return guard_parse("PAdES validation", lambda: run_sync(_with_or_without_time(
            embedded.signed_data, _spec(roots, knowledge, revocation, poe), timing,
            raw_digest=embedded.compute_digest())))

    result: Any
    if later_doc_timestamps:  # B-LTA: the document timestamps are the evidence record
        spec = PdfSignatureValidationSpec(_spec(roots, knowledge, revocation, poe))
        result = guard_parse("PAdES validation",
                             lambda: run_sync(ades_lta_validation(embedded, spec, timing)))
        if isinstance(result.ades_subindic, AdESIndeterminate):
            # pyHanko's LTA validation runs past signature validation even after its
            # validation with time PASSED, from the wall clock rather than `timing`, and lets
            # its failure replace the PASSED (a B-LTA signature whose certificate has expired
            # by the wall clock is INDETERMINATE at any validation time). ETSI EN 319 102-1
            # §5.6.3 only uses past validation to improve an INDETERMINATE: keep the
            # validation with time when that passes.
            alone = with_time()
            if isinstance(alone.ades_subindic, AdESPassed):
                result = alone
    else:
        result = with_time()
    claimed = guard_parse("PDF signing time (/M)", lambda: embedded.self_reported_timestamp)
    report = _report("pades", embedded.field_name, result, embedded.signed_data,
                     digest_of(pdf), at, knowledge, claimed, poe)
    modified = guard_parse("PDF modification analysis", _modification, embedded)
    if modified is not None and report.verdict is not Verdict.FAILED:
        return dataclasses.replace(report, verdict=Verdict.FAILED,
                                   subindication="FORMAT_FAILURE", message=modified)
    return report


def _modification(embedded: EmbeddedPdfSignature) -> str | None:
    """Why the PDF was changed after this signature in a way the signature does not allow
    (pyHanko's coverage and diff analysis); None if it was not."""
    embedded.compute_integrity_info()  # type: ignore[no-untyped-call]
    info = ModificationInfo(**embedded.summarise_integrity_info())
    if info.coverage is None or info.coverage < SignatureCoverageLevel.ENTIRE_REVISION:
        return f"the signature does not cover its whole revision ({info.coverage})"
    if not (info.docmdp_ok or info.modification_level is None):
        return ("the PDF was modified after signing beyond what the signature permits "
                f"({info.modification_level})")
    return None


def _with_or_without_time(signed_data: cms.SignedData, spec: SignatureValidationSpec,
                          timing: ValidationTimingInfo, **kwargs: Any) -> Any:
    """ETSI EN 319 102-1 §5.5 (validation with time) when the signature carries a signature
    timestamp; else §5.3 (basic, at the validation time)."""
    signer_info = signed_data["signer_infos"][0]
    has_timestamp = any(True for _ in extract_tst_data_iter(signer_info, signed=False))
    if has_timestamp:
        return ades_with_time_validation(signed_data, spec, timing_info=timing, **kwargs)
    return ades_basic_validation(signed_data, spec, timing_info=timing, **kwargs)


def _merge(knowledge: LocalKnowledge, certs: list[bytes], crls: list[bytes],
           ocsps: list[bytes]) -> LocalKnowledge:
    return LocalKnowledge(
        known_certs=[*knowledge.known_certs, *(x509.Certificate.load(c) for c in certs)],
        known_crls=[*knowledge.known_crls,
                    *(CRLContainer(crl.CertificateList.load(c)) for c in crls)],
        known_ocsps=[*knowledge.known_ocsps,
                     *(OCSPContainer(ocsp.OCSPResponse.load(o)) for o in ocsps)],
        known_poes=knowledge.known_poes)


def _pdf_reader(pdf: bytes) -> PdfFileReader:
    return PdfFileReader(io.BytesIO(pdf), strict=False)


def _dss(reader: PdfFileReader) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """Certificates, CRLs and OCSP responses in the PDF's document security store."""
    try:
        store = DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:  # a B-B or B-T PDF
        return [], [], []
    certs = [c.dump() for c in store.load_certs()]
    crls = [ref.get_object().read_data(DecodePurpose.CRL) for ref in store.crls]
    ocsps = [ref.get_object().read_data(DecodePurpose.OCSP_RESPONSE) for ref in store.ocsps]
    return certs, crls, ocsps


# -- detached CMS ------------------------------------------------------------------------------
def _cms(der: bytes, content: bytes, roots: _Roots, at: datetime,
         knowledge: LocalKnowledge, poe: datetime | None,
         revocation: Revocation) -> SignatureReport:
    signed_data = guard_parse("CMS signature", _signed_data, der)
    # The SignedData is parsed lazily: a damaged part raises where it is first read, so
    # everything that reads it is guarded.
    return guard_parse("CMS signature", _cms_validated, signed_data, content, roots, at,
                       knowledge, poe, revocation)


def _cms_validated(signed_data: cms.SignedData, content: bytes, roots: _Roots, at: datetime,
                   knowledge: LocalKnowledge, poe: datetime | None,
                   revocation: Revocation) -> SignatureReport:
    signer_info = signed_data["signer_infos"][0]
    algorithm = signer_info["digest_algorithm"]["algorithm"].native
    try:
        digest = hashlib.new(algorithm, content).digest()
    except ValueError:
        raise SignatureInputError("unsupported digest algorithm", algorithm=algorithm) from None
    knowledge = _with_poe(knowledge, signer_info, poe)
    result = guard_parse("CMS validation", lambda: run_sync(_with_or_without_time(
        signed_data, _spec(roots, knowledge, revocation, poe), _timing(at, poe),
        raw_digest=digest)))
    return _report("cms", None, result, signed_data,
                   digest_of(content), at, knowledge, poe=poe)


def cms_covers(signature: bytes, content: bytes) -> bool:
    """Whether a detached CMS signature's messageDigest is the digest of `content` (the
    question "is this a signature over that document at all", before any validation)."""
    signed_data = guard_parse("CMS signature", _signed_data, require_bytes(signature, "signature"))
    signer_info, algorithm = guard_parse("CMS signature", _signer_and_digest, signed_data)
    try:
        expected = find_unique_cms_attribute(signer_info["signed_attrs"], "message_digest").native
        return bool(hashlib.new(algorithm, content).digest() == expected)
    except Exception:  # no signed attributes, or an unknown digest: not a match we can see
        return False


def _signer_and_digest(signed_data: cms.SignedData) -> tuple[cms.SignerInfo, str]:
    signer_info = signed_data["signer_infos"][0]
    return signer_info, signer_info["digest_algorithm"]["algorithm"].native


def _signed_data(der: bytes) -> cms.SignedData:
    info = cms.ContentInfo.load(der, strict=True)
    if info["content_type"].native != "signed_data":
        raise SignatureInputError("not a CMS SignedData", content_type=info["content_type"].native)
    signed: cms.SignedData = info["content"]
    if signed["encap_content_info"]["content"].native is not None:
        raise SignatureInputError("the CMS signature is not detached (it embeds its content)")
    if len(signed["signer_infos"]) != 1:
        raise SignatureInputError("expected exactly one signer",
                                  signers=len(signed["signer_infos"]))
    return signed  # parsed lazily: pyHanko's errors on damaged parts are guarded where used


# -- the report --------------------------------------------------------------------------------
def _report(fmt: str, field_name: str | None, result: AdESBasicValidationResult[Any],
            signed_data: cms.SignedData, signed_digest: str, at: datetime,
            knowledge: LocalKnowledge, claimed_time: datetime | None = None,
            poe: datetime | None = None) -> SignatureReport:
    status = result.api_status
    indic = result.ades_subindic
    if isinstance(indic, AdESPassed):
        verdict, sub = Verdict.PASSED, None
    elif isinstance(indic, AdESFailure):
        verdict, sub = Verdict.FAILED, indic.name
    else:
        assert isinstance(indic, AdESIndeterminate)
        verdict, sub = Verdict.INDETERMINATE, indic.name
    signer_info = signed_data["signer_infos"][0]
    embedded_certs = [c.chosen for c in signed_data["certificates"] or []
                      if isinstance(c.chosen, x509.Certificate)]
    signer = status.signing_cert if status is not None else _signer_cert(signer_info,
                                                                         embedded_certs)
    path = getattr(status, "validation_path", None)
    chain: tuple[bytes, ...] = ()
    anchor = None
    if path is not None:
        certs = list(path.iter_certs(include_root=True))
        chain = tuple(c.dump() for c in certs[::-1][1:])  # above the signer, root last
        root = path.trust_anchor
        anchor_cert = getattr(root, "certificate", None)
        anchor = anchor_cert.dump() if anchor_cert is not None else None
    ts_time = None
    ts_status = getattr(status, "timestamp_validity", None)
    if ts_status is not None:
        ts_time = ts_status.timestamp
    certs_all = _unique([c.dump() for c in embedded_certs]
                        + [c.dump() for c in knowledge.known_certs])
    crls_all = _unique([c.crl_data.dump() for c in knowledge.known_crls])
    ocsps_all = _unique([o.ocsp_response_data.dump() for o in knowledge.known_ocsps])
    claimed = claimed_time or _claimed_time(signer_info)
    # ETSI: best-signature-time starts at the validation time (`at`, or the POE) and only
    # moves earlier. pyHanko's basic validation has none, and its validation with time
    # reports its POE manager's default, the wall clock, when it stops early.
    start = at if poe is None else min(at, poe)
    best = min(getattr(result, "best_signature_time", None) or start, start)
    message = result.failure_msg
    if signer is not None:
        revoked = getattr(getattr(status, "revocation_details", None), "revocation_date", None)
        verdict, sub, message = _table5(verdict, sub, message, signer, claimed, best, revoked)
    return SignatureReport(
        format=fmt, field=None if field_name is None else str(field_name), verdict=verdict,
        subindication=sub,
        message=message, signed_digest=signed_digest,
        signer=signer.dump() if signer is not None else b"", chain=chain, anchor=anchor,
        signing_time=claimed, timestamp_time=ts_time, best_signature_time=best,
        validated_at=at, certificates=tuple(certs_all), crls=tuple(crls_all),
        ocsps=tuple(ocsps_all),
    )


def _table5(verdict: Verdict, sub: str | None, message: str | None, signer: x509.Certificate,
            claimed: datetime | None, best: datetime,
            revoked: datetime | None) -> tuple[Verdict, str | None, str | None]:
    """ETSI EN 319 102-1 Table 5, where pyHanko stops short of it.

    - TOTAL-FAILED REVOKED / EXPIRED / NOT_YET_VALID need proof that the signature was made
      after revocation, after expiry, or before issuance. We take the signer's own claimed
      signing time (a signed attribute, or the PDF's /M) as that proof: if the key holder
      states, under its signature, a time when its certificate was not good, the signature
      is unacceptable whether the claim is true or false.
    - A signature proven to exist only after its certificate expired is not PASSED
      (pyHanko's validation with time lets a signature timestamp made after the signer's
      expiry through): INDETERMINATE OUT_OF_BOUNDS_NO_POE.
    """
    if verdict is Verdict.FAILED:
        return verdict, sub, message
    not_before, not_after = signer.not_valid_before, signer.not_valid_after
    if claimed is not None:
        if revoked is not None and claimed >= revoked:
            return (Verdict.FAILED, "REVOKED",
                    f"the signer states it signed at {utc_iso(claimed)}, after its certificate "
                    f"was revoked at {utc_iso(revoked)}")
        if claimed > not_after:
            return (Verdict.FAILED, "EXPIRED",
                    f"the signer states it signed at {utc_iso(claimed)}, after its certificate "
                    f"expired at {utc_iso(not_after)}")
        if claimed < not_before:
            return (Verdict.FAILED, "NOT_YET_VALID",
                    f"the signer states it signed at {utc_iso(claimed)}, before its certificate "
                    f"was issued at {utc_iso(not_before)}")
    if verdict is Verdict.PASSED and best > not_after:
        return (Verdict.INDETERMINATE, "OUT_OF_BOUNDS_NO_POE",
                f"the signature is proven to exist only from {utc_iso(best)}, after its "
                f"certificate expired at {utc_iso(not_after)}")
    return verdict, sub, message


def _signer_cert(signer_info: cms.SignerInfo, certs: list[x509.Certificate]) -> Any:
    sid = signer_info["sid"]
    if sid.name == "issuer_and_serial_number":
        serial = sid.chosen["serial_number"].native
        for cert in certs:
            if cert.serial_number == serial and cert.issuer == sid.chosen["issuer"]:
                return cert
    return None


def _claimed_time(signer_info: cms.SignerInfo) -> datetime | None:
    try:
        value: datetime = find_unique_cms_attribute(
            signer_info["signed_attrs"], "signing_time").native
    except Exception:  # absent or repeated: no claimed time
        return None
    return value


def _unique(items: list[bytes]) -> list[bytes]:
    return list(dict.fromkeys(items))

