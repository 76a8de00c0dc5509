"""Transfer packages: the paths of their files, the metadata files frozen at initiation, and
the writer that turns a transfer list and its blobs into an E-ARK SIP or a bag of one.

The package is a pure function of the transfer list (canonical JSON, whose SHA-256 is the
package digest) and the blobs it names: `write_package` reads nothing else and writes the same
bytes every time (no clock, no randomness, ZIP entries sorted and STORED, every timestamp the
list's `created`). The receiving checks are in verifiers/package.py; the writer checks the
list with the same rules first, so a sender never writes a package its receiver refuses.

Layout (E-ARK CSIP 2.1 §5, SIP 2.1): `METS.xml` (generated), `representations/rep1/METS.xml`
(generated) and `representations/rep1/data/<record>.<ext>`, `metadata/descriptive/<record>.xml`
(Dublin Core), `metadata/preservation/premis.xml` (PREMIS 3) and `.../evidence/*.zip` (Stele
evidence bundles), `documentation/transfer-list.json|html`, `schemas/` (the transfer list's
JSON Schema, generated, and any schema the list names). A BagIt export (RFC 8493) is that tree
bagged: it is the payload, under `data/`.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import secrets
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata as _metadata
from pathlib import Path
from typing import IO, Any, BinaryIO

from domain.errors import InvalidInputError
from domain.events import PREMIS_EVENT_TYPES
from ledger.errors import CorruptStoreError, LedgerError
from verifiers.package import (
    BAG_PAYLOAD,
    CHUNK,
    LIST_FORMAT,
    LIST_PATH,
    LIST_VERSION,
    METS_PATH,
    check_listing,
    parse_listing,
)

__all__ = [
    "FORMATS", "LIST_FORMAT", "LIST_HTML_PATH", "LIST_PATH", "LIST_VERSION", "PREMIS_FIELDS",
    "PREMIS_PATH", "REP_METS_PATH", "SCHEMA_PATH", "PackageTargetError", "PackedRecord",
    "descriptive_path", "descriptive_xml", "document_path", "dossier_evidence_path",
    "evidence_path", "premis_xml", "transfer_list_html", "write_package",
]

FORMATS = ("eark", "bagit")
LIST_HTML_PATH = "documentation/transfer-list.html"
PREMIS_PATH = "metadata/preservation/premis.xml"
REP = "rep1"
REP_METS_PATH = f"representations/{REP}/METS.xml"
SCHEMA_PATH = "schemas/stele-transfer-list-v1.schema.json"
SOFTWARE = "Stele"
# SIP2: the PROFILE of an E-ARK SIP is the SIP profile's own URI (E-ARK-SIP.xml, V2.1.0:
# <URI>https://earksip.dilcis.eu/profile/E-ARK-SIP.xml</URI>); eark-validator asserts it.
SIP_PROFILE = "https://earksip.dilcis.eu/profile/E-ARK-SIP.xml"
CONTENT_INFORMATION = "Stele records transfer (stele-transfer-list v1)"

# Document file extensions by media type; anything else is `.bin` (the media type stays in
# the list, the METS and PREMIS).
_EXTENSIONS = {
    "application/pdf": "pdf",
    "application/xml": "xml",
    "text/xml": "xml",
    "text/plain": "txt",
    "image/tiff": "tif",
    "image/jpeg": "jpg",
    "image/png": "png",
    "application/vnd.oasis.opendocument.text": "odt",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
}
_TEXTUAL = {"application/pdf", "text/plain", "application/xml", "text/xml",
            "application/vnd.oasis.opendocument.text",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}
# MIMETYPE of the metadata files by extension (CSIP26/40: an IANA media type)
_MIMETYPES = {"xml": "application/xml", "xsd": "application/xml", "json": "application/json",
              "html": "text/html", "zip": "application/zip", "pdf": "application/pdf"}
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")  # record and dossier ids: one segment
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_FILE_MODE = 0o100644 << 16  # ZIP external_attr: a regular file, rw-r--r--


class PackageTargetError(LedgerError):
    """The place to write a package holds something already (a file, a non-empty folder)."""

    code = "package_target_exists"


# -- paths ------------------------------------------------------------------------------------

def _segment(value: str, what: str) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise InvalidInputError(f"{what} cannot name a file of the package", value=value)
    return value


def _media(media_type: str) -> str:
    return media_type.split(";", 1)[0].strip().lower()


def document_path(record_id: str, media_type: str) -> str:
    ext = _EXTENSIONS.get(_media(media_type), "bin")
    return f"representations/{REP}/data/{_segment(record_id, 'record id')}.{ext}"


def descriptive_path(record_id: str) -> str:
    return f"metadata/descriptive/{_segment(record_id, 'record id')}.xml"


def evidence_path(record_id: str) -> str:
    return f"metadata/preservation/evidence/{_segment(record_id, 'record id')}.zip"


def dossier_evidence_path(dossier_id: str) -> str:
    return f"metadata/preservation/evidence/dossier-{_segment(dossier_id, 'dossier id')}.zip"


# -- XML, written by hand: attribute order, namespaces and whitespace fixed --------------------

def _text(value: object) -> str:
    text = str(value)
    if _NOT_XML.search(text):
        raise InvalidInputError("text holds a character XML 1.0 cannot carry",
                                value=repr(text)[:80])
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attr(value: object) -> str:
    return (_text(value).replace('"', "&quot;").replace("\t", "&#9;")
            .replace("\n", "&#10;").replace("\r", "&#13;"))


Attrs = Sequence[tuple[str, object | None]]


class _Xml:
    """An XML document written element by element, two-space indented, UTF-8 (encoded as it
    is written: a package's PREMIS holds every event, and is kept once, not as pieces too)."""

    def __init__(self) -> None:
        self._out = bytearray(b'<?xml version="1.0" encoding="UTF-8"?>\n')
        self._open: list[str] = []

    def _write(self, text: str) -> None:
        self._out += text.encode("utf-8")

    def _tag(self, tag: str, attrs: Attrs) -> str:
        return "  " * len(self._open) + "<" + tag + "".join(
            f' {k}="{_attr(v)}"' for k, v in attrs if v is not None)

    @contextmanager
    def element(self, tag: str, attrs: Attrs = ()) -> Iterator[None]:
        self._write(self._tag(tag, attrs) + ">\n")
        self._open.append(tag)
        yield
        self._open.pop()
        self._write("  " * len(self._open) + f"</{tag}>\n")

    def empty(self, tag: str, attrs: Attrs = ()) -> None:
        self._write(self._tag(tag, attrs) + "/>\n")

    def leaf(self, tag: str, text: object, attrs: Attrs = ()) -> None:
        self._write(self._tag(tag, attrs) + ">" + _text(text) + f"</{tag}>\n")

    def bytes(self) -> bytes:
        return bytes(self._out)


# -- descriptive metadata: Dublin Core ----------------------------------------------------------

_OAI_DC = "http://www.openarchives.org/OAI/2.0/oai_dc/"


def descriptive_xml(record: dict[str, Any]) -> bytes:
    """The Dublin Core (oai_dc) description of one `records` entry of the transfer list,
    from its `metadata` (domain/metadata.py), `content` and `id`."""
    meta, content = record["metadata"], record["content"]
    x = _Xml()
    with x.element("oai_dc:dc", [
        ("xmlns:oai_dc", _OAI_DC), ("xmlns:dc", "http://purl.org/dc/elements/1.1/"),
        ("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance"),
        ("xsi:schemaLocation", f"{_OAI_DC} http://www.openarchives.org/OAI/2.0/oai_dc.xsd"),
    ]):
        x.leaf("dc:title", meta["subject"])  # trích yếu nội dung
        x.leaf("dc:creator", meta["issuer"])  # the issuing agency's code
        x.leaf("dc:type", meta["doc_type"])
        x.leaf("dc:date", meta["issued"])
        x.leaf("dc:identifier", f"urn:uuid:{record['id']}")
        x.leaf("dc:identifier", f"{meta['number']}/{meta['notation']}")  # số, ký hiệu
        x.leaf("dc:language", meta.get("language", "vi"))
        x.leaf("dc:format", content["media_type"])
        x.leaf("dc:format", f"{meta['pages']} pages; {content['size']} bytes")
        x.leaf("dc:description", f"reliability: {meta['reliability']}")
        x.leaf("dc:rights", f"access: {meta['access']}")
        if record.get("dossier"):
            x.leaf("dc:relation", f"dossier {record['dossier']}")
    return x.bytes()


# -- preservation metadata: PREMIS 3 ------------------------------------------------------------

_PREMIS = "http://www.loc.gov/premis/v3"
_HASHES = "http://id.loc.gov/vocabulary/preservation/cryptographicHashFunctions"
_EVENT_TYPES = "http://id.loc.gov/vocabulary/preservation/eventType"


PREMIS_FIELDS = ("record", "version", "type", "at", "actor")


@dataclass(frozen=True)
class PackedRecord:
    """One record as packed at initiation: its `records` entry of the transfer list, its
    events (the PREMIS_FIELDS of each decoded envelope: record, version, type, at, actor {id,
    role, agency}) in version order, and each event's hash (base64 SHA-256 of its canonical
    bytes)."""

    entry: dict[str, Any]
    events: list[dict[str, Any]]
    hashes: list[str]


def premis_xml(records: Sequence[PackedRecord], created: str) -> bytes:
    """PREMIS 3 of the package: one object per document (fixity SHA-256, size, format name =
    media type), one event per ledger event (type: the PREMIS event type URI, else the Stele
    type; identifier: the event hash; linking agent: the actor; linking object: the
    document), one agent per distinct actor. `created` (the transfer list's) is not written:
    a PREMIS 3 document has no date of its own; the METS mdRef CREATED carries it."""
    agents: dict[tuple[str, str], set[str]] = {}
    for packed in records:
        if len(packed.events) != len(packed.hashes):
            raise InvalidInputError("one hash per event", record=packed.entry.get("id"))
        for event in packed.events:
            actor = event.get("actor") or {}
            if actor:
                agents.setdefault((actor["agency"], actor["id"]), set()).add(actor["role"])
    x = _Xml()
    with x.element("premis:premis", [
        ("xmlns:premis", _PREMIS), ("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance"),
        ("xsi:schemaLocation", f"{_PREMIS} https://www.loc.gov/standards/premis/v3/premis.xsd"),
        ("version", "3.0"),
    ]):
        for packed in records:
            entry, content = packed.entry, packed.entry["content"]
            with x.element("premis:object", [("xsi:type", "premis:file")]):
                _identifier(x, "object", "local", entry["document"])
                _identifier(x, "object", "stele:record", entry["id"])
                with x.element("premis:objectCharacteristics"):
                    x.leaf("premis:compositionLevel", 0)
                    with x.element("premis:fixity"):
                        x.leaf("premis:messageDigestAlgorithm", "SHA-256", [
                            ("authority", "cryptographicHashFunctions"),
                            ("authorityURI", _HASHES), ("valueURI", _HASHES + "/sha256")])
                        x.leaf("premis:messageDigest",
                               content["digest"].removeprefix("sha-256:"))
                    x.leaf("premis:size", content["size"])
                    with x.element("premis:format"), x.element("premis:formatDesignation"):
                        x.leaf("premis:formatName", content["media_type"])
        for packed in records:
            for event, digest in zip(packed.events, packed.hashes, strict=True):
                _event(x, packed.entry, event, digest)
        for (agency, actor), roles in sorted(agents.items()):
            with x.element("premis:agent"):
                _identifier(x, "agent", "stele:actor", f"{agency}/{actor}")
                x.leaf("premis:agentName", actor)
                x.leaf("premis:agentNote", f"agency {agency}; roles: {', '.join(sorted(roles))}")
    return x.bytes()


def _identifier(x: _Xml, kind: str, scheme: str, value: str) -> None:
    with x.element(f"premis:{kind}Identifier"):
        x.leaf(f"premis:{kind}IdentifierType", scheme)
        x.leaf(f"premis:{kind}IdentifierValue", value)


def _event(x: _Xml, entry: dict[str, Any], event: dict[str, Any], digest: str) -> None:
    kind = event["type"]
    uri = PREMIS_EVENT_TYPES.get(kind)
    actor = event.get("actor") or {}
    with x.element("premis:event"):
        _identifier(x, "event", "stele:event-hash", digest)
        if uri is None:
            x.leaf("premis:eventType", kind)
        else:
            x.leaf("premis:eventType", uri, [("authority", "eventType"),
                                             ("authorityURI", _EVENT_TYPES), ("valueURI", uri)])
        x.leaf("premis:eventDateTime", event["at"])
        with x.element("premis:eventDetailInformation"):
            x.leaf("premis:eventDetail", f"{kind}, version {event['version']} of record "
                                         f"{event['record']}")
        if actor:
            with x.element("premis:linkingAgentIdentifier"):
                x.leaf("premis:linkingAgentIdentifierType", "stele:actor")
                x.leaf("premis:linkingAgentIdentifierValue", f"{actor['agency']}/{actor['id']}")
                x.leaf("premis:linkingAgentRole", actor["role"])
        with x.element("premis:linkingObjectIdentifier"):
            x.leaf("premis:linkingObjectIdentifierType", "local")
            x.leaf("premis:linkingObjectIdentifierValue", entry["document"])


# -- documentation: the human-readable transfer list -------------------------------------------

_HTML_STYLE = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
               "margin:0 0 1.5em}th,td{border:1px solid #999;padding:.25em .5em;"
               "text-align:left;vertical-align:top}th{background:#eee}span.en{color:#555;"
               "font-weight:normal}")
