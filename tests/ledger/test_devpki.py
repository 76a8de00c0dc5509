"""The development PKI and its signing helpers, checked by outside tools where possible:
`openssl verify` / `openssl ocsp` / `openssl cms` / `openssl ts`, and pyHanko's own command line
(`pyhanko sign validate`, `pyhanko sign adesverify`) and validation API.

One PKI per module, made with `now` = the wall clock truncated to the second, because pyHanko's
command line validates at the real current time; every other time is derived from that `now`
and passed explicitly.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from io import BytesIO
from pathlib import Path

import pytest
from asn1crypto import cms, ocsp
from asn1crypto import x509 as asn1_x509
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import DocumentSecurityStore, validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from api.cli.devpki import dev_pki
from ledger.dev.pki import DevPki, DevPkiError, blank_pdf, sign_cms, sign_pdf

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
DATA = b"Ho so luu tru so 0001/2026\n" * 40


def _tool(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not Path(found).exists():
        pytest.skip(f"{name} is not installed")
    return found


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    now = datetime.now(UTC).replace(microsecond=0)
    return DevPki.create(tmp_path_factory.mktemp("devpki") / "pki", now)


@pytest.fixture(scope="module")
def pdfs(pki: DevPki, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """PDFs signed by `individual` at each level, pinned at pki.now + 1 minute, and one with an
    individual (B-LT) and then an agency (B-LTA) signature."""
    out = tmp_path_factory.mktemp("pdfs")
    at = pki.now + timedelta(minutes=1)
    blank = blank_pdf("Quyết định số 12/QĐ-VTLTNN\nNguyễn Văn A")
    made = {level: sign_pdf(blank, pki.party("individual"), level=level, pki=pki, at=at)
            for level in ("B-B", "B-T", "B-LT", "B-LTA")}
    made["two"] = sign_pdf(made["B-LT"], pki.party("agency"), level="B-LTA", pki=pki,
                           field="Signature2", at=at + timedelta(minutes=1))
    paths = {}
    for name, pdf in made.items():
        paths[name] = out / f"{name}.pdf"
        paths[name].write_bytes(pdf)
    return paths


def _pem_file(path: Path, der_crls: list[bytes]) -> Path:
    path.write_bytes(b"".join(x509.load_der_x509_crl(d).public_bytes(serialization.Encoding.PEM)
                              for d in der_crls))
    return path


def _reader(path: Path) -> PdfFileReader:
    return PdfFileReader(BytesIO(path.read_bytes()))


def _roots(pki: DevPki) -> list[asn1_x509.Certificate]:
    return [asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
            for c in pki.roots.values()]


def _offline_context(pki: DevPki, moment: datetime, reader: PdfFileReader | None = None,
                     ) -> ValidationContext:
    """Hard-fail, no fetching: only what the PDF's DSS holds (if any) counts."""
    kwargs = {"trust_roots": _roots(pki), "moment": moment, "allow_fetching": False,
              "revocation_mode": "hard-fail"}
    if reader is None:
        return ValidationContext(**kwargs, crls=[], ocsps=[])
    return DocumentSecurityStore.read_dss(reader).as_validation_context(kwargs)


# -- what is made ----------------------------------------------------------------------------


