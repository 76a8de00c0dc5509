"""Evidence bundles: everything needed to re-prove one record, offline, decades from now.

A bundle is a ZIP (format: docs/evidence-bundle.md): the record's events as stored (canonical
bytes); for each, an RFC 9162 inclusion proof to the first *anchored* checkpoint that covers it
(its timestamp is the event's proof of existence); those signed checkpoint notes; their RFC 3161
tokens and RFC 4998 evidence records with every renewal; when the log has witnesses, the latest
checkpoint their quorum cosigned and consistency proofs to it from those checkpoints; the
signatures and all validation data captured at signing, by digest; the trust anchors the
signatures used (for the reviewer, never trusted by the verifier); and, on request, the
document itself. `stele verify` checks it with `verifiers/` alone.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ledger.errors import CorruptStoreError, NotAnchoredError
from ledger.log.tree import consistency_proof, inclusion_proof
from ledger.store.tables import Tx
from verifiers.bundle import FORMAT, VERSION, read_bundle, verify_bundle
from verifiers.canonical import b64, canonical_bytes, utc_iso
from verifiers.merkle import leaf_hash
from verifiers.report import Report
from verifiers.timestamp import TrustedRoot

if TYPE_CHECKING:
    from ledger.service import Ledger


def blob_path(digest: str) -> str:
    return "blobs/" + digest.replace(":", "-")


class _Zip:
    """A ZIP being written, with the manifest's list of files."""

    def __init__(self) -> None:
        self.buffer = io.BytesIO()
        self.zip = zipfile.ZipFile(self.buffer, "w", zipfile.ZIP_DEFLATED)
        self.files: dict[str, dict[str, Any]] = {}

    def add(self, path: str, data: bytes, kind: str) -> str:
        if path not in self.files:
            # A fixed date: the same record exports to the same bytes.
            info = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            self.zip.writestr(info, data)
            self.files[path] = {"path": path, "kind": kind, "size": len(data),
                                "sha256": hashlib.sha256(data).hexdigest()}
        return path

    def close(self, manifest: dict[str, Any]) -> bytes:
        manifest["files"] = sorted(self.files.values(), key=lambda f: f["path"])
        info = zipfile.ZipInfo("manifest.json", date_time=(1980, 1, 1, 0, 0, 0))
        self.zip.writestr(info, json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
        self.zip.close()
        return self.buffer.getvalue()


def export(ledger: Ledger, record: str, *, with_content: bool = False,
           described: dict[str, Any] | None = None) -> bytes:
    """The evidence bundle of `record` (a record or dossier id). Every event must be under an
    anchored checkpoint: run `ledger.log.sync()` first (the CLI does). `described`: the
    record's `Records.describe`, when the caller has it (the bundle is of that version)."""
    # one version of the record, whatever is written now
    described = described or ledger.records.describe(record)
    history = ledger.records.history(record)[:len(described["events"])]
    indexes = [e["leaf_index"] for e in described["events"]]
    out = _Zip()
    events, checkpoints = [], {}
    with ledger.store.transaction(snapshot=True) as tx:  # proofs and checkpoints of one state
        for version, (event, index) in enumerate(zip(history, indexes, strict=True), start=1):
            if index is None:
                raise NotAnchoredError("an event is not yet in the log; integrate first",
                                       version=version)
            size = _anchored_checkpoint(tx, index)
            proof = inclusion_proof(tx, index, size)
            name = f"{version:04d}"
            events.append({
                "version": version,
                "event": out.add(f"events/{name}.json", event, "event"),
                "proof": out.add(f"proofs/{name}.json", canonical_bytes({
                    "leaf_index": index, "tree_size": size, "leaf_hash": b64(leaf_hash(event)),
                    "proof": [b64(p) for p in proof]}), "inclusion_proof"),
                "checkpoint": size,
            })
            if size not in checkpoints:
                checkpoints[size] = _checkpoint(tx, out, size)
        witnessed = _witnessed(tx, out, sorted(checkpoints))
    signatures = [_signature(ledger, out, e["event"]) for e in described["events"]
                  if e["event"]["type"] == "record.signed"]
    content = described["state"].get("content") or {}
    document = None
    if with_content and content and ledger.content.has(content["digest"]):
        document = out.add("document", ledger.content.get(content["digest"]), "document")
    first = described["events"][0]["event"]
    source = None  # a received record: the sender's bundle, which its history continues
    if first["type"] == "record.received":
        source = out.add("source/bundle.zip", ledger.content.get(first["data"]["source"]["bundle"]),
                         "source_bundle")
    manifest = {
        "format": FORMAT, "version": VERSION, "record": described["id"],
        "kind": described["kind"], "origin": ledger.settings.origin,
        "log_key": ledger.key.verifier,
        "exported_at": utc_iso(ledger.clock()),
        "content": content or None, "document": document,
        "destroyed": bool(described["state"].get("destroyed")),
        "events": events, "checkpoints": [checkpoints[s] for s in sorted(checkpoints)],
        "signatures": signatures,
    }
    if witnessed is not None:
        manifest["witnessed"] = witnessed
    if source is not None:
        manifest["source"] = source
    return out.close(manifest)


def node_roots(ledger: Ledger, now: datetime) -> list[bytes]:
    """The roots this node trusts to judge a bundle: the registry's signing anchors, and the
    roots its audit checks timestamps against (the registry's and the configured TSAs')."""
    tsas = ledger.longterm.audit_tsa_roots()
    return [*(r.der for r in ledger.trust.vouching("signing", now)),
            *(r.der if isinstance(r, TrustedRoot) else r for r in tsas)]


def prove(ledger: Ledger, record: str, described: dict[str, Any] | None = None
          ) -> tuple[Report, dict[str, bytes]]:
    """The node's own verdict on `record`: its bundle exported and verified as an auditor
    would (`verifiers/` alone), with this log's key pinned, this node's roots, and the
    document when the node holds it; with the bundle's files, for the page that shows it."""
    described = described or ledger.records.describe(record)
    files = read_bundle(export(ledger, record, described=described))
    content = described["state"].get("content") or {}
    document = (ledger.content.get(content["digest"])
                if content and ledger.content.has(content["digest"]) else None)
    now = ledger.clock()
    report = verify_bundle(files, trust_roots=node_roots(ledger, now), at=now,
                           log_key=ledger.key.verifier, document=document)
    return report, files


def _witnessed(tx: Tx, out: _Zip, sizes: list[int]) -> dict[str, Any] | None:
    """The latest checkpoint the log's witnesses' quorum cosigned, if it covers every
    checkpoint of the bundle, with a consistency proof from each: the anchored checkpoints
    are then part of the one history the witnesses vouch for (no split view)."""
    latest = tx.latest_witnessed()
    if latest is None or not sizes or latest[0] < sizes[-1]:
        return None
    size, note, _ = latest
    return {"size": size,
            "note": out.add(f"checkpoints/{size}.witnessed.note", note.encode("utf-8"),
                            "checkpoint"),
            "consistency": [{"from": s, "proof": [b64(p) for p in consistency_proof(tx, s, size)]}
                            for s in sizes if s < size]}


def _anchored_checkpoint(tx: Tx, index: int) -> int:
    """The first checkpoint covering leaf `index` that has a timestamp: the earliest proof
    of existence the log can give that event."""
    size = tx.first_anchored_after(index)
    if size is None:
        raise NotAnchoredError("no anchored checkpoint covers this event yet; anchor first "
                               "(stele serve does, or stele evidence runs it)", leaf=index)
    return size


def _checkpoint(tx: Tx, out: _Zip, size: int) -> dict[str, Any]:
    row = tx.checkpoint(size)
    if row is None:  # a timestamp exists only for a stored checkpoint
        raise CorruptStoreError("a timestamped checkpoint is missing", size=size)
    note = out.add(f"checkpoints/{size}.note", row[2].encode("utf-8"), "checkpoint")
    anchors = []
    for k, (tsa, token, record) in enumerate(tx.anchored(size)):
        anchors.append({
            "tsa": tsa,
            "timestamp": out.add(f"timestamps/{size}.{k}.tst", token, "timestamp"),
            "evidence_record": out.add(f"evidence/{size}.{k}.ers", record, "evidence_record"),
        })
    return {"size": size, "note": note, "anchors": anchors}


def _signature(ledger: Ledger, out: _Zip, event: dict[str, Any]) -> dict[str, Any]:
    """The files of one `record.signed` event, all named by the digests the event gives."""
    data = event["data"]
    validation = data["validation"]

    def blob(digest: str, kind: str) -> str | None:
        if not ledger.content.has(digest):
            return None  # purged with a destroyed record (a PAdES signature is the document)
        return out.add(blob_path(digest), ledger.content.get(digest), kind)

    signature = None if data["format"] == "pades" else blob(data["signature"], "signature")
    anchor = _anchor(ledger, out, validation["anchor"])
    for digest in [data["signer"], *data["chain"], *validation.get("certificates", [])]:
        blob(digest, "certificate")
    for digest in validation.get("crls", []):
        blob(digest, "crl")
    for digest in validation.get("ocsps", []):
        blob(digest, "ocsp")
    return {"version": event["version"], "format": data["format"],
            "field": validation.get("field"), "signature": signature, "anchor": anchor}


def _anchor(ledger: Ledger, out: _Zip, fingerprint: str) -> str:
    shown = ledger.trust.show(fingerprint)
    shown.pop("depends", None)
    return out.add(f"anchors/{fingerprint.replace(':', '-')}.json",
                   canonical_bytes(shown), "anchor")
