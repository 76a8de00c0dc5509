"""Receiving checks of a transfer package: open it without trusting it, then check it.

A package (docs/transfers.md) is an E-ARK SIP (CSIP 2.1 + SIP 2.1), given as a directory or a
ZIP, possibly bagged (BagIt, RFC 8493: the E-ARK tree is then the bag's payload under
`data/`). Its manifest is `documentation/transfer-list.json`, the transfer list: canonical
JSON (RFC 8785) whose SHA-256 is the package digest, the same whatever the format.

Opening (`open_package`) checks every path and the configured `Limits` before a byte is read;
`check_package` then runs the steps below in order and raises a `PackageError` for the first
problem found. Every file is hashed in 1 MiB chunks, once, so a 2 GiB package is checked in
constant memory. Each problem has a stable code (`PACKAGE_CODES`):

- `package_malformed`: not a ZIP, an unreadable or encrypted member, an unknown compression
  method, a stored member whose sizes disagree, neither `bagit.txt` nor `METS.xml` at the root.
- `package_path_unsafe`: an absolute path, a drive letter, a `..` or `.` or empty segment, a
  backslash, a NUL or other control character, a name that is not UTF-8, a duplicate name, a
  name that is both a file and a folder, a symbolic link or other special file (ZIP
  `external_attr`, or a directory package's own entries).
- `package_too_large`: more entries than `max_entries`, more bytes than `max_bytes` (the
  sum of the declared sizes; every reader is held to its declared size while it reads), a
  compressed member that expands more than `max_ratio` times, a file read whole that is over
  `max_read`.
- `bag_invalid`: a bag whose `bagit.txt`, `bag-info.txt` or manifests do not parse, whose
  manifests do not list exactly its payload files, whose tag manifest names a missing file,
  or whose Payload-Oxum disagrees with its payload.
- `bag_checksum_mismatch`: a payload or tag file whose bytes the bag manifests disagree with.
- `mets_malformed`: a METS file that does not parse, has a DOCTYPE, does not name the E-ARK
  CSIP/SIP profile, references a file without a SHA-256 CHECKSUM or outside the package, or
  leaves a file of the transfer list unreferenced.
- `mets_checksum_mismatch`: a file whose bytes match the transfer list (or that the list does
  not name: the METS files) but not its METS CHECKSUM or SIZE.
- `transfer_list_missing`: no `documentation/transfer-list.json`.
- `transfer_list_malformed`: a transfer list that is not canonical JSON or not of format
  `stele-transfer-list` version 1 as documented, or whose entries do not refer to each other
  consistently (a record's document that is not a listed document file, an unknown dossier).
- `package_file_missing`: a file that the transfer list or a METS file names, not in the
  package.
- `package_file_altered`: a listed file whose size or SHA-256 differs from the list, a
  record's content digest or size that differs from its document's file entry, a file that
  changed size while it was read or whose ZIP CRC fails.
- `package_file_unexpected`: a file that neither the transfer list, nor a METS file, nor the
  bag's tag files account for.
- `counts_mismatch`: counts of dossiers, documents or bytes other than the list's own
  entries give.

Nothing here trusts a size, a name or a checksum the package gives about itself until it has
been compared with the bytes.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, BinaryIO
from urllib.parse import unquote, urlsplit
from xml.etree import ElementTree

from verifiers.canonical import parse_canonical
from verifiers.errors import VerificationError

CHUNK = 1 << 20  # bytes hashed or copied at a time
LIST_PATH = "documentation/transfer-list.json"
LIST_FORMAT = "stele-transfer-list"
LIST_VERSION = 1
METS_PATH = "METS.xml"
# `use` of a listed file; "schema" is for XML schemas shipped under schemas/ (CSIPSTR15)
USES = ("document", "descriptive", "preservation", "evidence", "documentation", "schema")
BAGIT = "bagit.txt"
BAG_INFO = "bag-info.txt"
BAG_PAYLOAD = "data/"
BAG_MANIFESTS = {"manifest-sha256.txt": "sha256", "manifest-sha512.txt": "sha512"}
BAG_TAG_MANIFESTS = {"tagmanifest-sha256.txt": "sha256", "tagmanifest-sha512.txt": "sha512"}
# the METS PROFILE of a package must be an E-ARK profile (SIP2: the SIP profile's own URI)
PROFILE_PREFIXES = ("https://earksip.dilcis.eu/profile/", "https://earkcsip.dilcis.eu/profile/")

PACKAGE_CODES = (
    "package_malformed",
    "package_path_unsafe",
    "package_too_large",
    "bag_invalid",
    "bag_checksum_mismatch",
    "mets_malformed",
    "mets_checksum_mismatch",
    "transfer_list_missing",
    "transfer_list_malformed",
    "package_file_missing",
    "package_file_altered",
    "package_file_unexpected",
    "counts_mismatch",
)

_METS = "{http://www.loc.gov/METS/}"
_XLINK = "{http://www.w3.org/1999/xlink}"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_DRIVE = re.compile(r"^[A-Za-z]:")
_UNSAFE_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")
_MAX_PATH = 1024  # characters: far beyond any path Stele writes


class PackageError(VerificationError):
    """A package refused by the receiving checks; `code` is one of PACKAGE_CODES."""

    code = "package_malformed"

    def __init__(self, code: str, message: str, **evidence: Any) -> None:
        if code not in PACKAGE_CODES:  # a programming error: codes are a closed set
            raise ValueError(f"unknown package code {code!r}")
        super().__init__(message, **evidence)
        self.code = code


@dataclass(frozen=True)
class Limits:
    """What a package may hold before it is refused (`package_too_large`)."""

    max_entries: int = 100_000  # ZIP members or directory entries, folders included
    max_bytes: int = 64 * 2**30  # total uncompressed bytes
    max_ratio: int = 100  # uncompressed / compressed size of a deflated member ...
    ratio_floor: int = 2**20  # ... once it is larger than this (small text compresses well)
    max_read: int = 256 * 2**20  # a file read whole: METS, transfer list, bag tags, bundles


@dataclass(frozen=True)
class CheckedPackage:
    """A package that passed every check: its transfer list, the package digest
    (`sha-256:` + hex SHA-256 of the list's bytes) and its format (`eark` or `bagit`)."""

    listing: dict[str, Any]
    digest: str
    format: str


def check_path(path: str) -> str:
    """`path` if it is a safe relative path (`a/b/c`), else PackageError(package_path_unsafe).

    The rule for every name a package gives: ZIP members, directory entries, transfer-list
    paths, METS references and bag manifest lines."""
    problem = None
    if not isinstance(path, str) or not path:
        problem = "empty path"
    elif len(path) > _MAX_PATH:
        problem = "path too long"
    elif _UNSAFE_CHARS.search(path):
        problem = "backslash, NUL or control character"
    elif path.startswith("/") or _DRIVE.match(path):
        problem = "absolute path"
    elif any(seg in ("", ".", "..") for seg in path.split("/")):
        problem = "empty, '.' or '..' segment"
    else:
        try:
            path.encode("utf-8")
        except UnicodeEncodeError:
            problem = "name is not UTF-8"
    if problem is not None:
        raise PackageError("package_path_unsafe", f"unsafe path: {problem}",
                           path=repr(path)[:200])
    return path


# -- opening ----------------------------------------------------------------------------------

class _Member(io.RawIOBase):
    """A file of the package, read through: never more than its declared size, and exactly
    it (a file that changes size while read, or whose ZIP CRC fails, is refused)."""

    def __init__(self, raw: IO[bytes], path: str, size: int) -> None:
        super().__init__()
        self._raw = raw
        self._path = path
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        try:
            if self._left == 0:
                if self._raw.read(1):
                    raise PackageError("package_file_altered",
                                       "a file is longer than its declared size",
                                       path=self._path)
                return 0
            data = self._raw.read(min(len(view), self._left))
        except zipfile.BadZipFile as exc:  # CRC-32: the bytes are not the ones archived
            raise PackageError("package_file_altered", f"a ZIP member is corrupt: {exc}",
                               path=self._path) from None
        except (zlib.error, EOFError, OSError, ValueError) as exc:
            raise PackageError("package_malformed", f"a member cannot be read: {exc}",
                               path=self._path) from None
        if not data:
            raise PackageError("package_file_altered",
                               "a file is shorter than its declared size", path=self._path)
        view[:len(data)] = data
        self._left -= len(data)
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class _Source:
    """The files of a package as stored: every path relative to the package root, with its
    declared size."""

    def __init__(self, files: dict[str, int]) -> None:
        self.files = files

    def raw(self, path: str) -> IO[bytes]:
        raise NotImplementedError

    def close(self) -> None:
        pass


def _declared_entries(path: Path) -> int | None:
    """The entry count the ZIP's end of central directory record declares (APPNOTE 4.3.16,
    4.3.14 for ZIP64), read before zipfile loads the whole central directory into memory;
    None if there is no such record (zipfile then says what is wrong)."""
    with path.open("rb") as f:
        size = f.seek(0, os.SEEK_END)
        tail_at = max(0, size - (22 + 0xFFFF))  # the record, then a comment of up to 64 KiB
        f.seek(tail_at)
        tail = f.read()
        end = tail.rfind(b"PK\x05\x06")
        if end < 0 or len(tail) < end + 22:
            return None
        count = int.from_bytes(tail[end + 10:end + 12], "little")
        if count != 0xFFFF or end < 20 or tail[end - 20:end - 16] != b"PK\x06\x07":
            return count
        f.seek(int.from_bytes(tail[end - 12:end - 4], "little"))
        record = f.read(56)
        if record[:4] != b"PK\x06\x06" or len(record) < 40:
            return None
        return int.from_bytes(record[32:40], "little")


class _ZipSource(_Source):
    def __init__(self, path: Path, limits: Limits) -> None:
        try:
            declared = _declared_entries(path)
        except OSError as exc:
            raise PackageError("package_malformed", f"not a readable ZIP: {exc}") from None
        if declared is not None and declared > limits.max_entries:
            raise PackageError("package_too_large", "too many entries", entries=declared,
                               limit=limits.max_entries)
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError,
                NotImplementedError) as exc:
            raise PackageError("package_malformed", f"not a readable ZIP: {exc}") from None
        try:
            files = self._scan(limits)
        except BaseException:
            self.zip.close()
            raise
        root = _root_folder(files)
        self.infos = {name[len(root):]: info for name, info in self._infos.items()}
        super().__init__({name[len(root):]: size for name, size in files.items()})

    def _scan(self, limits: Limits) -> dict[str, int]:
        infos = self.zip.infolist()
        if len(infos) > limits.max_entries:
            raise PackageError("package_too_large", "too many entries",
                               entries=len(infos), limit=limits.max_entries)
        files: dict[str, int] = {}
        folders: set[str] = set()
        self._infos: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in infos:
            name = info.orig_filename  # zipfile cuts `filename` at a NUL: check the original
            kind = stat.S_IFMT(info.external_attr >> 16)
            if kind == stat.S_IFLNK:
                raise PackageError("package_path_unsafe", "a symbolic link",
                                   path=repr(name)[:200])
            if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise PackageError("package_path_unsafe", "a special file",
                                   path=repr(name)[:200])
            folder = name.endswith("/")
            check_path(name[:-1] if folder else name)
            if name in files or name in folders or name.rstrip("/") in files \
                    or name + "/" in folders:
                raise PackageError("package_path_unsafe", "a duplicate name",
                                   path=repr(name)[:200])
            if folder:
                folders.add(name)
                continue
            if info.flag_bits & 0x1:
                raise PackageError("package_malformed", "an encrypted member", path=name)
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise PackageError("package_malformed", "an unsupported compression method",
                                   path=name, method=info.compress_type)
            if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
                raise PackageError("package_malformed", "a stored member's sizes differ",
                                   path=name)
            if info.compress_type == zipfile.ZIP_DEFLATED \
                    and info.file_size > limits.ratio_floor \
                    and info.file_size > limits.max_ratio * max(info.compress_size, 1):
                raise PackageError("package_too_large", "a member expands too much",
                                   path=name, size=info.file_size,
                                   compressed=info.compress_size, limit=limits.max_ratio)
            total += info.file_size
            if total > limits.max_bytes:
                raise PackageError("package_too_large", "too many bytes",
                                   limit=limits.max_bytes)
            files[name] = info.file_size
            self._infos[name] = info
        _no_file_is_a_folder(files)
        return files

    def raw(self, path: str) -> IO[bytes]:
        try:
            return self.zip.open(self.infos[path])
        except (zipfile.BadZipFile, zlib.error, OSError, ValueError, NotImplementedError,
                EOFError) as exc:
            raise PackageError("package_malformed", f"a member cannot be read: {exc}",
                               path=path) from None

    def close(self) -> None:
        self.zip.close()