def test_files_match_the_manifest(pki: DevPki) -> None:
    root = pki.directory
    manifest = json.loads((root / "pki.json").read_text())
    assert manifest["version"] == 1
    assert datetime.fromisoformat(manifest["created"]) == pki.now
    assert set(manifest["authorities"]) == {"NEAC", "NEAC CA", "BCY"}
    assert set(manifest["parties"]) == {"individual", "expired", "revoked", "short", "agency",
                                        "tsa", "tsa2"}
    for name in ("NEAC", "BCY"):
        assert (root / f"roots/{name}.pem").read_bytes() == pki.roots[name].public_bytes(
            serialization.Encoding.PEM)
    for name, entry in manifest["parties"].items():
        cert = x509.load_pem_x509_certificate((root / f"certs/{name}.pem").read_bytes())
        assert entry["cert"] == f"certs/{name}.pem"
        assert entry["sha256"] == cert.fingerprint(hashes.SHA256()).hex()
        assert entry["not_after"] == cert.not_valid_after_utc.isoformat()
        key_pem = (root / f"keys/{name}.key.pem").read_bytes()
        assert key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8, unencrypted
        assert stat.S_IMODE((root / f"keys/{name}.key.pem").stat().st_mode) == 0o600
        chain = x509.load_pem_x509_certificates((root / f"chains/{name}.pem").read_bytes())
        assert chain == pki.party(name).chain
        assert (root / f"ocsp/{name}.ocsp").read_bytes() == pki.ocsp[name]
    for slug, name in (("NEAC", "NEAC"), ("NEAC-CA", "NEAC CA"), ("BCY", "BCY")):
        assert (root / f"crl/{slug}.crl").read_bytes() == pki.crls[name]
    assert manifest["parties"]["revoked"]["revoked"] == {
        "time": (pki.now - HOUR).isoformat(), "reason": "keyCompromise"}


def test_certificate_profiles(pki: DevPki) -> None:
    now = pki.now
    individual = pki.party("individual")
    assert [c.subject for c in individual.chain] == [
        pki.authority_cert("NEAC CA").subject, pki.roots["NEAC"].subject]
    assert pki.party("agency").chain == [pki.roots["BCY"]]
    assert pki.party("tsa").chain == [pki.roots["BCY"]]
    for name in ("individual", "expired", "revoked", "short", "agency"):
        cert = pki.party(name).cert
        key = pki.party(name).key
        assert isinstance(key, rsa.RSAPrivateKey)
        assert key.key_size == 2048
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
        assert usage.critical
        assert usage.value.digital_signature and usage.value.content_commitment
        issuer = pki.party(name).chain[0]
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        assert aki.key_identifier == ski.digest
        points = cert.extensions.get_extension_for_oid(ExtensionOID.CRL_DISTRIBUTION_POINTS)
        url = points.value[0].full_name[0].value
        assert url.startswith("http://dev-pki.invalid/crl/")
        aia = cert.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_INFORMATION_ACCESS)
        assert any(d.access_location.value.startswith("http://dev-pki.invalid/ocsp/")
                   for d in aia.value)
    agency = pki.party("agency").cert.subject
    assert agency.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)[0].value == (
        agency.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value)
    for ca in (pki.roots["NEAC"], pki.authority_cert("NEAC CA"), pki.roots["BCY"]):
        constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
        assert constraints.critical and constraints.value.ca
        usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
        assert usage.key_cert_sign and usage.crl_sign
    assert pki.roots["NEAC"].not_valid_after_utc - pki.roots["NEAC"].not_valid_before_utc == (
        timedelta(days=20 * 365))
    for name, days in (("tsa", 1825), ("tsa2", 4 * 1825)):
        tsa = pki.party(name)
        assert isinstance(tsa.key, ec.EllipticCurvePrivateKey)
        assert tsa.key.curve.name == "secp256r1"
        eku = tsa.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
        assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
        assert tsa.cert.not_valid_after_utc - tsa.cert.not_valid_before_utc == timedelta(days)
    # The validity windows the scenarios rely on.
    assert individual.cert.not_valid_before_utc == now - HOUR
    assert individual.cert.not_valid_after_utc == now - HOUR + timedelta(days=730)
    expired = pki.party("expired").cert
    assert (expired.not_valid_before_utc, expired.not_valid_after_utc) == (
        now - timedelta(days=730), now - DAY)
    assert pki.party("short").cert.not_valid_after_utc == now + DAY
    assert pki.party("revoked").cert.not_valid_before_utc < now - HOUR


# -- outside tools: OpenSSL ------------------------------------------------------------------


@pytest.mark.parametrize(("party", "root", "verdict"), [
    ("individual", "NEAC", "OK"), ("agency", "BCY", "OK"), ("tsa", "BCY", "OK"),
    ("expired", "NEAC", "certificate has expired")])
