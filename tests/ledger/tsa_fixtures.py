"""A second, independent TSA for tests: `openssl ts -reply` behind a tiny HTTP handler, with
its own PKI (RSA), so that anchoring is never checked only against our own TSA code."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CONFIG = """
[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


@dataclass(frozen=True)
class OpensslTsa:
    url: str
    root_pem: bytes
    directory: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_pki(directory: Path, *, valid_from: datetime, years: int) -> bytes:
    """Root CA and TSA certificate (critical timeStamping EKU) in `directory`; the root PEM."""
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root = (x509.CertificateBuilder().subject_name(_name("OpenSSL test TSA root"))
            .issuer_name(_name("OpenSSL test TSA root")).public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(valid_from - timedelta(days=1))
            .not_valid_after(valid_from + timedelta(days=365 * 30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                         False), critical=True)
            .sign(root_key, hashes.SHA256()))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (x509.CertificateBuilder().subject_name(_name("OpenSSL test TSA"))
            .issuer_name(root.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(valid_from - timedelta(minutes=5))
            .not_valid_after(valid_from + timedelta(days=365 * years))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False,
                                         False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]),
                           critical=True)
            .sign(root_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (directory / "tsa.pem").write_bytes(cert.public_bytes(pem))
    (directory / "root.pem").write_bytes(root.public_bytes(pem))
    (directory / "tsa.key").write_bytes(key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (directory / "serial").write_text("01\n")
    (directory / "tsa.cnf").write_text(CONFIG.format(dir=directory))
    return root.public_bytes(pem)


@contextmanager
def openssl_tsa(years: int = 20) -> Iterator[OpensslTsa]:
    """An RFC 3161 TSA on a free loopback port, answered by `openssl ts -reply`."""
    openssl = shutil.which("openssl")
    assert openssl is not None, "openssl is needed for the independent TSA"
    directory = Path(tempfile.mkdtemp(prefix="openssl-tsa-"))
    root_pem = make_pki(directory, valid_from=datetime.now(UTC), years=years)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            query = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:  # openssl keeps its serial number in a file
                (directory / "q.tsq").write_bytes(query)
                subprocess.run(
                    [openssl, "ts", "-reply", "-config", str(directory / "tsa.cnf"),
                     "-queryfile", str(directory / "q.tsq"), "-signer", str(directory / "tsa.pem"),
                     "-inkey", str(directory / "tsa.key"), "-chain", str(directory / "root.pem"),
                     "-out", str(directory / "r.tsr")], check=True, capture_output=True)
                answer = (directory / "r.tsr").read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield OpensslTsa(f"http://127.0.0.1:{server.server_address[1]}/", root_pem, directory)
    finally:
        server.shutdown()
        server.server_close()
        shutil.rmtree(directory, ignore_errors=True)
