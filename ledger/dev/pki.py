"""A throwaway development PKI, and signing helpers on top of it, for demos and tests only.

Two small hierarchies imitate the Vietnamese ones a state archive meets:

- "NEAC" (the public-service root) -> intermediate "NEAC CA" -> the parties `individual`,
  `expired` (valid now-2y .. now-1d), `revoked` (revoked at now-1h, keyCompromise) and `short`
  (expires now+1d, for "the signer certificate expired after signing" scenarios);
- "BCY" (the Government Cipher Committee's root for official duty) -> the parties `agency`,
  `tsa` and `tsa2` (time-stamping, critical EKU id-kp-timeStamping, ECDSA P-256, served
  in-process by `ledger.tsa.TimeStampAuthority`).

Everything lives in one directory (layout in docs/dev-pki.md); private keys are written
unencrypted. CRLs and OCSP responses can be issued for any moment (`DevPki.crl`,
`DevPki.ocsp_response`), so long-term scenarios are replayed with pinned times and no network:
the CRL distribution points and OCSP URLs in the certificates name `dev-pki.invalid`
(RFC 2606), which never resolves.

Preconditions everywhere: times are timezone-aware. The synchronous signing helpers run
pyHanko's coroutines with `asyncio.run`, so call them outside a running event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asn1crypto import core as asn1_core
from asn1crypto import keys as asn1_keys
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import tsp as asn1_tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import FormFillingError, PdfError
from pyhanko.pdf_utils.writer import BasePdfFileWriter, PageObject, PdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.signers.pdf_signer import PdfSigningSession
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from ledger.dev.tsa import TimeStampAuthority, TsaIdentity
from ledger.errors import LedgerError
from verifiers.digest import Digest

if TYPE_CHECKING:
    from domain.envelope import Actor
    from ledger.service import Ledger

VERSION = 1
LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")  # PAdES baseline levels (ETSI EN 319 142-1 §6)
BASE_URL = "http://dev-pki.invalid"  # RFC 2606 §2: guaranteed never to resolve
REVINFO_LIFETIME = timedelta(days=7)  # nextUpdate - thisUpdate of every CRL and OCSP answer
CA_BACKDATE = timedelta(days=3 * 365)  # CAs predate every party, `expired` included
YEAR = timedelta(days=365)


class DevPkiError(LedgerError):
    """The development PKI cannot do what was asked (bad directory, unknown name, refusal)."""

    code = "dev_pki"


@dataclass(frozen=True)
class Party:
    """One key holder: its key, its certificate, and the issuer certificates up to and
    including the root, nearest first."""

    name: str
    key: PrivateKeyTypes
    cert: x509.Certificate
    chain: list[x509.Certificate]


@dataclass(frozen=True)
class _Authority:
    name: str  # "NEAC", "NEAC CA", "BCY"
    pki: str  # the root it belongs to
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    issuer: str | None  # None for a root

    @property
    def slug(self) -> str:  # its file name stem
        return self.name.replace(" ", "-")


@dataclass(frozen=True)
class _Revocation:
    time: datetime
    reason: x509.ReasonFlags


@dataclass(frozen=True)
class _PartySpec:
    name: str
    issuer: str
    common_name: str
    organization: str | None
    not_before: timedelta  # offset from the PKI's `now`
    not_after: timedelta
    tsa: bool = False
    revoked_at: timedelta | None = None


# ---------------------------------------------------------------------------------------------
# Certificates


def _name(common: str, organization: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _ca_subject(name: str) -> x509.Name:
    common = {"NEAC": "NEAC Root CA (Stele dev)", "NEAC CA": "NEAC Public Service CA (Stele dev)",
              "BCY": "BCY Root CA (Stele dev)"}[name]
    return _name(common, f"Stele development PKI, imitating {name.split()[0]} - not trusted")


def _revocation_pointers(issuer: _Authority) -> list[x509.Extension[x509.ExtensionType]]:
    """CRL distribution point (RFC 5280 §4.2.1.13) and AIA (§4.2.2.1) under dev-pki.invalid."""
    crl = x509.CRLDistributionPoints([x509.DistributionPoint(
        full_name=[x509.UniformResourceIdentifier(f"{BASE_URL}/crl/{issuer.slug}.crl")],
        relative_name=None, reasons=None, crl_issuer=None)])
    aia = x509.AuthorityInformationAccess([
        x509.AccessDescription(AuthorityInformationAccessOID.OCSP,
                               x509.UniformResourceIdentifier(f"{BASE_URL}/ocsp/{issuer.slug}")),
        x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS,
                               x509.UniformResourceIdentifier(f"{BASE_URL}/ca/{issuer.slug}.pem")),
    ])
    return [x509.Extension(crl.oid, False, crl), x509.Extension(aia.oid, False, aia)]


def _key_usage(*, signer: bool, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=True, content_commitment=signer,
                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                         key_cert_sign=ca, crl_sign=ca, encipher_only=False, decipher_only=False)


def _issue(subject: x509.Name, public_key: Any, issuer: _Authority | None,
           signing_key: ec.EllipticCurvePrivateKey, not_before: datetime, not_after: datetime,
           extensions: list[x509.Extension[x509.ExtensionType]]) -> x509.Certificate:
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(issuer.cert.subject if issuer else subject)
               .public_key(public_key).serial_number(x509.random_serial_number())
               .not_valid_before(not_before).not_valid_after(not_after)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   signing_key.public_key()), False))
    for ext in extensions:
        builder = builder.add_extension(ext.value, ext.critical)
    return builder.sign(signing_key, hashes.SHA256())


def _make_ca(name: str, pki: str, issuer: _Authority | None, not_before: datetime,
             lifetime: timedelta, path_length: int) -> _Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    constraints = x509.BasicConstraints(ca=True, path_length=path_length)
    usage = _key_usage(signer=False, ca=True)  # digitalSignature too: it signs OCSP itself
    extensions: list[x509.Extension[x509.ExtensionType]] = [
        x509.Extension(constraints.oid, True, constraints), x509.Extension(usage.oid, True, usage)]
    if issuer is not None:
        extensions += _revocation_pointers(issuer)
    cert = _issue(_ca_subject(name), key.public_key(), issuer,
                  issuer.key if issuer else key, not_before, not_before + lifetime, extensions)
    return _Authority(name=name, pki=pki, key=key, cert=cert,
                      issuer=issuer.name if issuer else None)


def _party_specs(signer_days: int, tsa_days: int, tsa2_days: int) -> list[_PartySpec]:
    hour, day = timedelta(hours=1), timedelta(days=1)
    signer = timedelta(days=signer_days)
    agency = "Cuc Van thu va Luu tru Nha nuoc (Stele dev)"
    return [
        _PartySpec("individual", "NEAC CA", "Nguyen Van A", None, -hour, signer - hour),
        _PartySpec("expired", "NEAC CA", "Tran Thi B (expired)", None, -2 * YEAR, -day),
        # Valid from a day back, so that signatures made before the revocation exist.
        _PartySpec("revoked", "NEAC CA", "Le Van C (revoked)", None, -day, signer - day,
                   revoked_at=-hour),
        _PartySpec("short", "NEAC CA", "Pham Thi D (short-lived)", None, -hour, day),
        _PartySpec("agency", "BCY", agency, agency, -hour, signer - hour),
        _PartySpec("tsa", "BCY", "BCY Time-Stamping Authority 1 (Stele dev)", None, -day,
                   timedelta(days=tsa_days) - day, tsa=True),
        _PartySpec("tsa2", "BCY", "BCY Time-Stamping Authority 2 (Stele dev)", None, -day,
                   timedelta(days=tsa2_days) - day, tsa=True),
    ]


def _make_party(spec: _PartySpec, issuer: _Authority, now: datetime) -> Party:
    key: PrivateKeyTypes
    if spec.tsa:  # TimeStampAuthority signs with ECDSA
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    organization = spec.organization or ("Stele development TSA" if spec.tsa
                                         else "Stele development signer")
    constraints = x509.BasicConstraints(ca=False, path_length=None)
    usage = _key_usage(signer=not spec.tsa, ca=False)
    extensions: list[x509.Extension[x509.ExtensionType]] = [
        x509.Extension(constraints.oid, True, constraints), x509.Extension(usage.oid, True, usage)]
    if spec.tsa:
        # RFC 3161 §2.3: the TSA certificate MUST have this one EKU, marked critical.
        eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING])
        extensions.append(x509.Extension(eku.oid, True, eku))
    extensions += _revocation_pointers(issuer)
    cert = _issue(_name(spec.common_name, organization), key.public_key(), issuer, issuer.key,
                  now + spec.not_before, now + spec.not_after, extensions)
    return Party(name=spec.name, key=key, cert=cert, chain=[])  # chain filled in by DevPki


# ---------------------------------------------------------------------------------------------
# Revocation information


def _seconds(t: datetime) -> datetime:
    """CRL and OCSP times are whole seconds (RFC 5280 §4.1.2.5); never round up into the future
    of the moment asked for."""
    return t.astimezone(UTC).replace(microsecond=0)


def _crl(authority: _Authority, revoked: list[tuple[x509.Certificate, _Revocation]],
         at: datetime) -> bytes:
    at = _seconds(at)
    builder = (x509.CertificateRevocationListBuilder().issuer_name(authority.cert.subject)
               .last_update(at).next_update(at + REVINFO_LIFETIME)
               # RFC 5280 §5.2.3: conforming CRL issuers MUST include the CRL number.
               .add_extension(x509.CRLNumber(int(at.timestamp())), False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   authority.key.public_key()), False))
    for cert, revocation in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(cert.serial_number)
            .revocation_date(_seconds(revocation.time))
            .add_extension(x509.CRLReason(revocation.reason), False).build())
    return builder.sign(authority.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


_REASONS = {x509.ReasonFlags.key_compromise: "key_compromise",
            x509.ReasonFlags.superseded: "superseded",
            x509.ReasonFlags.cessation_of_operation: "cessation_of_operation",
            x509.ReasonFlags.unspecified: "unspecified"}


def _ocsp(cert: x509.Certificate, authority: _Authority, revocation: _Revocation | None,
          at: datetime) -> bytes:
    """A BasicOCSPResponse (RFC 6960 §4.2.1) signed by the issuing CA itself (§4.2.2.2, first
    case), producedAt = thisUpdate = `at`. Written with asn1crypto because cryptography's
    builder stamps producedAt with the wall clock."""
    at = _seconds(at)
    issuer = _asn1_cert(authority.cert)
    status: asn1_ocsp.CertStatus
    if revocation is not None and revocation.time <= at:
        status = asn1_ocsp.CertStatus(name="revoked", value={
            "revocation_time": _seconds(revocation.time),
            "revocation_reason": _REASONS[revocation.reason]})
    else:
        status = asn1_ocsp.CertStatus(name="good", value=asn1_core.Null())
    # SHA-1 CertID: the hash every responder and client matches (RFC 5019 §2.1.1).
    single = {
        "cert_id": {"hash_algorithm": {"algorithm": "sha1"},
                    "issuer_name_hash": issuer.subject.sha1,
                    "issuer_key_hash": issuer.public_key.sha1,
                    "serial_number": cert.serial_number},
        "cert_status": status, "this_update": at, "next_update": at + REVINFO_LIFETIME}
    tbs = asn1_ocsp.ResponseData({
        "responder_id": asn1_ocsp.ResponderId(name="by_key", value=issuer.public_key.sha1),
        "produced_at": at, "responses": [single]})
    signature = authority.key.sign(tbs.dump(), ec.ECDSA(hashes.SHA256()))
    basic = asn1_ocsp.BasicOCSPResponse({
        "tbs_response_data": tbs, "signature_algorithm": {"algorithm": "sha256_ecdsa"},
        "signature": signature, "certs": [issuer]})
    return bytes(asn1_ocsp.OCSPResponse({
        "response_status": "successful",
        "response_bytes": {"response_type": "basic_ocsp_response", "response": basic},
    }).dump())


# ---------------------------------------------------------------------------------------------
# The PKI


def _aware(t: datetime, what: str) -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise DevPkiError(f"{what} must be timezone-aware", value=t.isoformat())
    return t


def _fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: PrivateKeyTypes) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert_facts(cert: x509.Certificate) -> dict[str, str]:
    return {"subject": cert.subject.rfc4514_string(), "sha256": _fingerprint(cert),
            "not_before": cert.not_valid_before_utc.isoformat(),
            "not_after": cert.not_valid_after_utc.isoformat()}


@dataclass(frozen=True)
class DevPki:
    """A development PKI on disk. Make it with `create`, read it back with `load`."""

    directory: Path
    now: datetime  # the creation time every validity period is relative to
    roots: dict[str, x509.Certificate]  # {"NEAC": ..., "BCY": ...}
    parties: dict[str, Party]
    crls: dict[str, bytes]  # per CA name ("NEAC", "NEAC CA", "BCY"): DER, issued at `now`
    ocsp: dict[str, bytes]  # per party name: DER OCSP response, produced at `now`
    _authorities: dict[str, _Authority] = field(repr=False)
    _issuers: dict[str, str] = field(repr=False)  # party name -> CA name
    _revocations: dict[str, _Revocation] = field(repr=False)  # party name -> revocation

    # -- making and reading ---------------------------------------------------------------

    @classmethod
    def create(cls, directory: Path, now: datetime, *, signer_days: int = 730,
               tsa_days: int = 1825, tsa2_days: int | None = None) -> DevPki:
        """Make a new PKI valid around `now` and write it to `directory`, which must be absent
        or empty: nothing is ever overwritten. `tsa2_days` defaults to 4 x `tsa_days`."""
        _aware(now, "now")
        tsa2_days = 4 * tsa_days if tsa2_days is None else tsa2_days
        if signer_days < 1 or tsa_days < 1 or tsa2_days < 1:
            raise DevPkiError("signer_days and tsa_days must be positive",
                              signer_days=signer_days, tsa_days=tsa_days)
        if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
            raise DevPkiError(f"{directory} is not an empty directory; a development PKI is "
                              "only made into a new or empty one, so nothing is overwritten")
        ca_start = now - CA_BACKDATE
        neac = _make_ca("NEAC", "NEAC", None, ca_start, 20 * YEAR, path_length=1)
        neac_ca = _make_ca("NEAC CA", "NEAC", neac, ca_start, 10 * YEAR, path_length=0)
        bcy = _make_ca("BCY", "BCY", None, ca_start, 20 * YEAR, path_length=0)
        authorities = {a.name: a for a in (neac, neac_ca, bcy)}
        parties: dict[str, Party] = {}
        issuers: dict[str, str] = {}
        revocations: dict[str, _Revocation] = {}
        for spec in _party_specs(signer_days, tsa_days, tsa2_days):
            parties[spec.name] = _make_party(spec, authorities[spec.issuer], now)
            issuers[spec.name] = spec.issuer
            if spec.revoked_at is not None:
                revocations[spec.name] = _Revocation(now + spec.revoked_at,
                                                     x509.ReasonFlags.key_compromise)
        pki = cls._assemble(directory, now, authorities, parties, issuers, revocations,
                            crls={}, ocsp={})
        pki.crls.update({name: pki.crl(name, now) for name in authorities})
        pki.ocsp.update({name: pki.ocsp_response(name, now) for name in parties})
        pki._write()
        return pki

    @classmethod
    def _assemble(cls, directory: Path, now: datetime, authorities: dict[str, _Authority],
                  parties: dict[str, Party], issuers: dict[str, str],
                  revocations: dict[str, _Revocation], *, crls: dict[str, bytes],
                  ocsp: dict[str, bytes]) -> DevPki:
        def chain(ca_name: str | None) -> list[x509.Certificate]:
            certs = []
            while ca_name is not None:
                certs.append(authorities[ca_name].cert)
                ca_name = authorities[ca_name].issuer
            return certs

        chained = {name: Party(name=p.name, key=p.key, cert=p.cert, chain=chain(issuers[name]))
                   for name, p in parties.items()}
        roots = {a.name: a.cert for a in authorities.values() if a.issuer is None}
        return cls(directory=directory, now=now, roots=roots, parties=chained, crls=crls,
                   ocsp=ocsp, _authorities=authorities, _issuers=issuers,
                   _revocations=revocations)

    def _files(self, role: str, name: str) -> dict[str, str]:
        if role == "authority":
            slug = self._authorities[name].slug
            folder = "roots" if self._authorities[name].issuer is None else "ca"
            return {"cert": f"{folder}/{slug}.pem", "key": f"keys/{slug}.key.pem",
                    "crl": f"crl/{slug}.crl"}
        return {"cert": f"certs/{name}.pem", "key": f"keys/{name}.key.pem",
                "chain": f"chains/{name}.pem", "ocsp": f"ocsp/{name}.ocsp"}

    def _manifest(self) -> dict[str, Any]:
        authorities = {
            a.name: {"pki": a.pki, "role": "root" if a.issuer is None else "intermediate",
                     "issuer": a.issuer, **self._files("authority", a.name),
                     **_cert_facts(a.cert)}
            for a in self._authorities.values()}
        parties: dict[str, Any] = {}
        for name, party in self.parties.items():
            issuer = self._authorities[self._issuers[name]]
            revocation = self._revocations.get(name)
            parties[name] = {
                "pki": issuer.pki, "issuer": issuer.name, **self._files("party", name),
                **_cert_facts(party.cert),
                "revoked": None if revocation is None else {
                    "time": revocation.time.isoformat(), "reason": revocation.reason.value}}
        return {"version": VERSION, "kind": "stele-dev-pki",
                "warning": "development PKI for demos and tests: the private keys are "
                           "unencrypted; never trust these roots anywhere else",
                "created": self.now.isoformat(), "authorities": authorities,
                "parties": parties}

    def _write(self) -> None:
        manifest = self._manifest()
        self.directory.mkdir(parents=True, exist_ok=True)
        for sub in ("roots", "ca", "certs", "keys", "chains", "crl", "ocsp"):
            (self.directory / sub).mkdir(exist_ok=True)

        def put(relative: str, data: bytes, *, secret: bool = False) -> None:
            path = self.directory / relative
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if secret else 0o644)
            with os.fdopen(fd, "wb") as f:
                f.write(data)

        for name, entry in manifest["authorities"].items():
            authority = self._authorities[name]
            put(entry["cert"], _pem(authority.cert))
            put(entry["key"], _key_pem(authority.key), secret=True)
            put(entry["crl"], self.crls[name])
        for name, entry in manifest["parties"].items():
            party = self.parties[name]
            put(entry["cert"], _pem(party.cert))
            put(entry["key"], _key_pem(party.key), secret=True)
            put(entry["chain"], b"".join(_pem(c) for c in party.chain))
            put(entry["ocsp"], self.ocsp[name])
        # The manifest last: a directory without one was never finished.
        put("pki.json", json.dumps(manifest, indent=2, ensure_ascii=False).encode() + b"\n")

    @classmethod
    def load(cls, directory: Path) -> DevPki:
        """Read a PKI written by `create`; certificates are checked against the manifest's
        fingerprints and keys against their certificates."""
        try:
            manifest = json.loads((directory / "pki.json").read_text())
            if manifest.get("kind") != "stele-dev-pki" or manifest.get("version") != VERSION:
                raise DevPkiError(f"{directory}/pki.json is not a version {VERSION} "
                                  "development PKI manifest")
            now = datetime.fromisoformat(manifest["created"])

            def read(entry: dict[str, Any]) -> tuple[x509.Certificate, PrivateKeyTypes]:
                cert = x509.load_pem_x509_certificate((directory / entry["cert"]).read_bytes())
                key = serialization.load_pem_private_key(
                    (directory / entry["key"]).read_bytes(), password=None)
                if _fingerprint(cert) != entry["sha256"]:
                    raise DevPkiError(f"{entry['cert']} differs from the manifest",
                                      expected=entry["sha256"], found=_fingerprint(cert))
                if key.public_key() != cert.public_key():
                    raise DevPkiError(f"{entry['key']} is not the key of {entry['cert']}")
                return cert, key

            authorities: dict[str, _Authority] = {}
            crls: dict[str, bytes] = {}
            for name, entry in manifest["authorities"].items():
                cert, key = read(entry)
                if not isinstance(key, ec.EllipticCurvePrivateKey):
                    raise DevPkiError(f"{entry['key']} is not an EC key")
                authorities[name] = _Authority(name=name, pki=entry["pki"], key=key, cert=cert,
                                               issuer=entry["issuer"])
                crls[name] = (directory / entry["crl"]).read_bytes()
            parties: dict[str, Party] = {}
            issuers: dict[str, str] = {}
            revocations: dict[str, _Revocation] = {}
            ocsp: dict[str, bytes] = {}
            for name, entry in manifest["parties"].items():
                cert, key = read(entry)
                parties[name] = Party(name=name, key=key, cert=cert, chain=[])
                issuers[name] = entry["issuer"]
                if entry["revoked"] is not None:
                    revocations[name] = _Revocation(
                        datetime.fromisoformat(entry["revoked"]["time"]),
                        x509.ReasonFlags(entry["revoked"]["reason"]))
                ocsp[name] = (directory / entry["ocsp"]).read_bytes()
        except FileNotFoundError as exc:
            raise DevPkiError(f"{directory} does not hold a development PKI: "
                              f"{exc.filename} is missing") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DevPkiError(f"cannot read the development PKI in {directory}: "
                              f"{type(exc).__name__}: {exc}") from None
        if any(issuers[n] not in authorities for n in parties):
            raise DevPkiError(f"{directory}/pki.json names an issuer it does not define")
        return cls._assemble(directory, now, authorities, parties, issuers, revocations,
                             crls=crls, ocsp=ocsp)

    # -- lookups ----------------------------------------------------------------------------

    def party(self, name: str) -> Party:
        try:
            return self.parties[name]
        except KeyError:
            raise DevPkiError(f"no party {name!r}; known: {', '.join(self.parties)}") from None

    def _authority(self, name: str) -> _Authority:
        for authority in self._authorities.values():
            if name in (authority.name, authority.slug):
                return authority
        raise DevPkiError(f"no CA {name!r}; known: {', '.join(self._authorities)}")

    def authority_cert(self, name: str) -> x509.Certificate:
        """The certificate of the CA `name` ("NEAC", "NEAC CA" or "NEAC-CA", "BCY")."""
        return self._authority(name).cert

    def issuer_of(self, party: str) -> str:
        """The name of the CA that issued `party`'s certificate."""
        return self._issuers[self.party(party).name]

    # -- revocation information at any moment -----------------------------------------------

    def crl(self, issuer: str, at: datetime) -> bytes:
        """A DER CRL of the CA `issuer` with thisUpdate = `at`, nextUpdate = `at` + 7 days,
        listing the revocations effective by `at`."""
        authority = self._authority(issuer)
        at = _aware(at, "at")
        revoked = [(self.parties[name].cert, revocation)
                   for name, revocation in self._revocations.items()
                   if self._issuers[name] == authority.name and revocation.time <= at]
        return _crl(authority, revoked, at)

    def ocsp_response(self, party: str, at: datetime) -> bytes:
        """A DER OCSP response for `party`'s certificate, produced at `at` by its issuing CA:
        good, or revoked (with its time and reason) if revoked by `at`."""
        holder = self.party(party)
        return _ocsp(holder.cert, self._authorities[self._issuers[party]],
                     self._revocations.get(party), _aware(at, "at"))

    def timestamper(self, at: datetime | None = None, *, tsa: str = "tsa") -> TimeStamper:
        """A pyHanko TimeStamper answered in-process by `ledger.tsa.TimeStampAuthority` with the
        dev TSA `tsa` ("tsa" or "tsa2"); its tokens are dated `at` (default: the wall clock)."""
        return _LocalTimeStamper(TimeStampAuthority(self.tsa_identity(tsa)),
                                 None if at is None else _aware(at, "at"))

    def tsa_identity(self, tsa: str = "tsa") -> TsaIdentity:
        """The dev TSA `tsa` as `ledger.tsa` serves it (key, certificate, root)."""
        holder = self.party(tsa)
        if not isinstance(holder.key, ec.EllipticCurvePrivateKey):
            raise DevPkiError(f"{tsa!r} is not a time-stamping party")
        return TsaIdentity(key=holder.key, cert=holder.cert, root=holder.chain[-1])

    def validation_context(self, at: datetime | None, parties: list[str]) -> ValidationContext:
        """An offline, hard-fail pyHanko ValidationContext at `at` (None: the wall clock):
        both roots trusted, the intermediate known, and fresh CRLs and OCSP responses for
        `parties` and every CA above them, issued at `at`."""
        moment = datetime.now(UTC) if at is None else _aware(at, "at")
        cas: set[str] = set()
        for name in parties:
            ca: str | None = self._issuers[self.party(name).name]
            while ca is not None:
                cas.add(ca)
                ca = self._authorities[ca].issuer
        return ValidationContext(
            trust_roots=[_asn1_cert(c) for c in self.roots.values()],
            other_certs=[_asn1_cert(a.cert) for a in self._authorities.values() if a.issuer],
            moment=at, allow_fetching=False, revocation_mode="hard-fail",
            crls=[self.crl(ca, moment) for ca in sorted(cas)],
            ocsps=[self.ocsp_response(name, moment) for name in parties])