def test_openssl_verifies_chains(pki: DevPki, party: str, root: str, verdict: str) -> None:
    d = pki.directory
    purpose = ["-purpose", "timestampsign"] if party == "tsa" else []
    result = _run(_tool("openssl"), "verify", *purpose, "-CAfile", d / f"roots/{root}.pem",
                  "-untrusted", d / f"chains/{party}.pem", d / f"certs/{party}.pem")
    assert verdict in result.stdout + result.stderr
    assert (result.returncode == 0) == (verdict == "OK")


@pytest.mark.parametrize(("party", "revoked"), [("individual", False), ("revoked", True)])
def test_openssl_crl_check(pki: DevPki, tmp_path: Path, party: str, revoked: bool) -> None:
    d = pki.directory
    crls = _pem_file(tmp_path / "crls.pem", [pki.crls["NEAC"], pki.crls["NEAC CA"]])
    result = _run(_tool("openssl"), "verify", "-crl_check_all", "-CRLfile", crls,
                  "-CAfile", d / "roots/NEAC.pem", "-untrusted", d / f"chains/{party}.pem",
                  d / f"certs/{party}.pem")
    out = result.stdout + result.stderr
    assert ("certificate revoked" in out) == revoked
    assert (result.returncode == 0) == (not revoked)


@pytest.mark.parametrize(("party", "status"), [("individual", "good"), ("revoked", "revoked"),
                                               ("tsa", "good")])
def test_openssl_reads_the_ocsp_responses(pki: DevPki, party: str, status: str) -> None:
    d = pki.directory
    issuer = "ca/NEAC-CA.pem" if pki.issuer_of(party) == "NEAC CA" else "roots/BCY.pem"
    root = "roots/NEAC.pem" if pki.issuer_of(party) == "NEAC CA" else "roots/BCY.pem"
    result = _run(_tool("openssl"), "ocsp", "-respin", d / f"ocsp/{party}.ocsp",
                  "-issuer", d / issuer, "-cert", d / f"certs/{party}.pem", "-CAfile", d / root)
    assert "Response verify OK" in result.stderr
    assert f"certs/{party}.pem: {status}" in result.stdout
    if status == "revoked":
        assert "Reason: keyCompromise" in result.stdout


def test_openssl_cms_accepts_the_signature_and_rejects_changed_data(
        pki: DevPki, tmp_path: Path) -> None:
    data, sig = tmp_path / "data", tmp_path / "data.p7s"
    data.write_bytes(DATA)
    sig.write_bytes(sign_cms(DATA, pki.party("individual"), pki=pki, timestamp=True))
    root = pki.directory / "roots/NEAC.pem"
    verify = [_tool("openssl"), "cms", "-verify", "-binary", "-inform", "DER", "-in", sig,
              "-content", data, "-CAfile", root, "-purpose", "any", "-out", tmp_path / "out"]
    result = _run(*verify)
    assert result.returncode == 0, result.stderr
    assert "Verification successful" in result.stderr
    flipped = bytearray(DATA)
    flipped[100] ^= 0x01
    data.write_bytes(bytes(flipped))
    result = _run(*verify)
    assert result.returncode != 0
    assert "Verification failure" in result.stderr


def test_cms_contents_and_its_timestamp_checked_by_openssl_ts(
        pki: DevPki, tmp_path: Path) -> None:
    at = pki.now + timedelta(minutes=7)
    info = cms.ContentInfo.load(sign_cms(DATA, pki.party("individual"), pki=pki,
                                         timestamp=True, at=at))
    signed = info["content"]
    assert info["content_type"].native == "signed_data"
    assert signed["encap_content_info"]["content"].native is None  # detached
    assert {c.chosen.sha256 for c in signed["certificates"]} == {
        hashlib.sha256(c.public_bytes(serialization.Encoding.DER)).digest()
        for c in [pki.party("individual").cert, *pki.party("individual").chain]}
    signer = signed["signer_infos"][0]
    assert signer["digest_algorithm"]["algorithm"].native == "sha256"
    attrs = {a["type"].native: a["values"][0] for a in signer["signed_attrs"]}
    assert attrs["signing_time"].native == at
    assert attrs["message_digest"].native == hashlib.sha256(DATA).digest()
    token = next(a["values"][0] for a in signer["unsigned_attrs"]
                 if a["type"].native == "signature_time_stamp_token")
    tst_info = token["content"]["encap_content_info"]["content"].parsed
    assert tst_info["gen_time"].native == at
    # RFC 3161 Appendix A: the token's imprint is the hash of the signature value.
    (tmp_path / "tst.der").write_bytes(token.dump())
    result = _run(_tool("openssl"), "ts", "-verify", "-digest",
                  hashlib.sha256(signer["signature"].native).hexdigest(), "-in",
                  tmp_path / "tst.der", "-token_in", "-CAfile", pki.directory / "roots/BCY.pem",
                  "-attime", str(int(at.timestamp())))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Verification: OK" in result.stdout
    plain = cms.ContentInfo.load(sign_cms(DATA, pki.party("agency"), pki=pki))
    assert not plain["content"]["signer_infos"][0]["unsigned_attrs"].native


