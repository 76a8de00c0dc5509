"""The tamper matrix: every file of real evidence bundles changed, truncated and dropped, then
structural forgeries and forged logs; `verify_bundle` must never raise, never say PASSED for a
tampered bundle, and name what is wrong by its exact stable code (only labels of the manifest
that no check uses are undetectable, by design: test_unused_labels_change_no_finding).

Every case is verified as an auditor does: with the log's published key pinned and the real
roots trusted. Every file is tampered with in two variants: *raw* (the manifest left as
exported, so its SHA-256 list catches it, and the deeper check still says what changed) and
*consistent forgery* (the manifest's `files` entry rewritten to the new SHA-256 and size, or
removed with the file, so the manifest check passes and the deeper checks must catch it). The
bundles are built once per module, on SQLite, from a ledger on a pinned clock: a record holding
a PDF signed (PAdES) by an individual and an agency, another such record with another PDF, and
a record signed with a detached CMS signature.

The mutations of each file: its first and last byte changed, cut in half, emptied, dropped,
and *rewritten*: changed so that it stays well formed where a forger can do that (a canonical
event by another clerk, a proof with another hash, the note re-signed by another key, another
record's token or evidence record, another anchor's description, the other document); for the
files the verifier compares by digest before reading them (captured certificates, CRLs, OCSP
responses, the detached signature), a byte in the middle. (A byte flipped in the middle of a
note, an event or an evidence record lands in key IDs, signatures or digests that differ on
every run, so it would not have one stable finding: the rewrite is that case made exact.)

The verdicts (docs/evidence-bundle.md): FAILED wherever bytes were altered or a proof no
longer holds. INDETERMINATE only where, in a consistent forgery, a file that is just evidence
is gone, so the verifier cannot tell forged from incomplete: the document (the signatures cannot
be re-validated), the evidence record (no proof of existence), the timestamp token (the evidence
record still holds it, but the bundle lost a file it names), a captured certificate, CRL or OCSP
response (the validation may or may not need it; the bundle is not what was captured), and the
trust anchor's description (shown to the reviewer, never trusted); and wherever no log key was
pinned (`log_key_not_pinned`): a bundle's own key proves nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.bundle import blob_path, export
from ledger.dev.pki import DevPki, sign_cms
from ledger.longterm.anchoring import note_digest
from ledger.longterm.tsa_client import request_token
from ledger.service import Ledger
from tests.bundles import (
    ORIGIN,
    Forgery,
    dev_tsa,
    forged_log,
    roots_der,
    signed_record,
    sqlite_settings,
)
from tests.bundles import signed_pdf as signed_pdf_of
from tests.conftest import Clock
from tests.ledger.builders import AGENCY, create
from tests.pki import sign
from verifiers import bundle as bundle_module
from verifiers.bundle import read_bundle, verify_bundle
from verifiers.canonical import b64, canonical_bytes, event_hash
from verifiers.errors import MalformedError
from verifiers.ers import new_evidence_record
from verifiers.merkle import inclusion_ranges, leaf_hash, root_of
from verifiers.note import format_checkpoint, sign_note, verifier_key
from verifiers.report import Report, Verdict
from verifiers.signature import validate_signature

Files = dict[str, bytes]
FAILED, INDETERMINATE = Verdict.FAILED, Verdict.INDETERMINATE
Finding = tuple[str, Verdict, str]  # a check's name, verdict and stable code

# Each file of a bundle by its role, so the cases have stable names (blobs are named by
# digest): `event:V`, `proof:V` (event version V); `note:C`, `timestamp:C:K`, `evidence:C:K`
# (checkpoint C, anchor K); `anchor:V`, `cms:V` (the detached signature), `signer:V`,
# `chain:V:I`, `crl:V:I`, `ocsp:V:I` (signed event V). test_the_matrix_covers_every_file
# checks that these are exactly the files of each ZIP, and so every file of the manifest.
SLOTS = {
    "pades": ["manifest", "document", "event:1", "event:2", "event:3", "proof:1", "proof:2",
              "proof:3", "note:0", "timestamp:0:0", "evidence:0:0",
              "anchor:2", "signer:2", "chain:2:0", "chain:2:1", "crl:2:0", "crl:2:1", "ocsp:2:0",
              "anchor:3", "signer:3", "chain:3:0", "crl:3:0", "ocsp:3:0"],
    "cms": ["manifest", "document", "event:1", "event:2", "proof:1", "proof:2", "note:0",
            "timestamp:0:0", "evidence:0:0", "anchor:2", "cms:2", "signer:2", "chain:2:0",
            "chain:2:1", "crl:2:0", "crl:2:1", "ocsp:2:0"],
}
MUTATIONS: dict[str, Callable[[bytes], bytes | None]] = {
    "flip_first": lambda b: _flip(b, 0),
    "flip_last": lambda b: _flip(b, len(b) - 1),
    "truncate_half": lambda b: b[:len(b) // 2],
    "truncate_zero": lambda b: b"",
    "drop": lambda b: None,
}
MUTATION_NAMES = ["flip_first", "rewrite", "flip_last", "truncate_half", "truncate_zero", "drop"]
# Files the verifier compares with the digest the event names before it reads them.
BY_DIGEST = {"cms", "signer", "chain", "crl", "ocsp"}


def _flip(data: bytes, i: int) -> bytes:
    """One byte changed: its lowest bit, so text mostly stays text."""
    return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]


@dataclass(frozen=True)
class World:
    pki: DevPki
    at: datetime
    bundles: dict[str, Files]  # "pades", "cms" (the matrix), "other" (another PADES record)
    log_key: str  # the log's published verifier key: what the auditor pins
    other_pdf: bytes
    other_body: bytes

    def roots(self) -> list[bytes]:
        return roots_der(self.pki)

    def manifest(self, bundle: str) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.bundles[bundle]["manifest.json"])
        return value

    def event(self, bundle: str, version: int) -> dict[str, Any]:
        path = self.manifest(bundle)["events"][version - 1]["event"]
        value: dict[str, Any] = json.loads(self.bundles[bundle][path])
        return value

    def size(self, bundle: str, checkpoint: int = 0) -> int:
        """The tree size of the bundle's checkpoint number `checkpoint`."""
        size: int = self.manifest(bundle)["checkpoints"][checkpoint]["size"]
        return size


START = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, dev_pki: DevPki,
          signed_pdf: bytes) -> World:
    """Three records in one ledger on SQLite, anchored by the dev TSA, and their bundles."""
    clock = Clock(START)
    other_pdf = signed_pdf_of(dev_pki, "QUYET DINH so 2/QD-TEST\nMot van ban khac")
    other_body = b"<xml>another decision, signed by someone else</xml>"
    with Ledger(sqlite_settings(tmp_path_factory.mktemp("tamper")), clock=clock) as ledger:
        pades = signed_record(ledger, dev_pki, clock, signed_pdf)
        clock.advance(minutes=5)
        other = signed_record(ledger, dev_pki, clock, other_pdf, number=2)
        clock.advance(minutes=5)
        body = b"<xml>a decision that is not a PDF</xml>"
        cms = create(ledger, 3, body=body)
        sign(ledger, AGENCY, cms, dev_pki, "individual", signer_class="individual",
             signature=sign_cms(body, dev_pki.party("individual"), pki=dev_pki, at=clock()))
        ledger.log.sync()
        bundles = {name: read_bundle(export(ledger, rid, with_content=True))
                   for name, rid in (("pades", pades.record), ("other", other.record),
                                     ("cms", cms))}
        log_key = ledger.key.verifier
    return World(dev_pki, clock(), bundles, log_key, other_pdf, other_body)


# -- helpers -------------------------------------------------------------------------------------
def _resolve(world: World, bundle: str, slot: str) -> str:
    """The path in the ZIP of the file that plays `slot`."""
    role, *n = slot.split(":")
    args = [int(x) for x in n]
    manifest = world.manifest(bundle)
    if role == "manifest":
        return "manifest.json"
    if role == "document":
        return str(manifest["document"])
    if role in ("event", "proof"):
        return str(manifest["events"][args[0] - 1][role])
    if role == "note":
        return str(manifest["checkpoints"][args[0]]["note"])
    if role in ("timestamp", "evidence"):
        key = "timestamp" if role == "timestamp" else "evidence_record"
        return str(manifest["checkpoints"][args[0]]["anchors"][args[1]][key])
    if role == "anchor":
        (entry,) = (s for s in manifest["signatures"] if s["version"] == args[0])
        return str(entry["anchor"])
    data = world.event(bundle, args[0])["data"]
    digest = {"cms": lambda: data["signature"], "signer": lambda: data["signer"],
              "chain": lambda: data["chain"][args[1]],
              "crl": lambda: data["validation"]["crls"][args[1]],
              "ocsp": lambda: data["validation"]["ocsps"][args[1]]}[role]()
    return blob_path(digest)


# The other bundle whose file of the same role a rewrite puts in (another record's).
ELSEWHERE = {"pades": "cms", "cms": "pades"}


