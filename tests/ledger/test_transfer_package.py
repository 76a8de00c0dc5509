"""Transfer packages as written by ledger/transfer/package.py: E-ARK and BagIt, directory and
ZIP, checked by the outside validators (eark-validator 1.1.3, bagit.py, the PREMIS 3 schema)
and by our own receiving checks; deterministic, and written in constant memory.

The packages come from a synthetic transfer list and blobs (`build`): no ledger, no database.
tests/verifiers/test_package.py tampers with them.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from xml.etree import ElementTree

import pytest

from domain.errors import InvalidInputError
from ledger.errors import CorruptStoreError
from ledger.transfer import package as pkg
from verifiers.canonical import canonical_bytes
from verifiers.errors import VerificationError
from verifiers.package import check_package, open_package

ROOT = Path(__file__).resolve().parents[2]
PREMIS_XSD = ROOT / "tests" / "vectors" / "premis" / "premis-v3.0.xsd"
EARK_PYTHON = ROOT / ".tools" / "eark-validator" / "bin" / "python"
BAGIT_PY = ROOT / ".venv" / "bin" / "bagit.py"
SOURCE = "000.00.00.G01"
DESTINATION = "000.00.00.H26"
CREATED = "2026-12-07T10:00:00.000000Z"
NAMESPACE = uuid.UUID("6f1c1f0e-8a57-4f2e-9a53-0d4a3c1e7b10")

# -- the builder ------------------------------------------------------------------------------


def _pdf(n: int, size: int = 0) -> bytes:
    body = f"1 0 obj << /Type /Catalog >> endobj\n% document {n}\n".encode() * 20
    return b"%PDF-1.7\n" + body + b"x" * max(0, size) + b"\n%%EOF\n"


def _bundle(name: str) -> bytes:
    """A stand-in for a Stele evidence bundle: a small deterministic ZIP."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo("manifest.json", date_time=(1980, 1, 1, 0, 0, 0))
        z.writestr(info, json.dumps({"format": "stele-evidence-bundle", "record": name}))
    return buffer.getvalue()


def _events(rid: str, dossier: str | None) -> list[dict[str, Any]]:
    clerk = {"id": "clerk-1", "role": "clerk", "agency": SOURCE}
    signer = {"id": "director", "role": "signer", "agency": SOURCE}
    kinds = [("record.created", clerk), ("record.signed", signer)]
    if dossier is not None:
        kinds.append(("record.filed", clerk))
    events, prev = [], None
    for version, (kind, actor) in enumerate(kinds, start=1):
        event = {"v": 1, "record": rid, "version": version, "type": kind,
                 "at": f"2026-11-0{version}T08:00:00.000000Z", "actor": actor, "prev": prev,
                 "data": {}}
        prev = base64.b64encode(hashlib.sha256(canonical_bytes(event)).digest()).decode()
        events.append(event)
    return events


@dataclass
class Built:
    """A transfer list and the blobs it names, in a folder (content-addressed)."""

    listing: bytes
    blobs: Path
    dict_: dict[str, Any] = field(default_factory=dict)

    def open_blob(self, digest: str) -> BinaryIO:
        return (self.blobs / digest.replace(":", "-")).open("rb")

    def export(self, out: Path, *, format: str = "eark", as_zip: bool = False,
               progress: Callable[[int], None] | None = None) -> Path:
        pkg.write_package(self.listing, self.open_blob, out, format=format, as_zip=as_zip,
                          progress=progress)
        return out


