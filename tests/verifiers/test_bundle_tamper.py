"""The tamper matrix: every file of real evidence bundles flipped, truncated
and dropped, then structural forgeries; `verify_bundle` must never raise, never say PASSED for
a tampered bundle, and name what is wrong (only labels of the manifest that no check uses are
undetectable, by design: test_unused_labels_change_no_finding).

Every file is tampered with in two variants: *raw* (the manifest left as exported, so its
SHA-256 list is what catches it) and *consistent forgery* (the manifest's `files` entry
rewritten to the new SHA-256 and size, or removed with the file, so the manifest check passes
and the deeper checks must catch it). The bundles are built once per module, on SQLite, from a
ledger on a pinned clock: a record holding a PDF signed (PAdES) by an individual and an agency,
another such record with another PDF, and a record signed with a detached CMS signature.

The verdicts (docs of verifiers/bundle.py): FAILED wherever bytes were altered or a proof no
longer holds. INDETERMINATE only where, in a consistent forgery, a file that is just evidence
is gone, so the verifier cannot tell forged from incomplete: the document (the signatures cannot
be re-validated), the evidence record (no proof of existence), the timestamp token (the evidence
record still holds it, but the bundle lost a file it names), a captured certificate, CRL or OCSP
response (the validation may or may not need it; the bundle is not what was captured), and the
trust anchor's description (shown to the reviewer, never trusted).
"""

from __future__ import annotations

import hashlib
import json
import random
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import BytesIO
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from ledger.bundle import blob_path, export
from ledger.config import Database, Settings
from ledger.dev.pki import DevPki, blank_pdf, sign_cms, sign_pdf
from ledger.service import Ledger
from tests.bundles import roots_der, signed_record
from tests.conftest import Clock
from tests.ledger.builders import AGENCY, create
from tests.pki import SIGNED_AT, sign
from verifiers.bundle import read_bundle, verify_bundle
from verifiers.canonical import canonical_bytes
from verifiers.errors import MalformedError
from verifiers.note import verifier_key
from verifiers.report import Report, Verdict

Files = dict[str, bytes]

# Each file of a bundle by its role, so the cases have stable names (blobs are named by
# digest): `event:V`, `proof:V` (event version V); `note:C`, `timestamp:C:K`, `evidence:C:K`
# (checkpoint C, anchor K); `anchor:V`, `cms:V` (the detached signature), `signer:V`,
# `chain:V:I`, `crl:V:I`, `ocsp:V:I` (signed event V). test_the_matrix_covers_every_file
# checks that these are exactly the files of each ZIP.
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
    "flip_middle": lambda b: _flip(b, len(b) // 2),
    "flip_last": lambda b: _flip(b, len(b) - 1),
    "truncate_half": lambda b: b[:len(b) // 2],
    "truncate_zero": lambda b: b"",
    "drop": lambda b: None,
}
# Roles whose loss, in a consistent forgery, is missing evidence (INDETERMINATE); see above.
EVIDENCE_ONLY = {"document", "timestamp", "evidence", "anchor", "signer", "chain", "crl", "ocsp"}


def _flip(data: bytes, i: int) -> bytes:
    """One byte changed: its lowest bit, so text mostly stays text and JSON often stays JSON
    (the harder case: only the meaning changed)."""
    return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]


@dataclass(frozen=True)
class World:
    pki: DevPki
    at: datetime
    bundles: dict[str, Files]  # "pades", "cms" (the matrix), "other" (another PADES record)
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


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, dev_pki: DevPki,
          signed_pdf: bytes) -> World:
    """Three records in one ledger on SQLite, anchored by the dev TSA, and their bundles."""
    root = tmp_path_factory.mktemp("tamper")
    settings = Settings(data_dir=root / "data",
                        database=Database(kind="sqlite", path=root / "ledger.sqlite3"),
                        origin="test.stele/log", checkpoint_every=1000, checkpoint_interval=3600,
                         dev=True)
    clock = Clock(datetime(2026, 11, 27, 8, 0, tzinfo=UTC))
    other_pdf = _signed_pdf(dev_pki, "QUYET DINH so 2/QD-TEST\nMot van ban khac")
    other_body = b"<xml>another decision, signed by someone else</xml>"
    with Ledger(settings, clock=clock) as ledger:
        pades = signed_record(ledger, dev_pki, clock, signed_pdf)
        clock.advance(minutes=5)
        other = signed_record(ledger, dev_pki, clock, other_pdf, number=2)
        clock.advance(minutes=5)
        body = b"<xml>a decision that is not a PDF</xml>"
        cms = create(ledger, 3, body=body)
        sign(ledger, AGENCY, cms, dev_pki, "individual", signer_class="individual",
             signature=sign_cms(body, dev_pki.party("individual"), pki=dev_pki, at=clock()))
        ledger.sync()
        bundles = {name: read_bundle(export(ledger, rid, with_content=True))
                   for name, rid in (("pades", pades.record), ("other", other.record),
                                     ("cms", cms))}
    return World(dev_pki, clock(), bundles, other_pdf, other_body)