# -- revocation information at any moment ----------------------------------------------------


def test_crl_lists_the_revocation_only_once_effective(pki: DevPki) -> None:
    ca = pki.authority_cert("NEAC CA")
    before = x509.load_der_x509_crl(pki.crl("NEAC CA", pki.now - 2 * HOUR))
    after = x509.load_der_x509_crl(pki.crl("NEAC-CA", pki.now))
    serial = pki.party("revoked").cert.serial_number
    for crl in (before, after):
        assert crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
        assert crl.issuer == ca.subject
        assert crl.next_update_utc is not None and crl.last_update_utc is not None
        assert crl.next_update_utc - crl.last_update_utc == timedelta(days=7)
    assert before.last_update_utc == pki.now - 2 * HOUR
    assert before.get_revoked_certificate_by_serial_number(serial) is None
    entry = after.get_revoked_certificate_by_serial_number(serial)
    assert entry is not None
    assert entry.revocation_date_utc == pki.now - HOUR
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == (
        x509.ReasonFlags.key_compromise)
    assert len(after) == 1
    assert len(x509.load_der_x509_crl(pki.crls["BCY"])) == 0
    assert len(x509.load_der_x509_crl(pki.crls["NEAC"])) == 0


def test_ocsp_says_revoked_from_the_revocation_time(pki: DevPki) -> None:
    def single(der: bytes) -> tuple[ocsp.ResponseData, ocsp.SingleResponse]:
        tbs = ocsp.OCSPResponse.load(der).basic_ocsp_response["tbs_response_data"]
        return tbs, tbs["responses"][0]

    tbs, answer = single(pki.ocsp["revoked"])
    assert answer["cert_status"].name == "revoked"
    assert answer["cert_status"].chosen["revocation_time"].native == pki.now - HOUR
    assert answer["cert_status"].chosen["revocation_reason"].native == "key_compromise"
    assert tbs["produced_at"].native == pki.now
    tbs, answer = single(pki.ocsp_response("revoked", pki.now - 2 * HOUR))
    assert answer["cert_status"].name == "good"
    assert tbs["produced_at"].native == answer["this_update"].native == pki.now - 2 * HOUR
    assert single(pki.ocsp["individual"])[1]["cert_status"].name == "good"


# -- PDFs ------------------------------------------------------------------------------------


def test_blank_pdf_is_one_page_with_the_text(pki: DevPki) -> None:
    reader = PdfFileReader(BytesIO(blank_pdf("Nguyễn Văn A (đại diện)\nline (2)")))
    page = reader.root["/Pages"]["/Kids"][0].get_object()
    content = page["/Contents"].get_object().data
    assert reader.root["/Pages"]["/Count"] == 1
    assert b"(Nguyen Van A \\(dai dien\\)) Tj" in content
    assert b"(line \\(2\\)) Tj" in content


