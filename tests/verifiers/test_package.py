"""Receiving checks of transfer packages (verifiers/package.py): every bad package is refused
with its own code. Each case starts from a good package written by the ledger's writer
(tests/ledger/test_transfer_package.py `build`) and edits its bytes, names or structure
directly, as a forger or a broken disk would."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import stat
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ledger.transfer import package as pkg
from tests.ledger.test_transfer_package import Built, build
from verifiers.canonical import canonical_bytes
from verifiers.package import (
    PACKAGE_CODES,
    CheckedPackage,
    Limits,
    PackageError,
    check_package,
    check_path,
    open_package,
)

REP_METS = pkg.REP_METS_PATH


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build(tmp_path_factory.mktemp("source"))


@pytest.fixture
def folder(source: Built, tmp_path: Path) -> Path:
    return source.export(tmp_path / "TR-2026-001")


@pytest.fixture
def bag(source: Built, tmp_path: Path) -> Path:
    return source.export(tmp_path / "bag", format="bagit")


@pytest.fixture
def archive(source: Built, tmp_path: Path) -> Path:
    return source.export(tmp_path / "TR-2026-001.zip", as_zip=True)


def check(path: Path, limits: Limits | None = None) -> CheckedPackage:
    with open_package(path, limits=limits) as opened:
        return check_package(opened)


def refused(path: Path, limits: Limits | None = None) -> PackageError:
    with pytest.raises(PackageError) as raised:
        check(path, limits)
    assert raised.value.code in PACKAGE_CODES
    assert raised.value.diagnostics().startswith(raised.value.code + ": ")
    return raised.value


def document(source: Built, n: int = 0) -> str:
    path: str = source.dict_["records"][n]["document"]
    return path


def flip(path: Path, at: int = 20) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def update_mets(root: Path, path: str) -> None:
    """Make the METS files agree with the bytes of `path` (CHECKSUM and SIZE), as a forger
    who rewrites a file would: the representation METS, then the root METS."""
    data = (root / path).read_bytes()
    sha, size = hashlib.sha256(data).hexdigest().upper(), len(data)

    def fix(found: re.Match[str]) -> str:
        text = re.sub(r'SIZE="\d+"', f'SIZE="{size}"', found.group(0))
        return re.sub(r'CHECKSUM="[0-9A-Fa-f]{64}"', f'CHECKSUM="{sha}"', text)

    for mets, base in ((REP_METS, "representations/rep1/"), ("METS.xml", "")):
        if not path.startswith(base) or path == mets:
            continue
        href = re.escape(path.removeprefix(base))
        text = (root / mets).read_text()
        text = re.sub(r'<mets:mdRef [^>]*xlink:href="' + href + r'"[^>]*/>', fix, text)
        text = re.sub(r'<mets:file [^>]*>\n\s*<mets:FLocat [^>]*xlink:href="' + href + '"',
                      fix, text)
        (root / mets).write_text(text)
        if mets == REP_METS:
            update_mets(root, REP_METS)


def rewrite_listing(root: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    """Change the transfer list (kept canonical) and the METS checksums that name it."""
    listing = json.loads((root / pkg.LIST_PATH).read_bytes())
    edit(listing)
    (root / pkg.LIST_PATH).write_bytes(canonical_bytes(listing))
    update_mets(root, pkg.LIST_PATH)


def zip_of(members: list[tuple[str, bytes]], *, compress: int = zipfile.ZIP_STORED,
           attrs: dict[str, int] | None = None) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of a duplicate name: we mean it
        with zipfile.ZipFile(buffer, "w") as z:
            for name, data in members:
                info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
                info.compress_type = compress
                info.external_attr = (attrs or {}).get(name, 0o100644 << 16)
                z.writestr(info, data)
    return buffer.getvalue()


def members_of(archive: Path) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(archive) as z:
        return [(i.filename, z.read(i)) for i in z.infolist()]


# -- good packages ----------------------------------------------------------------------------

def test_good_packages_pass_in_every_form(source: Built, folder: Path, bag: Path,
                                          archive: Path, tmp_path: Path) -> None:
    bag_zip = source.export(tmp_path / "bag.zip", format="bagit", as_zip=True)
    digest = "sha-256:" + hashlib.sha256(source.listing).hexdigest()
    for path, format in ((folder, "eark"), (bag, "bagit"), (archive, "eark"),
                         (bag_zip, "bagit")):
        checked = check(path)
        assert (checked.digest, checked.format) == (digest, format)
    with open_package(bag) as opened:  # E-ARK paths, for a bag too
        assert pkg.LIST_PATH in opened.paths()
        assert "bagit.txt" not in opened.paths()
        with opened.open(document(source)) as reader:
            assert reader.read() == (folder / document(source)).read_bytes()


def test_a_zip_with_the_package_at_its_top_also_passes(folder: Path, tmp_path: Path) -> None:
    flat = tmp_path / "flat.zip"
    flat.write_bytes(zip_of([(p.relative_to(folder).as_posix(), p.read_bytes())
                             for p in sorted(folder.rglob("*")) if p.is_file()]))
    assert check(flat).format == "eark"


def test_progress_reports_every_byte_hashed(folder: Path) -> None:
    seen: list[int] = []
    with open_package(folder) as opened:
        check_package(opened, progress=seen.append)
    hashed = [p for p in folder.rglob("*") if p.is_file() and p.name != "METS.xml"]
    rep = (folder / REP_METS).stat().st_size  # the root METS names it; none names the root
    assert sum(seen) == sum(p.stat().st_size for p in hashed) + rep


# -- the files --------------------------------------------------------------------------------

def test_a_flipped_byte_in_a_document(source: Built, folder: Path) -> None:
    flip(folder / document(source))
    error = refused(folder)
    assert (error.code, error.evidence["path"]) == ("package_file_altered", document(source))


def test_a_flipped_byte_in_a_zip_member_fails_its_crc(source: Built, archive: Path) -> None:
    data = archive.read_bytes()
    at = data.index(b"%PDF-1.7") + 12  # inside the first document (ZIP_STORED)
    archive.write_bytes(data[:at] + bytes([data[at] ^ 1]) + data[at + 1:])
    assert refused(archive).code == "package_file_altered"


def test_a_document_altered_with_its_mets_rewritten_still_differs_from_the_list(
        source: Built, folder: Path) -> None:
    flip(folder / document(source))
    update_mets(folder, document(source))
    assert refused(folder).code == "package_file_altered"


def test_a_removed_file(source: Built, folder: Path) -> None:
    evidence = source.dict_["records"][1]["evidence"]
    (folder / evidence).unlink()
    error = refused(folder)
    assert (error.code, error.evidence["path"]) == ("package_file_missing", evidence)


def test_an_extra_file(folder: Path) -> None:
    (folder / "representations" / "rep1" / "data" / "smuggled.pdf").write_bytes(b"%PDF-")
    error = refused(folder)
    assert error.code == "package_file_unexpected"
    assert error.evidence["paths"] == ["representations/rep1/data/smuggled.pdf"]


def test_a_file_that_grows_while_it_is_read(source: Built, folder: Path) -> None:
    with open_package(folder) as opened:
        with (folder / document(source)).open("ab") as f:
            f.write(b"more")
        with pytest.raises(PackageError) as raised:
            check_package(opened)
    assert raised.value.code == "package_file_altered"


# -- METS -------------------------------------------------------------------------------------

def test_a_root_mets_that_lies_about_a_checksum(source: Built, folder: Path) -> None:
    descriptive = source.dict_["records"][0]["descriptive"]
    mets = folder / "METS.xml"
    wrong = "0" * 64
    text, n = re.subn(r'(xlink:href="' + re.escape(descriptive) + r'"[^>]*CHECKSUM=")[0-9A-F]{64}',
                      rf"\g<1>{wrong}", mets.read_text())
    assert n == 1
    mets.write_text(text)
    error = refused(folder)
    assert (error.code, error.evidence["path"]) == ("mets_checksum_mismatch", descriptive)


def test_a_representation_mets_that_lies_about_a_document(source: Built,
                                                          folder: Path) -> None:
    rep = folder / REP_METS
    name = document(source).rsplit("/", 1)[1]
    text, n = re.subn(r'CHECKSUM="[0-9A-F]{64}"( CHECKSUMTYPE="SHA-256">\n\s*<mets:FLocat '
                      r'[^>]*xlink:href="data/' + re.escape(name) + '")',
                      'CHECKSUM="' + "A" * 64 + r'"\g<1>', rep.read_text())
    assert n == 1
    rep.write_text(text)
    update_mets(folder, REP_METS)  # the root METS names the representation METS's new bytes
    error = refused(folder)
    assert (error.code, error.evidence["path"]) == ("mets_checksum_mismatch",
                                                    document(source))


def test_a_mets_that_lies_about_a_size(source: Built, folder: Path) -> None:
    mets = folder / "METS.xml"
    text, n = re.subn(r'(xlink:href="' + re.escape(pkg.PREMIS_PATH) + r'"[^>]*SIZE=")\d+',
                      r"\g<1>1", mets.read_text())
    assert n == 1
    mets.write_text(text)
    assert refused(folder).code == "mets_checksum_mismatch"


@pytest.mark.parametrize("garbage", [
    b"<mets:mets", b"not xml at all",
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',
    b'<mets xmlns="http://www.loc.gov/METS/" PROFILE="https://example.org/other"/>',
    b'<other xmlns="urn:x"/>',
])
def test_a_mets_that_is_not_an_eark_mets(folder: Path, garbage: bytes) -> None:
    (folder / "METS.xml").write_bytes(garbage)
    assert refused(folder).code == "mets_malformed"


def test_a_mets_that_omits_a_listed_file(source: Built, folder: Path) -> None:
    evidence = re.escape(source.dict_["records"][0]["evidence"])
    mets = folder / "METS.xml"
    text, n = re.subn(r'\s*<mets:digiprovMD [^>]*>\s*<mets:mdRef [^>]*xlink:href="' + evidence
                      + r'"[^>]*/>\s*</mets:digiprovMD>', "", mets.read_text())
    assert n == 1
    mets.write_text(text)
    assert refused(folder).code == "mets_malformed"


def test_a_mets_reference_that_climbs_out(folder: Path) -> None:
    mets = folder / "METS.xml"
    mets.write_text(mets.read_text().replace('xlink:href="metadata/preservation/premis.xml"',
                                             'xlink:href="../../etc/passwd"'))
    assert refused(folder).code == "package_path_unsafe"


def test_a_mets_without_sha256_checksums(folder: Path) -> None:
    mets = folder / "METS.xml"
    mets.write_text(mets.read_text().replace('CHECKSUMTYPE="SHA-256"', 'CHECKSUMTYPE="MD5"'))
    assert refused(folder).code == "mets_malformed"


# -- the transfer list ------------------------------------------------------------------------

def test_a_missing_transfer_list(folder: Path) -> None:
    (folder / pkg.LIST_PATH).unlink()
    assert refused(folder).code == "transfer_list_missing"


def test_a_transfer_list_that_is_not_canonical(folder: Path) -> None:
    listing = json.loads((folder / pkg.LIST_PATH).read_bytes())
    (folder / pkg.LIST_PATH).write_text(json.dumps(listing, indent=1))
    update_mets(folder, pkg.LIST_PATH)
    assert refused(folder).code == "transfer_list_malformed"


@pytest.mark.parametrize("edit", [
    lambda listing: listing.update(format="other"),
    lambda listing: listing.update(version=2),
    lambda listing: listing.pop("counts"),
    lambda listing: listing.update(surprise=True),
    lambda listing: listing["files"].reverse(),
    lambda listing: listing["files"][0].update(sha256="XYZ"),
    lambda listing: listing["files"][0].update(use="other"),
    lambda listing: listing["records"][0].update(dossier="HS-NOWHERE"),
    lambda listing: listing["dossiers"][0]["records"].append("no-such-record"),
    lambda listing: listing["records"][0].update(leaves=[1]),
    lambda listing: listing["records"][0].update(evidence=listing["records"][0]["document"]),
], ids=["format", "version", "no-counts", "unknown-key", "unsorted", "bad-sha", "bad-use",
        "unknown-dossier", "unknown-member", "leaves", "evidence-is-document"])
def test_a_transfer_list_of_the_wrong_shape(folder: Path,
                                            edit: Callable[[dict[str, Any]], None]) -> None:
    rewrite_listing(folder, edit)
    assert refused(folder).code == "transfer_list_malformed"


def test_a_record_sent_without_its_dossier_may_still_name_it(tmp_path: Path) -> None:
    def single_from_a_dossier_left_behind(listing: dict[str, Any]) -> None:
        listing["records"][-1]["dossier"] = "HS-2025-09"

    built = build(tmp_path / "src", edit=single_from_a_dossier_left_behind)
    checked = check(built.export(tmp_path / "pkg"))
    assert checked.listing["records"][-1]["dossier"] == "HS-2025-09"
    page = pkg.transfer_list_html(checked.listing).decode()
    assert checked.listing["records"][-1]["id"] in page.split("Tài liệu lẻ", 1)[1]


def test_a_record_in_two_dossiers(folder: Path) -> None:
    def twice(listing: dict[str, Any]) -> None:
        listing["dossiers"][1]["records"].append(listing["dossiers"][0]["records"][0])

    rewrite_listing(folder, twice)
    assert refused(folder).code == "transfer_list_malformed"


def test_a_transfer_list_with_an_unsafe_path(folder: Path) -> None:
    rewrite_listing(folder, lambda listing: listing["files"][0].update(path="../x"))
    assert refused(folder).code == "package_path_unsafe"


@pytest.mark.parametrize("key", ["dossiers", "documents", "bytes"])
def test_counts_that_differ(folder: Path, key: str) -> None:
    rewrite_listing(folder, lambda listing: listing["counts"].update(
        {key: listing["counts"][key] + 1}))
    error = refused(folder)
    assert error.code == "counts_mismatch"
    assert error.evidence["listed"][key] == error.evidence["found"][key] + 1


def test_a_record_whose_content_is_not_its_document(folder: Path) -> None:
    rewrite_listing(folder, lambda listing: listing["records"][0]["content"].update(size=1))
    assert refused(folder).code == "package_file_altered"


def test_a_listed_size_that_differs(source: Built, folder: Path) -> None:
    def grow(listing: dict[str, Any]) -> None:
        entry = next(f for f in listing["files"] if f["path"] == pkg.PREMIS_PATH)
        entry["size"] += 1

    rewrite_listing(folder, grow)
    error = refused(folder)
    assert (error.code, error.evidence["path"]) == ("package_file_altered", pkg.PREMIS_PATH)


# -- BagIt ------------------------------------------------------------------------------------

def test_a_bag_manifest_mismatch(source: Built, bag: Path) -> None:
    manifest = bag / "manifest-sha256.txt"
    target = "data/" + document(source)
    lines = [("0" * 64 + line[64:]) if line.endswith(target) else line
             for line in manifest.read_text().splitlines()]
    manifest.write_text("\n".join(lines) + "\n")
    error = refused(bag)
    assert (error.code, error.evidence["path"]) == ("bag_checksum_mismatch", target)


def test_a_flipped_byte_in_a_bag_payload(source: Built, bag: Path) -> None:
    flip(bag / "data" / document(source))
    assert refused(bag).code == "bag_checksum_mismatch"


def test_a_tag_file_that_differs_from_the_tag_manifest(bag: Path) -> None:
    info = bag / "bag-info.txt"
    info.write_text(info.read_text() + "Contact-Name: Mallory\n")
    error = refused(bag)
    assert (error.code, error.evidence["path"]) == ("bag_checksum_mismatch", "bag-info.txt")


@pytest.mark.parametrize("damage", ["oxum", "bagit", "drop-line", "no-sha512", "line"])
def test_a_bag_of_the_wrong_structure(bag: Path, damage: str) -> None:
    if damage == "oxum":
        info = bag / "bag-info.txt"
        info.write_text(re.sub(r"Payload-Oxum: \d+", "Payload-Oxum: 1", info.read_text()))
    elif damage == "bagit":
        (bag / "bagit.txt").write_text("BagIt-Version: 9.9\n")
    elif damage == "drop-line":
        manifest = bag / "manifest-sha512.txt"
        manifest.write_text("".join(manifest.read_text().splitlines(keepends=True)[1:]))
    elif damage == "no-sha512":
        (bag / "manifest-sha512.txt").unlink()
    else:
        manifest = bag / "manifest-sha256.txt"
        manifest.write_text(manifest.read_text() + "nonsense\n")
    assert refused(bag).code == "bag_invalid"


def test_an_extra_tag_file(bag: Path) -> None:
    (bag / "notes.txt").write_text("not in the tag manifest")
    assert refused(bag).code == "package_file_unexpected"


def test_a_bag_whose_payload_is_not_an_eark_package(bag: Path) -> None:
    shutil.rmtree(bag / "data")
    (bag / "data").mkdir()
    for name in ("manifest-sha256.txt", "manifest-sha512.txt"):
        (bag / name).write_text("")
    info = bag / "bag-info.txt"
    info.write_text(re.sub(r"Payload-Oxum: [\d.]+", "Payload-Oxum: 0.0", info.read_text()))
    (bag / "tagmanifest-sha256.txt").unlink()
    assert refused(bag).code == "package_malformed"


# -- ZIP and folder safety --------------------------------------------------------------------

@pytest.mark.parametrize("name", [
    "TR-2026-001/../evil.txt", "/etc/passwd", "TR-2026-001/a\\b.txt", "C:/evil.txt",
    "TR-2026-001//x", "TR-2026-001/./x", "TR-2026-001/new\nline",
], ids=["dotdot", "absolute", "backslash", "drive", "empty-segment", "dot", "control"])
def test_an_unsafe_zip_name(archive: Path, name: str) -> None:
    archive.write_bytes(zip_of([*members_of(archive), (name, b"x")]))
    assert refused(archive).code == "package_path_unsafe"


def test_a_nul_in_a_zip_name(archive: Path) -> None:
    # zipfile cuts names at a NUL when it writes them: put one in by hand, same length
    data = zip_of([*members_of(archive), ("TR-2026-001/evilAtxt", b"x")])
    archive.write_bytes(data.replace(b"evilAtxt", b"evil\x00txt"))
    assert refused(archive).code == "package_path_unsafe"


def test_duplicate_names_in_a_zip(archive: Path) -> None:
    members = members_of(archive)
    archive.write_bytes(zip_of([*members, members[3]]))
    assert refused(archive).code == "package_path_unsafe"


def test_a_name_that_is_file_and_folder(archive: Path) -> None:
    members = members_of(archive)
    archive.write_bytes(zip_of([*members, (members[0][0] + "/x", b"x")]))
    assert refused(archive).code == "package_path_unsafe"


def test_a_symlink_in_a_zip(archive: Path) -> None:
    name = "TR-2026-001/link"
    archive.write_bytes(zip_of([*members_of(archive), (name, b"/etc/passwd")],
                               attrs={name: (stat.S_IFLNK | 0o777) << 16}))
    assert refused(archive).code == "package_path_unsafe"


def test_a_symlink_in_a_folder_package(source: Built, folder: Path) -> None:
    target = folder / document(source)
    target.unlink()
    target.symlink_to("/etc/passwd")
    assert refused(folder).code == "package_path_unsafe"


def test_a_symlinked_folder_in_a_folder_package(folder: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (folder / "schemas" / "more").symlink_to(outside, target_is_directory=True)
    assert refused(folder).code == "package_path_unsafe"


def test_a_special_file_in_a_folder_package(folder: Path) -> None:
    os.mkfifo(folder / "fifo")
    assert refused(folder).code == "package_path_unsafe"


def test_a_zip_bomb(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    bomb.write_bytes(zip_of([("METS.xml", b"<mets/>"), ("data.bin", bytes(20 * 2**20))],
                            compress=zipfile.ZIP_DEFLATED))
    small = Limits(max_ratio=100, ratio_floor=2**20, max_bytes=2**30)
    error = refused(bomb, small)
    assert (error.code, error.evidence["path"]) == ("package_too_large", "data.bin")
    error = refused(bomb, Limits(max_bytes=2**20, max_ratio=10**9))
    assert error.code == "package_too_large"


def test_a_member_whose_header_understates_its_size(tmp_path: Path) -> None:
    data = zip_of([("METS.xml", b" " * 2**20)], compress=zipfile.ZIP_DEFLATED)
    central = data.index(b"PK\x01\x02")
    patched = data[:central + 24] + (100).to_bytes(4, "little") + data[central + 28:]
    liar = tmp_path / "liar.zip"
    liar.write_bytes(patched)
    with open_package(liar) as opened:
        assert opened.size("METS.xml") == 100
        with pytest.raises(PackageError) as raised:
            opened.read("METS.xml")  # read only up to the declared size, then refused
    assert raised.value.code == "package_file_altered"


def test_too_many_entries(archive: Path, folder: Path) -> None:
    for path in (archive, folder):
        assert refused(path, Limits(max_entries=10)).code == "package_too_large"


def test_too_many_entries_are_refused_before_the_central_directory_is_read(
        tmp_path: Path) -> None:
    many = tmp_path / "many.zip"
    many.write_bytes(zip_of([(f"f{i}", b"") for i in range(50)]))
    error = refused(many, Limits(max_entries=10))
    assert (error.code, error.evidence["entries"]) == ("package_too_large", 50)


def test_too_many_bytes(archive: Path, folder: Path) -> None:
    for path in (archive, folder):
        assert refused(path, Limits(max_bytes=1000)).code == "package_too_large"


def test_a_file_too_large_to_read_whole(folder: Path) -> None:
    assert refused(folder, Limits(max_read=100)).code == "package_too_large"


def test_not_a_zip(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.zip"
    bogus.write_bytes(b"PK\x03\x04 this is not really a zip file" * 10)
    assert refused(bogus).code == "package_malformed"
    assert refused(tmp_path / "absent.zip").code == "package_malformed"


def test_an_encrypted_member(archive: Path) -> None:
    data = bytearray(zip_of(members_of(archive)))
    central = int.from_bytes(data[-6:-2], "little")  # end of central directory: its offset
    assert data[central:central + 4] == b"PK\x01\x02"
    data[central + 8] |= 0x1  # the first member's general purpose flag, bit 0: encrypted
    archive.write_bytes(bytes(data))
    assert refused(archive).code == "package_malformed"


def test_neither_a_bag_nor_an_eark_package(tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "readme.txt").write_text("hello")
    assert refused(other).code == "package_malformed"


# -- the path rule ----------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["a", "a/b.c", "documentation/transfer-list.json",
                                  "metadata/descriptive/tên.xml"])
def test_safe_paths(path: str) -> None:
    assert check_path(path) == path


@pytest.mark.parametrize("path", ["", "/a", "a/../b", "..", "a//b", "a/", "./a", "a\\b",
                                  "a\x00b", "C:x", "a\tb", "\udcff", "a" * 2000])
def test_unsafe_paths(path: str) -> None:
    with pytest.raises(PackageError) as raised:
        check_path(path)
    assert raised.value.code == "package_path_unsafe"


def test_codes_are_a_closed_set() -> None:
    with pytest.raises(ValueError, match="unknown package code"):
        PackageError("no_such_code", "x")
    assert len(set(PACKAGE_CODES)) == len(PACKAGE_CODES) == 13
