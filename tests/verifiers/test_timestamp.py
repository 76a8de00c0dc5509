"""verifiers.timestamp against tokens from two TSAs that are not ours.

A PKI made here with `cryptography`: a root CA, an intermediate CA (with CRLs), and TSA
certificates under it: EC and RSA ones with the critical timeStamping extendedKeyUsage, an RSA
one whose EKU is not critical, one without EKU, an expired one, two revoked ones (before and
after the validation time), equal-length twins of the EC and RSA TSA certificates (same key,
name and serial), and a forged intermediate. Tokens come from `openssl ts -reply`
(ESSCertIDv2, SHA-256) and from pyHanko's DummyTimeStamper (ESSCertID, SHA-1, RSA only);
`openssl ts -verify` must accept every valid one and reject the bad-EKU and twin ones, so the
PKI and our verdicts are checked by someone else too.

Needs the `openssl` command (OpenSSL 3). Without it the openssl cases skip, unless CI is set or
STELE_REQUIRE_OPENSSL=1, when they fail.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import random
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms, keys, parser, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from verifiers.errors import MalformedError, VerificationError
from verifiers.report import Report, Verdict
from verifiers.timestamp import (
    GenTimeOutsideValidityError,
    NonceMismatchError,
    NotGrantedError,
    SigningCertificateError,
    TimestampImprintError,
    TokenFacts,
    TsaUsageError,
    check_token,
    parse_token,
    token_from_response,
    validate_tsa_chain,
    verify_timestamp,
)

NOW = datetime.now(UTC).replace(microsecond=0)  # openssl stamps the real clock
DATA = b"stele.example/log\n42\nF0Vh3Y0hMvE9Xz1w6m3cAx0sGfB0U2kqjCqJ0b3mNQQ=\n"
DIGEST = hashlib.sha256(DATA).digest()
NONCE = 0x5E1E_CAFE_F00D
POLICY = "1.3.6.1.4.1.4146.2.3"
CRL_URL = "http://crl.stele.invalid/intermediate.crl"  # declared, never fetched
_serials = itertools.count(0x1000)


# --- The PKI ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    name: str
    cert: x509.Certificate
    key: Any  # a cryptography private key

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(  # type: ignore[no-any-return]
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Stele test PKI"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _issue(
    name: str,
    key: Any,
    issuer: Issued | None,
    *,
    ca: bool = False,
    eku: str = "critical",  # "critical", "noncritical" or "none"
    not_before: datetime = NOW - timedelta(days=1),
    not_after: datetime = NOW + timedelta(days=30),
    serial: int | None = None,
    subject: x509.Name | None = None,
    issuer_name: x509.Name | None = None,
    signing_key: Any = None,
) -> Issued:
    subject = subject or _name(name)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name or (issuer.cert.subject if issuer else subject))
        .public_key(key.public_key())
        .serial_number(serial or next(_serials))
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            # Roots leave the length open (OpenSSL applies a root's pathLenConstraint too).
            x509.BasicConstraints(ca=ca, path_length=0 if ca and issuer else None),
            True,
        )
        .add_extension(_key_usage(ca=ca), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), False
        ).add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        [x509.UniformResourceIdentifier(CRL_URL)], None, None, None
                    )
                ]
            ),
            critical=False,
        )
    if not ca and eku != "none":
        # RFC 3161 §2.3: timeStamping alone, critical (here also the wrong way round).
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=eku == "critical"
        )
    signer = signing_key or (issuer.key if issuer else key)
    return Issued(name, builder.sign(signer, hashes.SHA256()), key)


def _ec() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _crl(issuer: Issued, revoked: list[tuple[Issued, datetime, x509.ReasonFlags]]) -> bytes:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.cert.subject)
        .last_update(NOW - timedelta(hours=1))
        .next_update(NOW + timedelta(days=7))
        .add_extension(x509.CRLNumber(1), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), False
        )
    )
    for who, when, reason in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(who.cert.serial_number)
            .revocation_date(when)
            .add_extension(x509.CRLReason(reason), critical=False)
            .build()
        )
    return builder.sign(issuer.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _twin(of: Issued, issuer: Issued) -> Issued:
    """Same key, subject, issuer and serial, one second more validity: a certificate the
    sid matches and the signature verifies with, but not the one ESSCertID names. Same DER
    length, so it can replace the original in a token byte for byte."""
    for _ in range(50):
        twin = _issue(
            of.name,
            of.key,
            issuer,
            serial=of.cert.serial_number,
            subject=of.cert.subject,
            not_before=of.cert.not_valid_before_utc,
            not_after=of.cert.not_valid_after_utc + timedelta(seconds=1),
        )
        if len(twin.der) == len(of.der):
            return twin
    raise AssertionError("no equal-length twin")


@dataclass(frozen=True)
class Pki:
    root: Issued
    other_root: Issued
    intermediate: Issued
    forged_intermediate: Issued
    tsa_ec: Issued
    tsa_rsa: Issued
    tsa_noncritical: Issued
    tsa_no_eku: Issued
    tsa_expired: Issued
    tsa_revoked: Issued
    tsa_revoked_later: Issued
    twin_ec: Issued
    twin_rsa: Issued
    root_crl: bytes
    intermediate_crl: bytes

    @property
    def crls(self) -> list[bytes]:
        return [self.root_crl, self.intermediate_crl]


@pytest.fixture(scope="module")
def pki() -> Pki:
    year = timedelta(days=365)
    ca: dict[str, Any] = {"ca": True, "not_before": NOW - year, "not_after": NOW + 5 * year}
    root = _issue("Stele test root", _ec(), None, **ca)
    other = _issue("Other root", _ec(), None, **ca)
    inter_key = _ec()
    inter = _issue("Stele test TSA CA", inter_key, root, **ca)
    # The intermediate's name and key, but signed by someone who is not the root.
    forged = _issue("Stele test TSA CA", inter_key, root, signing_key=_ec(), **ca)
    tsa_ec = _issue("TSA EC", _ec(), inter)
    tsa_rsa = _issue("TSA RSA", _rsa(), inter)
    revoked = _issue("TSA revoked", _ec(), inter)
    revoked_later = _issue("TSA revoked later", _ec(), inter)
    return Pki(
        root=root,
        other_root=other,
        intermediate=inter,
        forged_intermediate=forged,
        tsa_ec=tsa_ec,
        tsa_rsa=tsa_rsa,
        tsa_noncritical=_issue("TSA EKU not critical", _rsa(), inter, eku="noncritical"),
        tsa_no_eku=_issue("TSA without EKU", _rsa(), inter, eku="none"),
        tsa_expired=_issue(
            "TSA expired",
            _rsa(),
            inter,
            not_before=NOW - timedelta(days=30),
            not_after=NOW - timedelta(days=1),
        ),
        tsa_revoked=revoked,
        tsa_revoked_later=revoked_later,
        twin_ec=_twin(tsa_ec, inter),
        twin_rsa=_twin(tsa_rsa, inter),
        root_crl=_crl(root, []),
        intermediate_crl=_crl(
            inter,
            [
                (revoked, NOW - timedelta(minutes=30), x509.ReasonFlags.key_compromise),
                (revoked_later, NOW + timedelta(days=2), x509.ReasonFlags.superseded),
            ],
        ),
    )


# --- Two TSAs that are not ours -------------------------------------------------------------


def _openssl() -> str:
    found = shutil.which("openssl")
    if found is None:
        message = "`openssl` is not on PATH: apt-get install -y openssl"
        if os.environ.get("CI") or os.environ.get("STELE_REQUIRE_OPENSSL") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return found


def _request(digest: bytes = DIGEST, nonce: int | None = NONCE) -> tsp.TimeStampReq:
    fields: dict[str, Any] = {
        "version": "v1",
        "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": digest},
        "cert_req": True,
    }
    if nonce is not None:
        fields["nonce"] = nonce
    return tsp.TimeStampReq(fields)


class OpensslTsa:
    """`openssl ts -reply` as a TSA (config in the directory), `openssl ts -verify` as a
    second opinion."""

    def __init__(self, directory: Path) -> None:
        self.openssl = _openssl()
        self.dir = directory
        self.runs = itertools.count()
        (directory / "serial").write_text("01\n")
        (directory / "tsa.cnf").write_text(
            "[ tsa ]\n"
            "default_tsa = stele_test_tsa\n"
            "[ stele_test_tsa ]\n"
            f"dir = {directory}\n"
            "serial = $dir/serial\n"
            "crypto_device = builtin\n"
            "signer_digest = sha256\n"
            f"default_policy = {POLICY}\n"
            "digests = sha256, sha384, sha512\n"
            "accuracy = secs:1, millisecs:500\n"
            "ordering = yes\n"
            "tsa_name = yes\n"
            "ess_cert_id_chain = no\n"
            "ess_cert_id_alg = sha256\n"  # ESSCertIDv2 (RFC 5816)
        )

    def _write(self, name: str, data: bytes) -> Path:
        path = self.dir / f"{next(self.runs)}-{name}"
        path.write_bytes(data)
        return path

    def stamp(self, signer: Issued, chain: list[Issued], nonce: int | None = NONCE) -> bytes:
        query = self._write("q.tsq", _request(nonce=nonce).dump())
        out = self.dir / f"{next(self.runs)}-token.der"
        done = subprocess.run(
            [self.openssl, "ts", "-reply", "-config", self.dir / "tsa.cnf",
             "-queryfile", query, "-signer", self._write("signer.pem", signer.pem),
             "-inkey", self._write("signer.key", signer.key_pem()),
             "-chain", self._write("chain.pem", b"".join(c.pem for c in chain)),
             "-token_out", "-out", out],
            capture_output=True, check=False, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr.decode()
        return out.read_bytes()

    def verify(self, token: bytes, root: Issued, untrusted: list[Issued]) -> str | None:
        """None if `openssl ts -verify` accepts the token, else its complaint."""
        done = subprocess.run(
            [self.openssl, "ts", "-verify", "-digest", DIGEST.hex(),
             "-in", self._write("v.der", token), "-token_in",
             "-CAfile", self._write("root.pem", root.pem),
             "-untrusted", self._write("untrusted.pem", b"".join(c.pem for c in untrusted))],
            capture_output=True, check=False, timeout=60,
        )  # fmt: skip
        return None if done.returncode == 0 else done.stdout.decode() + done.stderr.decode()


def _asn1_cert(issued: Issued) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(issued.der)


def pyhanko_response(
    signer: Issued, chain: list[Issued], *, nonce: int | None = NONCE, at: datetime | None = None
) -> bytes:
    """A TimeStampResp from pyHanko's DummyTimeStamper (ESSCertID v1, RSA PKCS#1 v1.5)."""
    key_der = signer.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    embed = SimpleCertificateStore.from_certs([_asn1_cert(c) for c in chain])  # type: ignore[no-untyped-call]
    stamper = DummyTimeStamper(
        tsa_cert=_asn1_cert(signer),
        tsa_key=keys.PrivateKeyInfo.load(key_der),
        certs_to_embed=embed,
        fixed_dt=at,
    )
    response: bytes = stamper.request_tsa_response(_request(nonce=nonce)).dump()
    return response