def _signed_pdf(pki: DevPki, text: str) -> bytes:
    pdf = sign_pdf(blank_pdf(text), pki.party("individual"), pki=pki, field="Individual",
                   at=SIGNED_AT)
    return sign_pdf(pdf, pki.party("agency"), pki=pki, field="Agency",
                    at=SIGNED_AT + timedelta(minutes=5))


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


def _expected_names(world: World, bundle: str, slot: str) -> tuple[str, ...]:
    """The check names (prefixes) that must report a tampered `slot` when the manifest does
    not: what is wrong, said where it is wrong."""
    role, *n = slot.split(":")
    args = [int(x) for x in n]
    if role == "manifest":
        return ("bundle.",)
    if role == "document":
        return ("document.digest", "signature[")
    if role == "event":
        return ("events.chain", f"event[{args[0]}].")
    if role == "proof":
        return (f"event[{args[0]}].inclusion",)
    size = world.manifest(bundle)["checkpoints"][args[0]]["size"] if role in (
        "note", "timestamp", "evidence") else None
    if role == "note":
        return (f"checkpoint[{size}]",)
    if role in ("timestamp", "evidence"):
        return (f"checkpoint[{size}].evidence[{args[1]}]",)
    if role == "anchor":
        return (f"signature[{args[0]}].anchor",)
    return (f"signature[{args[0]}]",)  # the signature whose event names the blob


def _verify(world: World, files: Files, **kw: Any) -> Report:
    """verify_bundle, which must not raise, whatever it is given; its report must serialize
    as the CLI writes it."""
    try:
        report = verify_bundle(files, trust_roots=world.roots(), at=world.at, **kw)
    except Exception as exc:  # the point of the matrix: a finding, never a crash
        pytest.fail(f"verify_bundle raised {type(exc).__name__}: {exc}")
    json.dumps(report.as_json(), ensure_ascii=False, sort_keys=True)
    return report


def _shown(report: Report) -> str:
    return "\n".join(c.line() for c in report.failures) or "(every check PASSED)"


def _assert_caught(report: Report, verdict: Verdict, names: tuple[str, ...]) -> None:
    assert report.bottom_line is verdict, _shown(report)
    assert any(c.name.startswith(names) for c in report.failures), (names, _shown(report))


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


# -- every file: flipped, truncated, dropped; raw and as a consistent forgery --------------------
CASES = [pytest.param(bundle, slot, mutation, variant,
                      id=f"{bundle}-{slot.replace(':', '.')}-{mutation}-{variant}")
         for bundle, slots in SLOTS.items() for slot in slots for mutation in MUTATIONS
         for variant in ("raw", "consistent")
         if not (slot == "manifest" and variant == "consistent")]  # it lists the others


@pytest.mark.parametrize(("bundle", "slot", "mutation", "variant"), CASES)
def test_tampered_file(world: World, bundle: str, slot: str, mutation: str,
                       variant: str) -> None:
    files = world.bundles[bundle]
    path = _resolve(world, bundle, slot)
    new = MUTATIONS[mutation](files[path])
    assert new != files[path]
    if variant == "raw":
        tampered = dict(files)
        if new is None:
            del tampered[path]
        else:
            tampered[path] = new
        report = _verify(world, tampered)
        # The manifest's digest (or its absence, or its own damage) says it.
        _assert_caught(report, Verdict.FAILED, ("bundle.",))
        return
    report = _verify(world, _relisted(files, {path: new}))
    assert _files_check(report) is Verdict.PASSED  # the forgery is consistent: deeper checks
    role = slot.split(":")[0]
    expected = (Verdict.INDETERMINATE if new is None and role in EVIDENCE_ONLY
                else Verdict.FAILED)
    _assert_caught(report, expected, _expected_names(world, bundle, slot))


# -- the manifest's meaning --------------------------------------------------------------------
def _drop_key(key: str) -> Callable[[dict[str, Any]], object]:
    return lambda m: m.pop(key)


def _first_anchor(m: dict[str, Any]) -> dict[str, Any]:
    anchor: dict[str, Any] = m["checkpoints"][0]["anchors"][0]
    return anchor