def build(tmp: Path, *, big: int | None = None,
          edit: Callable[[dict[str, Any]], None] | None = None) -> Built:
    """A realistic transfer list: 2 dossiers of 2 records each and 1 record on its own,
    small PDF-like documents, stand-in evidence bundles, and the descriptive, PREMIS and
    HTML files from the generators. `big`: the first document is that many bytes (sparse).
    `edit(listing)` changes the list before it is frozen."""
    blobs = tmp / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    files: list[dict[str, Any]] = []

    def freeze(path: str, data: bytes, use: str) -> str:
        sha = hashlib.sha256(data).hexdigest()
        (blobs / f"sha-256-{sha}").write_bytes(data)
        files.append({"path": path, "size": len(data), "sha256": sha, "use": use})
        return sha

    dossiers = [("HS-2026-01", "Hồ sơ nâng cấp hệ thống <thông tin> & \"dữ liệu\"", 2),
                ("HS-2026-02", "Hồ sơ tổ chức hội nghị tổng kết năm 2026", 2)]
    records: list[dict[str, Any]] = []
    packed: list[pkg.PackedRecord] = []
    folders: list[dict[str, Any]] = []
    n = 0
    for code, title, count in [*dossiers, (None, None, 1)]:
        members = []
        for _ in range(count):
            n += 1
            rid = str(uuid.uuid5(NAMESPACE, f"record-{n}"))
            document = pkg.document_path(rid, "application/pdf")
            if big is not None and n == 1:
                sha = _sparse(blobs, big)
                size = big
                files.append({"path": document, "size": size, "sha256": sha,
                              "use": "document"})
            else:
                data = _pdf(n)
                size = len(data)
                sha = freeze(document, data, "document")
            entry: dict[str, Any] = {
                "id": rid, "dossier": code,
                "metadata": {"doc_type": "Quyết định", "number": f"{n:02d}",
                             "notation": "QĐ-UBND", "issued": f"2026-10-{n:02d}",
                             "issuer": SOURCE,
                             "subject": f"Về việc phê duyệt <kế hoạch> số {n} & \"khác\"",
                             "language": "vi", "pages": n + 1, "access": "open",
                             "reliability": "born_digital"},
                "content": {"digest": f"sha-256:{sha}", "size": size,
                            "media_type": "application/pdf"},
                "document": document, "descriptive": pkg.descriptive_path(rid),
                "evidence": pkg.evidence_path(rid),
                "events": 0, "head": "", "leaves": [],
            }
            events = _events(rid, code)
            hashes = [base64.b64encode(hashlib.sha256(canonical_bytes(e)).digest()).decode()
                      for e in events]
            entry.update(events=len(events), head=hashes[-1],
                         leaves=[10 * n + i for i in range(len(events))])
            freeze(entry["evidence"], _bundle(rid), "evidence")
            freeze(entry["descriptive"], pkg.descriptive_xml(entry), "descriptive")
            records.append(entry)
            packed.append(pkg.PackedRecord(entry=entry, events=events, hashes=hashes))
            members.append(rid)
        if code is not None:
            did = str(uuid.uuid5(NAMESPACE, code))
            path = pkg.dossier_evidence_path(did)
            freeze(path, _bundle(did), "evidence")
            folders.append({"id": did, "code": code, "title": title, "records": members,
                            "evidence": path})
    freeze(pkg.PREMIS_PATH, pkg.premis_xml(packed, CREATED), "preservation")
    listing: dict[str, Any] = {
        "format": pkg.LIST_FORMAT, "version": pkg.LIST_VERSION, "transfer": "TR-2026-001",
        "registration": "DK-2026/17", "created": CREATED,
        "legal_basis": {"number": "12/QĐ-LTLS", "code": "QD", "date": "2026-11-30"},
        "source": {"origin": "stele.g01.example/log", "agency": SOURCE,
                   "log_key": "stele.g01.example/log+1234abcd+AQID"},
        "destination": {"agency": DESTINATION, "kind": "historical_archive",
                        "log": "stele.h26.example/log"},
        "counts": {"dossiers": len(folders), "documents": len(records),
                   "bytes": sum(r["content"]["size"] for r in records)},
        "dossiers": folders, "records": records,
    }
    freeze(pkg.LIST_HTML_PATH, pkg.transfer_list_html(listing), "documentation")
    listing["files"] = sorted(files, key=lambda f: f["path"])
    if edit is not None:
        edit(listing)
    return Built(canonical_bytes(listing), blobs, listing)


def _sparse(blobs: Path, size: int) -> str:
    """A blob of `size` zero bytes, sparse on disk; its SHA-256 computed in chunks."""
    sha = hashlib.sha256()
    chunk = bytes(1 << 20)
    left = size
    while left:
        step = min(left, len(chunk))
        sha.update(chunk[:step])
        left -= step
    digest = sha.hexdigest()
    with (blobs / f"sha-256-{digest}").open("wb") as f:
        f.truncate(size)
    return digest


@pytest.fixture
def built(tmp_path: Path) -> Built:
    return build(tmp_path / "src")


# -- outside validators -----------------------------------------------------------------------