def pyhanko_token(signer: Issued, chain: list[Issued], **kwargs: Any) -> bytes:
    return token_from_response(pyhanko_response(signer, chain, **kwargs))


def _second_opinion(request: pytest.FixtureRequest) -> OpensslTsa | None:
    """`openssl ts -verify` for a cross-check in a test that does not need openssl
    otherwise: None when it is missing (and not required)."""
    if shutil.which("openssl") is None and not (
        os.environ.get("CI") or os.environ.get("STELE_REQUIRE_OPENSSL") == "1"
    ):
        return None
    tsa: OpensslTsa = request.getfixturevalue("openssl_tsa")
    return tsa


@pytest.fixture(scope="module")
def openssl_tsa(tmp_path_factory: pytest.TempPathFactory) -> OpensslTsa:
    return OpensslTsa(tmp_path_factory.mktemp("openssl-tsa"))


@dataclass(frozen=True)
class Made:
    """A valid token and who made it."""

    token: bytes
    signer: Issued
    maker: str


@pytest.fixture(scope="module", params=["openssl-ec", "openssl-rsa", "pyhanko-rsa"])
def made(request: pytest.FixtureRequest, pki: Pki) -> Made:
    if request.param == "pyhanko-rsa":
        return Made(pyhanko_token(pki.tsa_rsa, [pki.intermediate]), pki.tsa_rsa, "pyhanko")
    tsa: OpensslTsa = request.getfixturevalue("openssl_tsa")
    signer = pki.tsa_ec if request.param == "openssl-ec" else pki.tsa_rsa
    return Made(tsa.stamp(signer, [pki.intermediate]), signer, "openssl")


