"""RFC 3161 timestamp tokens: parse, check the token, validate the TSA's certificate chain.

A TimeStampToken is a CMS ContentInfo of SignedData (RFC 5652) whose encapsulated content is a
TSTInfo (RFC 3161 §2.4.2), signed by the TSA alone. Proving "these bytes existed at genTime"
takes two independent judgements, kept apart here:

- `check_token`: the token itself, with no trust decision and no clock. The messageImprint is
  the expected one, the nonce too when given, the CMS signature verifies over the signed
  attributes (content-type id-ct-TSTInfo, message-digest of the TSTInfo), the TSA certificate
  is in the token and bound by the ESSCertID (RFC 2634) or ESSCertIDv2 (RFC 5816) attribute,
  it carries the critical extendedKeyUsage id-kp-timeStamping (RFC 3161 §2.3), and genTime lies
  within its validity period. Returns `TokenFacts`, or raises the first failure.
- `validate_tsa_chain`: whether that certificate chains to the given trust roots and is
  neither expired nor revoked at a chosen time `at` (for RFC 4998 §5.3: the genTime of the next
  archive timestamp, or now for the newest), with pyhanko-certvalidator, offline.
- `verify_timestamp`: both, one `Check` per step in order, and a bottom line.

Verdicts (ETSI EN 319 102-1, subindications as there, in each check's evidence):

- FAILED: the token is not what it claims. Imprint or nonce mismatch (HASH_FAILURE), signature
  or signed attributes wrong (SIG_CRYPTO_FAILURE, HASH_FAILURE), no bound TSA certificate or no
  critical timeStamping EKU (FORMAT_FAILURE), the TSA certificate revoked before `at` (REVOKED),
  the chain itself broken (a certificate signature that does not verify, constraints violated:
  CERTIFICATE_CHAIN_GENERAL_FAILURE; ETSI files this under INDETERMINATE, but every candidate
  path from the certificates given was tried and each is broken, which is not a missing input).
  Also a certificate not yet valid at `at` (NOT_YET_VALID).
- INDETERMINATE: the proof may be sound but cannot be decided from what was given. A
  certificate expired at `at` (OUT_OF_BOUNDS_NO_POE: expiry after signing is not forgery; a
  later timestamp's POE, RFC 4998, is what settles it), revocation data missing or stale
  (TRY_LATER), no path to the given trust roots (NO_CERTIFICATE_CHAIN_FOUND, code
  `tsa_untrusted`: the verifier may lack the anchor; the ledger refuses anything not PASSED,
  so this still fails closed), a weak or unknown algorithm (CRYPTO_CONSTRAINTS_FAILURE).

A TSA certificate revoked after `at` does not harm tokens checked at `at`. RFC 3161 §4 also
keeps tokens made before a revocation for a reason other than keyCompromise; this module does
not apply that rule (it would need the revocation reason and POE of the token before the
revocation), it reports REVOKED with the date and reason in the evidence.

Every public function raises only `verifiers.errors.VerificationError` subclasses:
`MalformedError` when the token, a certificate, a CRL or an argument does not parse or is of
the wrong type; the other failures are in the report (or raised by `check_token`).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple, TypeVar

from asn1crypto import algos, cms, core, crl, ocsp, parser, tsp, x509
from cryptography.exceptions import InvalidSignature
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import (
    AlgorithmNotSupported,
    DisallowedAlgorithmError,
    DSAParametersUnavailable,
    ExpiredError,
    InsufficientPOEError,
    InsufficientRevinfoError,
    InvalidCertificateError,
    NotYetValidError,
    PathBuildingError,
    PathValidationError,
    RevokedError,
    ValidationError,
)
from pyhanko_certvalidator.path import ValidationPath
from pyhanko_certvalidator.sig_validate import (
    DefaultSignatureValidator,
    SignatureValidationContext,
)
from pyhanko_certvalidator.validate import validate_usage

from verifiers.errors import MalformedError, VerificationError
from verifiers.errors import guard_parse as _guard
from verifiers.errors import require_bytes as _bytes
from verifiers.ers import VERIFY_ALGORITHMS
from verifiers.report import Check, Report, Verdict

__all__ = [
    "GenTimeOutsideValidityError",
    "NonceMismatchError",
    "NotGrantedError",
    "Revocation",
    "SignatureInvalidError",
    "SignedAttributesError",
    "SigningCertificateError",
    "TimestampAlgorithmError",
    "TimestampError",
    "TimestampImprintError",
    "TimestampToken",
    "TokenFacts",
    "TrustedRoot",
    "TsaChainInvalidError",
    "TsaExpiredError",
    "TsaNotYetValidError",
    "TsaRevocationUnknownError",
    "TsaRevokedError",
    "TsaUntrustedError",
    "TsaUsageError",
    "check_token",
    "parse_token",
    "signer_certificate",
    "token_from_response",
    "validate_tsa_chain",
    "verify_timestamp",
]


# --- Errors ---------------------------------------------------------------------------------


class TimestampError(VerificationError):
    """A timestamp token that does not prove what it claims."""

    code = "timestamp_invalid"
    verdict = Verdict.FAILED
    subindication = "FORMAT_FAILURE"


class NotGrantedError(TimestampError):
    """A TimeStampResp whose PKIStatus is neither granted nor grantedWithMods (RFC 3161 §2.4.2)."""

    code = "timestamp_not_granted"


class TimestampImprintError(TimestampError):
    """The messageImprint is not the expected hash algorithm and value (RFC 3161 §2.4.2)."""

    code = "timestamp_imprint_mismatch"
    subindication = "HASH_FAILURE"


class NonceMismatchError(TimestampError):
    """The TSTInfo nonce is not the request's (RFC 3161 §2.4.2)."""

    code = "timestamp_nonce_mismatch"
    subindication = "HASH_FAILURE"


class SignedAttributesError(TimestampError):
    """content-type or message-digest signed attribute missing or wrong (RFC 5652 §5.3, §11)."""

    code = "timestamp_signed_attributes"
    subindication = "HASH_FAILURE"


class SignatureInvalidError(TimestampError):
    """The CMS signature does not verify with the TSA certificate's key (RFC 5652 §5.6)."""

    code = "timestamp_signature_invalid"
    subindication = "SIG_CRYPTO_FAILURE"


class SigningCertificateError(TimestampError):
    """The TSA certificate is not in the token or not bound by ESSCertID / ESSCertIDv2
    (RFC 3161 §2.4.1, RFC 2634 §5.4, RFC 5816 §2.2.1)."""

    code = "timestamp_signing_certificate"