def test_pyhanko_cli_validates_b_b_and_b_lt(pki: DevPki, pdfs: dict[str, Path]) -> None:
    d = pki.directory
    for level in ("B-B", "B-LT"):
        # Plain `validate` ignores the DSS and would fetch from dev-pki.invalid: revocation
        # off here; the DSS is checked by `adesverify` below.
        result = _run(_tool("pyhanko"), "--no-plugins", "sign", "validate",
                      "--no-revocation-check", "--trust", d / "roots/NEAC.pem",
                      "--trust", d / "roots/BCY.pem", "--trust-replace", pdfs[level])
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Signature1:" in result.stdout and ":INTACT:TRUSTED" in result.stdout


@pytest.mark.parametrize(("pdf", "trusted"), [("B-LT", 1), ("B-LTA", 1), ("two", 2),
                                              ("B-T", 0)])
def test_pyhanko_adesverify_needs_the_embedded_revocation_info(
        pki: DevPki, pdfs: dict[str, Path], pdf: str, trusted: int) -> None:
    """AdES validation with revocation checks: passes on the DSS alone; B-T, which has none
    (and whose URLs never resolve), is the control that shows the DSS is what counts."""
    d = pki.directory
    result = _run(_tool("pyhanko"), "--no-plugins", "sign", "adesverify",
                  "--trust", d / "roots/NEAC.pem", "--trust", d / "roots/BCY.pem",
                  "--trust-replace", pdfs[pdf])
    lines = [line for line in result.stdout.splitlines() if line.startswith("Signature")]
    assert sum(":INTACT:TRUSTED," in line for line in lines) == trusted, result.stdout
    assert (result.returncode == 0) == (trusted > 0), result.stderr


def test_b_lt_carries_a_dss_sufficient_offline(pki: DevPki, pdfs: dict[str, Path]) -> None:
    reader = _reader(pdfs["B-LT"])
    dss = DocumentSecurityStore.read_dss(reader)
    ocsps = [ocsp.OCSPResponse.load(r.get_object().data) for r in dss.ocsps]
    serials = {o.basic_ocsp_response["tbs_response_data"]["responses"][0]["cert_id"]
               ["serial_number"].native for o in ocsps}
    assert serials == {pki.party("individual").cert.serial_number,
                       pki.party("tsa").cert.serial_number}
    crl_issuers = {x509.load_der_x509_crl(r.get_object().data).issuer for r in dss.crls}
    assert crl_issuers == {pki.authority_cert(n).subject for n in ("NEAC", "NEAC CA", "BCY")}
    moment = pki.now + timedelta(minutes=2)
    (sig,) = reader.embedded_regular_signatures
    context = _offline_context(pki, moment, reader)
    status = validate_pdf_signature(sig, context, ts_validation_context=context)
    assert status.bottom_line, status.pretty_print_details()
    # The same check without the DSS: hard-fail finds no revocation information.
    bare = _offline_context(pki, moment)
    assert not validate_pdf_signature(sig, bare, ts_validation_context=bare).trusted


def test_b_t_has_a_signature_timestamp_dated_at(pki: DevPki, pdfs: dict[str, Path]) -> None:
    (sig,) = _reader(pdfs["B-T"]).embedded_regular_signatures
    context = ValidationContext(trust_roots=_roots(pki), allow_fetching=False,
                                revocation_mode="soft-fail", moment=pki.now + HOUR)
    status = validate_pdf_signature(sig, context, ts_validation_context=context)
    assert status.timestamp_validity is not None
    assert status.timestamp_validity.trusted
    assert status.timestamp_validity.timestamp == pki.now + timedelta(minutes=1)
    assert "/DSS" not in _reader(pdfs["B-T"]).root
    (plain,) = _reader(pdfs["B-B"]).embedded_regular_signatures
    assert validate_pdf_signature(plain, context).timestamp_validity is None


def test_b_lta_ends_with_a_document_timestamp(pki: DevPki, pdfs: dict[str, Path]) -> None:
    reader = _reader(pdfs["B-LTA"])
    (doc_ts,) = reader.embedded_timestamp_signatures
    assert doc_ts.field_name == "DocTimeStamp-Signature1"
    assert doc_ts.signed_revision > reader.embedded_regular_signatures[0].signed_revision
    assert not _reader(pdfs["B-LT"]).embedded_timestamp_signatures