def verify(token: bytes, pki: Pki, **kwargs: Any) -> Report:
    options: dict[str, Any] = {
        "data_digest": DIGEST,
        "hash_alg": "sha256",
        "trust_roots": [pki.root.der],
        "at": NOW + timedelta(hours=1),
        "revocation": "off",
    }
    options.update(kwargs)
    return verify_timestamp(token, **options)


def _failed(report: Report) -> list[tuple[str, str | None]]:
    return [(c.name, c.code) for c in report.failures]


# --- Valid tokens, from both TSAs -------------------------------------------------------------


def test_openssl_accepts_each_valid_token(made: Made, pki: Pki, openssl_tsa: OpensslTsa) -> None:
    complaint = openssl_tsa.verify(made.token, pki.root, [pki.intermediate, made.signer])
    assert complaint is None, complaint


def test_valid_token_passes_inside_the_validity(made: Made, pki: Pki) -> None:
    report = verify(made.token, pki, nonce=NONCE)
    assert report.bottom_line is Verdict.PASSED, [c.line() for c in report.failures]
    assert [c.name for c in report.checks] == [
        "timestamp.imprint",
        "timestamp.nonce",
        "timestamp.signer",
        "timestamp.signed_attributes",
        "timestamp.signature",
        "timestamp.signing_certificate",
        "timestamp.tsa_usage",
        "timestamp.gen_time",
        "tsa.chain",
    ]
    facts = check_token(made.token, data_digest=DIGEST, hash_alg="sha256", nonce=NONCE)
    assert facts.tsa_certificate == made.signer.der
    assert facts.imprint == DIGEST and facts.hash_alg == "sha256" and facts.nonce == NONCE
    assert facts.gen_time.tzinfo is not None
    assert NOW - timedelta(minutes=1) <= facts.gen_time <= datetime.now(UTC)
    # ESSCertIDv2 from openssl (ess_cert_id_alg = sha256), ESSCertID (SHA-1) from pyHanko.
    signed_attrs = cms.ContentInfo.load(made.token)["content"]["signer_infos"][0]["signed_attrs"]
    kinds = {a["type"].native for a in signed_attrs}
    expected = "signing_certificate_v2" if made.maker == "openssl" else "signing_certificate"
    assert expected in kinds
    assert made.signer.der in facts.certificates
    assert pki.intermediate.der in facts.certificates
    if made.maker == "openssl":
        assert facts.policy == POLICY
        assert facts.accuracy == timedelta(seconds=1, milliseconds=500)
    parsed = parse_token(made.token)
    assert (parsed.gen_time, parsed.serial, parsed.imprint) == (
        facts.gen_time,
        facts.serial,
        DIGEST,
    )