_KINDS = {"agency_archive": "Lưu trữ cơ quan (agency archive)",
          "historical_archive": "Lưu trữ lịch sử (historical archive)"}


def _h(value: object) -> str:
    return html.escape(str(value), quote=True)


def _label(vi: str, en: str) -> str:
    return f'{_h(vi)} <span class="en" lang="en">({_h(en)})</span>'


def _table(head: Sequence[tuple[str, str]], rows: Sequence[Sequence[object]]) -> str:
    out = ["<table>", "<tr>" + "".join(f"<th>{_label(vi, en)}</th>" for vi, en in head)
           + "</tr>"]
    out += ["<tr>" + "".join(f"<td>{_h(v)}</td>" for v in row) + "</tr>" for row in rows]
    return "\n".join([*out, "</table>"])


_RECORD_HEAD = (("STT", "No."), ("Số, ký hiệu", "Number, notation"),
                ("Ngày ban hành", "Date issued"), ("Cơ quan ban hành", "Issuer"),
                ("Loại văn bản", "Type"), ("Trích yếu nội dung", "Subject"),
                ("Số trang", "Pages"), ("Dung lượng (byte)", "Size, bytes"),
                ("Mã định danh", "Record id"))


def _record_rows(records: Sequence[dict[str, Any]]) -> list[list[object]]:
    return [[i, f"{r['metadata']['number']}/{r['metadata']['notation']}",
             r["metadata"]["issued"], r["metadata"]["issuer"], r["metadata"]["doc_type"],
             r["metadata"]["subject"], r["metadata"]["pages"], r["content"]["size"], r["id"]]
            for i, r in enumerate(records, start=1)]


