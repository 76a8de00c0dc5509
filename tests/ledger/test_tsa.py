"""The built-in TSA and the client: real RFC 3161 over HTTP, checked by OpenSSL."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from asn1crypto import tsp

from ledger.dev.tsa import TimeStampAuthority, TsaIdentity, load_or_create, serve
from ledger.longterm.tsa_client import TsaRequestError, parse_response, request_token

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def identity(tmp_path: Path) -> TsaIdentity:
    return load_or_create(tmp_path / "tsa")


@pytest.fixture
def tsa_url(identity: TsaIdentity) -> Iterator[str]:
    server = serve(TimeStampAuthority(identity), port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def _openssl() -> str:
    found = shutil.which("openssl")
    if found is None:
        if os.environ.get("CI") or os.environ.get("STELE_REQUIRE_OPENSSL") == "1":
            pytest.fail("openssl is required here")
        pytest.skip("openssl not installed")
    return found


def _pem(cert: object) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)  # type: ignore[attr-defined, no-any-return]


def test_openssl_accepts_our_tokens(identity: TsaIdentity, tsa_url: str, tmp_path: Path) -> None:
    openssl = _openssl()
    (tmp_path / "root.pem").write_bytes(_pem(identity.root))
    (tmp_path / "tsa.pem").write_bytes(_pem(identity.cert))
    for data in (b"", b"checkpoint note\n", os.urandom(1000)):
        digest = hashlib.sha256(data).digest()
        token = request_token(tsa_url, digest)
        (tmp_path / "token.der").write_bytes(token.der)
        done = subprocess.run(
            [openssl, "ts", "-verify", "-digest", digest.hex(), "-in", str(tmp_path / "token.der"),
             "-token_in", "-CAfile", str(tmp_path / "root.pem"), "-untrusted",
             str(tmp_path / "tsa.pem")], capture_output=True, text=True)
        assert done.returncode == 0 and "Verification: OK" in done.stdout, done.stderr
        wrong = hashlib.sha256(data + b"x").hexdigest()
        refused = subprocess.run(
            [openssl, "ts", "-verify", "-digest", wrong, "-in", str(tmp_path / "token.der"),
             "-token_in", "-CAfile", str(tmp_path / "root.pem"), "-untrusted",
             str(tmp_path / "tsa.pem")], capture_output=True, text=True)
        assert refused.returncode != 0


def test_tokens_carry_nonce_policy_and_ess_cert_id_v2(identity: TsaIdentity,
                                                      tsa_url: str) -> None:
    token = request_token(tsa_url, hashlib.sha256(b"x").digest())
    signed = tsp.TimeStampResp({"status": {"status": "granted"},
                                "time_stamp_token": tsp.ContentInfo.load(token.der)})
    content = signed["time_stamp_token"]["content"]
    info = content["encap_content_info"]["content"].parsed
    assert info["nonce"].native == token.nonce
    attrs = {a["type"].native: a for a in content["signer_infos"][0]["signed_attrs"]}
    assert "signing_certificate_v2" in attrs
    certs = [c.chosen.dump() for c in content["certificates"]]
    from cryptography.hazmat.primitives import serialization

    assert identity.cert.public_bytes(serialization.Encoding.DER) in certs


@pytest.mark.parametrize(("query", "fail"), [
    (b"not asn.1", "bad_data_format"),
    (tsp.TimeStampReq({"version": "v1", "message_imprint": {
        "hash_algorithm": {"algorithm": "md5"}, "hashed_message": b"\0" * 16}}).dump(), "bad_alg"),
    (tsp.TimeStampReq({"version": "v1", "message_imprint": {
        "hash_algorithm": {"algorithm": "sha256"}, "hashed_message": b"\0" * 20}}).dump(),
     "bad_alg"),
    (tsp.TimeStampReq({"version": "v1", "message_imprint": {
        "hash_algorithm": {"algorithm": "sha256"}, "hashed_message": b"\0" * 32},
        "req_policy": "1.2.3.4"}).dump(), "unaccepted_policy"),
])
def test_bad_requests_are_rejected_with_the_rfc_fail_info(identity: TsaIdentity, query: bytes,
                                                          fail: str) -> None:
    status, token = parse_response(TimeStampAuthority(identity).respond(query))
    assert status["status"].native == "rejection"
    assert status["fail_info"].native == {fail}
    assert token is None


def test_an_unreachable_tsa_is_a_clear_error_after_retries() -> None:
    with pytest.raises(TsaRequestError) as failed:
        request_token("http://127.0.0.1:1/", b"\0" * 32, attempts=2, backoff=0.01, timeout=1)
    assert failed.value.code == "timestamp_failed"


def test_the_tsa_key_is_private_and_kept(tmp_path: Path) -> None:
    first = load_or_create(tmp_path / "tsa")
    mode = stat.S_IMODE(os.stat(tmp_path / "tsa" / "tsa-key.pem").st_mode)
    assert mode == 0o600
    again = load_or_create(tmp_path / "tsa")
    assert again.cert == first.cert


def test_stele_tsa_cert_prints_the_chain(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "api.cli", "tsa", "cert", "--data-dir",
                           str(tmp_path)], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("BEGIN CERTIFICATE") == 2


def test_a_refusal_reaches_the_client_as_a_refusal(tsa_url: str) -> None:
    with pytest.raises(TsaRequestError) as refused:
        request_token(tsa_url, b"\0" * 20, hash_alg="sha1")
    assert "refused" in refused.value.message
    assert refused.value.evidence["fail_info"] == ["bad_alg"]