def test_valid_token_with_required_revocation_data_passes(made: Made, pki: Pki) -> None:
    for revocation in ("require", "soft"):
        report = verify(made.token, pki, crls=pki.crls, revocation=revocation)
        assert report.bottom_line is Verdict.PASSED, [c.line() for c in report.failures]


def test_valid_token_is_indeterminate_once_the_tsa_certificate_expired(
    made: Made, pki: Pki
) -> None:
    """ETSI EN 319 102-1: expiry after signing is not forgery (OUT_OF_BOUNDS_NO_POE); a
    later timestamp (RFC 4998 renewal) is what keeps the proof."""
    later = made.signer.cert.not_valid_after_utc + timedelta(days=1)
    report = verify(made.token, pki, at=later)
    assert report.bottom_line is Verdict.INDETERMINATE
    chain = report.checks[-1]
    assert (chain.name, chain.code) == ("tsa.chain", "tsa_expired")
    assert chain.evidence["subindication"] == "OUT_OF_BOUNDS_NO_POE"
    assert all(c.verdict is Verdict.PASSED for c in report.checks[:-1])


def test_wrong_data_digest_fails_with_imprint_mismatch(made: Made, pki: Pki) -> None:
    wrong = hashlib.sha256(DATA + b"!").digest()
    report = verify(made.token, pki, data_digest=wrong)
    assert report.bottom_line is Verdict.FAILED
    assert _failed(report) == [("timestamp.imprint", "timestamp_imprint_mismatch")]
    assert report.failures[0].evidence["expected"] == wrong.hex()
    with pytest.raises(TimestampImprintError):
        check_token(made.token, data_digest=wrong, hash_alg="sha256")
    # Same digest, declared under another algorithm of the same size.
    with pytest.raises(TimestampImprintError):
        check_token(made.token, data_digest=DIGEST, hash_alg="sha3_256")


def test_wrong_nonce_fails(made: Made, pki: Pki) -> None:
    report = verify(made.token, pki, nonce=NONCE + 1)
    assert report.bottom_line is Verdict.FAILED
    assert _failed(report) == [("timestamp.nonce", "timestamp_nonce_mismatch")]
    with pytest.raises(NonceMismatchError):
        check_token(made.token, data_digest=DIGEST, hash_alg="sha256", nonce=NONCE + 1)


