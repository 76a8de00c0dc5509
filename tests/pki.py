"""The tests' PKI: one development PKI per session (ledger/dev/pki.py), a document signed by an
individual and by an agency, and helpers to register the roots and to sign records.

The PKI is dated PKI_TIME, before the tests' pinned clock (2026-11-27), with ten-year signer
certificates, so the same PKI serves tests on the pinned clock and tests on the real clock.
Revocation answers are made fresh for the moment of signing (`pki.crl(..., at)`), as a real
signer's software would fetch them, and uploaded with the `sign` request.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from domain.envelope import Actor
from ledger.dev.pki import DevPki, blank_pdf, sign_pdf
from ledger.records import Command, WrittenEvent
from ledger.service import Ledger

PKI_TIME = datetime(2026, 11, 20, tzinfo=UTC)
SIGNED_AT = PKI_TIME + timedelta(days=1)
COMMITTEE = Actor("bcy-1", "committee", "000.00.00.G09")
# Which CAs answer for which signer: (CRLs of the path's CAs, the signer's OCSP response).
PATH_CAS = {"NEAC": ("NEAC CA", "NEAC"), "BCY": ("BCY",)}


def make_pki(directory: Any) -> DevPki:
    return DevPki.create(directory, PKI_TIME, signer_days=3650)


def signed_document(pki: DevPki) -> bytes:
    """A PDF signed (PAdES B-B) by `individual` (field Individual), then by `agency`."""
    pdf = blank_pdf("QUYET DINH so 1/QD-TEST\nVe viec thu nghiem Stele")
    pdf = sign_pdf(pdf, pki.party("individual"), pki=pki, field="Individual", at=SIGNED_AT)
    return sign_pdf(pdf, pki.party("agency"), pki=pki, field="Agency",
                    at=SIGNED_AT + timedelta(minutes=5))


def pem(pki: DevPki, root: str) -> str:
    return pki.roots[root].public_bytes(serialization.Encoding.PEM).decode()


def self_signed_root(name: str = "Test root", *, dns_names: int = 0) -> str:
    """A fresh self-signed CA certificate (PEM): an anchor no one else registered; with
    `dns_names`, that many subject alternative names (a large certificate)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(PKI_TIME).not_valid_after(PKI_TIME + timedelta(days=3650))
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True))
    if dns_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName(f"host-{i}.example.vn") for i in range(dns_names)]), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def register_roots(ledger: Ledger, pki: DevPki, *roots: str,
                   purposes: tuple[str, ...] = ("signing", "timestamping")) -> list[str]:
    """Register the PKI's roots (all by default) as anchors; returns their fingerprints."""
    fingerprints = []
    for name in roots or tuple(pki.roots):
        (event,) = ledger.records.do(COMMITTEE, "trust.register", certificate=pem(pki, name),
                                     pki=name,
                                     purposes=list(purposes))
        fingerprints.append(event.as_json()["event"]["data"]["fingerprint"])
    return fingerprints


def revocation_data(ledger: Ledger, pki: DevPki, party: str, at: datetime) -> list[str]:
    """Fresh CRLs of every CA on the party's path and its OCSP response, uploaded."""
    issuer = pki.issuer_of(party)
    cas = PATH_CAS["NEAC" if issuer.startswith("NEAC") else "BCY"]
    blobs = [pki.crl(ca, at) for ca in cas] + [pki.ocsp_response(party, at)]
    return [ledger.content.put(b) for b in blobs]


def sign_command(ledger: Ledger, record: str, pki: DevPki, party: str, *, signer_class: str,
                 field: str | None = None, signature: bytes | None = None,
                 revocation: bool = True) -> Command:
    """A `record.sign` command: the CMS signature (if any) and fresh revocation data for
    `party` are uploaded first, as a client does."""
    params: dict[str, Any] = {"record": record, "signer_class": signer_class}
    if field is not None:
        params["field"] = field
    if signature is not None:
        params["signature"] = ledger.content.put(signature)
    if revocation:
        params["validation_data"] = revocation_data(ledger, pki, party, ledger.clock())
    return Command("record.sign", params)


def sign(ledger: Ledger, actor: Actor, record: str, pki: DevPki, party: str,
         **kw: Any) -> list[WrittenEvent]:
    return ledger.records.execute(actor, [sign_command(ledger, record, pki, party, **kw)])


def sign_both(ledger: Ledger, actor: Actor, record: str, pki: DevPki) -> list[Command]:
    """The two commands that make a record holding `signed_document` issued."""
    return [sign_command(ledger, record, pki, "individual", signer_class="individual",
                         field="Individual"),
            sign_command(ledger, record, pki, "agency", signer_class="organization",
                         field="Agency")]