MANIFEST_EDITS: dict[str, tuple[Callable[[dict[str, Any]], object], Verdict, str]] = {
    # Hiding a signature from the list does not hide it: the proven events say it is there.
    "signatures_hidden": (lambda m: m.update(signatures=[]), Verdict.FAILED, "signature[2]"),
    "signatures_key_renamed": (lambda m: m.update(signaturez=m.pop("signatures")),
                               Verdict.FAILED, "signature[2]"),
    "signature_renumbered": (lambda m: m["signatures"][0].update(version=3), Verdict.FAILED,
                             "signature[2]"),
    "signature_of_unsigned_event": (lambda m: m["signatures"].append({"version": 1}),
                                    Verdict.FAILED, "signature[1]"),
    "record_other": (lambda m: m.update(record="00000000-0000-5000-8000-000000000000"),
                     Verdict.FAILED, "events.chain"),
    "origin_other": (lambda m: m.update(origin="other.example/log"), Verdict.FAILED,
                     "checkpoint["),
    "log_key_other": (lambda m: m.update(log_key=verifier_key(m["origin"], b"\x01" * 32)),
                      Verdict.FAILED, "checkpoint["),
    "log_key_garbage": (lambda m: m.update(log_key="not a key"), Verdict.FAILED, "bundle."),
    "version_2": (lambda m: m.update(version=2), Verdict.FAILED, "bundle.manifest"),
    "events_reordered": (lambda m: m["events"].reverse(), Verdict.FAILED, "events.chain"),
    "events_truncated": (lambda m: m.update(events=[]), Verdict.FAILED, "events.chain"),
    "event_not_an_object": (lambda m: m["events"].append("events/0004.json"), Verdict.FAILED,
                            "events.chain"),
    "event_without_checkpoint": (lambda m: m["events"][0].pop("checkpoint"), Verdict.FAILED,
                                 "event[1].inclusion"),
    "event_checkpoint_unhashable": (lambda m: m["events"][0].update(checkpoint=[5]),
                                    Verdict.FAILED, "event[1].inclusion"),
    "checkpoint_size_other": (lambda m: m["checkpoints"][0].update(size=4), Verdict.FAILED,
                              "checkpoint[4]"),
    "checkpoint_size_unhashable": (lambda m: m["checkpoints"][0].update(size=[5]),
                                   Verdict.FAILED, "checkpoint["),
    "checkpoints_dropped": (lambda m: m.update(checkpoints=[]), Verdict.FAILED, "event[1]."),
    "files_entry_size": (lambda m: m["files"][0].update(size=m["files"][0]["size"] + 1),
                         Verdict.FAILED, "bundle.files"),
    "files_entry_kind": (lambda m: m["files"][0].update(kind="evidence"), Verdict.FAILED,
                         "bundle.files"),
    "files_entry_not_an_object": (lambda m: m["files"].append("document"), Verdict.FAILED,
                                  "bundle.files"),
    "files_not_a_list": (lambda m: m.update(files={}), Verdict.FAILED, "bundle.manifest"),
    "manifest_not_an_object": (lambda m: m.clear(), Verdict.FAILED, "bundle.manifest"),
    # Paths to evidence pointed elsewhere: the evidence is missing (INDETERMINATE).
    "anchors_dropped": (lambda m: m["checkpoints"][0].update(anchors=[]),
                        Verdict.INDETERMINATE, "checkpoint["),
    "evidence_path_other": (lambda m: _first_anchor(m).update(evidence_record="evidence/x"),
                            Verdict.INDETERMINATE, "checkpoint["),
    "timestamp_path_dropped": (lambda m: _first_anchor(m).pop("timestamp"),
                               Verdict.INDETERMINATE, "checkpoint["),
    "anchor_path_other": (lambda m: m["signatures"][0].update(anchor="anchors/x.json"),
                          Verdict.INDETERMINATE, "signature[2].anchor"),
    "document_path_dropped": (lambda m: m.update(document=None), Verdict.INDETERMINATE,
                              "signature["),
}


@pytest.mark.parametrize("edit", sorted(MANIFEST_EDITS))
def test_an_edited_manifest(world: World, edit: str) -> None:
    change, verdict, name = MANIFEST_EDITS[edit]
    report = _verify(world, _edited(world.bundles["pades"], change))
    _assert_caught(report, verdict, (name,))


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
    assert _findings(report) == _findings(_verify(world, files))
    assert report.bottom_line is Verdict.PASSED