class _DirSource(_Source):
    def __init__(self, root: Path, limits: Limits) -> None:
        self.root = root
        files: dict[str, int] = {}
        entries = total = 0
        stack = [""]
        while stack:
            rel = stack.pop()
            try:
                with os.scandir(root / rel if rel else root) as scan:
                    found = sorted(scan, key=lambda e: e.name)
            except OSError as exc:
                raise PackageError("package_malformed", f"a folder cannot be read: {exc}",
                                   path=rel) from None
            for entry in found:
                entries += 1
                if entries > limits.max_entries:
                    raise PackageError("package_too_large", "too many entries",
                                       limit=limits.max_entries)
                name = check_path(rel + entry.name)
                if entry.is_symlink():
                    raise PackageError("package_path_unsafe", "a symbolic link", path=name)
                if entry.is_dir(follow_symlinks=False):
                    stack.append(name + "/")
                elif entry.is_file(follow_symlinks=False):
                    size = entry.stat(follow_symlinks=False).st_size
                    total += size
                    if total > limits.max_bytes:
                        raise PackageError("package_too_large", "too many bytes",
                                           limit=limits.max_bytes)
                    files[name] = size
                else:
                    raise PackageError("package_path_unsafe", "a special file", path=name)
        super().__init__(files)

    def raw(self, path: str) -> IO[bytes]:
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(self.root / path, flags)  # O_NOFOLLOW: not swapped for a link since
        except OSError as exc:
            raise PackageError("package_file_missing", f"a file cannot be opened: {exc}",
                               path=path) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise PackageError("package_path_unsafe", "not a regular file", path=path)
        return os.fdopen(fd, "rb", buffering=0)