class _LocalTimeStamper(TimeStamper):
    """RFC 3161 over a function call instead of HTTP."""

    def __init__(self, authority: TimeStampAuthority, at: datetime | None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._authority = authority
        self._at = at

    async def async_request_tsa_response(
            self, req: asn1_tsp.TimeStampReq) -> asn1_tsp.TimeStampResp:
        return asn1_tsp.TimeStampResp.load(self._authority.respond(req.dump(), now=self._at))


# ---------------------------------------------------------------------------------------------
# Documents and signatures


def _latin(text: str) -> bytes:
    """`text` in WinAnsiEncoding, the standard 14 fonts' encoding: Vietnamese diacritics are
    dropped (Nguyễn -> Nguyen), anything else unencodable becomes '?'."""
    folded = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    encoded = plain.encode("cp1252", errors="replace")
    return encoded.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def blank_pdf(text: str) -> bytes:
    """A one-page A4 PDF showing `text` (one line per line) in Helvetica."""
    # pyHanko's pdf_utils is untyped, hence the ignores.
    untyped: Any = generic
    writer = PdfFileWriter()  # type: ignore[no-untyped-call]
    font = untyped.DictionaryObject({
        pdf_name("/Type"): pdf_name("/Font"), pdf_name("/Subtype"): pdf_name("/Type1"),
        pdf_name("/BaseFont"): pdf_name("/Helvetica"),
        pdf_name("/Encoding"): pdf_name("/WinAnsiEncoding")})
    resources = untyped.DictionaryObject({pdf_name("/Font"): untyped.DictionaryObject(
        {pdf_name("/F1"): writer.add_object(font)})})
    ops = [b"BT /F1 14 Tf 18 TL 72 770 Td"]
    ops += [b"(" + _latin(line) + b") Tj T*" for line in text.splitlines() or [""]]
    ops.append(b"ET")
    contents = writer.add_object(untyped.StreamObject(stream_data=b"\n".join(ops)))
    page = PageObject(contents=contents, media_box=(0, 0, 595, 842),  # type: ignore[no-untyped-call]
                      resources=resources)
    writer.insert_page(page)  # type: ignore[no-untyped-call]
    out = BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    return out.getvalue()


def _simple_signer(party: Party) -> signers.SimpleSigner:
    key_der = party.key.private_bytes(serialization.Encoding.DER,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
    return signers.SimpleSigner(
        signing_cert=_asn1_cert(party.cert),
        signing_key=asn1_keys.PrivateKeyInfo.load(key_der),
        cert_registry=SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
            [_asn1_cert(c) for c in party.chain]))


class _PdfSignerAt(signers.PdfSigner):
    """pyHanko's PdfSigner takes the signing session's clock (the /M entry, the appearance)
    from datetime.now(); this one pins it."""

    def __init__(self, *args: Any, at: datetime | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._at = at

    def init_signing_session(self, pdf_out: BasePdfFileWriter,
                             existing_fields_only: bool = False) -> PdfSigningSession:
        session = super().init_signing_session(pdf_out, existing_fields_only)
        if self._at is not None:
            session.system_time = self._at
        return session


class _OfflineNotice(logging.Filter):
    """Drops pyHanko's warning that embedding revocation info without fetching "may give rise
    to unexpected results": offline embedding from our own CRLs and OCSP is the point here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "fetching is not allowed" not in record.getMessage()


@contextmanager
def _offline_embedding() -> Iterator[None]:
    logger, notice = logging.getLogger("pyhanko.sign.signers.pdf_signer"), _OfflineNotice()
    logger.addFilter(notice)
    try:
        yield
    finally:
        logger.removeFilter(notice)


def sign_pdf(pdf: bytes, signer: Party, *, level: str = "B-B", pki: DevPki,
             field: str = "Signature1", at: datetime | None = None) -> bytes:
    """`pdf` with one more PAdES signature (an incremental update) by `signer` in a new field
    `field`, at baseline `level`:

    - B-B: the signature alone;
    - B-T: plus a signature timestamp from the dev TSA;
    - B-LT: plus a DSS holding the chains, CRLs and OCSP responses of the signer and the TSA,
      issued at `at` and embedded offline (pyHanko checks the signer at `at` with them first,
      hard-fail, so an expired or revoked signer is refused at this level);
    - B-LTA: plus a document timestamp over all of it.

    `at` (default: the wall clock) dates the signing session, the tokens and the revocation
    information."""
    if level not in LEVELS:
        raise DevPkiError(f"unknown level {level!r}; known: {', '.join(LEVELS)}")
    if at is not None:
        _aware(at, "at")
    long_term = level in ("B-LT", "B-LTA")
    meta = signers.PdfSignatureMetadata(
        field_name=field, md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES,
        embed_validation_info=long_term, use_pades_lta=level == "B-LTA",
        timestamp_field_name=f"DocTimeStamp-{field}" if level == "B-LTA" else None,
        validation_context=pki.validation_context(at, [signer.name, "tsa"]) if long_term
        else None)
    timestamper = pki.timestamper(at) if level != "B-B" else None
    pdf_signer = _PdfSignerAt(meta, _simple_signer(signer), timestamper=timestamper, at=at)
    try:
        writer = IncrementalPdfFileWriter(BytesIO(pdf))
        if field in {f[0] for f in fields.enumerate_sig_fields(writer.prev, filled_status=True)}:
            raise DevPkiError(f"the PDF already has a signed field {field!r}; choose another")
        with _offline_embedding():
            out = pdf_signer.sign_pdf(writer)
    except (PdfError, FormFillingError) as exc:
        reason = f"{exc}: {exc.__cause__}" if exc.__cause__ else str(exc)
        raise DevPkiError(f"pyHanko refused to sign for {signer.name!r} at {level}: {reason}",
                          at=(at or "now")) from None
    return bytes(out.getvalue())


def sign_cms(data: bytes, signer: Party, *, pki: DevPki, timestamp: bool = False,
             at: datetime | None = None) -> bytes:
    """A detached CMS SignedData (RFC 5652) over `data` as DER ContentInfo: SHA-256, signed
    attributes content-type, message-digest, signingTime (`at`, default the wall clock),
    signingCertificateV2 and CMSAlgorithmProtection; certificates = the signer's and its chain;
    with `timestamp`, a signature timestamp token (RFC 3161 Appendix A) from the dev TSA."""
    when = datetime.now(UTC) if at is None else _aware(at, "at")
    coroutine = _simple_signer(signer).async_sign_general_data(
        data, "sha256", detached=True,
        timestamper=pki.timestamper(at) if timestamp else None,
        signed_attr_settings=PdfCMSSignedAttributes(signing_time=when))
    return bytes(asyncio.run(coroutine).dump())


def register_roots(ledger: Ledger, pki: DevPki, committee: Actor) -> None:
    """Register the PKI's roots as trust anchors for signing and time-stamping (its BCY root
    issues its TSAs), skipping those already registered: a demo's or a bench's set-up."""
    registered = {a.fingerprint for a in ledger.trust.anchors()}
    for name, root in pki.roots.items():
        if Digest(root.fingerprint(hashes.SHA256())).format() not in registered:
            ledger.records.do(committee, "trust.register", pki=name,
                              certificate=_pem(root).decode(),
                              purposes=["signing", "timestamping"])