# eark-validator 1.1.3 downloads the CSIP vocabularies when it is imported
# (eark_validator/ipxml/schematron.py); there is no network here: serve the copies it ships.
EARK_SCRIPT = r"""
import io, json, sys, urllib.request
from importlib.util import find_spec
from pathlib import Path

vocabs = Path(find_spec("eark_validator").submodule_search_locations[0], "ipxml", "resources",
              "vocabs")

def urlopen(url, *args, **kwargs):
    return io.BytesIO((vocabs / url.rsplit("/", 1)[-1]).read_bytes())

urllib.request.urlopen = urlopen
from eark_validator.packages import PackageValidator
from eark_validator.specifications.specification import SpecificationVersion

reports = [json.loads(PackageValidator(Path(p), SpecificationVersion.V2_1_0)
                      .validation_report.model_dump_json()) for p in sys.argv[1:]]
print(json.dumps(reports))
"""


def eark_validate(tmp: Path, *packages: Path) -> list[dict[str, Any]]:
    """eark-validator's report of each package, in its own environment and process."""
    if not EARK_PYTHON.exists():
        if os.environ.get("STELE_REQUIRE_EARK") == "1":
            pytest.fail("eark-validator is not installed (make install)")
        pytest.skip("eark-validator is not installed (make install)")
    unpack = tmp / "eark-unpack"  # where it unpacks ZIPs (tempfile.gettempdir())
    unpack.mkdir(exist_ok=True)
    done = subprocess.run([str(EARK_PYTHON), "-c", EARK_SCRIPT, *map(str, packages)],
                          capture_output=True, text=True, timeout=600, check=False,
                          env={"PATH": os.environ.get("PATH", ""), "TMPDIR": str(unpack)})
    assert done.returncode == 0, done.stderr
    reports: list[dict[str, Any]] = json.loads(done.stdout)
    return reports


def messages(report: dict[str, Any]) -> list[dict[str, Any]]:
    found = list((report.get("structure") or {}).get("messages") or [])
    for part in ("schema_results", "schematron_results"):
        found += ((report.get("metadata") or {}).get(part) or {}).get("messages") or []
    return found


def errors(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in messages(report) if m["severity"] == "Error"]


# -- the tests --------------------------------------------------------------------------------

# eark-validator 1.1.3's rules cannot all hold at once for an E-ARK SIP 2.1, so these
# error-level results are its own defects, each on a `metsHdr/agent[@ROLE='CREATOR']`:
# - SIP14 checks every CREATOR agent's note for an unqualified @NOTETYPE; the SIP 2.1 profile
#   (profiles/V2.1.0/E-ARK-SIP.xml, SIP9-14, example metsHdrAgentExample1) means the
#   ARCHIVIST agent's @csip:NOTETYPE, and the METS schema refuses an unqualified NOTETYPE,
#   while CSIP15 demands a note on the software CREATOR agent: no package escapes it.
# - CSIP12/13/16 hold every CREATOR agent to the software agent's TYPE OTHER/SOFTWARE and
#   SOFTWARE VERSION note; SIP15-20 (MUST, example metsHdrAgentExample2) make the submitting
#   agency a CREATOR of TYPE ORGANIZATION with an IDENTIFICATIONCODE note.
CREATOR = "/mets:mets/mets:metsHdr/mets:agent[@ROLE = 'CREATOR']"
VALIDATOR_DEFECTS = ["CSIP12", "CSIP13", "CSIP16", "SIP14", "SIP14"]


@pytest.mark.slow
def test_eark_packages_pass_eark_validator_but_for_its_own_defects(built: Built,
                                                                   tmp_path: Path) -> None:
    folder = built.export(tmp_path / "TR-2026-001")
    archive = built.export(tmp_path / "TR-2026-001.zip", as_zip=True)
    bag = built.export(tmp_path / "bag", format="bagit")
    reports = eark_validate(tmp_path, folder, archive, bag / "data")
    for report in reports:
        found = errors(report)
        assert sorted(m["rule_id"] for m in found) == VALIDATOR_DEFECTS, found
        assert all(m["location"].startswith(CREATOR) for m in found), found
        assert report["structure"]["status"] == "WellFormed"
        assert report["metadata"]["schema_results"]["status"] == "VALID"  # METS schema
        assert report["package"]["details"]["oaispackagetype"] == "SIP"
        warnings = {m["rule_id"] for m in messages(report) if m["severity"] == "Warn"}
        assert warnings <= {"CSIPSTR13"}  # no metadata/ folder in the representation