class TsaUsageError(TimestampError):
    """The TSA certificate lacks the critical extendedKeyUsage of timeStamping alone
    (RFC 3161 §2.3), or its keyUsage forbids signing (RFC 5280 §4.2.1.3)."""

    code = "timestamp_tsa_usage"


class GenTimeOutsideValidityError(TimestampError):
    """genTime lies outside the TSA certificate's validity period: the certificate did not
    vouch for the key then (RFC 5280 §4.1.2.5)."""

    code = "timestamp_gen_time_outside_validity"
    subindication = "NOT_YET_VALID"


class TimestampAlgorithmError(TimestampError):
    """A digest or signature algorithm this module does not verify, or considers weak."""

    code = "timestamp_algorithm_unsupported"
    verdict = Verdict.INDETERMINATE
    subindication = "CRYPTO_CONSTRAINTS_FAILURE"


class TsaUntrustedError(TimestampError):
    """No certification path from the TSA certificate to a given trust root."""

    code = "tsa_untrusted"
    verdict = Verdict.INDETERMINATE
    subindication = "NO_CERTIFICATE_CHAIN_FOUND"


class TsaExpiredError(TimestampError):
    """A certificate of the path is expired at the validation time."""

    code = "tsa_expired"
    verdict = Verdict.INDETERMINATE
    subindication = "OUT_OF_BOUNDS_NO_POE"


class TsaNotYetValidError(TimestampError):
    """A certificate of the path is not yet valid at the validation time."""

    code = "tsa_not_yet_valid"
    subindication = "NOT_YET_VALID"


class TsaRevokedError(TimestampError):
    """A certificate of the path was revoked before the validation time."""

    code = "tsa_revoked"
    subindication = "REVOKED"


class TsaRevocationUnknownError(TimestampError):
    """Revocation status required but not established (missing or stale CRL/OCSP)."""

    code = "tsa_revocation_unknown"
    verdict = Verdict.INDETERMINATE
    subindication = "TRY_LATER"


class TsaChainInvalidError(TimestampError):
    """The certification path is broken (signature, constraints, usage)."""

    code = "tsa_chain_invalid"
    subindication = "CERTIFICATE_CHAIN_GENERAL_FAILURE"


# --- Parsing --------------------------------------------------------------------------------
# asn1crypto ships no type information: its values are Any to mypy.

_NULL = b"\x05\x00"
_TST_INFO = "1.2.840.113549.1.9.16.1.4"  # id-ct-TSTInfo, RFC 3161 §2.4.2
_CONTENT_TYPE = "1.2.840.113549.1.9.3"  # RFC 5652 §11.1
_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"  # RFC 5652 §11.2
_SIGNING_CERTIFICATE = "1.2.840.113549.1.9.16.2.12"  # RFC 2634 §5.4
_SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47"  # RFC 5035 §3
_TIME_STAMPING = "1.3.6.1.5.5.7.3.8"  # id-kp-timeStamping, RFC 3161 §2.3
# Digests a token's CMS signature may use; SHA-1 only to identify a certificate (ESSCertID).
_DIGESTS = VERIFY_ALGORITHMS
_CERT_ID_DIGESTS = VERIFY_ALGORITHMS | {"sha1"}

_T = TypeVar("_T")


class _Alg(NamedTuple):
    name: str  # asn1crypto's name, or the dotted OID when it has none
    oid: str


def _hash_alg(value: Any, where: str) -> _Alg:
    # RFC 5754 §2 / RFC 8702 §2: hash AlgorithmIdentifiers carry no parameters, or NULL.
    params = value["parameters"]
    if not isinstance(params, core.Void) and params.dump() != _NULL:
        raise MalformedError(f"{where}: hash algorithm parameters are neither absent nor NULL")
    oid = value["algorithm"]
    return _Alg(str(oid.native), str(oid.dotted))


class _Signed(NamedTuple):
    """The CMS layer of a token, as `check_token` needs it."""

    imprint_oid: str  # TSTInfo messageImprint hashAlgorithm, dotted
    econtent_type: str  # dotted OID
    econtent: bytes  # the TSTInfo DER, as signed
    digest_alg: _Alg  # SignerInfo digestAlgorithm
    listed_digests: tuple[str, ...]  # SignedData digestAlgorithms, dotted
    sid: tuple[str, Any]  # ("issuer_serial", (Name, int)) or ("ski", bytes)
    signed_attrs: bytes  # the SignedAttributes as a DER SET, the bytes signed (RFC 5652 §5.4)
    attrs: dict[str, tuple[Any, ...]]  # dotted type -> parsed values, in order of appearance
    attr_counts: dict[str, int]  # dotted type -> number of Attribute instances
    signature: bytes
    signature_algorithm: Any  # asn1crypto SignedDigestAlgorithm
    certs: tuple[Any, ...]  # asn1crypto x509.Certificate, each loaded from its own bytes


@dataclass(frozen=True)
class TimestampToken:
    """A TimeStampToken parsed at the door: its TSTInfo fields and the embedded certificates.
    Nothing here is verified yet: see `check_token`."""

    der: bytes  # the ContentInfo, as given
    gen_time: datetime  # aware, UTC
    serial: int
    policy: str  # dotted OID
    hash_alg: str  # messageImprint hashAlgorithm: asn1crypto name, or the dotted OID
    imprint: bytes  # messageImprint hashedMessage
    nonce: int | None
    accuracy: timedelta | None
    certificates: tuple[bytes, ...]  # SignedData certificates, DER as stored
    _signed: _Signed = field(repr=False, compare=False)


_SIGNER_FIELDS = (
    "version",
    "sid",
    "digest_algorithm",
    "signature_algorithm",
    "signature",
    "unsigned_attrs",
)