def _rewrite(world: World, bundle: str, slot: str, data: bytes) -> bytes:
    """`data` changed so that it stays well formed (see the module's docstring)."""
    role = slot.split(":")[0]
    if role == "manifest":  # another digest for the first file it lists
        manifest = json.loads(data)
        first = manifest["files"][0]
        first["sha256"] = ("0" if first["sha256"][0] != "0" else "1") + first["sha256"][1:]
        return json.dumps(manifest, indent=1).encode() + b"\n"
    if role == "document":
        return world.other_pdf if bundle == "pades" else world.other_body
    if role == "event":  # the same event, said to be by another clerk: still canonical
        event = json.loads(data)
        event["actor"]["id"] += "-forged"
        return canonical_bytes(event)
    if role == "proof":  # another hash on the path
        proof = json.loads(data)
        proof["proof"][0] = b64(hashlib.sha256(b"another node").digest())
        return canonical_bytes(proof)
    if role == "note":  # the same checkpoint, signed under the log's key name by another key
        text = data.decode()[:data.decode().rindex("\n\n") + 1]
        name = world.log_key.split("+")[0]
        return sign_note(text, name, Ed25519PrivateKey.generate()).encode()
    if role in ("timestamp", "evidence"):  # another checkpoint's, from the same TSA
        elsewhere = ELSEWHERE[bundle]
        return world.bundles[elsewhere][_resolve(world, elsewhere, slot)]
    if role == "anchor":  # the description of another anchor the ledger knows
        others = {world.bundles[b][_resolve(world, b, s)] for b, s in
                  (("pades", "anchor:2"), ("pades", "anchor:3"), ("cms", "anchor:2"))}
        return sorted(others - {data})[0]
    assert role in BY_DIGEST, role
    return _flip(data, len(data) // 2)


def _mutate(world: World, bundle: str, slot: str, mutation: str, data: bytes) -> bytes | None:
    if mutation == "rewrite":
        return _rewrite(world, bundle, slot, data)
    return MUTATIONS[mutation](data)


def _expected(world: World, bundle: str, slot: str, mutation: str) -> Finding:
    """The one finding that must say what was done to `slot` when the manifest does not: the
    check, its verdict and its exact code."""
    role, *n = slot.split(":")
    args = [int(x) for x in n]
    drop, rewrite = mutation == "drop", mutation == "rewrite"
    if role == "manifest":
        if drop:
            return "bundle.manifest", FAILED, "manifest_missing"
        return ("bundle.files", FAILED, "file_digest_mismatch") if rewrite else (
            "bundle.manifest", FAILED, "malformed")
    if role == "document":
        first_signed = world.manifest(bundle)["signatures"][0]["version"]
        if drop:
            return f"signature[{first_signed}]", INDETERMINATE, "document_missing"
        return "document.digest", FAILED, "document_mismatch"
    if role == "event":
        last = len(world.manifest(bundle)["events"])
        if drop:
            return "events.chain", FAILED, "event_missing"
        if rewrite:  # the next event's `prev` pins it; the last is pinned by its leaf only
            return ((f"event[{args[0]}].inclusion", FAILED, "leaf_mismatch") if args[0] == last
                    else ("events.chain", FAILED, "chain_broken"))
        return "events.chain", FAILED, "malformed"
    if role == "proof":
        code = "proof_missing" if drop else "root_mismatch" if rewrite else "malformed"
        return f"event[{args[0]}].inclusion", FAILED, code
    if role == "note":
        code = {"drop": "file_missing", "rewrite": "checkpoint_key_mismatch",
                "flip_first": "checkpoint_signature_invalid"}.get(mutation, "malformed")
        return f"checkpoint[{world.size(bundle, args[0])}]", FAILED, code
    anchor = f"checkpoint[{world.size(bundle, args[0])}].evidence[{args[1]}]" if role in (
        "timestamp", "evidence") else ""
    if role == "timestamp":
        return (f"{anchor}.timestamp", INDETERMINATE, "timestamp_missing") if drop else (
            anchor, FAILED, "timestamp_mismatch")
    if role == "evidence":
        return {"drop": (anchor, INDETERMINATE, "evidence_missing"),
                "rewrite": (f"{anchor}.evidence.ers.chain[0].ats[0].data[0]", FAILED,
                            "ers_not_bound"),
                "flip_last": (f"{anchor}.ats[0.0].timestamp.signature", FAILED,
                              "timestamp_signature_invalid"),
                }.get(mutation, (f"{anchor}.evidence.parse", FAILED, "malformed"))
    if role == "anchor":
        code = "anchor_missing" if drop else "anchor_mismatch" if rewrite else "malformed"
        return f"signature[{args[0]}].anchor", INDETERMINATE if drop else FAILED, code
    if role == "cms":
        return (f"signature[{args[0]}]", FAILED,
                "signature_missing" if drop else "blob_digest_mismatch")
    assert role in ("signer", "chain", "crl", "ocsp"), role
    if drop:
        return f"signature[{args[0]}].validation_data", INDETERMINATE, "validation_data_missing"
    return f"signature[{args[0]}]", FAILED, "blob_digest_mismatch"


def _verify(world: World, files: Files, **kw: Any) -> Report:
    """verify_bundle as an auditor runs it (the log's key pinned, the real roots trusted
    unless `kw` says otherwise), which must not raise, whatever it is given; its report must
    serialize as the CLI writes it."""
    kw.setdefault("log_key", world.log_key)
    kw.setdefault("trust_roots", world.roots())
    try:
        report = verify_bundle(files, at=world.at, **kw)
    except Exception as exc:  # the point of the matrix: a finding, never a crash
        pytest.fail(f"verify_bundle raised {type(exc).__name__}: {exc}")
    json.dumps(report.as_json(), ensure_ascii=False, sort_keys=True)
    return report


def _findings(report: Report) -> list[Finding]:
    """What is wrong, in the report's order: every check that did not pass."""
    return [(c.name, c.verdict, str(c.code)) for c in report.failures]


def _shown(report: Report) -> str:
    return "\n".join(c.line() for c in report.failures) or "(every check PASSED)"


def _assert_finding(report: Report, expected: Finding, bottom_line: Verdict) -> None:
    """The check named in `expected` reported exactly that verdict and code, and the bottom
    line is `bottom_line`."""
    name = expected[0]
    assert report.bottom_line is bottom_line, _shown(report)
    said = [(c.name, c.verdict, c.code) for c in report.checks if c.name == name]
    assert said == [expected], (expected, _shown(report))


def _files_check(report: Report) -> Verdict:
    (check,) = (c for c in report.checks if c.name == "bundle.files")
    return check.verdict


def _relisted(files: Files, changed: Mapping[str, bytes | None]) -> Files:
    """`files` with `changed` applied (None: dropped) and the manifest made consistent."""
    out = dict(files)
    manifest = json.loads(files["manifest.json"])
    for path, data in changed.items():
        if data is None:
            del out[path]
            manifest["files"] = [f for f in manifest["files"] if f["path"] != path]
            continue
        out[path] = data
        (entry,) = (f for f in manifest["files"] if f["path"] == path)
        entry.update(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    out["manifest.json"] = json.dumps(manifest, indent=1).encode()
    return out


def _edited(files: Files, edit: Callable[[dict[str, Any]], object]) -> Files:
    """`files` with the manifest edited in place by `edit`."""
    manifest = json.loads(files["manifest.json"])
    edit(manifest)
    return {**files, "manifest.json": json.dumps(manifest, indent=1).encode()}


# -- the ground -----------------------------------------------------------------------------------
@pytest.mark.parametrize("bundle", ["pades", "cms", "other"])
def test_the_untampered_bundles_verify(world: World, bundle: str) -> None:
    report = _verify(world, world.bundles[bundle])
    assert report.bottom_line is Verdict.PASSED, _shown(report)


@pytest.mark.parametrize("bundle", sorted(SLOTS))
def test_the_matrix_covers_every_file(world: World, bundle: str) -> None:
    paths = [_resolve(world, bundle, slot) for slot in SLOTS[bundle]]
    assert len(set(paths)) == len(paths)
    assert set(paths) == set(world.bundles[bundle])
    listed = {f["path"] for f in world.manifest(bundle)["files"]}
    assert set(paths) == listed | {"manifest.json"}  # every file the manifest lists


def test_the_matrix_covers_every_kind_of_file(world: World) -> None:
    """Every kind but `source_bundle`: only a received record's bundle carries one (the
    sender's bundle), and test_received_bundle_tamper.py tampers with it."""
    kinds = {f["path"]: f["kind"] for b in SLOTS for f in world.manifest(b)["files"]}
    covered = {kinds[_resolve(world, b, slot)] for b in SLOTS for slot in SLOTS[b]
               if slot != "manifest"}
    assert covered == set(bundle_module.KINDS) - {"source_bundle"}


# -- every file: changed, rewritten, truncated, dropped; raw and as a consistent forgery --------
CASES = [pytest.param(bundle, slot, mutation, variant,
                      id=f"{bundle}-{slot.replace(':', '.')}-{mutation}-{variant}")
         for bundle, slots in SLOTS.items() for slot in slots for mutation in MUTATION_NAMES
         for variant in ("raw", "consistent")
         if not (slot == "manifest" and variant == "consistent")]  # it lists the others


@pytest.mark.parametrize(("bundle", "slot", "mutation", "variant"), CASES)
def test_tampered_file(world: World, bundle: str, slot: str, mutation: str,
                       variant: str) -> None:
    files = world.bundles[bundle]
    path = _resolve(world, bundle, slot)
    new = _mutate(world, bundle, slot, mutation, files[path])
    assert new != files[path]
    expected = _expected(world, bundle, slot, mutation)
    if variant == "raw":
        tampered = dict(files)
        if new is None:
            del tampered[path]
        else:
            tampered[path] = new
        report = _verify(world, tampered)
        if slot != "manifest":  # the manifest's digest (or absence) says it first...
            listed = "file_missing" if new is None else "file_digest_mismatch"
            _assert_finding(report, ("bundle.files", FAILED, listed), FAILED)
        _assert_finding(report, expected, FAILED)  # ...and the deeper check what it is
        return
    report = _verify(world, _relisted(files, {path: new}))
    assert _files_check(report) is Verdict.PASSED  # the forgery is consistent: deeper checks
    _assert_finding(report, expected, expected[1])


# -- the log key: pinned, or nothing passes ---------------------------------------------------
@pytest.mark.parametrize("bundle", ["pades", "cms", "other"])
def test_without_a_pinned_log_key_nothing_passes(world: World, bundle: str) -> None:
    """The bundle's own key is what the bundle says of itself: checked with, never believed."""
    report = _verify(world, world.bundles[bundle], log_key=None)
    assert report.bottom_line is INDETERMINATE
    assert _findings(report) == [
        ("log.key", INDETERMINATE, "log_key_not_pinned"),
        (f"checkpoint[{world.size(bundle)}]", INDETERMINATE, "log_key_not_pinned")]


def test_the_key_of_another_log_pinned(world: World) -> None:
    other = verifier_key(ORIGIN, b"\x01" * 32)
    report = _verify(world, world.bundles["pades"], log_key=other)
    assert report.bottom_line is FAILED
    size = world.size("pades")
    assert _findings(report) == [
        ("log.key", FAILED, "log_key_mismatch"),
        (f"checkpoint[{size}]", FAILED, "checkpoint_key_mismatch"),
        *[(f"event[{v}].inclusion", FAILED, "checkpoint_missing") for v in (1, 2, 3)]]


@pytest.mark.parametrize("slot", ["event:3", "proof:1", "note:0", "timestamp:0:0", "signer:2"])
def test_a_tampered_bundle_without_a_pinned_key_still_fails(world: World, slot: str) -> None:
    """Not pinning a key never hides a tamper: the bundle is still checked against itself."""
    files = world.bundles["pades"]
    path = _resolve(world, "pades", slot)
    report = _verify(world, _relisted(files, {path: _rewrite(world, "pades", slot,
                                                                files[path])}), log_key=None)
    _assert_finding(report, _expected(world, "pades", slot, "rewrite"), FAILED)
    assert ("log.key", INDETERMINATE, "log_key_not_pinned") in _findings(report)


# -- a consistent forgery: another history, re-signed and re-timestamped ----------------------
def _rewritten_history(world: World) -> tuple[Files, str]:
    """The PAdES record's history rewritten as a forger would: the created event says another
    subject (so every `prev` after it changes), the events placed in a tree of the forger's
    own of the same size, at the same leaves, with new inclusion proofs; the checkpoint note
    of that tree signed under the log's key name by the forger's key, and timestamped by the
    real TSA (a TSA timestamps what anyone sends it), in a new evidence record. Everything
    agrees with everything; the manifest names the forger's key. Returns it and that key."""
    files, manifest = world.bundles["pades"], world.manifest("pades")
    events = [world.event("pades", v) for v in (1, 2, 3)]
    events[0]["data"]["metadata"]["subject"] = "A decision never taken"
    raw, prev = [], None
    for event in events:
        event["prev"] = prev
        raw.append(canonical_bytes(event))
        prev = b64(event_hash(raw[-1]))
    size = world.size("pades")
    entries = manifest["events"]
    indexes = [json.loads(files[e["proof"]])["leaf_index"] for e in entries]
    leaves = [leaf_hash(b"another entry %d" % i) for i in range(size)]
    for index, data in zip(indexes, raw, strict=True):
        leaves[index] = leaf_hash(data)
    key = Ed25519PrivateKey.generate()
    name = world.log_key.split("+")[0]
    note = sign_note(format_checkpoint(manifest["origin"], size, root_of(leaves)), name, key)
    token = request_token(dev_tsa(world.pki, "tsa", Clock(world.at)), note_digest(note)).der
    anchor = manifest["checkpoints"][0]["anchors"][0]
    changed: dict[str, bytes | None] = {
        manifest["checkpoints"][0]["note"]: note.encode(),
        anchor["timestamp"]: token,
        anchor["evidence_record"]: new_evidence_record(None, token, "sha256")}
    for entry, index, data in zip(entries, indexes, raw, strict=True):
        changed[entry["event"]] = data
        changed[entry["proof"]] = canonical_bytes({
            "leaf_index": index, "tree_size": size, "leaf_hash": b64(leaf_hash(data)),
            "proof": [b64(root_of(leaves[s:e])) for s, e in inclusion_ranges(index, size)]})
    forger = verifier_key(name, key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    forged = _relisted(files, changed)
    return _edited(forged, lambda m: m.update(log_key=forger)), forger


@pytest.fixture(scope="module")
def rewritten(world: World) -> tuple[Files, str]:
    return _rewritten_history(world)


def test_the_rewritten_history_is_self_consistent(world: World,
                                                  rewritten: tuple[Files, str]) -> None:
    """Under the forger's own key it passes: only the pinned key can tell it apart."""
    files, forger = rewritten
    assert _verify(world, files, log_key=forger).bottom_line is Verdict.PASSED


def test_a_rewritten_history_resigned_with_another_key(world: World,
                                                       rewritten: tuple[Files, str]) -> None:
    files, _ = rewritten
    report = _verify(world, files)
    assert report.bottom_line is FAILED
    assert _findings(report) == [
        ("log.key", FAILED, "log_key_mismatch"),
        (f"checkpoint[{world.size('pades')}]", FAILED, "checkpoint_key_mismatch"),
        *[(f"event[{v}].inclusion", FAILED, "checkpoint_missing") for v in (1, 2, 3)]]


def test_a_rewritten_history_claiming_the_logs_key(world: World,
                                                   rewritten: tuple[Files, str]) -> None:
    """The manifest is unsigned: naming the real key in it changes nothing."""
    files = _edited(rewritten[0], lambda m: m.update(log_key=world.log_key))
    size = world.size("pades")
    for pinned in (world.log_key, None):  # pinned, and even without a pin
        report = _verify(world, files, log_key=pinned)
        assert report.bottom_line is FAILED
        assert _findings(report)[-4:] == [
            (f"checkpoint[{size}]", FAILED, "checkpoint_key_mismatch"),
            *[(f"event[{v}].inclusion", FAILED, "checkpoint_missing") for v in (1, 2, 3)]]


def test_a_rewritten_history_without_a_pinned_key(world: World,
                                                  rewritten: tuple[Files, str]) -> None:
    report = _verify(world, rewritten[0], log_key=None)
    assert report.bottom_line is INDETERMINATE
    assert _findings(report) == [
        ("log.key", INDETERMINATE, "log_key_not_pinned"),
        (f"checkpoint[{world.size('pades')}]", INDETERMINATE, "log_key_not_pinned")]


# -- a forged log: the forger's own log key, TSA and PKI around a tampered document ---------------
@pytest.fixture(scope="module")
def forgery(tmp_path_factory: pytest.TempPathFactory, world: World) -> Forgery:
    """The first record again, its text altered, in a log the forger made from nothing: the
    same origin, the same record id, a PKI and TSA named as the real ones."""
    made = forged_log(tmp_path_factory.mktemp("forger"), START,
                      "QUYET DINH so 1/QD-TEST\nVe viec thu nghiem Stele, da sua")
    assert json.loads(made.bundle["manifest.json"])["record"] == world.manifest(
        "pades")["record"]
    return made


def test_a_forged_log_is_self_consistent(world: World, forgery: Forgery) -> None:
    """Under the forger's key and roots it passes: the forgery is a good one."""
    report = _verify(world, forgery.bundle, log_key=forgery.log_key,
                     trust_roots=forgery.roots())
    assert report.bottom_line is Verdict.PASSED, _shown(report)


def _forged_size(forgery: Forgery) -> int:
    size: int = json.loads(forgery.bundle["manifest.json"])["checkpoints"][0]["size"]
    return size


@pytest.mark.parametrize("roots", ["real", "real_and_forgers"])
def test_a_forged_log_against_the_real_key(world: World, forgery: Forgery, roots: str) -> None:
    """Even an auditor who also trusts the forger's roots is not fooled: the notes are not
    signed by the log key."""
    trusted = world.roots() + (forgery.roots() if roots == "real_and_forgers" else [])
    report = _verify(world, forgery.bundle, trust_roots=trusted)
    assert report.bottom_line is FAILED
    findings = _findings(report)
    assert findings[:2 + 3] == [
        ("log.key", FAILED, "log_key_mismatch"),
        (f"checkpoint[{_forged_size(forgery)}]", FAILED, "checkpoint_key_mismatch"),
        *[(f"event[{v}].inclusion", FAILED, "checkpoint_missing") for v in (1, 2, 3)]]
    if roots == "real_and_forgers":
        assert findings[5:] == []
    else:  # nor are the forger's signers trusted; without a proof of existence, unsure
        assert findings[5:] == [(f"signature[{v}]", INDETERMINATE, "NO_CERTIFICATE_CHAIN_FOUND")
                                for v in (2, 3)]


def test_a_forged_log_claiming_the_real_key(world: World, forgery: Forgery) -> None:
    files = _edited(forgery.bundle, lambda m: m.update(log_key=world.log_key))
    report = _verify(world, files, trust_roots=world.roots() + forgery.roots())
    assert report.bottom_line is FAILED
    assert _findings(report) == [
        (f"checkpoint[{_forged_size(forgery)}]", FAILED, "checkpoint_key_mismatch"),
        *[(f"event[{v}].inclusion", FAILED, "checkpoint_missing") for v in (1, 2, 3)]]


@pytest.mark.parametrize("roots", ["forgers", "real"])
def test_a_forged_log_without_a_pinned_key(world: World, forgery: Forgery, roots: str) -> None:
    trusted = forgery.roots() if roots == "forgers" else world.roots()
    report = _verify(world, forgery.bundle, log_key=None, trust_roots=trusted)
    assert report.bottom_line is INDETERMINATE
    findings = _findings(report)
    size = _forged_size(forgery)
    assert findings[:2] == [("log.key", INDETERMINATE, "log_key_not_pinned"),
                            (f"checkpoint[{size}]", INDETERMINATE, "log_key_not_pinned")]
    if roots == "forgers":  # everything else agrees: only the missing pin stops it
        assert findings[2:] == []
    else:  # and the forger's TSA and signers are not trusted
        assert findings[2:] == [
            (f"checkpoint[{size}].evidence[0].ats[0.0].tsa.chain", INDETERMINATE,
             "tsa_untrusted"),
            (f"checkpoint[{size}].anchored", INDETERMINATE, "no_proof_of_existence"),
            *[(f"signature[{v}]", INDETERMINATE, "NO_CERTIFICATE_CHAIN_FOUND") for v in (2, 3)]]


# -- who signed: the validation must name the signer the event names ------------------------
def _validation_naming(monkeypatch: pytest.MonkeyPatch, signer: Callable[[bytes], bytes]) -> None:
    """Signature validation as it is, but reporting `signer(the signer's certificate)`."""
    def validate(*args: Any, **kw: Any) -> Any:
        report = validate_signature(*args, **kw)
        return dataclasses.replace(report, signer=signer(report.signer))

    monkeypatch.setattr("verifiers.bundle.validate_signature", validate)


def _signed_versions(world: World, bundle: str) -> list[int]:
    return [s["version"] for s in world.manifest(bundle)["signatures"]]


@pytest.mark.parametrize("bundle", ["pades", "cms"])
def test_a_validation_that_names_no_signer_fails(world: World, bundle: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A signature whose validation found no signer certificate is no one's: FAILED, never
    the validation's own verdict taken as it is."""
    _validation_naming(monkeypatch, lambda _: b"")
    report = _verify(world, world.bundles[bundle])
    assert report.bottom_line is FAILED
    assert _findings(report) == [(f"signature[{v}]", FAILED, "signer_missing")
                                 for v in _signed_versions(world, bundle)]


@pytest.mark.parametrize("bundle", ["pades", "cms"])
def test_a_validation_that_names_another_signer_fails(world: World, bundle: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    impostor = world.pki.party("expired").cert.public_bytes(Encoding.DER)
    _validation_naming(monkeypatch, lambda _: impostor)
    report = _verify(world, world.bundles[bundle])
    assert report.bottom_line is FAILED
    assert _findings(report) == [(f"signature[{v}]", FAILED, "signer_mismatch")
                                 for v in _signed_versions(world, bundle)]


# -- the manifest's meaning --------------------------------------------------------------------
def _first_anchor(m: dict[str, Any]) -> dict[str, Any]:
    anchor: dict[str, Any] = m["checkpoints"][0]["anchors"][0]
    return anchor


# Each edit, and the finding that must say it ("{size}": the checkpoint's tree size).
MANIFEST_EDITS: dict[str, tuple[Callable[[dict[str, Any]], object], Finding]] = {
    # Hiding a signature from the list does not hide it: the proven events say it is there.
    "signatures_hidden": (lambda m: m.update(signatures=[]),
                          ("signature[2]", FAILED, "signature_unlisted")),
    "signatures_key_renamed": (lambda m: m.update(signaturez=m.pop("signatures")),
                               ("signature[2]", FAILED, "signature_unlisted")),
    "signature_renumbered": (lambda m: m["signatures"][0].update(version=3),
                             ("signature[2]", FAILED, "signature_unlisted")),
    "signature_of_unsigned_event": (lambda m: m["signatures"].append({"version": 1}),
                                    ("signature[1]", FAILED, "signature_event_missing")),
    "record_other": (lambda m: m.update(record="00000000-0000-5000-8000-000000000000"),
                     ("events.chain", FAILED, "record_mismatch")),
    "origin_other": (lambda m: m.update(origin="other.example/log"),
                     ("checkpoint[{size}]", FAILED, "checkpoint_mismatch")),
    "log_key_other": (lambda m: m.update(log_key=verifier_key(m["origin"], b"\x01" * 32)),
                      ("log.key", FAILED, "log_key_mismatch")),
    "log_key_garbage": (lambda m: m.update(log_key="not a key"),
                        ("log.key", FAILED, "log_key_mismatch")),
    "version_2": (lambda m: m.update(version=2),
                  ("bundle.manifest", FAILED, "unsupported_version")),
    "events_reordered": (lambda m: m["events"].reverse(),
                         ("events.chain", FAILED, "event_missing")),
    "events_truncated": (lambda m: m.update(events=[]),
                         ("events.chain", FAILED, "events_missing")),
    "event_not_an_object": (lambda m: m["events"].append("events/0004.json"),
                            ("events.chain", FAILED, "event_missing")),
    "event_without_checkpoint": (lambda m: m["events"][0].pop("checkpoint"),
                                 ("event[1].inclusion", FAILED, "checkpoint_missing")),
    "event_checkpoint_unhashable": (lambda m: m["events"][0].update(checkpoint=[5]),
                                    ("event[1].inclusion", FAILED, "checkpoint_missing")),
    "checkpoint_size_other": (lambda m: m["checkpoints"][0].update(size=4),
                              ("checkpoint[4]", FAILED, "checkpoint_mismatch")),
    "checkpoint_size_unhashable": (lambda m: m["checkpoints"][0].update(size=[5]),
                                   ("checkpoint[[5]]", FAILED, "checkpoint_mismatch")),
    "checkpoints_dropped": (lambda m: m.update(checkpoints=[]),
                            ("event[1].inclusion", FAILED, "checkpoint_missing")),
    "files_entry_size": (lambda m: m["files"][0].update(size=m["files"][0]["size"] + 1),
                         ("bundle.files", FAILED, "file_digest_mismatch")),
    "files_entry_kind": (lambda m: m["files"][0].update(kind="evidence"),
                         ("bundle.files", FAILED, "malformed")),
    "files_entry_not_an_object": (lambda m: m["files"].append("document"),
                                  ("bundle.files", FAILED, "file_missing")),
    "files_not_a_list": (lambda m: m.update(files={}),
                         ("bundle.manifest", FAILED, "malformed")),
    "manifest_not_an_object": (lambda m: m.clear(), ("bundle.manifest", FAILED, "malformed")),
    # Paths to evidence pointed elsewhere: the evidence is missing (INDETERMINATE).
    "anchors_dropped": (lambda m: m["checkpoints"][0].update(anchors=[]),
                        ("checkpoint[{size}].anchored", INDETERMINATE, "no_proof_of_existence")),
    "evidence_path_other": (lambda m: _first_anchor(m).update(evidence_record="evidence/x"),
                            ("checkpoint[{size}].evidence[0]", INDETERMINATE,
                             "evidence_missing")),
    "timestamp_path_dropped": (lambda m: _first_anchor(m).pop("timestamp"),
                               ("checkpoint[{size}].evidence[0].timestamp", INDETERMINATE,
                                "timestamp_missing")),
    "anchor_path_other": (lambda m: m["signatures"][0].update(anchor="anchors/x.json"),
                          ("signature[2].anchor", INDETERMINATE, "anchor_missing")),
    "document_path_dropped": (lambda m: m.update(document=None),
                              ("signature[2]", INDETERMINATE, "document_missing")),
}


@pytest.mark.parametrize("edit", sorted(MANIFEST_EDITS))
def test_an_edited_manifest(world: World, edit: str) -> None:
    change, (name, verdict, code) = MANIFEST_EDITS[edit]
    report = _verify(world, _edited(world.bundles["pades"], change))
    _assert_finding(report, (name.format(size=world.size("pades")), verdict, code), verdict)


# Labels of the manifest that no check uses: the manifest is an unsigned index, so a change to
# them cannot be detected, by design. What holds instead: the verifier's findings (each check's
# name, verdict, code and message) are exactly those of the untampered bundle; nothing it
# concludes rests on them. (`tsa` is echoed in the evidence of checkpoint[S].evidence[K] as the
# name the ledger gave the TSA; what is validated is the token's own signer and chain.)
LABELS: dict[str, Callable[[dict[str, Any]], object]] = {
    "exported_at": lambda m: m.update(exported_at="1999-01-01T00:00:00Z"),
    "content": lambda m: m.update(content={"media_type": "image/png"}),
    "signature_format": lambda m: m["signatures"][0].update(format="cms"),
    "signature_field": lambda m: m["signatures"][0].update(field="Agency"),
    "anchor_tsa": lambda m: _first_anchor(m).update(tsa="https://tsa.example"),
}


@pytest.mark.parametrize("label", sorted(LABELS))
def test_unused_labels_change_no_finding(world: World, label: str) -> None:
    files = world.bundles["pades"]
    report = _verify(world, _edited(files, LABELS[label]))
    assert _all_checks(report) == _all_checks(_verify(world, files))
    assert report.bottom_line is Verdict.PASSED


def _all_checks(report: Report) -> list[tuple[str, Verdict, str | None, str]]:
    return [(c.name, c.verdict, c.code, c.message) for c in report.checks]


# -- structural forgeries -------------------------------------------------------------------
def test_events_reordered(world: World) -> None:
    files = world.bundles["pades"]
    second, third = _resolve(world, "pades", "event:2"), _resolve(world, "pades", "event:3")
    report = _verify(world, _relisted(files, {second: files[third], third: files[second]}))
    assert _files_check(report) is Verdict.PASSED
    assert _findings(report) == [("events.chain", FAILED, "chain_broken")]


def test_events_renumbered_in_the_manifest(world: World) -> None:
    def swap(m: dict[str, Any]) -> None:
        events = m["events"]
        events[1]["event"], events[2]["event"] = events[2]["event"], events[1]["event"]
        events[1]["proof"], events[2]["proof"] = events[2]["proof"], events[1]["proof"]

    report = _verify(world, _edited(world.bundles["pades"], swap))
    assert _findings(report) == [("events.chain", FAILED, "chain_broken")]


@pytest.mark.parametrize("key", ["chain", "format", "signer", "validation"])
def test_the_last_signed_event_rewritten_in_canonical_form(world: World, key: str) -> None:
    """The last event has no successor to pin its hash, so a rewrite that stays canonical
    JSON passes the chain; its inclusion proof fails, and its data, no longer a signature
    record, must be a finding rather than a KeyError."""
    files = world.bundles["pades"]
    path = _resolve(world, "pades", "event:3")
    event = json.loads(files[path])
    event["data"][key + "_"] = event["data"].pop(key)
    report = _verify(world, _relisted(files, {path: canonical_bytes(event)}))
    assert _files_check(report) is Verdict.PASSED
    assert _findings(report) == [("event[3].inclusion", FAILED, "leaf_mismatch"),
                                 ("bundle.signatures", FAILED, "malformed")]


def test_another_records_inclusion_proof(world: World) -> None:
    files, other = world.bundles["pades"], world.bundles["other"]
    path = _resolve(world, "pades", "proof:1")
    foreign = other[_resolve(world, "other", "proof:1")]
    assert foreign != files[path]
    report = _verify(world, _relisted(files, {path: foreign}))
    assert _files_check(report) is Verdict.PASSED
    # it is a proof into the other record's checkpoint, which this bundle does not verify
    assert _findings(report) == [("event[1].inclusion", FAILED, "checkpoint_missing")]


def test_another_records_event_with_its_proof(world: World) -> None:
    files, other = world.bundles["pades"], world.bundles["other"]
    swapped = {_resolve(world, "pades", f"{role}:1"): other[_resolve(world, "other",
                                                                      f"{role}:1")]
               for role in ("event", "proof")}
    report = _verify(world, _relisted(files, swapped))
    assert _findings(report) == [("events.chain", FAILED, "chain_broken")]


@pytest.mark.parametrize("consistent", [False, True], ids=["raw", "consistent"])
@pytest.mark.parametrize(("version", "party"),
                         [(2, "expired"), (2, "agency"), (2, "revoked"), (3, "individual")])
def test_another_partys_certificate_as_the_signers(world: World, version: int, party: str,
                                                   consistent: bool) -> None:
    files = world.bundles["pades"]
    path = _resolve(world, "pades", f"signer:{version}")
    impostor = world.pki.party(party).cert.public_bytes(Encoding.DER)
    assert impostor != files[path]
    tampered = _relisted(files, {path: impostor}) if consistent else {**files, path: impostor}
    report = _verify(world, tampered)
    listed = [] if consistent else [("bundle.files", FAILED, "file_digest_mismatch")]
    assert _findings(report) == [*listed,
                                 (f"signature[{version}]", FAILED, "blob_digest_mismatch")]


def test_another_anchors_description(world: World) -> None:
    files = world.bundles["pades"]
    path = _resolve(world, "pades", "anchor:2")
    report = _verify(world, _relisted(files, {path: files[_resolve(world, "pades",
                                                                     "anchor:3")]}))
    assert _files_check(report) is Verdict.PASSED
    assert _findings(report) == [("signature[2].anchor", FAILED, "anchor_mismatch")]


WRONG_DOCUMENT = [("signature[2]", FAILED, "document_mismatch"),
                  ("signature[3]", FAILED, "document_mismatch"),
                  ("document.digest", FAILED, "document_mismatch")]


def test_another_signed_pdf_as_the_document(world: World) -> None:
    files = world.bundles["pades"]
    report = _verify(world, _relisted(files, {"document": world.other_pdf}))
    assert _files_check(report) is Verdict.PASSED
    assert _findings(report) == WRONG_DOCUMENT


@pytest.mark.parametrize("bundled", [True, False], ids=["bundled", "not-bundled"])
def test_a_wrong_document_given(world: World, bundled: bool) -> None:
    files = world.bundles["pades"]
    if not bundled:
        files = _relisted(files, {"document": None})
    report = _verify(world, files, document=world.other_pdf)
    assert _findings(report) == WRONG_DOCUMENT


def test_another_cms_signature_over_another_document(world: World) -> None:
    """The detached CMS signature and its content swapped together for another party's
    signature over other content: neither is the record's."""
    files = world.bundles["cms"]
    other = sign_cms(world.other_body, world.pki.party("agency"), pki=world.pki, at=world.at)
    report = _verify(world, _relisted(files, {"document": world.other_body,
                                              _resolve(world, "cms", "cms:2"): other}))
    assert _files_check(report) is Verdict.PASSED
    assert _findings(report) == [("signature[2]", FAILED, "document_mismatch"),
                                 ("document.digest", FAILED, "document_mismatch")]


def test_a_wrong_document_given_for_a_cms_record(world: World) -> None:
    report = _verify(world, world.bundles["cms"], document=world.other_body)
    assert _findings(report) == [("signature[2]", FAILED, "document_mismatch"),
                                 ("document.digest", FAILED, "document_mismatch")]


# -- not a bundle at all ------------------------------------------------------------------
def _zip(files: Files) -> bytes:
    out = BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return out.getvalue()


@pytest.fixture(scope="module")
def zipped(world: World) -> bytes:
    return _zip(world.bundles["pades"])


def test_read_bundle_reads_what_was_written(world: World, zipped: bytes) -> None:
    assert read_bundle(zipped) == world.bundles["pades"]


@pytest.mark.parametrize("size", [0, 1, 22, 100, 5000])
def test_read_bundle_refuses_random_bytes(size: int) -> None:
    with pytest.raises(MalformedError):
        read_bundle(random.Random(size).randbytes(size))


@pytest.mark.parametrize("cut", ["half", "last_byte", "end_record", "first_30"])
def test_read_bundle_refuses_a_truncated_zip(zipped: bytes, cut: str) -> None:
    keep = {"half": len(zipped) // 2, "last_byte": len(zipped) - 1,
            "end_record": len(zipped) - 22, "first_30": 30}[cut]
    with pytest.raises(MalformedError):
        read_bundle(zipped[:keep])


def test_read_bundle_refuses_damaged_compressed_data(zipped: bytes) -> None:
    with zipfile.ZipFile(BytesIO(zipped)) as archive:
        info = archive.getinfo("document")
    start = info.header_offset  # a local file header: 30 bytes, the name, the extra field
    names = int.from_bytes(zipped[start + 26:start + 28], "little")
    extra = int.from_bytes(zipped[start + 28:start + 30], "little")
    i = start + 30 + names + extra + info.compress_size // 2
    with pytest.raises(MalformedError):
        read_bundle(zipped[:i] + bytes([zipped[i] ^ 0xFF]) + zipped[i + 1:])


def test_read_bundle_refuses_a_zip_bomb_by_declared_size(monkeypatch: pytest.MonkeyPatch,
                                                         zipped: bytes) -> None:
    monkeypatch.setattr("verifiers.bundle.MAX_BUNDLE", 1000)
    with pytest.raises(MalformedError):
        read_bundle(zipped)