def test_untrusted_root_is_not_passed(made: Made, pki: Pki) -> None:
    """ETSI: NO_CERTIFICATE_CHAIN_FOUND is INDETERMINATE (the verifier may lack the anchor);
    it is never PASSED."""
    report = verify(made.token, pki, trust_roots=[pki.other_root.der])
    assert report.bottom_line is Verdict.INDETERMINATE
    assert report.checks[-1].code == "tsa_untrusted"
    assert report.checks[-1].evidence["subindication"] == "NO_CERTIFICATE_CHAIN_FOUND"
    assert verify(made.token, pki, trust_roots=[]).bottom_line is Verdict.INDETERMINATE


def test_missing_revocation_data_when_required_is_indeterminate(made: Made, pki: Pki) -> None:
    for crls in ([], [pki.root_crl]):  # none at all; none for the TSA certificate
        report = verify(made.token, pki, crls=crls, revocation="require")
        assert report.bottom_line is Verdict.INDETERMINATE
        assert report.checks[-1].code == "tsa_revocation_unknown"
        assert report.checks[-1].evidence["subindication"] == "TRY_LATER"
    # Soft: what cannot be found is ignored.
    assert verify(made.token, pki, revocation="soft").bottom_line is Verdict.PASSED


def test_stale_revocation_data_is_indeterminate(made: Made, pki: Pki) -> None:
    # The CRLs' nextUpdate is NOW + 7 days; the certificate is still valid at NOW + 8 days.
    report = verify(
        made.token, pki, crls=pki.crls, revocation="require", at=NOW + timedelta(days=8)
    )
    assert report.bottom_line is Verdict.INDETERMINATE
    assert report.checks[-1].code == "tsa_revocation_unknown"


def test_validation_time_before_the_certificate_fails(made: Made, pki: Pki) -> None:
    report = verify(made.token, pki, at=NOW - timedelta(days=2))
    assert report.bottom_line is Verdict.FAILED
    assert report.checks[-1].code == "tsa_not_yet_valid"


# --- Bad TSA certificates ---------------------------------------------------------------------


@pytest.mark.parametrize("which", ["tsa_noncritical", "tsa_no_eku"])
def test_tsa_certificate_without_critical_eku_fails(
    which: str, pki: Pki, request: pytest.FixtureRequest
) -> None:
    """RFC 3161 §2.3. `openssl ts -reply` refuses such a signer, so pyHanko signs these."""
    signer: Issued = getattr(pki, which)
    token = pyhanko_token(signer, [pki.intermediate])
    report = verify(token, pki)
    assert report.bottom_line is Verdict.FAILED
    assert _failed(report) == [("timestamp.tsa_usage", "timestamp_tsa_usage")]
    assert "tsa.chain" not in [c.name for c in report.checks]
    with pytest.raises(TsaUsageError):
        check_token(token, data_digest=DIGEST, hash_alg="sha256")
    if (openssl := _second_opinion(request)) is not None:
        assert openssl.verify(token, pki.root, [pki.intermediate, signer]) is not None


def test_token_signed_after_its_certificate_expired_fails(
    pki: Pki, openssl_tsa: OpensslTsa
) -> None:
    token = openssl_tsa.stamp(pki.tsa_expired, [pki.intermediate])
    report = verify(token, pki, at=NOW - timedelta(days=2))  # a time the certificate was valid
    assert report.bottom_line is Verdict.FAILED
    assert _failed(report) == [("timestamp.gen_time", "timestamp_gen_time_outside_validity")]
    with pytest.raises(GenTimeOutsideValidityError):
        check_token(token, data_digest=DIGEST, hash_alg="sha256")


def test_token_of_an_expired_certificate_passes_while_it_was_valid(pki: Pki) -> None:
    made_at = NOW - timedelta(days=10)
    token = pyhanko_token(pki.tsa_expired, [pki.intermediate], at=made_at)
    assert verify(token, pki, at=made_at + timedelta(hours=1)).bottom_line is Verdict.PASSED
    report = verify(token, pki, at=NOW)
    assert report.bottom_line is Verdict.INDETERMINATE
    assert report.checks[-1].code == "tsa_expired"


@pytest.mark.parametrize("revocation", ["require", "soft"])
def test_revoked_before_validation_time_fails(
    revocation: str, pki: Pki, openssl_tsa: OpensslTsa
) -> None:
    token = openssl_tsa.stamp(pki.tsa_revoked, [pki.intermediate])
    report = verify(token, pki, crls=pki.crls, revocation=revocation)
    assert report.bottom_line is Verdict.FAILED
    chain = report.checks[-1]
    assert (chain.name, chain.code) == ("tsa.chain", "tsa_revoked")
    assert chain.evidence["subindication"] == "REVOKED"
    assert chain.evidence["reason"] == "key_compromise"
    assert chain.evidence["ca_revoked"] is False
    # Without the CRL, "require" cannot decide and "off" does not look.
    assert verify(token, pki, revocation="require").bottom_line is Verdict.INDETERMINATE
    assert verify(token, pki, revocation="off").bottom_line is Verdict.PASSED


