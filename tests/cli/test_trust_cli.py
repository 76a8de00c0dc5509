"""The committee's registry and real signatures through the command line, as an operator runs
it: `stele dev-pki`, `stele trust ...`, `stele record sign`, `stele evidence`, `stele verify`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger.config import Database
from tests.cli.test_cli import Stele

pytestmark = pytest.mark.slow  # runs the real command line, one process per call

AGENCY = ["--agency", "000.00.00.G01"]
COMMITTEE = ["--agency", "000.00.00.B01"]  # --role defaults to committee for `stele trust`


@pytest.fixture
def stele(tmp_path: Path, database: Database) -> Stele:
    return Stele(tmp_path, None if database.kind == "sqlite" else database)


def _lines(text: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_committee_registers_reviews_and_retires_anchors(stele: Stele) -> None:
    stele.run("dev-pki", "init", "pki")
    added = stele.json("trust", "add", "pki/roots/NEAC.pem", "--pki", "NEAC",
                       "--purpose", "signing", *COMMITTEE)
    fingerprint = added["event"]["data"]["fingerprint"]
    stele.run("trust", "add", "pki/roots/BCY.pem", "--pki", "BCY", "--purpose", "signing",
              "--purpose", "timestamping", "--not-after", "2027-01-01T00:00:00Z", *COMMITTEE)
    listed = _lines(stele.run("trust", "list", "--json").stdout)
    assert [a["pki"] for a in listed] == ["NEAC", "BCY"]
    assert listed[1]["purposes"] == ["signing", "timestamping"]
    table = stele.run("trust", "list").stdout
    assert "NEAC" in table and "active" in table
    # Not a committee principal: refused, nothing written.
    refused = stele.run("trust", "suspend", fingerprint, "--reason", "x", "--role", "agency",
                        *COMMITTEE, ok=False)
    assert refused.returncode != 0 and "committee_only" in refused.stderr
    short = fingerprint.removeprefix("sha-256:")[:12]
    stele.run("trust", "suspend", short, "--reason", "key ceremony audit", *COMMITTEE)
    stele.run("trust", "reinstate", short, "--reason", "audit passed", *COMMITTEE)
    stele.run("trust", "retire", short, "--reason", "NEAC root re-keyed", *COMMITTEE)
    shown = stele.json("trust", "show", short, "--json")
    assert shown["status"] == "retired"
    assert [h["type"].split("_")[-1] for h in shown["history"]] == [
        "registered", "suspended", "reinstated", "retired"]
    shown_text = stele.run("trust", "show", short).stdout
    assert "signatures: 0" in shown_text and "records: 0" in shown_text
    expiring = _lines(stele.run("trust", "expiring", "--within", "2y", "--json").stdout)
    assert [a["pki"] for a in expiring] == ["BCY"]  # its window ends 2027; NEAC is retired
    bad = stele.run("trust", "expiring", "--within", "soon", ok=False)
    assert bad.returncode == 3 and "--within" in bad.stderr


def test_a_signed_pdf_signed_verified_and_exported(stele: Stele) -> None:
    stele.run("dev-pki", "init", "pki")
    # BCY's root also vouches for the dev TSA that timestamps the B-LT signatures.
    stele.run("trust", "add", "pki/roots/NEAC.pem", "--pki", "NEAC", "--purpose", "signing",
              *COMMITTEE)
    stele.run("trust", "add", "pki/roots/BCY.pem", "--pki", "BCY", "--purpose", "signing",
              "--purpose", "timestamping", *COMMITTEE)
    stele.run("dev-pki", "sign-pdf", "pki", "--signer", "individual", "--level", "B-LT",
              "--field", "Individual", "--blank", "QUYET DINH 1", "-o", "one.pdf")
    stele.run("dev-pki", "sign-pdf", "pki", "--signer", "agency", "--level", "B-LT",
              "--field", "Agency", "-i", "one.pdf", "-o", "signed.pdf")
    (stele.cwd / "meta.json").write_text(json.dumps({
        "doc_type": "Quyết định", "number": "1", "notation": "1/QĐ-CLI", "issued": "2026-01-02",
        "issuer": "000.00.00.G01", "subject": "Thử ký số", "language": "vi", "pages": 1,
        "access": "open", "reliability": "born_digital"}))
    created = stele.json("record", "create", "--metadata", "meta.json", "--content",
                         "signed.pdf", "--retention", "10", "--schedule", "S-1", *AGENCY)
    rid = created["record"]
    for signer_class, field in (("individual", "Individual"), ("organization", "Agency")):
        signed = stele.json("record", "sign", rid, "--signer-class", signer_class, "--field",
                            field, *AGENCY)
        assert signed["event"]["data"]["validation"]["verdict"] == "PASSED"
    assert stele.json("record", "show", rid)["state"]["issued"] is True
    # Exported and verified offline, trusting the two roots and the built-in TSA's.
    stele.run("evidence", rid, "-o", "bundle.zip", "--with-content")
    tsa = stele.run("tsa", "cert").stdout
    roots = stele.cwd / "roots.pem"
    roots.write_text((stele.cwd / "pki/roots/NEAC.pem").read_text()
                     + (stele.cwd / "pki/roots/BCY.pem").read_text() + tsa)
    key = stele.run("log", "key").stdout.strip()  # pinned: the bundle's own key proves nothing
    verified = stele.run("verify", "bundle.zip", "--trust", "roots.pem", "--log-key", key)
    assert verified.stdout.strip().endswith("PASSED")
    untrusted = stele.run("verify", "bundle.zip", "--json", "--log-key", key, ok=False)
    assert untrusted.returncode == 2
    assert json.loads(untrusted.stdout)["bottom_line"] == "INDETERMINATE"