def _read_token(der: bytes) -> TimestampToken:
    # Every field is parsed at the door, on a copy of its own: asn1crypto parses lazily (a
    # flaw found later would surface as a builtin exception) and may re-encode what it has
    # read, while the bytes kept below must be the bytes stored. Field by field: `.native`
    # on a whole SignerInfo or certificate is slow. Certificates and signed attributes are
    # parsed further down.
    copy = cms.ContentInfo.load(der, strict=True)
    if copy["content_type"].native == "signed_data":
        for name in ("version", "digest_algorithms", "encap_content_info", "crls"):
            copy["content"][name].native  # noqa: B018
        for signer_copy in copy["content"]["signer_infos"]:
            for name in _SIGNER_FIELDS:
                signer_copy[name].native  # noqa: B018
    content_info = cms.ContentInfo.load(der, strict=True)
    if content_info["content_type"].native != "signed_data":
        raise MalformedError("token is not a SignedData ContentInfo")
    signed = content_info["content"]
    # RFC 5652 §5.1: version 3 when eContentType is not id-data and every certificate is a
    # plain X.509 one (checked below); 4 and 5 would announce other kinds.
    if signed["version"].native != "v3":
        raise MalformedError("SignedData version is not 3", version=signed["version"].native)
    encap = signed["encap_content_info"]
    econtent_type = str(encap["content_type"].dotted)
    content = encap["content"]
    if isinstance(content, core.Void):
        raise MalformedError("token has no eContent (a detached TSTInfo)")
    econtent = bytes(content)  # the OCTET STRING's value, also when BER-chunked
    if econtent_type != _TST_INFO:
        raise MalformedError("token does not encapsulate a TSTInfo", content_type=econtent_type)
    tst = tsp.TSTInfo.load(econtent, strict=True)
    tst.native  # parse every field at the door  # noqa: B018
    if tst["version"].native != "v1":  # RFC 3161 §2.4.2: version INTEGER { v1(1) }
        raise MalformedError("TSTInfo version is not 1", version=tst["version"].native)
    imprint_alg = _hash_alg(tst["message_imprint"]["hash_algorithm"], "messageImprint")
    gen_time = tst["gen_time"].native
    # RFC 3161 §2.4.2: genTime is UTC ("Z"); a time without a zone cannot be ordered.
    if not isinstance(gen_time, datetime) or gen_time.tzinfo is None:
        raise MalformedError("genTime is not a UTC time", gen_time=str(gen_time))
    accuracy = None
    if not isinstance(tst["accuracy"], core.Void):
        acc = tst["accuracy"].native
        accuracy = timedelta(
            seconds=acc["seconds"] or 0,
            milliseconds=acc["millis"] or 0,
            microseconds=acc["micros"] or 0,
        )

    certs = []
    for choice in signed["certificates"] or ():
        if choice.name != "certificate":
            raise MalformedError("token carries a certificate other than X.509", kind=choice.name)
        # Each certificate from its own bytes: asn1crypto may re-encode a value once its
        # children were read, and the ESSCertID hash is over the bytes as stored.
        cert_der = choice.chosen.dump()
        # RFC 5280 §4.1: certificates are DER. Checked on every embedded one, not only the
        # ESSCertID-bound signer's: an unsigned intermediate in a laxer encoding (a BIT STRING
        # with unused bits, a DEFAULT written out) is refused, not silently trusted.
        if x509.Certificate.load(cert_der).dump(force=True) != cert_der:
            raise MalformedError("a certificate in the token is not DER encoded")
        cert = x509.Certificate.load(cert_der, strict=True)
        certs.append(cert)

    signers = signed["signer_infos"]
    if len(signers) != 1:  # RFC 3161 §2.4.2: no signature other than the TSA's
        raise MalformedError(f"token has {len(signers)} signers, not one")
    signer = signers[0]
    digest_alg = _hash_alg(signer["digest_algorithm"], "SignerInfo digestAlgorithm")
    listed = tuple(
        _hash_alg(a, "SignedData digestAlgorithms").oid for a in signed["digest_algorithms"]
    )
    sid = signer["sid"]
    version = signer["version"].native
    # RFC 5652 §5.3: version 1 with issuerAndSerialNumber, 3 with subjectKeyIdentifier.
    if sid.name == "issuer_and_serial_number" and version == "v1":
        chosen = sid.chosen
        sid_value: tuple[str, Any] = (
            "issuer_serial",
            (chosen["issuer"], chosen["serial_number"].native),
        )
    elif sid.name == "subject_key_identifier" and version == "v3":
        sid_value = ("ski", bytes(sid.chosen.native))
    else:
        raise MalformedError("SignerInfo version does not match its sid", version=version)

    raw_attrs = signer["signed_attrs"]
    if isinstance(raw_attrs, core.Void):
        # RFC 5652 §5.3: signedAttrs MUST be present when eContentType is not id-data.
        raise MalformedError("SignerInfo has no signed attributes")
    # RFC 5652 §5.4: the signature is over the DER of SignedAttrs with an EXPLICIT SET OF
    # tag, not the IMPLICIT [0] it has in the SignerInfo. `.contents` are the stored bytes.
    signed_attrs: bytes = parser.emit(0, 1, 17, raw_attrs.contents)
    attrs: dict[str, list[Any]] = {}
    counts: dict[str, int] = {}
    for attr in cms.CMSAttributes.load(signed_attrs, strict=True):
        kind = str(attr["type"].dotted)
        counts[kind] = counts.get(kind, 0) + 1
        attrs.setdefault(kind, []).extend(attr["values"])
        attr["values"].native  # noqa: B018

    sig_alg = signer["signature_algorithm"]
    algorithm = sig_alg["algorithm"]
    params = sig_alg["parameters"]
    if algorithm.native == "rsassa_pss":
        params.native  # RSASSA-PSS-params (RFC 4055 §3.1)  # noqa: B018
    elif not isinstance(params, core.Void) and params.dump() != _NULL:
        # RFC 4055 §5 / RFC 5758 §3.2 / RFC 8410 §3: no parameters, or NULL for RSA.
        raise MalformedError("signature algorithm parameters are neither absent nor NULL")

    return TimestampToken(
        der=der,
        gen_time=gen_time,
        serial=tst["serial_number"].native,
        policy=str(tst["policy"].dotted),
        hash_alg=imprint_alg.name,
        imprint=bytes(tst["message_imprint"]["hashed_message"].native),
        nonce=tst["nonce"].native,
        accuracy=accuracy,
        certificates=tuple(c.dump() for c in certs),
        _signed=_Signed(
            imprint_oid=imprint_alg.oid,
            econtent_type=econtent_type,
            econtent=econtent,
            digest_alg=digest_alg,
            listed_digests=listed,
            sid=sid_value,
            signed_attrs=signed_attrs,
            attrs={k: tuple(v) for k, v in attrs.items()},
            attr_counts=counts,
            signature=bytes(signer["signature"].native),
            signature_algorithm=sig_alg,
            certs=tuple(certs),
        ),
    )