def transfer_list_html(listing: dict[str, Any]) -> bytes:
    """The transfer list for people (Circular 05/2025 Art. 23): the dossiers, each dossier's
    records, the counts of dossiers, documents and bytes; Vietnamese headings with English
    beside them. Every value is HTML-escaped. `listing` needs no `files`."""
    records = {r["id"]: r for r in listing["records"]}
    basis = listing.get("legal_basis")
    destination = listing["destination"]
    facts = [
        (("Mã giao nộp", "Transfer"), listing["transfer"]),
        (("Số đăng ký", "Registration"), listing["registration"]),
        (("Thời điểm lập", "Created"), listing["created"]),
        (("Cơ quan, tổ chức giao nộp", "Sending agency"), listing["source"]["agency"]),
        (("Nhật ký nguồn", "Sending log"), listing["source"]["origin"]),
        (("Cơ quan, tổ chức nhận", "Receiving agency"), destination["agency"]),
        (("Loại lưu trữ nhận", "Receiving archive"),
         _KINDS.get(destination["kind"], destination["kind"])),
        (("Nhật ký đích", "Receiving log"), destination["log"]),
        (("Căn cứ pháp lý", "Legal basis"),
         "—" if not basis else f"{basis['number']} ({basis['code']}, {basis['date']})"),
    ]
    counts = listing["counts"]
    parts = [
        "<!DOCTYPE html>", '<html lang="vi">', "<head>", '<meta charset="utf-8">',
        f"<title>Mục lục hồ sơ, tài liệu nộp lưu (Transfer list) {_h(listing['transfer'])}"
        "</title>", f"<style>{_HTML_STYLE}</style>", "</head>", "<body>",
        f"<h1>{_label('Mục lục hồ sơ, tài liệu nộp lưu', 'Transfer list')}</h1>",
        "<table>", *(f"<tr><th>{_label(vi, en)}</th><td>{_h(value)}</td></tr>"
                     for (vi, en), value in facts), "</table>",
        f"<h2>{_label('Tổng số', 'Totals')}</h2>",
        _table((("Số hồ sơ", "Dossiers"), ("Số tài liệu", "Documents"),
                ("Tổng dung lượng (byte)", "Total size, bytes")),
               [[counts["dossiers"], counts["documents"], counts["bytes"]]]),
        f"<h2>{_label('Danh mục hồ sơ', 'Dossiers')}</h2>",
        _table((("STT", "No."), ("Mã hồ sơ", "Dossier code"), ("Tiêu đề hồ sơ", "Title"),
                ("Số tài liệu", "Documents")),
               [[i, d["code"], d["title"], len(d["records"])]
                for i, d in enumerate(listing["dossiers"], start=1)]),
    ]
    for folder in listing["dossiers"]:
        parts += [f"<h3>{_label('Hồ sơ', 'Dossier')} {_h(folder['code'])}: "
                  f"{_h(folder['title'])}</h3>",
                  _table(_RECORD_HEAD, _record_rows([records[r] for r in folder["records"]
                                                     if r in records]))]
    filed = {rid for folder in listing["dossiers"] for rid in folder["records"]}
    single = [r for r in listing["records"] if r["id"] not in filed]
    if single:
        parts += [f"<h2>{_label('Tài liệu lẻ', 'Records outside a dossier')}</h2>",
                  _table(_RECORD_HEAD, _record_rows(single))]
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts).encode("utf-8")