def _no_file_is_a_folder(files: Mapping[str, int]) -> None:
    for name in files:
        parts = name.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in files:
                raise PackageError("package_path_unsafe", "a name is both a file and a folder",
                                   path=name)


def _root_folder(files: Mapping[str, int]) -> str:
    """The folder the ZIP's package lives in: "" when `METS.xml` or `bagit.txt` is at the top,
    or the single top-level folder that holds everything (CSIPSTR1, RFC 8493 §4.2)."""
    if METS_PATH in files or BAGIT in files:
        return ""
    tops = {name.split("/", 1)[0] for name in files}
    if len(tops) == 1:
        top = tops.pop() + "/"
        if top + METS_PATH in files or top + BAGIT in files:
            return top
    return ""


class Package:
    """An opened package. Paths are those of the E-ARK tree (`METS.xml`,
    `documentation/transfer-list.json`, ...), for a bag too (its payload under `data/`)."""

    def __init__(self, source: _Source, limits: Limits) -> None:
        self._source = source
        self.limits = limits
        files = source.files
        if BAGIT in files:
            self.format = "bagit"
            self._payload = BAG_PAYLOAD
        elif METS_PATH in files:
            self.format = "eark"
            self._payload = ""
        else:
            raise PackageError("package_malformed", "neither a bag (bagit.txt) nor an E-ARK "
                               "package (METS.xml) at the root")

    def __enter__(self) -> Package:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._source.close()

    def paths(self) -> list[str]:
        """Every file of the E-ARK tree, sorted."""
        n = len(self._payload)
        return sorted(p[n:] for p in self._source.files if p.startswith(self._payload))

    def size(self, path: str) -> int:
        """The declared size of `path` (every reader is held to it)."""
        return self._source.files[self._full(path)]

    def open(self, path: str) -> BinaryIO:
        """A reader of `path`, bounded to its declared size."""
        return self._open_full(self._full(path))

    def read(self, path: str) -> bytes:
        """The bytes of `path`, a small file (at most `limits.max_read`)."""
        return self._read_full(self._full(path))

    def _full(self, path: str) -> str:
        full = self._payload + path
        if full not in self._source.files:
            raise PackageError("package_file_missing", "a file is not in the package",
                               path=path)
        return full

    def _open_full(self, full: str) -> BinaryIO:
        member = _Member(self._source.raw(full), full, self._source.files[full])
        return io.BufferedReader(member, buffer_size=CHUNK)

    def _read_full(self, full: str) -> bytes:
        size = self._source.files[full]
        if size > self.limits.max_read:
            raise PackageError("package_too_large", "a file too large to read whole",
                               path=full, size=size, limit=self.limits.max_read)
        with self._open_full(full) as reader:
            return reader.read()