def parse_token(der: bytes) -> TimestampToken:
    """Parse a TimeStampToken (a ContentInfo of SignedData over a TSTInfo, DER) and check it
    at the door: SignedData version 3, an attached TSTInfo (version 1, UTC genTime), one
    SignerInfo with signed attributes and a version matching its sid, only X.509
    certificates, hash AlgorithmIdentifiers without parameters (or NULL), no trailing bytes.
    Raises MalformedError otherwise. Verifies nothing: see `check_token`."""
    return _guard("timestamp token", _read_token, _bytes(der, "timestamp token"))


class _TimeStampResp(core.Sequence):  # type: ignore[misc]
    """RFC 3161 §2.4.2 TimeStampResp; asn1crypto's makes the token mandatory, it is not."""

    _fields = [
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


def _read_response(der: bytes) -> bytes:
    resp = _TimeStampResp.load(der, strict=True)
    status = resp["status"]
    value = status["status"].native
    token = resp["time_stamp_token"]
    # RFC 3161 §2.4.2: a token is present only with granted (0) or grantedWithMods (1).
    if value not in ("granted", "granted_with_mods"):
        text = status["status_string"].native
        fail = status["fail_info"].native
        raise NotGrantedError(
            "the TSA did not grant the request",
            status=value,
            status_string="; ".join(text) if text else "",
            fail_info=",".join(sorted(fail)) if fail else "",
        )
    if isinstance(token, core.Void):
        raise MalformedError("a granted TimeStampResp without a timeStampToken")
    token_der: bytes = token.dump()
    return token_der


def token_from_response(response_der: bytes) -> bytes:
    """The TimeStampToken (ContentInfo DER, as sent) of a TimeStampResp (RFC 3161 §2.4.2).
    Raises NotGrantedError (code timestamp_not_granted, with status, statusString and
    failInfo) unless PKIStatus is granted or grantedWithMods, MalformedError if the response
    does not parse or a granted one has no token. The token is not checked here."""
    return _guard("TimeStampResp", _read_response, _bytes(response_der, "TimeStampResp"))


# --- Checking the token ---------------------------------------------------------------------


@dataclass(frozen=True)
class TokenFacts:
    """What a token that passed `check_token` certifies: the TSA whose certificate is
    `tsa_certificate` asserted that `imprint` (under `hash_alg`) existed at `gen_time`.
    Whether that TSA is trusted at a given time is `validate_tsa_chain`'s question."""

    token: bytes  # the ContentInfo, as given
    gen_time: datetime  # aware, UTC
    serial: int
    policy: str  # dotted OID
    hash_alg: str  # asn1crypto name (e.g. "sha256")
    imprint: bytes
    nonce: int | None
    accuracy: timedelta | None
    tsa_certificate: bytes  # DER, as embedded and bound by ESSCertID(v2)
    certificates: tuple[bytes, ...]  # every certificate embedded in the token, DER


def _digest(alg: str, data: bytes) -> bytes:
    return hashlib.new(alg, data).digest()


def _expected_alg(hash_alg: object) -> _Alg:
    if not isinstance(hash_alg, str) or hash_alg not in _DIGESTS:
        raise MalformedError(
            "hash_alg must be one of " + ", ".join(sorted(_DIGESTS)), hash_alg=repr(hash_alg)
        )
    return _Alg(hash_alg, str(algos.DigestAlgorithmId(hash_alg).dotted))


def _check_imprint(token: TimestampToken, alg: _Alg, digest: bytes) -> None:
    """RFC 3161 §2.4.2: messageImprint has the same value as in the request: the hash
    algorithm and the hash of the data."""
    if token._signed.imprint_oid != alg.oid:
        raise TimestampImprintError(
            "messageImprint uses another hash algorithm", expected=alg.name, found=token.hash_alg
        )
    if token.imprint != digest:
        raise TimestampImprintError(
            "messageImprint differs from the data digest",
            expected=digest.hex(),
            found=token.imprint.hex(),
        )


def _check_nonce(token: TimestampToken, nonce: int) -> None:
    """RFC 3161 §2.4.2: the nonce MUST be present and equal when the request had one."""
    if token.nonce != nonce:
        raise NonceMismatchError(
            "nonce differs from the request's",
            expected=nonce,
            found="absent" if token.nonce is None else token.nonce,
        )


def _find_signer(token: TimestampToken) -> Any:
    """RFC 5652 §5.3 sid; RFC 3161 §2.4.1: with certReq, the TSA certificate MUST be in the
    token's certificates. Of several that match the sid (the same key certified twice), the
    one the signing-certificate attribute names; whether it really does is checked later."""
    signed = token._signed
    kind, value = signed.sid
    candidates = []
    for cert in signed.certs:
        if kind == "issuer_serial":
            issuer, serial = value
            if cert.serial_number == serial and cert.issuer == issuer:
                candidates.append(cert)
        elif cert.key_identifier is not None and bytes(cert.key_identifier) == value:
            candidates.append(cert)
    if not candidates:
        raise SigningCertificateError(
            "the TSA certificate is not in the token (request it with certReq)", sid=kind
        )
    named = _named_hashes(signed)
    for cert in candidates:
        if any(_digest(alg, cert.dump()) == expected for alg, expected in named):
            return cert
    return candidates[0]


def signer_certificate(token: TimestampToken) -> bytes:
    """The DER of the certificate the token's SignerInfo names (by issuer and serial, or by
    subject key identifier). Identifies; verifies nothing (see `check_token`)."""
    cert: bytes = _find_signer(token).dump()
    return cert


def _named_hashes(signed: _Signed) -> list[tuple[str, bytes]]:
    """(hash algorithm, certHash) of the first ESSCertID / ESSCertIDv2 of each
    signing-certificate attribute, where the algorithm is one we compute."""
    out = []
    for oid in (_SIGNING_CERTIFICATE, _SIGNING_CERTIFICATE_V2):
        for value in signed.attrs.get(oid, ()):
            for first in list(value["certs"])[:1]:
                alg = (
                    "sha1"
                    if oid == _SIGNING_CERTIFICATE
                    else first["hash_algorithm"]["algorithm"].native
                )
                if alg in _CERT_ID_DIGESTS:
                    out.append((alg, bytes(first["cert_hash"].native)))
    return out


def _single(signed: _Signed, oid: str, what: str) -> Any:
    # RFC 5652 §5.3 / §11: content-type and message-digest appear once, with one value.
    if signed.attr_counts.get(oid, 0) != 1 or len(signed.attrs[oid]) != 1:
        raise SignedAttributesError(
            f"{what} must be one signed attribute with one value",
            instances=signed.attr_counts.get(oid, 0),
        )
    return signed.attrs[oid][0]


def _check_signed_attributes(token: TimestampToken) -> None:
    """RFC 5652 §11.1: content-type equals eContentType (id-ct-TSTInfo); §11.2 / §5.4:
    message-digest is the digest of the eContent octets under the SignerInfo
    digestAlgorithm, which SignedData digestAlgorithms lists (§5.1)."""
    signed = token._signed
    content_type = str(_single(signed, _CONTENT_TYPE, "content-type").dotted)
    if content_type != signed.econtent_type:
        raise SignedAttributesError(
            "content-type attribute differs from eContentType",
            expected=signed.econtent_type,
            found=content_type,
        )
    message_digest = bytes(_single(signed, _MESSAGE_DIGEST, "message-digest").native)
    alg = signed.digest_alg
    if set(signed.listed_digests) != {alg.oid}:
        raise SignedAttributesError(
            "SignedData digestAlgorithms is not the signer's digest algorithm",
            signer=alg.name,
            listed=",".join(signed.listed_digests),
        )
    if alg.name not in _DIGESTS:
        raise TimestampAlgorithmError("digest algorithm not supported", algorithm=alg.name)
    calculated = _digest(alg.name, signed.econtent)
    if message_digest != calculated:
        raise SignedAttributesError(
            "message-digest differs from the digest of the TSTInfo",
            expected=message_digest.hex(),
            calculated=calculated.hex(),
        )


# The public key type each signature mechanism needs (asn1crypto names).
_KEY_TYPES = {
    "rsassa_pkcs1v15": {"rsa"},
    "rsassa_pss": {"rsa", "rsassa_pss"},
    "ecdsa": {"ec"},
    "dsa": {"dsa"},
    "ed25519": {"ed25519"},
    "ed448": {"ed448"},
}


def _check_signature(token: TimestampToken, cert: Any) -> None:
    """RFC 5652 §5.6: the signature verifies over the DER SignedAttrs with the TSA
    certificate's public key; a signature algorithm naming a hash must name the
    digestAlgorithm (RFC 5754 §3, RFC 5758 §3.2)."""
    signed = token._signed
    sig_alg = signed.signature_algorithm
    try:
        mechanism = sig_alg.signature_algo
    except ValueError:
        raise TimestampAlgorithmError(
            "signature algorithm not supported", algorithm=str(sig_alg["algorithm"].dotted)
        ) from None
    try:
        named_hash: str | None = sig_alg.hash_algo
    except ValueError:
        named_hash = None  # rsaEncryption, or a bare mechanism: the digestAlgorithm's
    digest = signed.digest_alg.name
    if named_hash is not None and mechanism not in ("ed25519", "ed448") and named_hash != digest:
        raise SignatureInvalidError(
            "signature algorithm's hash differs from digestAlgorithm",
            signature_hash=named_hash,
            digest_algorithm=digest,
        )
    if digest not in _DIGESTS:
        raise TimestampAlgorithmError("digest algorithm not supported", algorithm=digest)
    key_type = cert.public_key.algorithm
    if key_type not in _KEY_TYPES.get(mechanism, set()):
        raise SignatureInvalidError(
            "signature algorithm does not fit the certificate's key",
            mechanism=mechanism,
            key=key_type,
        )
    try:
        DefaultSignatureValidator().validate_signature(
            signed.signature,
            signed.signed_attrs,
            cert.public_key,
            sig_alg,
            SignatureValidationContext(contextual_md_algorithm=digest),
        )
    except (AlgorithmNotSupported, DSAParametersUnavailable) as exc:
        raise TimestampAlgorithmError(
            "signature algorithm not supported", mechanism=mechanism, reason=str(exc)
        ) from None
    except InvalidSignature:
        raise SignatureInvalidError(
            "signature does not verify with the TSA certificate's key", mechanism=mechanism
        ) from None
    except Exception as exc:  # a key or parameters the signature cannot be checked with
        raise SignatureInvalidError(
            "signature cannot be verified",
            mechanism=mechanism,
            reason=f"{type(exc).__name__}: {exc}",
        ) from None


def _issuer_serial_matches(issuer_serial: Any, cert: Any) -> bool:
    """RFC 5035 §4 (ESSCertIDv2) / RFC 2634 §5.4.1: issuerSerial, if present, names the
    certificate's issuer (as a directoryName) and serial number."""
    if isinstance(issuer_serial, core.Void):
        return True
    if issuer_serial["serial_number"].native != cert.serial_number:
        return False
    names = issuer_serial["issuer"]
    return any(n.name == "directory_name" and n.chosen == cert.issuer for n in names)


def _check_signing_certificate(token: TimestampToken, cert: Any) -> None:
    """RFC 3161 §2.4.1: the TSA's certificate is identified by an ESSCertID in a
    SigningCertificate attribute (RFC 2634 §5.4, SHA-1 of the certificate), or by an
    ESSCertIDv2 in a SigningCertificateV2 (RFC 5816 §2.2.1, RFC 5035 §4; SHA-256 unless
    another hashAlgorithm is named). The first ESSCertID of each present attribute MUST
    identify the signer's certificate (RFC 2634 §5.4): hash of the whole certificate DER,
    and issuerSerial when present. Every present attribute must agree."""
    signed = token._signed
    cert_der = cert.dump()
    found = False
    for oid, version in ((_SIGNING_CERTIFICATE, "v1"), (_SIGNING_CERTIFICATE_V2, "v2")):
        if oid not in signed.attrs:
            continue
        values = signed.attrs[oid]
        if signed.attr_counts[oid] != 1 or len(values) != 1:
            raise SigningCertificateError(f"signing-certificate {version} appears more than once")
        ids = values[0]["certs"]
        if len(ids) == 0:
            raise SigningCertificateError(f"signing-certificate {version} identifies nothing")
        first = ids[0]
        if version == "v1":
            alg = "sha1"
        else:
            alg = _hash_alg(first["hash_algorithm"], "ESSCertIDv2 hashAlgorithm").name
            if alg not in _CERT_ID_DIGESTS:
                raise TimestampAlgorithmError("ESSCertIDv2 hash not supported", algorithm=alg)
        calculated = _digest(alg, cert_der)
        expected = bytes(first["cert_hash"].native)
        if expected != calculated:
            raise SigningCertificateError(
                f"ESSCertID{'v2' if version == 'v2' else ''} hash does not match the TSA "
                "certificate in the token",
                hash_algorithm=alg,
                expected=expected.hex(),
                calculated=calculated.hex(),
            )
        if not _issuer_serial_matches(first["issuer_serial"], cert):
            raise SigningCertificateError(
                "ESSCertID issuerSerial does not name the TSA certificate"
            )
        found = True
    if not found:
        raise SigningCertificateError(
            "no signing-certificate (ESSCertID) or signing-certificate-v2 attribute"
        )


def _check_tsa_usage(cert: Any) -> None:
    """RFC 3161 §2.3: the TSA certificate MUST contain only one instance of the
    extendedKeyUsage extension, with KeyPurposeID id-kp-timeStamping, and it MUST be
    critical. Read as OpenSSL and EN 319 422 §7.4 do: timeStamping is the only purpose.
    RFC 5280 §4.2.1.3: a keyUsage, if present, allows digitalSignature or nonRepudiation."""
    extensions = [
        e
        for e in cert["tbs_certificate"]["extensions"] or ()
        if e["extn_id"].native == "extended_key_usage"
    ]
    if len(extensions) != 1:
        raise TsaUsageError(
            "the TSA certificate must have one extendedKeyUsage extension",
            instances=len(extensions),
        )
    eku = extensions[0]
    purposes = [str(p.dotted) for p in eku["extn_value"].parsed]
    if purposes != [_TIME_STAMPING]:
        raise TsaUsageError(
            "extendedKeyUsage must be id-kp-timeStamping alone", purposes=",".join(purposes)
        )
    if not eku["critical"].native:
        raise TsaUsageError("the timeStamping extendedKeyUsage extension is not critical")
    usage = cert.key_usage_value
    if usage is not None and not usage.native & {"digital_signature", "non_repudiation"}:
        raise TsaUsageError(
            "keyUsage allows neither digitalSignature nor nonRepudiation",
            key_usage=",".join(sorted(usage.native)),
        )


def _check_gen_time(token: TimestampToken, cert: Any) -> None:
    """genTime within the TSA certificate's validity (RFC 5280 §4.1.2.5): outside it, the
    certificate did not vouch for the signing key, whatever time the token is checked at."""
    validity = cert["tbs_certificate"]["validity"]
    not_before = validity["not_before"].native
    not_after = validity["not_after"].native
    if not not_before <= token.gen_time <= not_after:
        raise GenTimeOutsideValidityError(
            "genTime is outside the TSA certificate's validity period",
            gen_time=token.gen_time.isoformat(),
            not_before=not_before.isoformat(),
            not_after=not_after.isoformat(),
        )


class _Step(NamedTuple):
    name: str
    check: Callable[[], None]

    def run(self) -> None:
        """The check, with any builtin exception (a flaw parsing at the door missed) turned
        into MalformedError: never a builtin exception out of a public function."""
        _guard(f"timestamp token ({self.name})", self.check)


def _steps(
    token: TimestampToken, alg: _Alg, digest: bytes, nonce: int | None
) -> tuple[list[_Step], Callable[[], Any]]:
    """The checks of `check_token`, in order. Steps after `signer` need its certificate,
    found by the returned getter (which raises when `signer` failed)."""
    found: list[Any] = []

    def signer() -> None:
        found.append(_find_signer(token))

    def cert() -> Any:
        return found[0]

    steps = [_Step("timestamp.imprint", lambda: _check_imprint(token, alg, digest))]
    if nonce is not None:
        steps.append(_Step("timestamp.nonce", lambda: _check_nonce(token, nonce)))
    steps += [
        _Step("timestamp.signer", signer),
        _Step("timestamp.signed_attributes", lambda: _check_signed_attributes(token)),
        _Step("timestamp.signature", lambda: _check_signature(token, cert())),
        _Step("timestamp.signing_certificate", lambda: _check_signing_certificate(token, cert())),
        _Step("timestamp.tsa_usage", lambda: _check_tsa_usage(cert())),
        _Step("timestamp.gen_time", lambda: _check_gen_time(token, cert())),
    ]
    return steps, cert


def _prepare(
    token_der: bytes, data_digest: object, hash_alg: object, nonce: object
) -> tuple[TimestampToken, _Alg, bytes, int | None]:
    alg = _expected_alg(hash_alg)
    digest = _bytes(data_digest, "data_digest")
    if len(digest) != hashlib.new(alg.name).digest_size:
        raise MalformedError(f"data_digest is not a {alg.name} digest", length=len(digest))
    if nonce is not None and (not isinstance(nonce, int) or isinstance(nonce, bool)):
        raise MalformedError("nonce must be an integer", type=type(nonce).__name__)
    token = parse_token(token_der)
    return token, alg, digest, nonce


def _facts(token: TimestampToken, cert: Any) -> TokenFacts:
    return TokenFacts(
        token=token.der,
        gen_time=token.gen_time,
        serial=token.serial,
        policy=token.policy,
        hash_alg=token.hash_alg,
        imprint=token.imprint,
        nonce=token.nonce,
        accuracy=token.accuracy,
        tsa_certificate=cert.dump(),
        certificates=token.certificates,
    )


def check_token(
    token_der: bytes, *, data_digest: bytes, hash_alg: str, nonce: int | None = None
) -> TokenFacts:
    """Check a TimeStampToken over `data_digest` (the hash of the data under `hash_alg`, an
    asn1crypto name such as "sha256"), RFC 3161 §2.4.2, in this order: messageImprint
    algorithm and value; the nonce, when given; the TSA certificate present (certReq); the
    content-type and message-digest signed attributes; the CMS signature; the ESSCertID /
    ESSCertIDv2 binding of the certificate; its critical timeStamping extendedKeyUsage;
    genTime within its validity. No trust decision and no clock: see `validate_tsa_chain`.

    Returns the token's facts. Raises the first failure: TimestampImprintError,
    NonceMismatchError, SigningCertificateError, SignedAttributesError,
    SignatureInvalidError, TsaUsageError, GenTimeOutsideValidityError,
    TimestampAlgorithmError (cannot decide); MalformedError if an input does not parse."""
    token, alg, digest, nonce = _prepare(token_der, data_digest, hash_alg, nonce)
    steps, cert = _steps(token, alg, digest, nonce)
    for step in steps:
        step.run()
    return _facts(token, cert())


# --- Validating the TSA's chain -------------------------------------------------------------

Revocation = Literal["require", "soft", "off"]
# pyhanko-certvalidator's legacy revocation modes: "require" needs a CRL or OCSP response for
# every certificate of the path but the anchor; "soft-fail" checks what the certificates
# declare (CRL distribution points, OCSP) and ignores what cannot be found; "none" skips it.
_REVOCATION_MODES = {"require": "require", "soft": "soft-fail", "off": "none"}


def _load_all(items: object, loader: Callable[[bytes], Any], what: str) -> list[Any]:
    if isinstance(items, bytes | bytearray | memoryview | str) or not isinstance(items, Sequence):
        raise MalformedError(f"{what} must be a sequence of DER values", type=type(items).__name__)
    out = []
    for k, item in enumerate(items):
        der = _bytes(item, f"{what}[{k}]")
        value = _guard(f"{what}[{k}]", _load_native, loader, der)
        out.append(value)
    return out


def _load_native(loader: Callable[[bytes], Any], der: bytes) -> Any:
    value = loader(der)
    value.native  # noqa: B018
    return value


def _certificate(der: bytes) -> Any:
    return x509.Certificate.load(der, strict=True)


def _crl(der: bytes) -> Any:
    return crl.CertificateList.load(der, strict=True)


def _ocsp(der: bytes) -> Any:
    return ocsp.OCSPResponse.load(der, strict=True)


def run_sync(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run pyhanko-certvalidator's coroutine to completion from synchronous code, also
    when the caller is itself inside an event loop (an async web handler)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _path_names(path: ValidationPath | None) -> list[str]:
    if path is None:
        return []
    return [str(c.subject.human_friendly) for c in path.iter_certs(include_root=True)]


def _chain_check(error: type[TimestampError], message: str, **evidence: Any) -> Check:
    return Check(
        "tsa.chain",
        error.verdict,
        error.code,
        message,
        {"subindication": error.subindication, **evidence},
    )


def _validate(
    tsa: Any,
    intermediates: list[Any],
    roots: list[Any],
    at: datetime,
    crls: list[Any],
    ocsps: list[Any],
    revocation: str,
) -> ValidationPath:
    context = ValidationContext(
        trust_roots=roots,
        other_certs=intermediates,
        moment=at,
        allow_fetching=False,
        crls=crls,  # a list, even empty: None with "require" is refused by the context
        ocsps=ocsps,
        revocation_mode=_REVOCATION_MODES[revocation],
    )
    validator = CertificateValidator(tsa, intermediates, validation_context=context)
    path = run_sync(validator.async_validate_path())
    # RFC 3161 §2.3: id-kp-timeStamping required (its criticality is `check_token`'s);
    # keyUsage is checked there too (digitalSignature or nonRepudiation).
    validate_usage(tsa, set(), {"time_stamping"}, False)
    return path


class _ChainInputs(NamedTuple):
    roots: list[Any]
    extra: list[Any]
    crls: list[Any]
    ocsps: list[Any]
    at: datetime
    revocation: str


def _chain_inputs(
    trust_roots: object,
    at: object,
    other_certs: object,
    crls: object,
    ocsps: object,
    revocation: object,
) -> _ChainInputs:
    if not isinstance(at, datetime) or at.utcoffset() is None:
        raise MalformedError("at must be an aware datetime", at=repr(at))
    if not isinstance(revocation, str) or revocation not in _REVOCATION_MODES:
        raise MalformedError("revocation must be require, soft or off", revocation=repr(revocation))
    return _ChainInputs(
        _load_all(trust_roots, _certificate, "trust_roots"),
        _load_all(other_certs, _certificate, "other_certs"),
        _load_all(crls, _crl, "crls"),
        _load_all(ocsps, _ocsp, "ocsps"),
        at,
        revocation,
    )


@dataclass(frozen=True)
class TrustedRoot:
    """A root trusted only for what was made within [valid_from, valid_until] (aware times;
    None: unbounded). A trust anchor that was retired, or whose window ended, still vouches
    for tokens made while it was in force, and for nothing after. A plain DER root (bytes) is
    trusted for any time."""

    der: bytes
    valid_from: datetime | None = None
    valid_until: datetime | None = None

    def vouches_for(self, made_at: datetime) -> bool:
        return (self.valid_from is None or self.valid_from <= made_at) and (
            self.valid_until is None or made_at <= self.valid_until)


def roots_for(trust_roots: Sequence[bytes | TrustedRoot], made_at: datetime) -> list[bytes]:
    """The DER of the roots that vouch for something made at `made_at`."""
    if isinstance(trust_roots, bytes | str):
        raise MalformedError("trust_roots must be a sequence of roots")
    return [r.der if isinstance(r, TrustedRoot) else r for r in trust_roots
            if not isinstance(r, TrustedRoot) or r.vouches_for(made_at)]


def validate_tsa_chain(
    facts: TokenFacts,
    *,
    trust_roots: Sequence[bytes | TrustedRoot],
    at: datetime,
    other_certs: Sequence[bytes] = (),
    crls: Sequence[bytes] = (),
    ocsps: Sequence[bytes] = (),
    revocation: Revocation = "require",
) -> Check:
    """Validate the certification path of `facts.tsa_certificate` at time `at` (aware) to
    one of `trust_roots` (DER certificates), with pyhanko-certvalidator, offline (no
    fetching): the certificates embedded in the token and `other_certs` may serve as
    intermediates; `crls` (DER CertificateList) and `ocsps` (DER OCSPResponse) are the only
    revocation data. Revocation data is usable when thisUpdate <= `at` <= nextUpdate.
    `revocation`: "require" (every certificate but the anchor needs CRL or OCSP data),
    "soft" (checks only certificates that declare a CRL distribution point or OCSP
    responder, and only with data supplied here; missing data is ignored), "off".

    Returns one Check named "tsa.chain": PASSED when the path is valid at `at`; FAILED
    (tsa_revoked REVOKED, tsa_not_yet_valid NOT_YET_VALID, tsa_chain_invalid
    CERTIFICATE_CHAIN_GENERAL_FAILURE); INDETERMINATE (tsa_expired OUT_OF_BOUNDS_NO_POE,
    tsa_revocation_unknown TRY_LATER, tsa_untrusted NO_CERTIFICATE_CHAIN_FOUND,
    timestamp_algorithm_unsupported for algorithms the validator refuses). The ETSI
    subindication is in the evidence. Raises MalformedError for inputs that do not parse."""
    if not isinstance(facts, TokenFacts):
        raise MalformedError("facts must be the TokenFacts of check_token")
    inputs = _chain_inputs(roots_for(trust_roots, facts.gen_time), at, other_certs, crls,
                           ocsps, revocation)
    return _validate_chain(facts, inputs)


def _validate_chain(facts: TokenFacts, inputs: _ChainInputs) -> Check:
    at, revocation = inputs.at, inputs.revocation
    tsa = _guard("TSA certificate", _load_native, _certificate, facts.tsa_certificate)
    embedded = _load_all(facts.certificates, _certificate, "token certificates")
    intermediates = [c for c in [*embedded, *inputs.extra] if c.dump() != tsa.dump()]
    evidence: dict[str, Any] = {"at": at.isoformat(), "revocation": revocation}
    if not inputs.roots:
        # Without roots pyhanko-certvalidator would fall back to the system's TLS store.
        return _chain_check(TsaUntrustedError, "no trust roots given", **evidence)

    try:
        path = _validate(
            tsa, intermediates, inputs.roots, at, inputs.crls, inputs.ocsps, revocation
        )
    except RevokedError as exc:
        evidence.update(
            path=_path_names(exc.original_path),
            revocation_date=exc.revocation_dt.isoformat(),
            reason=str(exc.reason.native),
            ca_revoked=not exc.is_ee_cert,
            detail=exc.failure_msg,
        )
        if exc.is_side_validation:  # the certificate of a CRL or OCSP signer
            return _chain_check(
                TsaRevocationUnknownError, "a revocation data signer is revoked", **evidence
            )
        return _chain_check(TsaRevokedError, "revoked before the validation time", **evidence)
    except InsufficientRevinfoError as exc:  # also StaleRevinfoError
        return _chain_check(
            TsaRevocationUnknownError,
            "revocation status not established at the validation time",
            detail=exc.failure_msg,
            **evidence,
        )
    except ExpiredError as exc:
        return _chain_check(
            TsaExpiredError,
            "a certificate of the path is expired at the validation time",
            expired=exc.expired_dt.isoformat(),
            path=_path_names(exc.original_path),
            **evidence,
        )
    except NotYetValidError as exc:
        return _chain_check(
            TsaNotYetValidError,
            "a certificate of the path is not yet valid at the validation time",
            valid_from=exc.valid_from.isoformat(),
            **evidence,
        )
    except (DisallowedAlgorithmError, InsufficientPOEError) as exc:
        return _chain_check(
            TimestampAlgorithmError,
            "an algorithm of the path is not acceptable at the validation time",
            detail=exc.failure_msg,
            **evidence,
        )
    except PathValidationError as exc:
        return _chain_check(
            TsaChainInvalidError,
            "the certification path does not validate",
            detail=exc.failure_msg,
            path=_path_names(exc.original_path),
            **evidence,
        )
    except PathBuildingError as exc:
        return _chain_check(
            TsaUntrustedError,
            "no certification path to a given trust root",
            detail=str(exc),
            **evidence,
        )
    except InvalidCertificateError as exc:  # usage, or a self-signed TSA certificate
        return _chain_check(
            TsaChainInvalidError, "the TSA certificate is not valid here", detail=exc.failure_msg,
            **evidence,
        )  # fmt: skip
    except ValidationError as exc:
        return _chain_check(
            TsaChainInvalidError, "certificate validation failed", detail=exc.failure_msg,
            **evidence,
        )  # fmt: skip
    except Exception as exc:
        # pyhanko-certvalidator reports some inputs it cannot handle (an unknown critical
        # CRL entry extension, ...) with builtin exceptions: undecided, never PASSED.
        return Check(
            "tsa.chain",
            Verdict.INDETERMINATE,
            TsaChainInvalidError.code,
            "certificate validation could not be completed",
            {
                "subindication": "CERTIFICATE_CHAIN_GENERAL_FAILURE",
                "detail": f"{type(exc).__name__}: {exc}",
                **evidence,
            },
        )
    return Check("tsa.chain", Verdict.PASSED, evidence={**evidence, "path": _path_names(path)})


# --- Both -----------------------------------------------------------------------------------


def verify_timestamp(
    token_der: bytes,
    *,
    data_digest: bytes,
    hash_alg: str,
    trust_roots: Sequence[bytes | TrustedRoot],
    at: datetime,
    nonce: int | None = None,
    other_certs: Sequence[bytes] = (),
    crls: Sequence[bytes] = (),
    ocsps: Sequence[bytes] = (),
    revocation: Revocation = "require",
) -> Report:
    """`check_token`, then `validate_tsa_chain` at `at`: one Check per step, in order, and a
    bottom line. Steps that need the TSA certificate do not run when it is missing; the
    chain is validated only when every token check passed. Raises MalformedError if the
    token or an input does not parse; every other failure is in the report.

    `at` is expected no earlier than genTime (RFC 4998 §5.3: the next timestamp's genTime,
    or now); it is not compared with genTime here, a TSA clock a little ahead of ours is
    not a forgery."""
    token, alg, digest, nonce = _prepare(token_der, data_digest, hash_alg, nonce)
    inputs = _chain_inputs(roots_for(trust_roots, token.gen_time), at, other_certs, crls,
                           ocsps, revocation)
    steps, cert = _steps(token, alg, digest, nonce)
    checks: list[Check] = []
    signer_missing = False
    for step in steps:
        if signer_missing and step.name not in ("timestamp.signed_attributes",):
            continue
        try:
            step.run()
        except TimestampError as exc:
            evidence = {"subindication": exc.subindication, **exc.evidence}
            checks.append(Check(step.name, exc.verdict, exc.code, exc.message, evidence))
            signer_missing = signer_missing or step.name == "timestamp.signer"
            continue
        checks.append(Check(step.name, Verdict.PASSED))
    summary: dict[str, Any] = {
        "gen_time": token.gen_time.isoformat(),
        "serial": token.serial,
        "policy": token.policy,
        "at": at.isoformat(),
        "revocation": revocation,
    }
    if all(c.verdict is Verdict.PASSED for c in checks):
        facts = _facts(token, cert())
        summary["tsa"] = str(cert().subject.human_friendly)
        checks.append(_validate_chain(facts, inputs))
    return Report(tuple(checks), summary)