# -- the transfer list's JSON Schema (schemas/) ------------------------------------------------

_FILE_ENTRY = {
    "type": "object", "additionalProperties": False,
    "required": ["path", "size", "sha256", "use"],
    "properties": {
        "path": {"type": "string"}, "size": {"type": "integer", "minimum": 0},
        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "use": {"enum": ["document", "descriptive", "preservation", "evidence",
                         "documentation", "schema"]},
    },
}
_TEXT = {"type": "string", "minLength": 1}
LIST_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "urn:stele:transfer-list:1",
    "title": "Stele transfer list, version 1",
    "description": "documentation/transfer-list.json: the package's manifest, RFC 8785 "
                   "canonical JSON. package_digest = 'sha-256:' + hex SHA-256 of its bytes.",
    "type": "object", "additionalProperties": False,
    "required": ["format", "version", "transfer", "registration", "created", "legal_basis",
                 "source", "destination", "counts", "dossiers", "records", "files"],
    "properties": {
        "format": {"const": LIST_FORMAT}, "version": {"const": LIST_VERSION},
        "transfer": _TEXT, "registration": _TEXT,
        "created": {"type": "string", "format": "date-time"},
        "legal_basis": {"oneOf": [{"type": "null"}, {
            "type": "object", "additionalProperties": False,
            "required": ["number", "code", "date"],
            "properties": {"number": _TEXT, "code": _TEXT, "date": _TEXT}}]},
        "source": {"type": "object", "additionalProperties": False,
                   "required": ["origin", "agency", "log_key"],
                   "properties": {"origin": _TEXT, "agency": _TEXT, "log_key": _TEXT}},
        "destination": {"type": "object", "additionalProperties": False,
                        "required": ["agency", "kind", "log"],
                        "properties": {"agency": _TEXT,
                                       "kind": {"enum": ["agency_archive",
                                                         "historical_archive"]},
                                       "log": _TEXT}},
        "counts": {"type": "object", "additionalProperties": False,
                   "required": ["dossiers", "documents", "bytes"],
                   "properties": {k: {"type": "integer", "minimum": 0}
                                  for k in ("dossiers", "documents", "bytes")}},
        "dossiers": {"type": "array", "items": {
            "type": "object", "additionalProperties": False,
            "required": ["id", "code", "title", "records", "evidence"],
            "properties": {"id": _TEXT, "code": _TEXT, "title": _TEXT,
                           "records": {"type": "array", "items": _TEXT},
                           "evidence": _TEXT}}},
        "records": {"type": "array", "items": {
            "type": "object", "additionalProperties": False,
            "required": ["id", "dossier", "metadata", "content", "document", "descriptive",
                         "evidence", "events", "head", "leaves"],
            "properties": {
                "id": _TEXT, "dossier": {"type": ["string", "null"]},
                "metadata": {"type": "object"},
                "content": {"type": "object", "additionalProperties": False,
                            "required": ["digest", "size", "media_type"],
                            "properties": {
                                "digest": {"type": "string",
                                           "pattern": "^sha-256:[0-9a-f]{64}$"},
                                "size": {"type": "integer", "minimum": 0},
                                "media_type": _TEXT}},
                "document": _TEXT, "descriptive": _TEXT, "evidence": _TEXT,
                "events": {"type": "integer", "minimum": 1}, "head": _TEXT,
                "leaves": {"type": "array", "items": {"type": "integer", "minimum": 0}}}}},
        "files": {"type": "array", "items": _FILE_ENTRY},
    },
}
_SCHEMA_BYTES = (json.dumps(LIST_SCHEMA, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


# -- METS -------------------------------------------------------------------------------------

def _software_version() -> str:
    try:
        return _metadata.version("stele")
    except _metadata.PackageNotFoundError:  # a source tree that is not installed
        return "unknown"


@dataclass(frozen=True)
class _File:
    """A file of the E-ARK tree: its path, size, SHA-256 (hex), and where its bytes come from
    (`data` for a generated file, else the blob of that SHA-256)."""

    path: str
    size: int
    sha256: str
    use: str
    mimetype: str
    data: bytes | None = None


def _content_type(documents: Sequence[str]) -> str:
    # CSIP2: the content category, from the CSIP vocabulary (which spells it with an en dash)
    return "Textual works \u2013 Digital" if all(_media(m) in _TEXTUAL for m in documents) \
        else "Mixed"


def _mets_root(objid: str, label: str, category: str) -> Attrs:
    return [
        ("xmlns:mets", "http://www.loc.gov/METS/"),
        ("xmlns:csip", "https://DILCIS.eu/XML/METS/CSIPExtensionMETS"),
        ("xmlns:sip", "https://DILCIS.eu/XML/METS/SIPExtensionMETS"),
        ("xmlns:xlink", "http://www.w3.org/1999/xlink"),
        ("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance"),
        ("xsi:schemaLocation",
         "http://www.loc.gov/METS/ http://www.loc.gov/standards/mets/mets.xsd "
         "http://www.w3.org/1999/xlink http://www.loc.gov/standards/mets/xlink.xsd "
         "https://DILCIS.eu/XML/METS/CSIPExtensionMETS "
         "https://earkcsip.dilcis.eu/schema/DILCISExtensionMETS.xsd "
         "https://DILCIS.eu/XML/METS/SIPExtensionMETS "
         "https://earksip.dilcis.eu/schema/DILCISExtensionSIPMETS.xsd"),
        ("OBJID", objid), ("LABEL", label), ("TYPE", category),
        # CSIP4/5: no content information type specification fits: OTHER, and ours named
        ("csip:CONTENTINFORMATIONTYPE", "OTHER"),
        ("csip:OTHERCONTENTINFORMATIONTYPE", CONTENT_INFORMATION),
        ("PROFILE", SIP_PROFILE),
    ]


def _mets_header(x: _Xml, listing: dict[str, Any], *, agencies: bool) -> None:
    created = listing["created"]
    with x.element("mets:metsHdr", [("CREATEDATE", created), ("LASTMODDATE", created),
                                    ("RECORDSTATUS", "NEW"),
                                    ("csip:OAISPACKAGETYPE", "SIP")]):
        # CSIP10-16: the software that made the package is the CREATOR agent
        with x.element("mets:agent", [("ROLE", "CREATOR"), ("TYPE", "OTHER"),
                                      ("OTHERTYPE", "SOFTWARE")]):
            x.leaf("mets:name", SOFTWARE)
            x.leaf("mets:note", _software_version(), [("csip:NOTETYPE", "SOFTWARE VERSION")])
        if agencies:
            # SIP15-20: the submitting agent (the sending agency, CREATOR/ORGANIZATION);
            # SIP9-14: the archival creator (the sending agency, the records' custodian);
            # SIP26-31: the archive that will preserve them. Each by its agency code.
            source, destination = listing["source"]["agency"], listing["destination"]["agency"]
            for role, agency in (("CREATOR", source), ("ARCHIVIST", source),
                                 ("PRESERVATION", destination)):
                with x.element("mets:agent", [("ROLE", role), ("TYPE", "ORGANIZATION")]):
                    x.leaf("mets:name", agency)
                    x.leaf("mets:note", agency, [("csip:NOTETYPE", "IDENTIFICATIONCODE")])
            x.leaf("mets:altRecordID", listing["registration"], [("TYPE", "REFERENCECODE")])
            basis = listing["legal_basis"]
            if basis:
                x.leaf("mets:altRecordID", f"{basis['number']} ({basis['code']}, "
                                           f"{basis['date']})", [("TYPE", "SUBMISSIONAGREEMENT")])


def _file(x: _Xml, ident: str, f: _File, href: str, created: str) -> None:
    with x.element("mets:file", [("ID", ident), ("MIMETYPE", f.mimetype), ("SIZE", f.size),
                                 ("CREATED", created), ("CHECKSUM", f.sha256.upper()),
                                 ("CHECKSUMTYPE", "SHA-256")]):
        x.empty("mets:FLocat", [("LOCTYPE", "URL"), ("xlink:type", "simple"),
                                ("xlink:href", href)])


def _md_ref(x: _Xml, f: _File, created: str, mdtype: str, other: str | None = None) -> None:
    x.empty("mets:mdRef", [("LOCTYPE", "URL"), ("xlink:type", "simple"),
                           ("xlink:href", f.path), ("MDTYPE", mdtype), ("OTHERMDTYPE", other),
                           ("MIMETYPE", f.mimetype), ("SIZE", f.size), ("CREATED", created),
                           ("CHECKSUM", f.sha256.upper()), ("CHECKSUMTYPE", "SHA-256")])


def _group(ident: str, use: str) -> Attrs:
    # CSIP63 as eark-validator 1.1.3 asserts it holds only with OTHER and its name
    return [("ID", ident), ("USE", use), ("csip:CONTENTINFORMATIONTYPE", "OTHER"),
            ("csip:OTHERCONTENTINFORMATIONTYPE", CONTENT_INFORMATION)]


def _representation_mets(listing: dict[str, Any], documents: Sequence[_File],
                         category: str) -> bytes:
    created = listing["created"]
    base = f"representations/{REP}/"
    x = _Xml()
    with x.element("mets:mets", _mets_root(REP, f"{listing['transfer']}: {REP}", category)):
        _mets_header(x, listing, agencies=False)
        with x.element("mets:fileSec", [("ID", f"{REP}-filesec")]), \
                x.element("mets:fileGrp", _group(f"{REP}-grp-data", "Data")):
            for n, f in enumerate(documents, start=1):
                _file(x, f"{REP}-file-{n}", f, f.path.removeprefix(base), created)
        with x.element("mets:structMap", [("ID", f"{REP}-structmap"), ("TYPE", "PHYSICAL"),
                                          ("LABEL", "CSIP")]), \
                x.element("mets:div", [("ID", f"{REP}-div"), ("LABEL", REP)]), \
                x.element("mets:div", [("ID", f"{REP}-div-data"), ("LABEL", "Data")]):
            x.empty("mets:fptr", [("FILEID", f"{REP}-grp-data")])
    return x.bytes()


def _root_mets(listing: dict[str, Any], files: Sequence[_File], rep: _File,
               category: str) -> bytes:
    """CSIP 2.1 / SIP 2.1 root METS: dmdSec per description, one amdSec with a digiprovMD
    per preservation file (PREMIS and each evidence bundle), file groups Documentation,
    Schemas and Representations/rep1 (its METS), and the CSIP structural map."""
    created = listing["created"]
    by_use: dict[str, list[_File]] = {}
    for f in files:
        by_use.setdefault(f.use, []).append(f)
    x = _Xml()
    dmd_ids: list[str] = []
    amd_ids: list[str] = []
    with x.element("mets:mets", _mets_root(listing["transfer"],
                                           f"Transfer {listing['transfer']} to "
                                           f"{listing['destination']['agency']}", category)):
        _mets_header(x, listing, agencies=True)
        for n, f in enumerate(by_use.get("descriptive", []), start=1):
            dmd_ids.append(f"dmd-{n}")
            with x.element("mets:dmdSec", [("ID", dmd_ids[-1]), ("CREATED", created),
                                           ("STATUS", "CURRENT")]):
                _md_ref(x, f, created, "DC")
        with x.element("mets:amdSec", [("ID", "amd")]):
            for n, f in enumerate(by_use.get("preservation", []) + by_use.get("evidence", []),
                                  start=1):
                amd_ids.append(f"digiprov-{n}")
                with x.element("mets:digiprovMD", [("ID", amd_ids[-1]),
                                                   ("STATUS", "CURRENT")]):
                    if f.use == "evidence":
                        _md_ref(x, f, created, "OTHER", "STELE-EVIDENCE-BUNDLE")
                    elif f.path.endswith(".xml"):
                        _md_ref(x, f, created, "PREMIS")
                    else:
                        _md_ref(x, f, created, "OTHER", "PRESERVATION")
        groups = (("grp-documentation", "Documentation", by_use.get("documentation", [])),
                  ("grp-schemas", "Schemas", by_use.get("schema", [])),
                  (f"grp-{REP}", f"Representations/{REP}", [rep]))
        with x.element("mets:fileSec", [("ID", "filesec")]):
            n = 0
            for ident, use, members in groups:
                with x.element("mets:fileGrp", _group(ident, use)):
                    for f in members:
                        n += 1
                        _file(x, f"file-{n}", f, f.path, created)
        with x.element("mets:structMap", [("ID", "structmap-csip"), ("TYPE", "PHYSICAL"),
                                          ("LABEL", "CSIP")]), \
                x.element("mets:div", [("ID", "div-package"), ("LABEL", listing["transfer"])]):
            x.empty("mets:div", [("ID", "div-metadata"), ("LABEL", "Metadata"),
                                 ("ADMID", " ".join(amd_ids) or None),
                                 ("DMDID", " ".join(dmd_ids) or None)])
            for ident, label, _ in groups[:2]:
                with x.element("mets:div", [("ID", f"div-{label.lower()}"), ("LABEL", label)]):
                    x.empty("mets:fptr", [("FILEID", ident)])
            with x.element("mets:div", [("ID", "div-representations"),
                                        ("LABEL", "Representations")]):
                x.empty("mets:fptr", [("FILEID", f"grp-{REP}")])
                with x.element("mets:div", [("ID", f"div-{REP}"),
                                            ("LABEL", f"Representations/{REP}")]):
                    x.empty("mets:mptr", [("LOCTYPE", "URL"), ("xlink:type", "simple"),
                                          ("xlink:href", rep.path),
                                          ("xlink:title", f"grp-{REP}")])
    return x.bytes()


def _tree(listing: dict[str, Any], data: bytes) -> list[_File]:
    """Every file of the E-ARK tree, sorted by path: the listed files, the list, the
    generated schema and the two METS files."""
    media = {r["document"]: r["content"]["media_type"] for r in listing["records"]}
    files = [_File(f["path"], f["size"], f["sha256"], f["use"],
                   media.get(f["path"]) or _MIMETYPES.get(f["path"].rsplit(".", 1)[-1],
                                                          "application/octet-stream"))
             for f in listing["files"]]
    for f in files:
        if f.use == "document" and not f.path.startswith(f"representations/{REP}/data/"):
            raise InvalidInputError("a document outside the representation's data folder",
                                    path=f.path)
        if f.path in (SCHEMA_PATH, REP_METS_PATH):
            raise InvalidInputError("a listed file takes a generated file's path", path=f.path)
    files.append(_generated(LIST_PATH, data, "documentation", "application/json"))
    files.append(_generated(SCHEMA_PATH, _SCHEMA_BYTES, "schema", "application/json"))
    documents = sorted((f for f in files if f.use == "document"), key=lambda f: f.path)
    category = _content_type([f.mimetype for f in documents])
    rep = _generated(REP_METS_PATH, _representation_mets(listing, documents, category),
                     "mets", "application/xml")
    files.sort(key=lambda f: f.path)
    root = _generated(METS_PATH, _root_mets(listing, files, rep, category), "mets",
                      "application/xml")
    return sorted([*files, rep, root], key=lambda f: f.path)


def _generated(path: str, data: bytes, use: str, mimetype: str) -> _File:
    return _File(path, len(data), hashlib.sha256(data).hexdigest(), use, mimetype, data)


# -- writing ----------------------------------------------------------------------------------

class _Sink:
    """Where the files go: a ZIP or a folder, each written once, in sorted order."""

    def member(self, path: str, size: int) -> Any:
        raise NotImplementedError


class _ZipSink(_Sink):
    def __init__(self, fp: IO[bytes], prefix: str, moment: datetime) -> None:
        self.zip = zipfile.ZipFile(fp, "w", zipfile.ZIP_STORED, allowZip64=True)
        self.prefix = prefix
        moment = max(moment, datetime(1980, 1, 1, tzinfo=UTC))  # ZIP dates start in 1980
        self.date_time = (moment.year, moment.month, moment.day, moment.hour, moment.minute,
                          moment.second)

    @contextmanager
    def member(self, path: str, size: int) -> Iterator[IO[bytes]]:
        # STORED: deflate output differs between zlib versions; fixed date, mode and system
        info = zipfile.ZipInfo(self.prefix + path, self.date_time)
        info.compress_type = zipfile.ZIP_STORED
        info.create_system = 3
        info.external_attr = _FILE_MODE
        with self.zip.open(info, "w", force_zip64=size >= zipfile.ZIP64_LIMIT) as out:
            yield out


class _DirSink(_Sink):
    def __init__(self, root: Path, moment: datetime) -> None:
        self.root = root
        self.stamp = moment.timestamp()

    @contextmanager
    def member(self, path: str, size: int) -> Iterator[IO[bytes]]:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("xb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.utime(target, (self.stamp, self.stamp))

    def finish(self) -> None:
        for folder, _, _ in os.walk(self.root):
            os.utime(folder, (self.stamp, self.stamp))


def _copy(source: IO[bytes], out: IO[bytes], hashers: Sequence[Any],
          progress: Callable[[int], None] | None) -> int:
    size = 0
    for chunk in iter(lambda: source.read(CHUNK), b""):
        for h in hashers:
            h.update(chunk)
        out.write(chunk)
        size += len(chunk)
        if progress is not None:
            progress(len(chunk))
    return size


def _bag_path(path: str) -> str:
    # RFC 8493 §2.1.3: CR, LF and % in a manifest's file names are percent-encoded
    return path.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def write_package(listing: bytes, open_blob: Callable[[str], BinaryIO], out: Path, *,
                  format: str = "eark", as_zip: bool,
                  progress: Callable[[int], None] | None = None) -> None:
    """Write the package of the transfer list `listing` (its canonical bytes) to `out`: a ZIP
    file (`as_zip`), or a folder that must not exist or be empty. `format`: "eark" (the E-ARK
    SIP) or "bagit" (that SIP as a bag's payload). Each listed file is read, in chunks, from
    `open_blob("sha-256:" + its sha256)` and checked against the list while it is copied
    (CorruptStoreError otherwise). `progress(n)`: `n` more bytes written.

    The output is written under a temporary name beside `out` and renamed at the end: a
    crash never leaves a partial package under the final name. The same list and blobs give
    the same bytes. Raises PackageError (verifiers/package.py) for a list the receiving checks
    would refuse, PackageTargetError when `out` holds something already."""
    if format not in FORMATS:
        raise InvalidInputError("unknown package format", format=format, formats=FORMATS)
    parsed = parse_listing(listing)
    check_listing(parsed)
    moment = datetime.fromisoformat(parsed["created"].replace("Z", "+00:00")).astimezone(UTC)
    tree = _tree(parsed, listing)
    out = Path(out)
    if as_zip:
        if out.exists() or out.is_symlink():
            raise PackageTargetError("the package file exists already", path=str(out))
    elif out.is_symlink() or (out.exists() and (not out.is_dir() or any(out.iterdir()))):
        raise PackageTargetError("the package folder exists and is not empty", path=str(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    # CSIPSTR1/RFC 8493 §4.2: a ZIP unpacks to one folder, named after the package (CSIPSTR2)
    prefix = re.sub(r"[^A-Za-z0-9._-]", "_", parsed["transfer"]).lstrip(".") or "package"
    if as_zip:
        fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial")
        try:
            with os.fdopen(fd, "w+b") as handle:
                sink = _ZipSink(handle, prefix + "/", moment)
                with sink.zip:
                    _write(sink, tree, parsed, format, open_blob, progress)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(name, 0o644)  # mkstemp makes it 0600; a package is for others to read
            _publish_file(Path(name), out)
        finally:
            Path(name).unlink(missing_ok=True)
    else:
        # a folder of our own beside `out` (mkdir, so that the umask applies, unlike mkdtemp)
        temporary = out.parent / f".{out.name}.{secrets.token_hex(8)}.partial"
        temporary.mkdir()
        try:
            dir_sink = _DirSink(temporary, moment)
            _write(dir_sink, tree, parsed, format, open_blob, progress)
            dir_sink.finish()
            try:
                os.rename(temporary, out)  # replaces an empty folder, refuses a full one
            except OSError as exc:
                raise PackageTargetError("the package folder exists and is not empty",
                                         path=str(out), reason=str(exc)) from None
        finally:
            if temporary.exists():
                shutil.rmtree(temporary)


def _publish_file(temporary: Path, out: Path) -> None:
    """Give the finished ZIP its name, refusing to replace a file made meanwhile."""
    try:
        os.link(temporary, out)
    except FileExistsError:
        raise PackageTargetError("the package file exists already", path=str(out)) from None
    except OSError:  # a file system without hard links
        if out.exists():
            raise PackageTargetError("the package file exists already",
                                     path=str(out)) from None
        os.replace(temporary, out)


def _write(sink: _Sink, tree: Sequence[_File], listing: dict[str, Any], format: str,
           open_blob: Callable[[str], BinaryIO],
           progress: Callable[[int], None] | None) -> None:
    bagit = format == "bagit"
    payload = BAG_PAYLOAD if bagit else ""
    tags: dict[str, bytes] = {}

    def small(path: str, data: bytes) -> None:
        with sink.member(path, len(data)) as member:
            member.write(data)
        if progress is not None:
            progress(len(data))
        tags[path] = data

    if bagit:  # RFC 8493 §2.1.1, §2.2.2; sorted: bag-info.txt, bagit.txt, data/, manifests
        oxum = f"{sum(f.size for f in tree)}.{len(tree)}"
        small("bag-info.txt", "".join(f"{k}: {v}\n" for k, v in (
            ("Source-Organization", listing["source"]["agency"]),
            ("External-Identifier", listing["transfer"]),
            ("Bagging-Date", listing["created"][:10]),
            ("Payload-Oxum", oxum),
            ("Bag-Software-Agent", f"{SOFTWARE} {_software_version()}"),
        )).encode("utf-8"))
        small("bagit.txt", b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
    sha512: dict[str, str] = {}
    for f in tree:
        sha = hashlib.sha256()
        hashers = [sha, hashlib.sha512()] if bagit else [sha]
        with sink.member(payload + f.path, f.size) as member:
            if f.data is not None:
                for h in hashers:
                    h.update(f.data)
                member.write(f.data)
                size = f.size
                if progress is not None:
                    progress(size)
            else:
                with open_blob("sha-256:" + f.sha256) as source:
                    size = _copy(source, member, hashers, progress)
        if size != f.size or sha.hexdigest() != f.sha256:
            raise CorruptStoreError("a blob is not the bytes the transfer list names",
                                    path=f.path, sha256=f.sha256, found=sha.hexdigest())
        if bagit:
            sha512[f.path] = hashers[1].hexdigest()
    if bagit:
        small("manifest-sha256.txt", "".join(
            f"{f.sha256}  {_bag_path(payload + f.path)}\n" for f in tree).encode("utf-8"))
        small("manifest-sha512.txt", "".join(
            f"{sha512[f.path]}  {_bag_path(payload + f.path)}\n" for f in tree).encode("utf-8"))
        small("tagmanifest-sha256.txt", "".join(
            f"{hashlib.sha256(data).hexdigest()}  {name}\n"
            for name, data in sorted(tags.items())).encode("utf-8"))