def open_package(path: str | os.PathLike[str], *, limits: Limits | None = None) -> Package:
    """Open the package at `path` (a directory or a ZIP file), checking every name and the
    `limits` before any file is read. Use it as a context manager."""
    limits = limits or Limits()
    where = Path(path)
    source: _Source
    if where.is_dir():
        source = _DirSource(where, limits)
    elif where.is_file():
        source = _ZipSource(where, limits)
    else:
        raise PackageError("package_malformed", "no package at this path", path=str(where))
    try:
        return Package(source, limits)
    except BaseException:
        source.close()
        raise


# -- the transfer list --------------------------------------------------------------------------

def _malformed(message: str, **evidence: Any) -> PackageError:
    return PackageError("transfer_list_malformed", message, **evidence)


def _object(value: Any, keys: set[str], where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _malformed(f"{where} is not an object")
    if set(value) != keys:
        raise _malformed(f"{where} does not have exactly the documented keys",
                         missing=sorted(keys - set(value)), unknown=sorted(set(value) - keys))
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise _malformed(f"{where} is not text")
    return value


def _count(value: Any, where: str) -> int:
    if type(value) is not int or value < 0:
        raise _malformed(f"{where} is not a count")
    return value


def parse_listing(data: bytes) -> dict[str, Any]:
    """The transfer list in `data`, checked for its documented shape (transfer_list_malformed
    otherwise) and its paths (package_path_unsafe). Preconditions for `check_listing`."""
    try:
        listing: dict[str, Any] = parse_canonical(data)
    except VerificationError as exc:
        raise _malformed(f"the transfer list is not canonical JSON: {exc.message}") from None
    _object(listing, {"format", "version", "transfer", "registration", "created",
                      "legal_basis", "source", "destination", "counts", "dossiers",
                      "records", "files"}, "the transfer list")
    if listing["format"] != LIST_FORMAT or listing["version"] != LIST_VERSION:
        raise _malformed("not a transfer list of a known version",
                         format=listing["format"], version=listing["version"])
    for key in ("transfer", "registration", "created"):
        _text(listing[key], key)
    if listing["legal_basis"] is not None:
        basis = _object(listing["legal_basis"], {"number", "code", "date"}, "legal_basis")
        for key, value in basis.items():
            _text(value, f"legal_basis.{key}")
    for key, keys in (("source", {"origin", "agency", "log_key"}),
                      ("destination", {"agency", "kind", "log"})):
        for name, value in _object(listing[key], keys, key).items():
            _text(value, f"{key}.{name}")
    for name, value in _object(listing["counts"], {"dossiers", "documents", "bytes"},
                               "counts").items():
        _count(value, f"counts.{name}")
    if not isinstance(listing["files"], list):
        raise _malformed("files is not a list")
    previous = ""
    for i, entry in enumerate(listing["files"]):
        _object(entry, {"path", "size", "sha256", "use"}, f"files[{i}]")
        path = check_path(_text(entry["path"], f"files[{i}].path"))
        if path <= previous:
            raise _malformed("files are not sorted by path, or a path repeats", path=path)
        previous = path
        if path == LIST_PATH or path.rsplit("/", 1)[-1] == METS_PATH:
            raise _malformed("the list names itself or a METS file", path=path)
        _count(entry["size"], f"files[{i}].size")
        if not isinstance(entry["sha256"], str) or not _HEX64.match(entry["sha256"]):
            raise _malformed("a SHA-256 is not 64 lowercase hex digits", path=path)
        if entry["use"] not in USES:
            raise _malformed("a file's use is unknown", path=path, use=entry["use"])
    if not isinstance(listing["dossiers"], list) or not isinstance(listing["records"], list):
        raise _malformed("dossiers and records must be lists")
    for i, folder in enumerate(listing["dossiers"]):
        _object(folder, {"id", "code", "title", "records", "evidence"}, f"dossiers[{i}]")
        for key in ("id", "code", "title"):
            _text(folder[key], f"dossiers[{i}].{key}")
        check_path(_text(folder["evidence"], f"dossiers[{i}].evidence"))
        if not isinstance(folder["records"], list):
            raise _malformed(f"dossiers[{i}].records is not a list")
        for rid in folder["records"]:
            _text(rid, f"dossiers[{i}].records")
    for i, record in enumerate(listing["records"]):
        where = f"records[{i}]"
        _object(record, {"id", "dossier", "metadata", "content", "document", "descriptive",
                         "evidence", "events", "head", "leaves"}, where)
        _text(record["id"], f"{where}.id")
        if record["dossier"] is not None:
            _text(record["dossier"], f"{where}.dossier")
        if not isinstance(record["metadata"], dict):
            raise _malformed(f"{where}.metadata is not an object")
        content = _object(record["content"], {"digest", "size", "media_type"},
                          f"{where}.content")
        _text(content["digest"], f"{where}.content.digest")
        _count(content["size"], f"{where}.content.size")
        _text(content["media_type"], f"{where}.content.media_type")
        for key in ("document", "descriptive", "evidence"):
            check_path(_text(record[key], f"{where}.{key}"))
        _count(record["events"], f"{where}.events")
        _text(record["head"], f"{where}.head")
        if not isinstance(record["leaves"], list) or len(record["leaves"]) != record["events"]:
            raise _malformed(f"{where}.leaves is not one leaf index per event")
        for leaf in record["leaves"]:
            _count(leaf, f"{where}.leaves")
    return listing


def check_listing(listing: dict[str, Any]) -> None:
    """The list's entries agree with each other: each record's document, descriptive and
    evidence file is listed with that use, and its content digest and size are its
    document's (package_file_altered); dossiers and records name each other
    (transfer_list_malformed); the counts are those of the entries (counts_mismatch).
    A record may name a dossier the list does not hold (sent without it); a dossier the
    list holds lists exactly the records that name it. Requires: `listing` passed
    `parse_listing`."""
    files: dict[str, dict[str, Any]] = {f["path"]: f for f in listing["files"]}

    def listed(path: str, use: str, what: str) -> dict[str, Any]:
        entry = files.get(path)
        if entry is None or entry["use"] != use:
            raise _malformed(f"{what} is not a listed {use} file", path=path)
        return entry

    ids = [r["id"] for r in listing["records"]]
    if len(set(ids)) != len(ids):
        raise _malformed("a record is listed twice")
    codes = [d["code"] for d in listing["dossiers"]]
    if len(set(codes)) != len(codes) or \
            len({d["id"] for d in listing["dossiers"]}) != len(codes):
        raise _malformed("a dossier is listed twice")
    for folder in listing["dossiers"]:
        listed(folder["evidence"], "evidence", f"dossier {folder['code']}'s evidence")
        unknown = set(folder["records"]) - set(ids)
        if unknown:
            raise _malformed("a dossier names a record the list does not hold",
                             dossier=folder["code"], records=sorted(unknown))
    members: dict[str, str] = {}
    for folder in listing["dossiers"]:
        for rid in folder["records"]:
            if members.setdefault(rid, folder["code"]) != folder["code"]:
                raise _malformed("a record is in two dossiers", record=rid)
    for record in listing["records"]:
        # a record sent without its dossier may still name it (the dossier stays behind)
        named = record["dossier"]
        if members.get(record["id"], named) != named or (named in codes and
                                                         members.get(record["id"]) != named):
            raise _malformed("a record's dossier does not list it, or another does",
                             record=record["id"], dossier=named)
        listed(record["descriptive"], "descriptive", f"record {record['id']}'s description")
        listed(record["evidence"], "evidence", f"record {record['id']}'s evidence")
        document = listed(record["document"], "document", f"record {record['id']}'s document")
        content = record["content"]
        if content["digest"] != "sha-256:" + document["sha256"] \
                or content["size"] != document["size"]:
            raise PackageError("package_file_altered", "a record's content is not its listed "
                               "document", record=record["id"], path=record["document"],
                               content=content["digest"],
                               document="sha-256:" + document["sha256"])
    counts = listing["counts"]
    found = {"dossiers": len(listing["dossiers"]), "documents": len(listing["records"]),
             "bytes": sum(r["content"]["size"] for r in listing["records"])}
    if counts != found:
        raise PackageError("counts_mismatch", "the counts are not those of the entries",
                           listed=counts, found=found)


# -- METS -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Reference:
    """A file a METS document names (mets:file/FLocat or mdRef), with its checksum."""

    path: str
    sha256: str
    size: int | None
    mets: str


@dataclass
class _Mets:
    references: list[_Reference] = field(default_factory=list)
    representations: list[str] = field(default_factory=list)  # METS files of mets:mptr


def _mets_error(message: str, mets: str, **evidence: Any) -> PackageError:
    return PackageError("mets_malformed", message, mets=mets, **evidence)


def _resolve(href: str | None, base: str, mets: str) -> str:
    """The package path a METS xlink:href names, relative to the METS file's folder."""
    if not href:
        raise _mets_error("a reference without xlink:href", mets)
    parts = urlsplit(href)
    if parts.scheme or parts.netloc or parts.query or parts.fragment:
        raise _mets_error("a reference outside the package", mets, href=href[:200])
    path = unquote(parts.path)
    if path.startswith("/"):
        check_path(path)  # raises: absolute
    segments = [s for s in path.split("/") if s != "."]
    if ".." in segments:
        raise PackageError("package_path_unsafe", "a METS reference climbs out of its folder",
                           mets=mets, href=href[:200])
    return check_path("/".join([*([base] if base else []), *segments]))


def _parse_mets(data: bytes, mets: str) -> _Mets:
    # UTF-8 and no DOCTYPE: no entity can expand (billion laughs) or point outside the
    # package, and none hides in another encoding; then the stdlib parser is safe.
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _mets_error("a METS file that is not UTF-8", mets) from None
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise _mets_error("a METS file with a DOCTYPE", mets)
    try:
        root = ElementTree.fromstring(data)  # noqa: S314 (no DOCTYPE, checked above)
    except ElementTree.ParseError as exc:
        raise _mets_error(f"a METS file does not parse: {exc}", mets) from None
    if root.tag != _METS + "mets":
        raise _mets_error("the root element is not mets:mets", mets, tag=root.tag[:100])
    profile = root.get("PROFILE", "")
    if not profile.startswith(PROFILE_PREFIXES):
        raise _mets_error("the METS does not name an E-ARK CSIP/SIP profile", mets,
                          profile=profile[:200])
    base = mets.rsplit("/", 1)[0] if "/" in mets else ""
    out = _Mets()
    for element in root.iter():
        if element.tag == _METS + "file":
            location = element.find(_METS + "FLocat")
            href = None if location is None else location.get(_XLINK + "href")
        elif element.tag == _METS + "mdRef":
            href = element.get(_XLINK + "href")
        elif element.tag == _METS + "mptr":
            out.representations.append(_resolve(element.get(_XLINK + "href"), base, mets))
            continue
        else:
            continue
        path = _resolve(href, base, mets)
        checksum = element.get("CHECKSUM", "")
        if element.get("CHECKSUMTYPE") != "SHA-256" or len(checksum) != 64 \
                or not _HEX.match(checksum):
            raise _mets_error("a reference without a SHA-256 CHECKSUM", mets, path=path)
        size = element.get("SIZE")
        if size is not None and not size.isdigit():
            raise _mets_error("a reference with a SIZE that is not a number", mets, path=path)
        out.references.append(_Reference(path, checksum.lower(),
                                         None if size is None else int(size), mets))
    return out


# -- BagIt ------------------------------------------------------------------------------------

def _bag_error(message: str, **evidence: Any) -> PackageError:
    return PackageError("bag_invalid", message, **evidence)


def _tag_text(package: Package, name: str) -> str:
    try:
        return package._read_full(name).decode("utf-8")
    except UnicodeDecodeError:
        raise _bag_error("a tag file is not UTF-8", file=name) from None


def _bag_info(text: str) -> dict[str, list[str]]:
    """bag-info.txt's labels and values (RFC 8493 §2.2.2: continuation lines indented)."""
    info: dict[str, list[str]] = {}
    last: tuple[str, int] | None = None
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and last is not None:
            values = info[last[0]]
            values[last[1]] += " " + line.strip()
            continue
        label, sep, value = line.partition(":")
        if not sep or not label.strip():
            raise _bag_error("bag-info.txt has a line without a label", line=line[:100])
        values = info.setdefault(label.strip(), [])
        values.append(value.strip())
        last = (label.strip(), len(values) - 1)
    return info


def _manifest(text: str, name: str, algorithm: str) -> dict[str, str]:
    """The lines of a (tag) manifest: path -> lowercase hex digest (RFC 8493 §2.1.3)."""
    width = hashlib.new(algorithm).digest_size * 2
    lines: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or len(parts[0]) != width or not _HEX.match(parts[0]):
            raise _bag_error("a manifest line does not parse", manifest=name, line=line[:100])
        path = check_path(parts[1].replace("%0D", "\r").replace("%0A", "\n")
                          .replace("%25", "%"))
        if path in lines:
            raise _bag_error("a manifest names a file twice", manifest=name, path=path)
        lines[path] = parts[0].lower()
    return lines


def _check_bag(package: Package, hashed: Callable[[str], dict[str, str]]) -> set[str]:
    """RFC 8493 §3: a complete and valid bag. Returns the tag files it accounts for."""
    files = package._source.files
    # (1) bagit.txt: the version and the encoding, and nothing else (§2.1.1)
    lines = _tag_text(package, BAGIT).splitlines()
    if len(lines) != 2 or not re.fullmatch(r"BagIt-Version: (0\.97|1\.0)", lines[0]) \
            or lines[1] != "Tag-File-Character-Encoding: UTF-8":
        raise _bag_error("bagit.txt is not a BagIt 1.0 (or 0.97) declaration in UTF-8")
    # (2) the payload manifests: both, each listing exactly the payload files (§3)
    payload = {p for p in files if p.startswith(BAG_PAYLOAD)}
    manifests: dict[str, tuple[str, dict[str, str]]] = {}
    for name, algorithm in BAG_MANIFESTS.items():
        if name not in files:
            raise _bag_error("a payload manifest is missing", manifest=name)
        lines_of = _manifest(_tag_text(package, name), name, algorithm)
        if set(lines_of) != payload:
            raise _bag_error("a manifest does not list exactly the payload files",
                             manifest=name,
                             not_listed=sorted(payload - set(lines_of))[:5],
                             not_present=sorted(set(lines_of) - payload)[:5])
        manifests[name] = (algorithm, lines_of)
    # (3) bag-info.txt, with a Payload-Oxum that is the payload's octets and count (§2.2.2)
    if BAG_INFO not in files:
        raise _bag_error("bag-info.txt is missing")
    oxum = _bag_info(_tag_text(package, BAG_INFO)).get("Payload-Oxum", [])
    found = f"{sum(files[p] for p in payload)}.{len(payload)}"
    if oxum != [found]:
        raise _bag_error("the Payload-Oxum is not the payload's", listed=oxum, found=found)
    # (4) tag manifests, when present, name existing tag files
    tags = {BAGIT, BAG_INFO, *BAG_MANIFESTS}
    tag_lines: list[tuple[str, str, dict[str, str]]] = []
    for name, algorithm in BAG_TAG_MANIFESTS.items():
        if name in files:
            lines_of = _manifest(_tag_text(package, name), name, algorithm)
            absent = [p for p in lines_of if p not in files or p.startswith(BAG_PAYLOAD)]
            if absent:
                raise _bag_error("a tag manifest names a file that is not a tag file",
                                 manifest=name, paths=absent[:5])
            tags.add(name)
            tags.update(lines_of)
            tag_lines.append((name, algorithm, lines_of))
    # (5) every payload and tag file has the bytes its manifests give
    for name, (algorithm, lines_of) in manifests.items():
        for path, expected in sorted(lines_of.items()):
            if hashed(path)[algorithm] != expected:
                raise PackageError("bag_checksum_mismatch", "a payload file differs from the "
                                   "bag manifest", manifest=name, path=path)
    for name, algorithm, lines_of in tag_lines:
        for path, expected in sorted(lines_of.items()):
            if hashed(path)[algorithm] != expected:
                raise PackageError("bag_checksum_mismatch", "a tag file differs from the tag "
                                   "manifest", manifest=name, path=path)
    return tags


# -- the checks -------------------------------------------------------------------------------

def check_package(package: Package, *,
                  progress: Callable[[int], None] | None = None) -> CheckedPackage:
    """Run every receiving check on an opened package, in order; raise PackageError for the
    first problem found. `progress(n)` is told of each `n` bytes hashed."""
    files = package._source.files
    algorithms = ("sha256", "sha512") if package.format == "bagit" else ("sha256",)
    digests: dict[str, dict[str, str]] = {}

    def hashed(full: str) -> dict[str, str]:
        """The digests of a file (by its path from the package root), each file read once."""
        if full not in digests:
            hashers = {a: hashlib.new(a) for a in algorithms}
            with package._open_full(full) as reader:
                for chunk in iter(lambda: reader.read(CHUNK), b""):
                    for h in hashers.values():
                        h.update(chunk)
                    if progress is not None:
                        progress(len(chunk))
            digests[full] = {a: h.hexdigest() for a, h in hashers.items()}
        return digests[full]

    # (1) BagIt: structure, manifests, Payload-Oxum, checksums; the E-ARK tree is the payload
    tags: set[str] = set()
    if package.format == "bagit":
        tags = _check_bag(package, hashed)
        if BAG_PAYLOAD + METS_PATH not in files:
            raise PackageError("package_malformed", "the bag's payload is not an E-ARK "
                               "package (no data/METS.xml)")
    prefix = BAG_PAYLOAD if package.format == "bagit" else ""
    tree = set(package.paths())

    # (2) the transfer list: present, canonical, of the documented shape
    if LIST_PATH not in tree:
        raise PackageError("transfer_list_missing", "the package has no transfer list",
                           path=LIST_PATH)
    data = package.read(LIST_PATH)
    listing = parse_listing(data)
    listed = {f["path"]: f for f in listing["files"]}

    # (3) METS: the root METS and each representation's it points to (CSIP 2.1)
    root = _parse_mets(package.read(METS_PATH), METS_PATH)
    references = list(root.references)
    mets_files = {METS_PATH}
    for rep in root.representations:
        if rep in mets_files:
            continue
        if rep not in tree:
            raise PackageError("package_file_missing", "a representation METS is not in the "
                               "package", path=rep)
        mets_files.add(rep)
        references += _parse_mets(package.read(rep), rep).references
    referenced = {r.path for r in references}
    unreferenced = sorted(({*listed, LIST_PATH} | (mets_files - {METS_PATH})) - referenced)
    if unreferenced:
        raise PackageError("mets_malformed", "the METS files do not reference every file",
                           paths=unreferenced[:5])

    # (4) every file named is present, and every file present is accounted for
    for path in sorted({*listed, *referenced}):
        if path not in tree:
            raise PackageError("package_file_missing", "a file named by the transfer list or "
                               "a METS file is not in the package", path=path)
    outside = sorted(p for p in files if not p.startswith(prefix) and p not in tags)
    unexpected = sorted(tree - set(listed) - referenced - mets_files - {LIST_PATH})
    if outside or unexpected:
        raise PackageError("package_file_unexpected", "a file that neither the transfer "
                           "list, nor a METS file, nor the bag accounts for",
                           paths=(outside + unexpected)[:5])

    # (5) each listed file has its listed size and SHA-256; then its METS checksum
    for path, entry in sorted(listed.items()):
        if package.size(path) != entry["size"] \
                or hashed(prefix + path)["sha256"] != entry["sha256"]:
            raise PackageError("package_file_altered", "a file differs from the transfer "
                               "list", path=path, size=package.size(path),
                               listed_size=entry["size"])
    for ref in references:
        if hashed(prefix + ref.path)["sha256"] != ref.sha256 \
                or (ref.size is not None and ref.size != package.size(ref.path)):
            raise PackageError("mets_checksum_mismatch", "a file differs from its METS "
                               "checksum or size", path=ref.path, mets=ref.mets)

    # (6) the list's entries agree with each other, and the counts with the entries
    check_listing(listing)
    return CheckedPackage(listing=listing,
                          digest="sha-256:" + hashlib.sha256(data).hexdigest(),
                          format=package.format)

