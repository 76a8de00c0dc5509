"""The built-in RFC 3161 time-stamping authority, for development and tests.

`stele tsa serve` answers `application/timestamp-query` over HTTP on 127.0.0.1. Its key and
certificates are made on first run in `<data dir>/tsa/`: a root CA and a TSA certificate with
the critical extended key usage id-kp-timeStamping (RFC 3161 §2.3), ECDSA P-256. Tokens carry
the ESSCertIDv2 signing-certificate attribute (RFC 5816) and echo the request's nonce. It is a
real TSA, but a development one: production configures independent TSAs (`STELE_TSA_URLS`).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Protocol

from asn1crypto import algos, cms, core, tsp, x509
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ledger.errors import ConfigError

POLICY = "1.3.6.1.4.1.59999.3161.1"  # Stele development TSA policy (private arc, not a PEN)
DIGEST_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}  # the imprints we accept
MAX_REQUEST = 16 * 1024
# Every certificate of the development TSA and PKI names an organization that starts so:
# how production recognises development trust and refuses it.
DEVELOPMENT_ORGANIZATION = "Stele development"


def is_development_certificate(der: bytes) -> bool:
    """True for a certificate of the built-in TSA or the development PKI."""
    try:
        names = cx509.load_der_x509_certificate(der).subject.get_attributes_for_oid(
            NameOID.ORGANIZATION_NAME)
    except ValueError:
        return False
    return any(str(n.value).startswith(DEVELOPMENT_ORGANIZATION) for n in names)


@dataclass(frozen=True)
class TsaIdentity:
    key: ec.EllipticCurvePrivateKey
    cert: cx509.Certificate
    root: cx509.Certificate

    def chain_pem(self) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (self.cert, self.root))


def _name(common: str) -> cx509.Name:
    return cx509.Name([cx509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                       cx509.NameAttribute(NameOID.ORGANIZATION_NAME, DEVELOPMENT_ORGANIZATION),
                       cx509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_identity(now: datetime, *, tsa_years: int = 5) -> TsaIdentity:
    """A root CA (20 years) and a TSA certificate under it (`tsa_years`)."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name("Stele development TSA root")
    root = (cx509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
            .public_key(root_key.public_key()).serial_number(cx509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=365 * 20))
            .add_extension(cx509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(cx509.KeyUsage(False, False, False, False, False, True, True, False,
                                          False), critical=True)
            .add_extension(cx509.SubjectKeyIdentifier.from_public_key(root_key.public_key()),
                           critical=False)
            .sign(root_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (cx509.CertificateBuilder().subject_name(_name("Stele development TSA"))
            .issuer_name(root_name).public_key(key.public_key())
            .serial_number(cx509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=365 * tsa_years))
            .add_extension(cx509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(cx509.KeyUsage(True, False, False, False, False, False, False, False,
                                          False), critical=True)
            # RFC 3161 §2.3: the TSA certificate MUST have this one EKU, marked critical.
            .add_extension(cx509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]),
                           critical=True)
            .add_extension(cx509.AuthorityKeyIdentifier.from_issuer_public_key(
                root_key.public_key()), critical=False)
            .add_extension(cx509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(root_key, hashes.SHA256()))
    return TsaIdentity(key=key, cert=cert, root=root)


def load_or_create(directory: Path) -> TsaIdentity:
    """The development TSA of a data directory, made on first run (key file mode 0600)."""
    key_file, chain_file = directory / "tsa-key.pem", directory / "tsa-chain.pem"
    if not key_file.exists():
        directory.mkdir(parents=True, exist_ok=True)
        identity = make_identity(datetime.now(UTC))
        pem = identity.key.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption())
        tmp = directory / f".tsa-key.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        chain_tmp = directory / f".tsa-chain.{os.getpid()}"
        chain_tmp.write_bytes(identity.chain_pem())
        os.replace(chain_tmp, chain_file)
        try:
            os.link(tmp, key_file)  # the first process to get here wins; others read its key
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    try:
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        certs = cx509.load_pem_x509_certificates(chain_file.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the development TSA in {directory}: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or len(certs) != 2:
        raise ConfigError(f"{directory} does not hold a development TSA")
    return TsaIdentity(key=key, cert=certs[0], root=certs[1])


class TimeStampAuthority:
    """Answers TimeStampReq DER with TimeStampResp DER (RFC 3161 §2.4)."""

    def __init__(self, identity: TsaIdentity, *, signer_id: str = "issuer_serial") -> None:
        """`signer_id`: how SignerInfo names the TSA certificate (RFC 5652 §5.3), by
        "issuer_serial" (version 1) or by "subject_key_identifier" (version 3)."""
        if signer_id not in ("issuer_serial", "subject_key_identifier"):
            raise ValueError(f"unknown signer_id {signer_id!r}")
        self.identity = identity
        self.signer_id = signer_id
        self._cert = x509.Certificate.load(identity.cert.public_bytes(serialization.Encoding.DER))
        self._root = x509.Certificate.load(identity.root.public_bytes(serialization.Encoding.DER))
        self._serial = secrets.randbits(63)
        self._lock = threading.Lock()

    def _next_serial(self) -> int:
        with self._lock:
            self._serial += 1
            return self._serial

    def respond(self, request_der: bytes, now: datetime | None = None) -> bytes:
        try:
            request = tsp.TimeStampReq.load(request_der)
            imprint = request["message_imprint"]
            algorithm = imprint["hash_algorithm"]["algorithm"].native
            digest = imprint["hashed_message"].native
            request.native  # parse everything now: malformed input fails here  # noqa: B018
        except (ValueError, TypeError, KeyError):
            return _rejection("bad_data_format", "not a TimeStampReq")
        if request["version"].native != "v1":
            return _rejection("bad_request", "version must be 1")
        if DIGEST_SIZES.get(algorithm) != len(digest):
            return _rejection("bad_alg", "use SHA-256, SHA-384 or SHA-512")
        policy = request["req_policy"].native
        if policy is not None and policy != POLICY:
            return _rejection("unaccepted_policy", f"this TSA issues under {POLICY} only")
        if request["extensions"].native:
            return _rejection("unaccepted_extensions", "no extensions are supported")
        token = self._token(imprint, request, now or datetime.now(UTC))
        return bytes(tsp.TimeStampResp({"status": {"status": "granted"},
                                        "time_stamp_token": token}).dump())

    def _token(self, imprint: tsp.MessageImprint, request: tsp.TimeStampReq,
               now: datetime) -> cms.ContentInfo:
        info: dict[str, object] = {
            "version": "v1", "policy": POLICY, "message_imprint": imprint,
            "serial_number": self._next_serial(),
            "gen_time": now.replace(microsecond=(now.microsecond // 1000) * 1000),
            "accuracy": {"seconds": 1},
            "tsa": x509.GeneralName(name="directory_name", value=self._cert.subject),
        }
        if request["nonce"].native is not None:
            info["nonce"] = request["nonce"]
        tst_info = tsp.TSTInfo(info)
        content = tst_info.dump()
        cert_der = self._cert.dump()
        attrs = cms.CMSAttributes([
            cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}),
            cms.CMSAttribute({"type": "signing_time", "values": [cms.Time({"utc_time": now})]}),
            cms.CMSAttribute({"type": "message_digest",
                              "values": [hashlib.sha256(content).digest()]}),
            # RFC 5816: ESSCertIDv2 binds the signer certificate by its SHA-256 hash.
            cms.CMSAttribute({"type": "signing_certificate_v2", "values": [{
                "certs": [{
                    "hash_algorithm": {"algorithm": "sha256"},
                    "cert_hash": hashlib.sha256(cert_der).digest(),
                    "issuer_serial": {
                        "issuer": [x509.GeneralName(name="directory_name",
                                                    value=self._cert.issuer)],
                        "serial_number": self._cert.serial_number},
                }]}]}),
        ])
        signature = self.identity.key.sign(attrs.dump(), ec.ECDSA(hashes.SHA256()))
        certificates = [self._cert, self._root] if request["cert_req"].native else []
        signed_data = cms.SignedData({
            "version": "v3",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
            "encap_content_info": {"content_type": "tst_info",
                                   "content": core.ParsableOctetString(content)},
            "certificates": certificates or None,
            "signer_infos": [{
                "version": "v1" if self.signer_id == "issuer_serial" else "v3",
                "sid": self._sid(),
                "digest_algorithm": {"algorithm": "sha256"},
                "signed_attrs": attrs,
                "signature_algorithm": {"algorithm": "sha256_ecdsa"},
                "signature": signature,
            }],
        })
        return cms.ContentInfo({"content_type": "signed_data", "content": signed_data})


    def _sid(self) -> cms.SignerIdentifier:
        if self.signer_id == "subject_key_identifier":
            return cms.SignerIdentifier({"subject_key_identifier": self._cert.key_identifier})
        return cms.SignerIdentifier({"issuer_and_serial_number": {
            "issuer": self._cert.issuer, "serial_number": self._cert.serial_number}})


class LocalTsa:
    """The built-in TSA, called in-process (no HTTP): the embedded default's anchor."""

    def __init__(self, authority: TimeStampAuthority, *, url: str = "builtin:stele-dev-tsa",
                 clock: Callable[[], datetime] | None = None) -> None:
        self.authority = authority
        self.url = url
        self.clock = clock  # tokens dated by this clock (tests travel in time); else now

    def exchange(self, query: bytes, timeout: float) -> bytes:
        return self.authority.respond(query, None if self.clock is None else self.clock())


def _rejection(fail: str, text: str) -> bytes:
    """TimeStampResp with only a status (the token is absent, RFC 3161 §2.4.2). asn1crypto's
    TimeStampResp requires the token, so the SEQUENCE is written here."""
    status = tsp.PKIStatusInfo({"status": "rejection", "status_string": [text],
                                "fail_info": {fail}}).dump()
    return bytes(core.Sequence.load(b"\x30" + _der_length(len(status)) + status).dump())


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


class Responder(Protocol):
    def respond(self, request_der: bytes) -> bytes: ...


def serve(authority: Responder, host: str = "127.0.0.1",
          port: int = 3161) -> ThreadingHTTPServer:
    """An HTTP server for `authority` (RFC 3161 §3.4), anything that answers a TimeStampReq
    with a TimeStampResp; call serve_forever() or shutdown(). Port 0: any free port."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if self.headers.get("Content-Type") != "application/timestamp-query":
                self.send_error(415, "send application/timestamp-query")
                return
            if not 0 < length <= MAX_REQUEST:
                self.send_error(413, "request too large")
                return
            answer = authority.respond(self.rfile.read(length))
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            return  # quiet: the CLI reports what matters

    return ThreadingHTTPServer((host, port), Handler)