def test_revoked_after_validation_time_passes(pki: Pki, openssl_tsa: OpensslTsa) -> None:
    token = openssl_tsa.stamp(pki.tsa_revoked_later, [pki.intermediate])
    options: dict[str, Any] = {"crls": pki.crls, "revocation": "require"}
    assert verify(token, pki, **options).bottom_line is Verdict.PASSED
    late = verify(token, pki, at=NOW + timedelta(days=3), **options)
    assert late.bottom_line is Verdict.FAILED
    assert late.checks[-1].code == "tsa_revoked"


def test_broken_chain_fails(pki: Pki, openssl_tsa: OpensslTsa) -> None:
    """The intermediate in the token has the right name and key but is not the root's."""
    token = openssl_tsa.stamp(pki.tsa_ec, [pki.forged_intermediate])
    report = verify(token, pki)
    assert report.bottom_line is Verdict.FAILED
    assert report.checks[-1].code == "tsa_chain_invalid"
    # The genuine intermediate supplied beside it: a valid path exists.
    assert verify(token, pki, other_certs=[pki.intermediate.der]).bottom_line is Verdict.PASSED


# --- ESSCertID / ESSCertIDv2 -----------------------------------------------------------------


@pytest.mark.parametrize("maker", ["openssl", "pyhanko"])
def test_swapped_certificate_of_the_same_key_and_name_fails(
    maker: str, pki: Pki, request: pytest.FixtureRequest
) -> None:
    """The twin matches the sid and the signature verifies with its key: only the
    ESSCertIDv2 (openssl) or ESSCertID (pyHanko) binding tells the two apart."""
    if maker == "openssl":
        signer, twin = pki.tsa_ec, pki.twin_ec
        token = request.getfixturevalue("openssl_tsa").stamp(signer, [pki.intermediate])
    else:
        signer, twin = pki.tsa_rsa, pki.twin_rsa
        token = pyhanko_token(signer, [pki.intermediate])
    assert token.count(signer.der) == 1
    swapped = token.replace(signer.der, twin.der)
    report = verify(swapped, pki)
    assert report.bottom_line is Verdict.FAILED
    assert _failed(report) == [("timestamp.signing_certificate", "timestamp_signing_certificate")]
    with pytest.raises(SigningCertificateError):
        check_token(swapped, data_digest=DIGEST, hash_alg="sha256")
    if (openssl := _second_opinion(request)) is not None:
        assert openssl.verify(swapped, pki.root, [pki.intermediate, twin]) is not None


def _with_certificates(token: bytes, certificates: list[bytes]) -> bytes:
    ci = cms.ContentInfo.load(token)
    ci["content"]["certificates"] = [asn1_x509.Certificate.load(c) for c in certificates]
    out: bytes = ci.dump(force=True)
    return out


def test_the_certificate_ess_cert_id_names_is_chosen_among_twins(pki: Pki) -> None:
    token = pyhanko_token(pki.tsa_rsa, [pki.intermediate])
    both = _with_certificates(token, [pki.twin_rsa.der, pki.tsa_rsa.der, pki.intermediate.der])
    assert verify(both, pki).bottom_line is Verdict.PASSED
    facts = check_token(both, data_digest=DIGEST, hash_alg="sha256")
    assert facts.tsa_certificate == pki.tsa_rsa.der


def test_token_without_the_tsa_certificate_fails(pki: Pki) -> None:
    token = pyhanko_token(pki.tsa_rsa, [pki.intermediate])
    stripped = _with_certificates(token, [pki.intermediate.der])
    report = verify(stripped, pki)
    assert report.bottom_line is Verdict.FAILED
    assert _failed(report) == [("timestamp.signer", "timestamp_signing_certificate")]
    # Steps that need the certificate did not run; the signed attributes still did.
    assert [c.name for c in report.checks] == [
        "timestamp.imprint",
        "timestamp.signer",
        "timestamp.signed_attributes",
    ]


# --- Flipped bytes ----------------------------------------------------------------------------


def _outcome(token: bytes, pki: Pki) -> tuple[Verdict | str, str | None]:
    try:
        report = verify(token, pki, nonce=NONCE)
    except MalformedError:
        return "malformed", None
    first = report.failures[0] if report.failures else None
    return report.bottom_line, first.code if first else None


