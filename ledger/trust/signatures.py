"""The `sign` action's intake: validate a document signature as it arrives, and keep what the
validation rested on.

A signed PDF (PAdES, B-B to B-LTA) is the record's own content; a detached CMS signature is
uploaded beside it. Either is validated with pyHanko (verifiers.signature) at the time of the
request, against the signing anchors of the registry, with the CRL/OCSP answers supplied with
the request or embedded in the PDF; nothing is fetched. The signature, the signer's chain and
every CRL and OCSP answer go to the content store, named by digest in the `signed` event with
the verdict and the anchor used, so the log's proofs cover them all.

Refused (nothing stored): a signature over other content, one that cannot be parsed, and one
whose chain ends at no anchor in force when it was made (unregistered, retired, suspended,
outside its window). Recorded with their verdict: everything else, including FAILED (a changed
PDF, a revoked signer) and INDETERMINATE (revocation unknown, expired without proof).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asn1crypto import crl, ocsp, x509

from domain.errors import DigestMismatchError, InvalidInputError, UntrustedSignerError
from domain.metadata import check_digest
from domain.record import Record
from domain.trust import TrustAnchor
from ledger.errors import ContentNotFoundError
from ledger.store.content import ContentStore
from ledger.trust.registry import TrustRegistry
from verifiers.canonical import utc_iso
from verifiers.certs import fingerprint
from verifiers.errors import VerificationError
from verifiers.signature import (
    SignatureReport,
    cms_covers,
    detect_format,
    validate_signature,
)

MAX_VALIDATION_DATA = 64


@dataclass(frozen=True)
class ValidationData:
    certs: list[bytes]
    crls: list[bytes]
    ocsps: list[bytes]


class SignatureIntake:
    def __init__(self, content: ContentStore, registry: TrustRegistry) -> None:
        self.content = content
        self.registry = registry

    def sign_params(self, record: Record, at: datetime, *, signer_class: str,
                    signature: str | None, field: str | None,
                    validation_data: Sequence[str]) -> dict[str, Any]:
        """Validate the signature and return the params of `Record.sign`, or refuse."""
        record_digest = record.content["digest"]
        document = self._load(record_digest, "the record's content")
        if signature is None:
            signed = document
            signature = record_digest
        else:
            signed = self._load(check_digest(signature, "signature"), "the signature")
        fmt = detect_format(signed)
        if fmt == "pades" and signature != record_digest:
            raise DigestMismatchError("the signed PDF is not the record's content",
                                      expected=record_digest, found=signature)
        if fmt == "cms" and not _covers(signed, document):
            raise DigestMismatchError("the CMS signature's message digest is not that of the "
                                      "record's content", expected=record_digest)
        data = self._validation_data(validation_data)
        anchors = {a.fingerprint: a for a in self.registry.anchors()}
        # Every signing anchor that may vouch for something now; whether it vouched for this
        # signature's time is decided below, once the signature's time is known.
        signing = [_der(a) for a in anchors.values()
                   if "signing" in a.purposes and a.status_at(at) in ("active", "retired")]
        tsas = [_der(a) for a in anchors.values()
                if "timestamping" in a.purposes and a.in_force(at, at) is None]
        try:
            report = validate_signature(
                signed, trust_roots=signing, at=at,
                content=None if fmt == "pades" else document, field=field,
                certs=data.certs, crls=data.crls, ocsps=data.ocsps, tsa_roots=tsas)
        except VerificationError as exc:
            raise InvalidInputError(f"signature: {exc.message}", **exc.evidence) from None
        anchor = _anchor(report, anchors, at)
        return {
            "format": fmt, "signer_class": signer_class, "signed_digest": report.signed_digest,
            "signer": self.content.put(report.signer),
            "chain": [self.content.put(c) for c in report.chain],
            "signing_time": utc_iso(report.signing_time or report.best_signature_time),
            "signature": signature,
            "validation": {
                **report.summary(),
                "anchor": anchor,
                "certificates": [self.content.put(c) for c in report.certificates],
                "crls": [self.content.put(c) for c in report.crls],
                "ocsps": [self.content.put(o) for o in report.ocsps],
            },
        }

    def _load(self, digest: str, what: str) -> bytes:
        try:
            return self.content.get(digest)
        except ContentNotFoundError:
            raise ContentNotFoundError(f"{what} is not in the content store; upload it first",
                                       digest=digest) from None

    def _validation_data(self, digests: Sequence[str]) -> ValidationData:
        if not isinstance(digests, list | tuple) or len(digests) > MAX_VALIDATION_DATA:
            raise InvalidInputError(
                f"validation_data must be a list of at most {MAX_VALIDATION_DATA} digests")
        data = ValidationData([], [], [])
        for i, digest in enumerate(digests):
            der = self._load(check_digest(digest, f"validation_data[{i}]"), "validation data")
            kind = _kind(der)
            if kind is None:
                raise InvalidInputError(
                    "validation data must be DER certificates, CRLs or OCSP responses",
                    item=i, digest=digest)
            getattr(data, kind).append(der)
        return data


def _der(anchor: TrustAnchor) -> bytes:
    return base64.b64decode(anchor.certificate)


def _anchor(report: SignatureReport, anchors: dict[str, TrustAnchor], at: datetime) -> str:
    """The fingerprint of the anchor the path ends at, if it vouches for the signature's
    time as the registry stood at `at`; else the signature is refused."""
    if report.anchor is None:
        raise UntrustedSignerError(
            "the signer's certificate chains to no registered signing anchor",
            signer=fingerprint(report.signer) if report.signer else None,
            subindication=report.subindication)
    anchor = anchors[fingerprint(report.anchor)]  # a root we gave: one of these
    why = anchor.in_force(report.best_signature_time, at)
    if why is not None:
        raise UntrustedSignerError(
            f"the signer's trust anchor does not vouch for this signature: {why}",
            anchor=anchor.fingerprint, status=anchor.status,
            signature_time=utc_iso(report.best_signature_time))
    return anchor.fingerprint


def _covers(signature: bytes, content: bytes) -> bool:
    try:
        return cms_covers(signature, content)
    except VerificationError as exc:
        raise InvalidInputError(f"signature: {exc.message}", **exc.evidence) from None


# Which kind a DER value is, by a field only that kind has (a full parse of a large CRL is
# costly; the validator parses what it uses, and guards it).
_KINDS: tuple[tuple[str, Any, Callable[[Any], object]], ...] = (
    ("certs", x509.Certificate, lambda v: v["tbs_certificate"]["subject"].native),
    ("crls", crl.CertificateList, lambda v: v["tbs_cert_list"]["issuer"].native),
    ("ocsps", ocsp.OCSPResponse, lambda v: v["response_status"].native),
)


def _kind(der: bytes) -> str | None:
    for kind, spec, probe in _KINDS:
        try:
            probe(spec.load(der, strict=True))
        except Exception:  # noqa: S112  (not this kind: try the next)
            continue
        return kind
    return None