def test_two_signatures_validate_both(pki: DevPki, pdfs: dict[str, Path]) -> None:
    reader = _reader(pdfs["two"])
    individual, agency = reader.embedded_regular_signatures
    assert (individual.field_name, agency.field_name) == ("Signature1", "Signature2")
    assert agency.signer_cert.sha256 == pki.party("agency").cert.fingerprint(hashes.SHA256())
    context = _offline_context(pki, pki.now + timedelta(minutes=3), reader)
    for sig in (individual, agency):
        status = validate_pdf_signature(sig, context, ts_validation_context=context)
        assert status.bottom_line, status.pretty_print_details()


def test_revoked_signer_is_refused_at_b_lt_after_revocation_but_not_before(
        pki: DevPki) -> None:
    blank = blank_pdf("revoked")
    with pytest.raises(DevPkiError, match="revoked"):
        sign_pdf(blank, pki.party("revoked"), level="B-LT", pki=pki, at=pki.now)
    before = pki.now - 2 * HOUR
    reader = PdfFileReader(BytesIO(
        sign_pdf(blank, pki.party("revoked"), level="B-LT", pki=pki, at=before)))
    (sig,) = reader.embedded_regular_signatures
    context = _offline_context(pki, before + timedelta(minutes=1), reader)
    assert validate_pdf_signature(sig, context, ts_validation_context=context).bottom_line


def test_short_lived_signer_validates_after_expiry_with_b_lt(
        pki: DevPki, tmp_path: Path) -> None:
    """The long-term scenario `short` exists for: expired a day after signing, a B-LT signature
    still validates (AdES, two days later); a B-B one does not."""
    d = pki.directory
    later = (pki.now + 2 * DAY).isoformat()
    blank = blank_pdf("short")
    for level, ok in (("B-LT", True), ("B-B", False)):
        path = tmp_path / f"{level}.pdf"
        path.write_bytes(sign_pdf(blank, pki.party("short"), level=level, pki=pki,
                                  at=pki.now + timedelta(minutes=5)))
        result = _run(_tool("pyhanko"), "--no-plugins", "sign", "adesverify",
                      "--validation-time", later, "--trust", d / "roots/NEAC.pem",
                      "--trust", d / "roots/BCY.pem", "--trust-replace", path)
        assert (":INTACT:TRUSTED," in result.stdout) == ok, result.stdout + result.stderr


def test_sign_pdf_refusals(pki: DevPki, pdfs: dict[str, Path]) -> None:
    signed = pdfs["B-B"].read_bytes()
    with pytest.raises(DevPkiError, match="already has a signed field 'Signature1'"):
        sign_pdf(signed, pki.party("agency"), pki=pki)
    with pytest.raises(DevPkiError, match="unknown level"):
        sign_pdf(signed, pki.party("agency"), pki=pki, level="B-XL", field="S2")
    with pytest.raises(DevPkiError, match="timezone-aware"):
        sign_pdf(signed, pki.party("agency"), pki=pki, field="S2", at=datetime(2026, 1, 1))
    with pytest.raises(DevPkiError, match="refused"):
        sign_pdf(b"%PDF-1.7 not really", pki.party("agency"), pki=pki)


# -- the directory ---------------------------------------------------------------------------


def test_load_round_trips(pki: DevPki) -> None:
    loaded = DevPki.load(pki.directory)
    assert loaded.now == pki.now
    assert {n: c.fingerprint(hashes.SHA256()) for n, c in loaded.roots.items()} == {
        n: c.fingerprint(hashes.SHA256()) for n, c in pki.roots.items()}
    for name, party in pki.parties.items():
        again = loaded.party(name)
        assert again.cert == party.cert and again.chain == party.chain
        assert again.key.public_key() == party.key.public_key()
    assert loaded.crls == pki.crls and loaded.ocsp == pki.ocsp
    # Revocations survive: a CRL issued by the loaded PKI still lists `revoked`.
    crl = x509.load_der_x509_crl(loaded.crl("NEAC CA", pki.now))
    assert crl.get_revoked_certificate_by_serial_number(
        pki.party("revoked").cert.serial_number) is not None