def _span(token: bytes, part: bytes) -> range:
    start = token.index(part)
    assert token.count(part) == 1
    return range(start, start + len(part))


# Undecidable, not forged: a flipped signature algorithm OID that names nothing we know, or
# an embedded intermediate whose changed name no longer leads to the root.
_MAY_BE_UNDECIDED = {"timestamp_algorithm_unsupported", "tsa_untrusted"}


@pytest.mark.parametrize("maker", ["openssl", "pyhanko"])
def test_flipped_byte_anywhere_never_passes(
    maker: str, pki: Pki, request: pytest.FixtureRequest
) -> None:
    signer = pki.tsa_ec if maker == "openssl" else pki.tsa_rsa
    if maker == "openssl":
        token = request.getfixturevalue("openssl_tsa").stamp(signer, [pki.intermediate])
    else:
        token = pyhanko_token(signer, [pki.intermediate])
    assert _outcome(token, pki) == (Verdict.PASSED, None)
    parsed = cms.ContentInfo.load(token)
    signer_info = parsed["content"]["signer_infos"][0]
    tst_info = bytes(parsed["content"]["encap_content_info"]["content"])
    signature = signer_info["signature"].contents
    signed_attrs = signer_info["signed_attrs"].contents
    # RFC 5652: the signature value, the TSTInfo and the signed attributes are signed; every
    # position of them must FAIL or not parse. Elsewhere (unsigned CMS fields, certificates)
    # nothing may PASS, and only an undecidable algorithm or path may be INDETERMINATE.
    strict = {*_span(token, signature), *_span(token, tst_info), *_span(token, signed_attrs)}
    certificates = {p for c in (pki.intermediate, signer) for p in _span(token, c.der)}
    # Every position of the signed parts and of the CMS structure around them; a sample of
    # the certificates (each non-parsing flip there costs a path validation).
    sample = random.Random(len(token)).sample(sorted(certificates), 96)
    flips = [(p, m) for p in sorted(strict) for m in (0x01, 0x80, 0xFF)]
    flips += [
        (p, m) for p in range(len(token)) if p not in strict | certificates for m in (0x01, 0xFF)
    ]
    flips += [(p, m) for p in sample for m in (0x01, 0xFF)]
    seen: dict[tuple[Verdict | str, str | None], int] = {}
    for position, mask in flips:
        flipped = bytearray(token)
        flipped[position] ^= mask
        outcome = _outcome(bytes(flipped), pki)
        seen[outcome] = seen.get(outcome, 0) + 1
        where = f"byte {position} ^ {mask:#x}: {outcome}"
        assert outcome[0] is not Verdict.PASSED, where
        if position in strict:
            assert outcome[0] in ("malformed", Verdict.FAILED), where
        elif outcome[0] is Verdict.INDETERMINATE:
            assert outcome[1] in _MAY_BE_UNDECIDED, where
    assert seen.get((Verdict.FAILED, "timestamp_signature_invalid"), 0) > 0
    assert seen.get((Verdict.FAILED, "timestamp_signed_attributes"), 0) > 0


def test_regression_unused_bit_in_an_embedded_intermediate_is_malformed(pki: Pki) -> None:
    """Found by flipping every byte: the intermediate's signature BIT STRING with one unused
    bit still verified (pyhanko-certvalidator ignores the count), so a token changed there
    PASSED. Certificates in a token must be DER (RFC 5280 §4.1)."""
    token = pyhanko_token(pki.tsa_rsa, [pki.intermediate])
    inter = asn1_x509.Certificate.load(pki.intermediate.der)
    unused_bits_at = len(pki.intermediate.der) - len(inter["signature_value"].contents)
    flipped = bytearray(token)
    flipped[token.index(pki.intermediate.der) + unused_bits_at] ^= 0x01
    with pytest.raises(MalformedError, match="not DER"):
        verify(bytes(flipped), pki)


def test_flipped_byte_in_the_trust_root_key_never_passes(pki: Pki) -> None:
    """A trust anchor is its name and key (RFC 5280 §6.1.1 d): other fields of the root
    certificate do not matter, its key does."""
    token = pyhanko_token(pki.tsa_rsa, [pki.intermediate])
    facts = check_token(token, data_digest=DIGEST, hash_alg="sha256")
    root = pki.root.der
    key = pki.root.cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for position in _span(root, key):
        flipped = bytearray(root)
        flipped[position] ^= 0x01
        try:
            check = validate_tsa_chain(
                facts, trust_roots=[bytes(flipped)], at=NOW + timedelta(hours=1), revocation="off"
            )
        except MalformedError:
            continue
        assert check.verdict is not Verdict.PASSED, position


