"""X.509 certificates as the ledger names them: DER or PEM in, stable facts out.

A certificate is named by its SHA-256 fingerprint, written like every other digest in Stele
(`sha-256:<64 hex>` over the DER bytes), so a trust anchor, a signer and a content-store blob
are all looked up the same way.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import pem, x509

from verifiers.digest import digest_of
from verifiers.errors import MalformedError, guard_parse, require_bytes

_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----")


@dataclass(frozen=True)
class CertFacts:
    """What a certificate says about itself; nothing here is trusted yet."""

    der: bytes
    fingerprint: str  # sha-256:<hex> of the DER
    subject: str
    issuer: str
    serial: int
    not_before: datetime
    not_after: datetime
    is_ca: bool
    self_signed: bool

    def valid_at(self, at: datetime) -> bool:
        return self.not_before <= at <= self.not_after


def fingerprint(der: bytes) -> str:
    return digest_of(der)


def certificate_der(value: bytes | str) -> bytes:
    """The DER of one certificate given as DER, PEM, or base64 of the DER."""
    if isinstance(value, str):
        value = value.encode("ascii", "replace")
    data = require_bytes(value, "certificate")
    if _PEM.search(data):
        found: list[bytes] = [
            der for kind, _, der in guard_parse("PEM", lambda: list(pem.unarmor(data, True)))
            if kind == "CERTIFICATE"]
        if len(found) != 1:
            raise MalformedError("expected exactly one PEM certificate", found=len(found))
        return found[0]
    if data[:1] != b"\x30":  # not DER: try base64 of DER (how events carry certificates)
        data = guard_parse("base64 certificate", lambda: base64.b64decode(data, validate=True))
    return data


def certificate_facts(value: bytes | str) -> CertFacts:
    der = certificate_der(value)
    cert = guard_parse("certificate", _load, der)
    return CertFacts(
        der=der,
        fingerprint=fingerprint(der),
        subject=cert.subject.human_friendly,
        issuer=cert.issuer.human_friendly,
        serial=cert.serial_number,
        not_before=cert.not_valid_before.astimezone(UTC),
        not_after=cert.not_valid_after.astimezone(UTC),
        is_ca=bool(cert.ca),
        self_signed=cert.self_signed != "no",
    )


def _load(der: bytes) -> x509.Certificate:
    cert = x509.Certificate.load(der, strict=True)
    cert.native  # noqa: B018  (parse every field now, so bad input fails here)
    return cert


def certificates_pem(ders: list[bytes]) -> bytes:
    return b"".join(pem.armor("CERTIFICATE", der) for der in ders)