@pytest.mark.slow
def test_bagit_exports_pass_bagit_py(built: Built, tmp_path: Path) -> None:
    bagit = pytest.importorskip("bagit")
    bag = built.export(tmp_path / "bag", format="bagit")
    bagit.Bag(str(bag)).validate()  # raises BagValidationError when invalid
    done = subprocess.run([str(BAGIT_PY), "--validate", str(bag)], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    archive = built.export(tmp_path / "bag.zip", format="bagit", as_zip=True)
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(archive) as z:
        assert {n.split("/", 1)[0] for n in z.namelist()} == {"TR-2026-001"}
        z.extractall(unpacked)
    done = subprocess.run([str(BAGIT_PY), "--validate", str(unpacked / "TR-2026-001")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    info = (bag / "bag-info.txt").read_text()
    assert "External-Identifier: TR-2026-001\n" in info
    assert "Bagging-Date: 2026-12-07\n" in info
    assert f"Source-Organization: {SOURCE}\n" in info


def test_premis_validates_against_the_premis_3_schema(built: Built, tmp_path: Path) -> None:
    xmlschema = pytest.importorskip("xmlschema")
    schema = xmlschema.XMLSchema(str(PREMIS_XSD))
    folder = built.export(tmp_path / "pkg")
    premis = folder / pkg.PREMIS_PATH
    schema.validate(str(premis))
    root = ElementTree.parse(premis).getroot()
    ns = {"p": "http://www.loc.gov/premis/v3"}
    assert len(root.findall("p:object", ns)) == 5
    assert len(root.findall("p:event", ns)) == 2 * 5 + 4  # created, signed (+ filed)
    assert len(root.findall("p:agent", ns)) == 2
    types = {e.findtext("p:eventType", namespaces=ns) for e in root.findall("p:event", ns)}
    assert types == {"http://id.loc.gov/vocabulary/preservation/eventType/cre",
                     "http://id.loc.gov/vocabulary/preservation/eventType/dig",
                     "record.filed"}


def test_descriptive_files_are_dublin_core(built: Built, tmp_path: Path) -> None:
    folder = built.export(tmp_path / "pkg")
    entry = built.dict_["records"][0]
    root = ElementTree.parse(folder / entry["descriptive"]).getroot()
    assert root.tag == "{http://www.openarchives.org/OAI/2.0/oai_dc/}dc"
    dc = "{http://purl.org/dc/elements/1.1/}"
    assert root.findtext(dc + "title") == entry["metadata"]["subject"]  # escaped, read back
    assert f"urn:uuid:{entry['id']}" in [e.text for e in root.iter(dc + "identifier")]


def test_the_html_list_escapes_every_value(tmp_path: Path) -> None:
    built = build(tmp_path, edit=None)
    listing = json.loads(built.listing)
    listing["dossiers"][0]["title"] = "<script>alert(1)</script>"
    page = pkg.transfer_list_html(listing).decode()
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Mục lục hồ sơ, tài liệu nộp lưu" in page and "(Transfer list)" in page
    assert "Tài liệu lẻ" in page  # the record outside a dossier


@pytest.mark.parametrize("format", ["eark", "bagit"])
def test_exports_are_deterministic_and_pass_our_checks(built: Built, tmp_path: Path,
                                                       format: str) -> None:
    first = built.export(tmp_path / "a.zip", format=format, as_zip=True)
    second = built.export(tmp_path / "b.zip", format=format, as_zip=True)
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as z:
        names = z.namelist()
        assert names == sorted(names)
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_STORED}
        assert {i.date_time for i in z.infolist()} == {(2026, 12, 7, 10, 0, 0)}
    one, two = built.export(tmp_path / "d1", format=format), \
        built.export(tmp_path / "d2", format=format)
    assert _tree_bytes(one) == _tree_bytes(two)
    digests = set()
    for path in (first, one):
        with open_package(path) as opened:
            checked = check_package(opened)
        assert checked.format == format
        assert checked.listing == json.loads(built.listing)
        digests.add(checked.digest)
    assert digests == {"sha-256:" + hashlib.sha256(built.listing).hexdigest()}


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_same_list_gives_the_same_digest_in_every_form(built: Built,
                                                           tmp_path: Path) -> None:
    digests = set()
    for format in pkg.FORMATS:
        for as_zip in (False, True):
            out = built.export(tmp_path / f"{format}-{as_zip}", format=format, as_zip=as_zip)
            with open_package(out) as opened:
                digests.add(check_package(opened).digest)
                assert opened.read(pkg.LIST_PATH) == built.listing
    assert len(digests) == 1


def test_progress_counts_every_byte_written(built: Built, tmp_path: Path) -> None:
    seen: list[int] = []
    out = built.export(tmp_path / "p.zip", as_zip=True, progress=seen.append)
    with zipfile.ZipFile(out) as z:
        assert sum(seen) == sum(i.file_size for i in z.infolist())


def test_a_full_folder_or_an_existing_file_is_refused(built: Built, tmp_path: Path) -> None:
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("x")
    with pytest.raises(pkg.PackageTargetError):
        built.export(full)
    empty = tmp_path / "empty"
    empty.mkdir()
    built.export(empty)  # an empty folder is fine
    assert (empty / "METS.xml").is_file()
    existing = tmp_path / "exists.zip"
    existing.write_bytes(b"old")
    with pytest.raises(pkg.PackageTargetError):
        built.export(existing, as_zip=True)
    assert existing.read_bytes() == b"old"


def test_a_blob_that_is_not_the_listed_bytes_leaves_no_package(built: Built,
                                                               tmp_path: Path) -> None:
    entry = built.dict_["files"][0]
    (built.blobs / f"sha-256-{entry['sha256']}").write_bytes(b"not the same bytes")
    for as_zip in (False, True):
        out = tmp_path / f"out-{as_zip}"
        with pytest.raises(CorruptStoreError):
            built.export(out, as_zip=as_zip)
        assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_the_writer_refuses_a_list_the_receiver_would_refuse(tmp_path: Path) -> None:
    def wrong_counts(listing: dict[str, Any]) -> None:
        listing["counts"]["documents"] += 1

    bad = build(tmp_path, edit=wrong_counts)
    with pytest.raises(VerificationError) as raised:
        bad.export(tmp_path / "out")
    assert raised.value.code == "counts_mismatch"
    assert not (tmp_path / "out").exists()


def test_paths_follow_the_layout() -> None:
    rid = "0b8f6c1e-0000-4000-8000-000000000001"
    assert pkg.document_path(rid, "application/pdf") == \
        f"representations/rep1/data/{rid}.pdf"
    assert pkg.document_path(rid, "Application/PDF; version=1.7").endswith(".pdf")
    assert pkg.document_path(rid, "application/x-unknown").endswith(f"{rid}.bin")
    assert pkg.descriptive_path(rid) == f"metadata/descriptive/{rid}.xml"
    assert pkg.evidence_path(rid) == f"metadata/preservation/evidence/{rid}.zip"
    assert pkg.dossier_evidence_path(rid) == \
        f"metadata/preservation/evidence/dossier-{rid}.zip"
    with pytest.raises(InvalidInputError):
        pkg.evidence_path("../../etc/passwd")


# -- constant memory --------------------------------------------------------------------------

MEMORY_SCRIPT = r"""
import json, resource, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from tests.ledger.test_transfer_package import build
from verifiers.package import check_package, open_package

tmp, size, fmt, as_zip = Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5] == "1"
built = build(tmp / "src", big=size)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = built.export(tmp / ("pkg.zip" if as_zip else "pkg"), format=fmt, as_zip=as_zip)
exported = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with open_package(out) as opened:
    checked = check_package(opened)
    with opened.open(checked.listing["records"][0]["document"]) as reader:
        while reader.read(1 << 20):
            pass
checked_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before": before, "exported": exported, "checked": checked_rss}))
"""


@pytest.mark.slow
@pytest.mark.parametrize(("format", "as_zip"), [("eark", True), ("bagit", False)])
def test_a_300_mib_document_is_exported_and_checked_in_constant_memory(
        tmp_path: Path, format: str, as_zip: bool) -> None:
    size = 300 * 2**20
    if shutil.disk_usage(tmp_path).free < 3 * size:
        pytest.skip("not enough disk space for a 300 MiB package")
    done = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(ROOT), str(tmp_path),
                           str(size), format, "1" if as_zip else "0"],
                          capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr
    rss = json.loads(done.stdout)  # ru_maxrss: KiB on Linux
    growth = (max(rss["exported"], rss["checked"]) - rss["before"]) * 1024
    assert growth < 32 * 2**20, rss  # the document is 300 MiB