# --- Responses, inputs and errors -----------------------------------------------------------


def test_response_helper(pki: Pki) -> None:
    response = pyhanko_response(pki.tsa_rsa, [pki.intermediate])
    token = token_from_response(response)
    assert tsp.TimeStampResp.load(response)["time_stamp_token"].dump() == token

    status = tsp.PKIStatusInfo(
        {
            "status": "rejection",
            "status_string": ["unsupported algorithm"],
            "fail_info": {"bad_alg"},
        }
    )
    rejection = parser.emit(0, 1, 16, status.dump())
    with pytest.raises(NotGrantedError) as caught:
        token_from_response(rejection)
    assert caught.value.code == "timestamp_not_granted"
    assert caught.value.evidence["status"] == "rejection"
    assert caught.value.evidence["fail_info"] == "bad_alg"
    granted_without_token = parser.emit(0, 1, 16, tsp.PKIStatusInfo({"status": "granted"}).dump())
    with pytest.raises(MalformedError):
        token_from_response(granted_without_token)
    for junk in (b"", b"\x30\x00", response + b"\x00", "text"):
        with pytest.raises(MalformedError):
            token_from_response(junk)  # type: ignore[arg-type]


def test_bad_inputs_raise_malformed_only(pki: Pki) -> None:
    token = pyhanko_token(pki.tsa_rsa, [pki.intermediate])
    good: dict[str, Any] = {
        "data_digest": DIGEST,
        "hash_alg": "sha256",
        "trust_roots": [pki.root.der],
        "at": NOW,
    }
    bad: list[dict[str, Any]] = [
        {"data_digest": DIGEST[:-1]},
        {"data_digest": DIGEST.hex()},
        {"hash_alg": "md5"},
        {"hash_alg": "SHA-256"},
        {"at": NOW.replace(tzinfo=None)},
        {"at": "2026-01-01"},
        {"trust_roots": [b"not a certificate"]},
        {"trust_roots": pki.root.der},
        {"crls": [b"\x30\x03\x02\x01\x01"]},
        {"ocsps": [b"junk"]},
        {"other_certs": ["text"]},
        {"revocation": "hard"},
        {"nonce": "1"},
    ]
    for change in bad:
        with pytest.raises(MalformedError):
            verify_timestamp(token, **{**good, **change})
    for junk in (b"", b"\x30\x80", token[:-1], token + b"\x00", bytearray(10), None, "token"):
        with pytest.raises(MalformedError):
            verify_timestamp(junk, **good)  # type: ignore[arg-type]
        with pytest.raises(MalformedError):
            parse_token(junk)  # type: ignore[arg-type]
    with pytest.raises(MalformedError):
        validate_tsa_chain("facts", trust_roots=[pki.root.der], at=NOW)  # type: ignore[arg-type]


def test_errors_are_coded_verification_errors(pki: Pki) -> None:
    token = pyhanko_token(pki.tsa_rsa, [pki.intermediate])
    with pytest.raises(VerificationError) as caught:
        check_token(token, data_digest=bytes(32), hash_alg="sha256")
    assert caught.value.code == "timestamp_imprint_mismatch"
    assert caught.value.diagnostics().startswith("timestamp_imprint_mismatch: ")


def test_works_inside_a_running_event_loop(pki: Pki) -> None:
    """pyhanko-certvalidator is async; verify_timestamp is callable from an async handler."""
    token = pyhanko_token(pki.tsa_rsa, [pki.intermediate])

    async def handler() -> Verdict:
        return verify(token, pki).bottom_line

    assert asyncio.run(handler()) is Verdict.PASSED


def test_facts_are_frozen(pki: Pki) -> None:
    facts = check_token(pyhanko_token(pki.tsa_rsa, []), data_digest=DIGEST, hash_alg="sha256")
    assert isinstance(facts, TokenFacts)
    with pytest.raises(AttributeError):
        facts.serial = 1  # type: ignore[misc]
    # Without the intermediate in the token it must come from elsewhere.
    check = validate_tsa_chain(
        facts, trust_roots=[pki.root.der], at=NOW + timedelta(hours=1), revocation="off"
    )
    assert check.code == "tsa_untrusted"
    check = validate_tsa_chain(
        facts,
        trust_roots=[pki.root.der],
        other_certs=[pki.intermediate.der],
        at=NOW + timedelta(hours=1),
        revocation="off",
    )
    assert check.verdict is Verdict.PASSED
    assert "TSA RSA" in check.evidence["path"][-1]