def _findings(report: Report) -> list[tuple[str, Verdict, str | None, str]]:
    return [(c.name, c.verdict, c.code, c.message) for c in report.checks]


# -- structural forgeries -------------------------------------------------------------------
def test_events_reordered(world: World) -> None:
    files = world.bundles["pades"]
    second, third = _resolve(world, "pades", "event:2"), _resolve(world, "pades", "event:3")
    report = _verify(world, _relisted(files, {second: files[third], third: files[second]}))
    assert _files_check(report) is Verdict.PASSED
    _assert_caught(report, Verdict.FAILED, ("events.chain",))


def test_events_renumbered_in_the_manifest(world: World) -> None:
    def swap(m: dict[str, Any]) -> None:
        events = m["events"]
        events[1]["event"], events[2]["event"] = events[2]["event"], events[1]["event"]
        events[1]["proof"], events[2]["proof"] = events[2]["proof"], events[1]["proof"]

    report = _verify(world, _edited(world.bundles["pades"], swap))
    _assert_caught(report, Verdict.FAILED, ("events.chain",))


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
    _assert_caught(report, Verdict.FAILED, ("event[3].inclusion",))
    assert any(c.name.startswith(("signature[3]", "bundle.")) for c in report.failures)


def test_another_records_inclusion_proof(world: World) -> None:
    files, other = world.bundles["pades"], world.bundles["other"]
    path = _resolve(world, "pades", "proof:1")
    foreign = other[_resolve(world, "other", "proof:1")]
    assert foreign != files[path]
    report = _verify(world, _relisted(files, {path: foreign}))
    assert _files_check(report) is Verdict.PASSED
    _assert_caught(report, Verdict.FAILED, ("event[1].inclusion",))


def test_another_records_event_with_its_proof(world: World) -> None:
    files, other = world.bundles["pades"], world.bundles["other"]
    swapped = {_resolve(world, "pades", f"{role}:1"): other[_resolve(world, "other",
                                                                      f"{role}:1")]
               for role in ("event", "proof")}
    report = _verify(world, _relisted(files, swapped))
    _assert_caught(report, Verdict.FAILED, ("events.chain",))


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
    _assert_caught(report, Verdict.FAILED, (f"signature[{version}]",))
    codes = {c.code for c in report.failures if c.name == f"signature[{version}]"}
    assert codes == {"blob_digest_mismatch"}, _shown(report)


def test_another_anchors_description(world: World) -> None:
    files = world.bundles["pades"]
    path = _resolve(world, "pades", "anchor:2")
    report = _verify(world, _relisted(files, {path: files[_resolve(world, "pades",
                                                                     "anchor:3")]}))
    assert _files_check(report) is Verdict.PASSED
    _assert_caught(report, Verdict.FAILED, ("signature[2].anchor",))
    assert {c.code for c in report.failures} == {"anchor_mismatch"}


def test_another_signed_pdf_as_the_document(world: World) -> None:
    files = world.bundles["pades"]
    report = _verify(world, _relisted(files, {"document": world.other_pdf}))
    assert _files_check(report) is Verdict.PASSED
    _assert_caught(report, Verdict.FAILED, ("document.digest",))
    assert {c.code for c in report.failures} == {"document_mismatch"}


@pytest.mark.parametrize("bundled", [True, False], ids=["bundled", "not-bundled"])
def test_a_wrong_document_given(world: World, bundled: bool) -> None:
    files = world.bundles["pades"]
    if not bundled:
        files = _relisted(files, {"document": None})
    report = _verify(world, files, document=world.other_pdf)
    _assert_caught(report, Verdict.FAILED, ("document.digest", "signature["))
    assert {c.code for c in report.failures} == {"document_mismatch"}


def test_another_cms_signature_over_another_document(world: World) -> None:
    """The detached CMS signature and its content swapped together for another party's
    signature over other content: neither is the record's."""
    files = world.bundles["cms"]
    other = sign_cms(world.other_body, world.pki.party("agency"), pki=world.pki, at=world.at)
    report = _verify(world, _relisted(files, {"document": world.other_body,
                                              _resolve(world, "cms", "cms:2"): other}))
    assert _files_check(report) is Verdict.PASSED
    _assert_caught(report, Verdict.FAILED, ("document.digest",))
    _assert_caught(report, Verdict.FAILED, ("signature[2]",))


def test_a_wrong_document_given_for_a_cms_record(world: World) -> None:
    report = _verify(world, world.bundles["cms"], document=world.other_body)
    _assert_caught(report, Verdict.FAILED, ("document.digest", "signature[2]"))


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