def test_load_refuses_a_swapped_certificate(pki: DevPki, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(pki.directory, copy)
    shutil.copy(copy / "certs/agency.pem", copy / "certs/individual.pem")
    with pytest.raises(DevPkiError, match=r"certs/individual\.pem differs from the manifest"):
        DevPki.load(copy)
    with pytest.raises(DevPkiError, match=r"pki\.json is missing"):
        DevPki.load(tmp_path)


def test_create_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DevPkiError, match="not an empty directory"):
        DevPki.create(tmp_path, datetime.now(UTC))
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    with pytest.raises(DevPkiError, match="timezone-aware"):
        DevPki.create(tmp_path / "new", datetime(2026, 1, 1))


def test_unknown_names_list_the_known_ones(pki: DevPki) -> None:
    with pytest.raises(DevPkiError, match="known: individual, expired, revoked, short, agency"):
        pki.party("nobody")
    with pytest.raises(DevPkiError, match="known: NEAC, NEAC CA, BCY"):
        pki.crl("VNPT", pki.now)


# -- the command line ------------------------------------------------------------------------


def test_cli_end_to_end(tmp_path: Path) -> None:
    runner = CliRunner()
    home = tmp_path / "pki"
    hanoi = timezone(timedelta(hours=7))
    now = datetime.now(UTC).replace(microsecond=0)
    result = runner.invoke(dev_pki, ["init", str(home), "--now", now.astimezone(hanoi).isoformat()])
    assert result.exit_code == 0, result.output
    loaded = DevPki.load(home)
    assert loaded.now == now
    for name, root in loaded.roots.items():
        assert f"root {name}: " in result.output
        assert root.fingerprint(hashes.SHA256()).hex() in result.output
    assert "party individual (issuer NEAC CA): CN=Nguyen Van A" in result.output

    again = runner.invoke(dev_pki, ["init", str(home)])
    assert again.exit_code == 1
    assert "not an empty directory" in again.output
    assert isinstance(again.exception, SystemExit)  # a click error, not a traceback

    first, second = tmp_path / "one.pdf", tmp_path / "two.pdf"
    result = runner.invoke(dev_pki, ["sign-pdf", str(home), "--signer", "individual",
                                     "--level", "B-LT", "--blank", "Hồ sơ", "-o", str(first)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(dev_pki, ["sign-pdf", str(home), "--signer", "agency", "--field",
                                     "Signature2", "-i", str(first), "-o", str(second)])
    assert result.exit_code == 0, result.output
    names = [s.field_name for s in _reader(second).embedded_regular_signatures]
    assert names == ["Signature1", "Signature2"]
    assert "/DSS" in _reader(second).root

    result = runner.invoke(dev_pki, ["sign-pdf", str(home), "--signer", "nobody", "--blank",
                                     "x", "-o", str(tmp_path / "x.pdf")])
    assert result.exit_code == 1
    assert "known: individual, expired, revoked, short, agency, tsa, tsa2" in result.output
    result = runner.invoke(dev_pki, ["sign-pdf", str(home), "--signer", "agency",
                                     "-o", str(tmp_path / "x.pdf")])
    assert result.exit_code == 2
    assert "exactly one of -i/--input and --blank" in result.output

    data, sig = tmp_path / "data.bin", tmp_path / "data.p7s"
    data.write_bytes(DATA)
    at = now + timedelta(minutes=10)
    result = runner.invoke(dev_pki, ["sign-cms", str(home), "--signer", "agency", "--timestamp",
                                     "--at", at.astimezone(hanoi).isoformat(),
                                     "-i", str(data), "-o", str(sig)])
    assert result.exit_code == 0, result.output
    signer = cms.ContentInfo.load(sig.read_bytes())["content"]["signer_infos"][0]
    assert {a["type"].native: a["values"][0].native
            for a in signer["signed_attrs"]}["signing_time"] == at
    check = _run(_tool("openssl"), "cms", "-verify", "-binary", "-inform", "DER", "-in", sig,
                 "-content", data, "-CAfile", home / "roots/BCY.pem", "-purpose", "any",
                 "-out", tmp_path / "out")
    assert check.returncode == 0, check.stderr
