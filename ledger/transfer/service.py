"""Transfers between archives (nộp lưu), node to node (docs/transfers.md).

The sending node *initiates* a transfer of closed dossiers (and single records): it builds
every file of the package once (each record's and dossier's evidence bundle, Dublin Core,
PREMIS, the transfer list), keeps them in its content store, and logs `transfer_initiated` on
every record with the digest of the transfer list, which names every file by SHA-256. The
package is then a pure function of that list: `export` writes it, as E-ARK or BagIt, a
directory or a ZIP, byte for byte the same each time.

The receiving node *receives* a package: it checks the package's structure and every file
(verifiers/package.py), re-proves every record's and dossier's evidence offline against the
sender's **pinned** log key (never the key the package carries), and only then registers every
record in one transaction, each opening with `record.received`, whose `prev` is the sender's
last event. It answers with a signed receipt (verifiers/receipt.py), or a signed rejection
naming the first reason's stable code; nothing is registered on a rejection.

The sender *concludes* the transfer with that answer: a receipt that a pinned peer signed, for
this transfer and package, moves custody (`transfer_received`) or leaves it
(`transfer_rejected`), on every record in one transaction.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domain.envelope import Actor
from domain.errors import DomainError, InvalidInputError, NotDestinationError
from domain.metadata import check_text
from domain.record import Record, carried_state
from ledger.bundle import export as export_bundle
from ledger.errors import (
    ConfigError,
    DossierOpenError,
    DuplicateError,
    PeerNotPinnedError,
    ReceiptMismatchError,
    TransferNotFoundError,
    TransferRejectedError,
)
from ledger.records import Command
from ledger.transfer import package as pkg
from verifiers.bundle import read_bundle, verify_bundle
from verifiers.canonical import b64, canonical_bytes, event_hash, utc_iso
from verifiers.digest import digest_of
from verifiers.errors import VerificationError
from verifiers.note import VerifierKey, parse_checkpoint, split_note
from verifiers.package import (
    LIST_PATH,
    Limits,
    Package,
    check_listing,
    check_package,
    open_package,
    parse_listing,
)
from verifiers.policy import parse_policy
from verifiers.receipt import FORMAT as RECEIPT_FORMAT
from verifiers.receipt import open_receipt, sign_receipt
from verifiers.report import Verdict

if TYPE_CHECKING:
    from ledger.service import Ledger

CHUNK = 1 << 20


def load_peers(path: Path | None) -> dict[str, VerifierKey]:
    """The peer logs this node trusts for transfers, by origin: the `log` lines of a
    tlog-policy file (STELE_PEER_LOGS). None: no peers (no transfer can be made or taken)."""
    if path is None:
        return {}
    try:
        logs = parse_policy(path.read_bytes(), quorum_required=False).logs
    except OSError as exc:
        raise ConfigError(f"cannot read the peer log list {path}: {exc}") from None
    except VerificationError as exc:
        raise ConfigError(f"peer log list {path}: {exc.diagnostics()}") from None
    return {log.origin: log.key for log in logs}


@dataclass(frozen=True)
class Initiated:
    transfer: str
    package_digest: str
    counts: dict[str, int]
    records: int

    def as_json(self) -> dict[str, Any]:
        return {"transfer": self.transfer, "package_digest": self.package_digest,
                "counts": self.counts, "records": self.records}


class Transfers:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.peers = load_peers(ledger.settings.peer_logs)

    # -- sending ------------------------------------------------------------------------------
    def initiate(self, actor: Actor, *, transfer: str, destination: str,
                 destination_kind: str, destination_log: str, registration: str,
                 dossiers: list[str], records: list[str] | None = None,
                 legal_basis: dict[str, str] | None = None) -> Initiated:
        """Build and freeze the package of `dossiers` (closed, each with its records) and
        `records` (single ones), then log `transfer_initiated` on every record with its
        digest. Every event must be in an anchored checkpoint (`not_anchored` otherwise:
        retry once the log has anchored, or run `stele log sync`)."""
        ledger = self.ledger
        if destination_log not in self.peers:
            raise PeerNotPinnedError(
                "the destination's log is not among this node's peer logs (STELE_PEER_LOGS): "
                "its receipt could not be verified", destination_log=destination_log)
        if not dossiers and not records:
            raise InvalidInputError("a transfer needs at least one dossier or record")
        with ledger.store.transaction() as tx:
            if tx.transfer(transfer) is not None:
                raise DuplicateError("a transfer with that id exists", transfer=transfer)
        chosen: list[tuple[Record, dict[str, str] | None]] = []
        folders = []
        for code in sorted(set(dossiers)):
            dossier = ledger.records.dossier(code)
            dossier.check_custodian(actor)
            if dossier.closed is None:
                raise DossierOpenError("close the dossier before transferring it", dossier=code)
            folders.append(dossier)
            chosen += [(ledger.records.record(m["record"]), {"id": str(dossier.id),
                                                             "code": code})
                       for m in dossier.members]
        seen = {str(r.id) for r, _ in chosen}
        for rid in records or []:
            record = ledger.records.record(rid)
            if str(record.id) not in seen:
                seen.add(str(record.id))
                chosen.append((record, record.dossier))
        for member, _ in chosen:
            member.check_may_transfer(actor, destination, destination_kind)
        created = utc_iso(ledger.clock())
        files: list[dict[str, Any]] = []
        packed: list[pkg.PackedRecord] = []
        chosen.reverse()
        with ledger.content.batch():  # durable together, before any event names them
            while chosen:  # each record's aggregate is let go once it is packed
                member, filed = chosen.pop()
                entry, events, hashes = self._pack_record(member, filed, files)
                packed.append(pkg.PackedRecord(entry=entry, events=events, hashes=hashes))
        entries = [p.entry for p in packed]
        folder_entries = []
        for dossier in folders:
            path = pkg.dossier_evidence_path(str(dossier.id))
            self._freeze(files, path, export_bundle(ledger, str(dossier.id)), "evidence")
            folder_entries.append({"id": str(dossier.id), "code": dossier.code,
                                   "title": dossier.title,
                                   "records": [m["record"] for m in dossier.members],
                                   "evidence": path})
        counts = {"dossiers": len(folders), "documents": len(entries),
                  "bytes": sum(e["content"]["size"] for e in entries)}
        self._freeze(files, pkg.PREMIS_PATH, pkg.premis_xml(packed, created), "preservation")
        listing: dict[str, Any] = {
            "format": pkg.LIST_FORMAT, "version": pkg.LIST_VERSION,
            "transfer": transfer, "registration": registration, "created": created,
            "legal_basis": legal_basis,
            "source": {"origin": ledger.settings.origin, "agency": actor.agency,
                       "log_key": ledger.key.verifier},
            "destination": {"agency": destination, "kind": destination_kind,
                            "log": destination_log},
            "counts": counts, "dossiers": folder_entries, "records": entries,
        }
        self._freeze(files, pkg.LIST_HTML_PATH, pkg.transfer_list_html(listing), "documentation")
        listing["files"] = sorted(files, key=lambda f: f["path"])
        listed = canonical_bytes(listing)
        check_listing(parse_listing(listed))  # what the receiver will check, before it is frozen
        digest = ledger.content.put(listed)
        commands = [Command("record.transfer.initiate", {
            "record": e["id"], "transfer": transfer, "destination": destination,
            "destination_kind": destination_kind, "registration": registration,
            "package_digest": digest, "counts": counts, "legal_basis": legal_basis,
        }, e["events"]) for e in entries]
        store = ledger.store

        def row(_: Any) -> list[tuple[str, list[Any]]]:
            return [(store.sql(f"INSERT INTO {store.prefix}stele_transfers (id, package_digest,"
                               " destination_log, created_at) VALUES (?, ?, ?, ?)"),
                     [transfer, digest, destination_log, created])]

        ledger.records.execute(actor, commands, also=row, service=True)
        return Initiated(transfer, digest, counts, len(entries))

    def _pack_record(self, record: Record, dossier: dict[str, str] | None,
                     files: list[dict[str, Any]]) -> tuple[dict[str, Any], list[Any], list[str]]:
        ledger = self.ledger
        rid = str(record.id)
        content = dict(record.content)
        if not ledger.content.has(content["digest"]):
            raise InvalidInputError("the record's content is not in the content store",
                                    record=rid, digest=content["digest"])
        described = ledger.records.describe(rid, loaded=record)
        bundle = export_bundle(ledger, rid, described=described)
        document = pkg.document_path(rid, content["media_type"])
        files.append({"path": document, "size": content["size"],
                      "sha256": content["digest"].removeprefix("sha-256:"), "use": "document"})
        entry = {
            "id": rid, "dossier": None if dossier is None else dossier["code"],
            "metadata": record.metadata, "content": content, "document": document,
            "descriptive": pkg.descriptive_path(rid), "evidence": pkg.evidence_path(rid),
            "events": len(described["events"]), "head": described["events"][-1]["hash"],
            "leaves": [e["leaf_index"] for e in described["events"]],
        }
        self._freeze(files, entry["evidence"], bundle, "evidence")
        self._freeze(files, entry["descriptive"], pkg.descriptive_xml(entry), "descriptive")
        # PREMIS needs each event's envelope, not its data: the data stay in the bundle
        events = [{k: e["event"].get(k) for k in pkg.PREMIS_FIELDS} for e in described["events"]]
        return entry, events, [e["hash"] for e in described["events"]]

    def _freeze(self, files: list[dict[str, Any]], path: str, data: bytes, use: str) -> None:
        digest = self.ledger.content.put(data)
        files.append({"path": path, "size": len(data),
                      "sha256": digest.removeprefix("sha-256:"), "use": use})

    def listing(self, transfer: str) -> bytes:
        """The frozen transfer list of a transfer this log sent."""
        return self.ledger.content.get(self._row(transfer)[0])

    def _row(self, transfer: str) -> tuple[str, str, str, str | None, str | None]:
        try:
            # An id the domain refuses (a NUL, a control character, too long) was never sent,
            # and PostgreSQL text cannot even hold a NUL: not found, never a store error.
            check_text(transfer, "transfer", max_len=100)
        except InvalidInputError:
            row = None
        else:
            with self.ledger.store.transaction() as tx:
                row = tx.transfer(transfer)
        if row is None:
            raise TransferNotFoundError("no transfer with that id was sent from this log",
                                        transfer=transfer)
        return row

    def export(self, transfer: str, out: Path, *, format: str = "eark", as_zip: bool = True,
               progress: Callable[[int], None] | None = None) -> str:
        """Write the package of `transfer` to `out`; return its package digest."""
        digest = self._row(transfer)[0]
        content = self.ledger.content
        pkg.write_package(content.get(digest), content.open, out, format=format, as_zip=as_zip,
                          progress=progress)
        return digest

    def status(self, actor: Actor, transfer: str) -> dict[str, Any]:
        digest, _, created, outcome, receipt = self._row(transfer)
        listing = json.loads(self.ledger.content.get(digest))
        if listing["source"]["agency"] != actor.agency and actor.role != "auditor":
            raise TransferNotFoundError("no transfer with that id was sent from this log",
                                        transfer=transfer)
        return {"transfer": transfer, "package_digest": digest, "created": created,
                "destination": listing["destination"], "counts": listing["counts"],
                "records": [r["id"] for r in listing["records"]],
                "outcome": outcome or "pending", "receipt": receipt}

    def conclude(self, actor: Actor, note: str, *, transfer: str | None = None
                 ) -> dict[str, Any]:
        """Record the receiving node's answer to a transfer: its signed receipt (custody
        moves) or rejection (custody stays). `transfer`: the transfer the caller means (a
        receipt for another one is refused, `receipt_transfer_mismatch`)."""
        signer, body = open_receipt(note, list(self.peers.values()))
        named = body.get("transfer")
        if transfer is not None and named != transfer:
            raise ReceiptMismatchError("the receipt answers another transfer",
                                       transfer=transfer, receipt_transfer=named)
        if not isinstance(named, str):
            raise ReceiptMismatchError("the receipt names no transfer of this log")
        digest, destination_log, _, outcome, kept = self._row(named)
        listing = json.loads(self.ledger.content.get(digest))
        if listing["source"]["agency"] != actor.agency:
            raise NotDestinationError("only the sending agency records its transfer's receipt",
                                      actor=actor.agency)
        if body.get("package_digest") != digest:
            raise ReceiptMismatchError("the receipt answers another package", expected=digest,
                                       found=body.get("package_digest"))
        if signer != destination_log:
            raise ReceiptMismatchError("the receipt is not signed by the destination's log",
                                       expected=destination_log, found=signer)
        if outcome is not None:  # answered already: the same answer again changes nothing
            if kept != note:
                raise ReceiptMismatchError("the transfer was answered with another receipt",
                                           outcome=outcome)
            return {"transfer": named, "outcome": outcome, "events": 0}
        receipt = self.ledger.content.put(note.encode("utf-8"))
        by = body.get("received_by") or {}
        receiver = Actor(id=str(by.get("id")), role=str(by.get("role")),
                         agency=listing["destination"]["agency"])
        if body["outcome"] == "received":
            digests = {r["id"]: r["digest"] for r in body.get("records", [])}
            commands = [Command("record.transfer.receive", {
                "record": r["id"], "transfer": named, "package_digest": body["package_digest"],
                "counts": body.get("counts"), "content_digest": digests.get(r["id"], ""),
                "receipt": receipt}) for r in listing["records"]]
        else:
            commands = [Command("record.transfer.reject", {
                "record": r["id"], "transfer": named,
                "reason": f"{body.get('code')}: {body.get('reason')}", "receipt": receipt})
                for r in listing["records"]]
        store = self.ledger.store

        def answered(_: Any) -> list[tuple[str, list[Any]]]:
            return [(store.sql(f"UPDATE {store.prefix}stele_transfers SET outcome = ?,"
                               " receipt = ? WHERE id = ? AND outcome IS NULL"),
                     [body["outcome"], note, named])]

        written = self.ledger.records.execute(receiver, commands, also=answered, service=True)
        return {"transfer": named, "outcome": body["outcome"], "events": len(written)}

    # -- receiving ----------------------------------------------------------------------------
    def receive(self, actor: Actor, package: Path, origin: str,
                progress: Callable[[int, int], None] | None = None) -> str:
        """Check, re-prove and register a package from the peer log `origin`; return the
        signed receipt. Raises TransferRejectedError (with the signed rejection) when the
        package fails a check: then nothing is registered. `progress(done, total)`: records
        re-proved so far."""
        limits = Limits(max_entries=self.ledger.settings.max_package_files,
                        max_bytes=self.ledger.settings.max_package_bytes)
        listing: dict[str, Any] | None = None
        digest: str | None = None
        try:
            with open_package(package, limits=limits) as opened:
                listing, digest = _claimed(opened)  # what a rejection answers, if readable
                checked = check_package(opened)
                listing, digest = checked.listing, checked.digest
                if listing["destination"]["agency"] != actor.agency:
                    raise NotDestinationError("the package is addressed to another agency",
                                              destination=listing["destination"]["agency"],
                                              actor=actor.agency)
                with self.ledger.store.transaction() as tx:
                    kept = tx.receipt(digest)
                if kept is not None:  # received before: the same receipt
                    return kept
                return self._register(actor, opened, listing, digest, origin, progress)
        except _Refusal as exc:
            raise self._rejection(actor, listing, digest, exc.code, exc.message,
                                  exc.evidence) from None
        except VerificationError as exc:  # the package's own checks
            raise self._rejection(actor, listing, digest, exc.code, exc.message,
                                  exc.evidence) from None

    def _register(self, actor: Actor, opened: Any, listing: dict[str, Any], digest: str,
                  origin: str, progress: Callable[[int, int], None] | None) -> str:
        ledger = self.ledger
        source = listing["source"]
        if source.get("origin") != origin:
            raise _Refusal("source_mismatch", "the package comes from another log than "
                           "the one named", named=origin, package=source.get("origin"))
        key = self.peers.get(origin)
        if key is None:
            raise _Refusal("peer_log_not_pinned", "the sending log is not among this node's "
                           "peer logs (STELE_PEER_LOGS)", origin=origin)
        if listing["destination"].get("log") != ledger.settings.origin:
            raise _Refusal("wrong_destination", "the package is addressed to another log",
                           destination=listing["destination"].get("log"))
        now = ledger.clock()
        roots = [r.der for purpose in ("signing", "timestamping")
                 for r in ledger.trust.vouching(purpose, now)]
        pinned = str(key)
        checkpoints: dict[int, str] = {}
        cache: dict[tuple[str, ...], Any] = {}  # each checkpoint's evidence verified once

        def proven(path: str, what: str, document: str | None = None
                   ) -> tuple[bytes, dict[str, bytes], dict[str, Any]]:
            data = opened.read(path)
            files = read_bundle(data)
            signed = document is not None and json.loads(files["manifest.json"])["signatures"]
            # Signatures are validated anew over the document's bytes (its digest, like every
            # file's, the package check has already matched to the list).
            report = verify_bundle(files, trust_roots=roots, at=now, log_key=pinned,
                                   document=opened.read(document) if signed else None,
                                   cache=cache)
            if report.bottom_line is not Verdict.PASSED:
                failed = next(c for c in report.checks if c.verdict is not Verdict.PASSED)
                raise _Refusal(failed.code or "evidence_failed",
                               f"the evidence of {what} does not prove it: {failed.message}",
                               check=failed.name, verdict=report.bottom_line.value)
            manifest = json.loads(files["manifest.json"])
            for cp in manifest["checkpoints"]:
                checkpoints[int(cp["size"])] = files[cp["note"]].decode("utf-8")
            return data, files, manifest

        for folder in listing["dossiers"]:
            _, files, manifest = proven(folder["evidence"], f"dossier {folder['code']}")
            members = [json.loads(e) for e in _events(files, manifest)]
            added = [e["data"]["record"] for e in members if e["type"] == "dossier.member_added"]
            if manifest["record"] != folder["id"] or members[-1]["type"] != "dossier.closed" \
                    or added != folder["records"]:
                raise _Refusal("dossier_mismatch", "the dossier's proven events do not show "
                               "it closed with the members listed", dossier=folder["code"])
        commands, registered, bundles = [], [], []  # bundles: the sender's, kept here
        for i, entry in enumerate(listing["records"]):
            data, files, manifest = proven(entry["evidence"], f"record {entry['id']}",
                                           entry["document"])
            raw = _events(files, manifest)
            events = [json.loads(e) for e in raw]
            leaves = [json.loads(files[e["proof"]])["leaf_index"] for e in manifest["events"]]
            head = b64(event_hash(raw[-1]))
            if manifest["record"] != entry["id"] or len(events) != entry["events"] \
                    or head != entry["head"] or leaves != entry["leaves"]:
                raise _Refusal("record_mismatch", "the record's proven events are not the "
                               "ones listed", record=entry["id"])
            try:
                state = carried_state(events)
            except DomainError as exc:
                raise _Refusal("record_not_transferable", exc.message, record=entry["id"],
                               **exc.evidence) from None
            if state["content"] != entry["content"]:
                raise _Refusal("record_mismatch", "the record's proven content is not the "
                               "document listed", record=entry["id"])
            bundle_digest = digest_of(data)
            source_cp = max(manifest["checkpoints"], key=lambda c: int(c["size"]))
            cp_text = split_note(files[source_cp["note"]].decode("utf-8"))[0]
            cp = parse_checkpoint(cp_text)
            commands.append(Command("record.receive", {"events": events, "source": {
                "origin": origin, "transfer": listing["transfer"], "package_digest": digest,
                "checkpoint": {"size": cp.size, "root": b64(cp.root)},
                "leaves": leaves, "head": head, "bundle": bundle_digest}}))
            bundles.append(data)
            registered.append(entry)
            if progress is not None:
                progress(i + 1, len(listing["records"]))
        held = self._held(registered, digest)
        if held is None:  # not yet registered: the documents, the bundles, then the events
            with ledger.content.batch():  # durable together, before the events name them
                for entry in registered:
                    self._adopt(opened, entry["document"], entry["content"]["digest"],
                                actor.agency)
                for data in bundles:
                    ledger.content.put(data)
            ledger.records.execute(actor, commands, service=True)
        ledger.log.integrate()
        # Signed here; published with the tiles by whoever publishes them (the log worker).
        # None when a checkpoint covers the tree already: the log worker cut it meanwhile, or
        # (a retry after a crash that kept no receipt) the records were checkpointed long ago.
        # The latest checkpoint then covers every record, as `integrate` has returned.
        checkpoint = ledger.log.checkpoint(force=True, publish=False) \
            or ledger.log.checkpoint_at()
        leaves_here = {}
        for entry in registered:
            leaves_here[entry["id"]] = ledger.records.leaf_indexes(entry["id"])[0]
        largest = max(checkpoints)
        body = {
            "format": RECEIPT_FORMAT, "version": 1, "outcome": "received",
            "transfer": listing["transfer"], "package_digest": digest,
            "counts": listing["counts"],
            "source": {"origin": origin, "checkpoint": {
                "size": largest, "root": b64(parse_checkpoint(
                    split_note(checkpoints[largest])[0]).root)}},
            "destination": {"agency": actor.agency, "log": ledger.settings.origin},
            "received_by": actor.as_dict(),
            "records": [{"id": e["id"], "digest": e["content"]["digest"],
                         "leaf": leaves_here[e["id"]]} for e in registered],
            "checkpoint": {"size": checkpoint.size, "root": b64(checkpoint.root)},
            "at": utc_iso(ledger.clock()),
        }
        note = sign_receipt(body, ledger.settings.origin, ledger.key.private_key)
        with ledger.store.transaction() as tx:
            return tx.add_receipt(digest, listing["transfer"], note, body["at"])

    def _held(self, entries: list[dict[str, Any]], digest: str) -> bool | None:
        """None if no listed record is here yet; True if every one was registered from this
        package (a retry after a crash); otherwise `record_exists`."""
        found = 0
        for entry in entries:
            try:
                first = json.loads(self.ledger.records.history(entry["id"])[0])
            except DomainError:
                continue
            if first["type"] != "record.received" \
                    or first["data"]["source"]["package_digest"] != digest:
                raise _Refusal("record_exists", "a listed record is already held here",
                               record=entry["id"])
            found += 1
        if found == 0:
            return None
        if found != len(entries):
            raise _Refusal("record_exists", "some listed records are already held here")
        return True

    def _adopt(self, opened: Any, path: str, digest: str, agency: str) -> None:
        """Copy a document from the package into the content store, in chunks."""
        content = self.ledger.content
        fd, tmp = tempfile.mkstemp(dir=content.root, prefix=".tmp-")
        try:
            sha = hashlib.sha256()
            with os.fdopen(fd, "wb") as out, opened.open(path) as src:
                for chunk in iter(lambda: src.read(CHUNK), b""):
                    sha.update(chunk)
                    out.write(chunk)
                out.flush()  # durable with the batch it is written in
            if "sha-256:" + sha.hexdigest() != digest:
                raise _Refusal("package_file_altered", "a document changed while it was "
                               "read", path=path)
            content.adopt(tmp, digest, owner=agency)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def _rejection(self, actor: Actor, listing: dict[str, Any] | None, digest: str | None,
                   code: str, message: str, evidence: dict[str, Any]) -> Exception:
        if code == NotDestinationError.code:
            return NotDestinationError(message, **evidence)
        body = {
            "format": RECEIPT_FORMAT, "version": 1, "outcome": "rejected", "code": code,
            "reason": message, "transfer": None if listing is None else listing.get("transfer"),
            "package_digest": digest,
            "destination": {"agency": actor.agency, "log": self.ledger.settings.origin},
            "received_by": actor.as_dict(), "at": utc_iso(self.ledger.clock()),
        }
        note = sign_receipt(json.loads(json.dumps(body, default=str)),
                            self.ledger.settings.origin, self.ledger.key.private_key)
        return TransferRejectedError(code, message, note, **evidence)


def _claimed(opened: Package) -> tuple[dict[str, Any] | None, str | None]:
    """The transfer list as the package gives it, before any check: a rejection names the
    transfer and package digest it claims (the sender matches them to its own)."""
    try:
        data = opened.read(LIST_PATH)
        return parse_listing(data), digest_of(data)
    except VerificationError:
        return None, None


class _Refusal(Exception):
    """A reason to reject the package, with its stable code."""

    def __init__(self, code: str, message: str, **evidence: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.evidence = evidence


def _events(files: dict[str, bytes], manifest: dict[str, Any]) -> list[bytes]:
    return [files[e["event"]] for e in manifest["events"]]

