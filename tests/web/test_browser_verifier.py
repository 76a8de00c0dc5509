"""The browser verifier of evidence bundles (api/http/web/static/js/zip.js and bundle-verify.js)
in headless Chromium, from a page opened from disk (file://, so no server at all), held to
agreement with `verifiers.bundle.verify_bundle`.

The core is the tamper matrix of tests/verifiers/test_bundle_tamper.py, on its own bundles
(its `world` fixture): every file of real bundles changed, rewritten, truncated and dropped,
raw and as a consistent forgery; its edited manifests, forged logs and rewritten histories;
plus witnessed bundles (made here) and a received record's bundle with the sender's bundle
inside (tests/verifiers/test_received_bundle_tamper.py). For each case the browser's checks,
restricted to the names it implements (every check but the proof of existence and the
signatures: `checkpoint[S].evidence[K]...`, `checkpoint[S].anchored`, `signature[N]...`), are
the Python verifier's, in order, by name, verdict and code; it adds only `browser.scope`
(INDETERMINATE, `not_checked_in_browser`), so it never says PASSED, and it is FAILED exactly
when one of those checks is.

The ZIP reader is tested on its own (zipfile's stored and deflated members, damage of every
kind), and so are the canonical JSON, the base64 and the Merkle proofs against the Python
kernel. Chromium is started once for the module; without chromium and chromedriver the tests
skip, unless STELE_REQUIRE_CHROMIUM=1.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import itertools
import json
import random
import re
import shutil
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.dev.pki import sign_cms
from ledger.longterm.anchoring import note_digest
from ledger.longterm.tsa_client import request_token
from tests.browser import chromium
from tests.bundles import ORIGIN, Forgery, dev_tsa
from tests.conftest import Clock
from tests.verifiers import test_bundle_tamper as tamper
from tests.verifiers import test_received_bundle_tamper as receiving
from verifiers.bundle import read_bundle
from verifiers.canonical import b64, canonical_bytes, parse_canonical, unb64
from verifiers.errors import MalformedError, VerificationError
from verifiers.ers import new_evidence_record
from verifiers.merkle import consistency_ranges, inclusion_ranges, leaf_hash, root_of
from verifiers.note import format_checkpoint, sign_note, verifier_key
from verifiers.report import Report, Verdict

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "api" / "http" / "web" / "static" / "js"
Files = dict[str, bytes]
World = tamper.World

# The fixtures of the tamper tests, shared: their bundles are built once for this module too.
world = tamper.world
rewritten = tamper.rewritten
forgery = tamper.forgery
received = receiving.received

# Evidence records verified once per record, note, roots and time, across the cases.
CACHE: dict[tuple[str, ...], Any] = {}

HARNESS = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Stele: the bundle verifier, offline</title>
<script src="zip.js"></script>
<script src="bundle-verify.js"></script>
<script>
"use strict";
function fromBase64(text) {
  const bin = atob(text), out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
function toBase64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}
// As a page does: the ZIP's ArrayBuffer, then the report.
async function verifyZip(zip, options) {
  const files = await SteleZip.read(fromBase64(zip).buffer);
  return SteleBundle.verify(files, {
    logKey: options.logKey, sourceLogKey: options.sourceLogKey,
    document: options.document === null ? null : fromBase64(options.document)});
}
async function readZip(zip) {
  try {
    const out = {};
    for (const [name, data] of await SteleZip.read(fromBase64(zip))) out[name] = toBase64(data);
    return {files: out};
  } catch (e) {
    return {error: e.message};
  }
}
async function decode(texts) {
  return texts.map(t => {
    try { return toBase64(SteleBundle.unb64(t)); } catch (e) { return null; }
  });
}
async function canonicalForm(texts) {
  return texts.map(t => {
    try { return SteleBundle.canonical(JSON.parse(t)) === t; } catch (e) { return false; }
  });
}
async function proofs(items) {
  const out = [];
  for (const p of items) {
    const hashes = p.proof.map(fromBase64);
    try {
      if (p.kind === "inclusion") {
        await SteleBundle.verifyInclusion(p.index, p.size, fromBase64(p.leaf), hashes,
                                          fromBase64(p.root));
      } else {
        await SteleBundle.verifyConsistency(p.size1, p.size2, hashes, fromBase64(p.root1),
                                            fromBase64(p.root2));
      }
      out.push("ok");
    } catch (e) {
      out.push(e.code || String(e));
    }
  }
  return out;
}
</script></head><body><p>The browser verifier, opened from disk.</p></body></html>
"""

CALL = """const done = arguments[arguments.length - 1];
window[arguments[0]](...arguments[1]).then(done, e => done({thrown: String(e && e.stack || e)}));"""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _zip(files: Mapping[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = BytesIO()
    with zipfile.ZipFile(out, "w", method) as archive:
        for path, data in files.items():
            archive.writestr(zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0)), data,
                             compress_type=method)
    return out.getvalue()


class Page:
    """The harness page, opened from disk in Chromium: the two scripts and a few calls."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    def call(self, function: str, *args: Any) -> Any:
        answer = self.driver.execute_async_script(CALL, function, list(args))
        assert not (isinstance(answer, dict) and "thrown" in answer), answer["thrown"]
        return answer

    def verify(self, files: Mapping[str, bytes] | bytes, *, log_key: str | None,
               document: bytes | None = None, source_key: str | None = None) -> dict[str, Any]:
        zipped = files if isinstance(files, bytes) else _zip(files)
        answer: dict[str, Any] = self.call("verifyZip", _b64(zipped), {
            "logKey": log_key, "sourceLogKey": source_key,
            "document": None if document is None else _b64(document)})
        return answer

    def read_zip(self, data: bytes) -> dict[str, bytes] | str:
        """The files the browser reads from `data`, or its error message."""
        answer = self.call("readZip", _b64(data))
        if "error" in answer:
            return str(answer["error"])
        return {name: base64.b64decode(text) for name, text in answer["files"].items()}


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    """Copies of the two scripts beside a harness page in a folder of their own, opened in
    headless Chromium by its file:// URL: what a page saved to disk does."""
    folder = tmp_path_factory.mktemp("offline")
    for name in ("zip.js", "bundle-verify.js"):
        shutil.copyfile(SCRIPTS / name, folder / name)
    (folder / "verify.html").write_text(HARNESS, encoding="utf-8")
    chrome = chromium()
    try:
        chrome.set_script_timeout(120)
        chrome.get((folder / "verify.html").as_uri())
        assert chrome.current_url.startswith("file://")
        assert chrome.execute_script(
            "return typeof SteleZip.read === 'function' && typeof SteleBundle.verify === "
            "'function' && isSecureContext && location.protocol === 'file:'")
        yield Page(chrome)
    finally:
        chrome.quit()


# -- agreement -----------------------------------------------------------------------------
def _base(name: str) -> str:
    """A check's name without the `source.` of the sender's bundle's checks."""
    while name.startswith("source.") and name not in ("source.bundle", "source.link"):
        name = name[len("source."):]
    return name


def _in_scope(name: str) -> bool:
    """Whether the browser implements the check: all but the proof of existence (step 6),
    the signatures (step 7), and its own `browser.scope`."""
    base = _base(name)
    out = base == "browser.scope" or base.startswith("signature[") or (
        base.startswith("checkpoint[") and (".evidence[" in base or base.endswith(".anchored")))
    return not out


Line = tuple[str, str, str | None]


def _lines(checks: list[Line]) -> list[str]:
    return [f"{name}  {verdict}  {code}" for name, verdict, code in checks]


def _assert_agree(report: Report, found: dict[str, Any]) -> None:
    """The browser's checks in its scope are the Python verifier's, in order; it adds only
    `browser.scope`; its bottom line is FAILED exactly when one of them failed, and else
    INDETERMINATE (never PASSED: steps 6 and 7 are not done)."""
    python: list[Line] = [(c.name, c.verdict.value, c.code) for c in report.checks
                          if _in_scope(c.name)]
    browser: list[Line] = [(c["name"], c["verdict"], c["code"]) for c in found["checks"]
                           if _in_scope(c["name"])]
    diff = "\n".join(difflib.unified_diff(_lines(python), _lines(browser), "python",
                                          "browser", lineterm=""))
    shown = "\n".join(f"  {c['name']}: {c['code']}: {c['detail']}" for c in found["checks"]
                      if c["verdict"] != "PASSED")
    assert browser == python, f"{diff}\nthe browser's findings:\n{shown}"
    others = {(c["name"], c["verdict"], c["code"]) for c in found["checks"]
              if not _in_scope(c["name"])}
    assert {(_base(n), v, c) for n, v, c in others} <= {
        ("browser.scope", "INDETERMINATE", "not_checked_in_browser")}
    assert not (found["verdict"] == "PASSED" and report.bottom_line is Verdict.FAILED)
    failed = any(verdict == "FAILED" for _, verdict, _ in python)
    assert found["verdict"] == ("FAILED" if failed else "INDETERMINATE")


@dataclass(frozen=True)
class Case:
    """A bundle and what the auditor gives: the pinned key, and perhaps a document."""

    files: Files
    log_key: str | None
    document: bytes | None = None
    trust_roots: list[bytes] | None = None


def _agree(page: Page, world: World, case: Case) -> tuple[Report, dict[str, Any]]:
    kw: dict[str, Any] = {"log_key": case.log_key, "cache": CACHE}
    if case.document is not None:
        kw["document"] = case.document
    if case.trust_roots is not None:
        kw["trust_roots"] = case.trust_roots
    report = tamper._verify(world, case.files, **kw)
    found = page.verify(case.files, log_key=case.log_key, document=case.document)
    _assert_agree(report, found)
    return report, found


def _tampered(world: World, bundle: str, slot: str, mutation: str, variant: str) -> Files:
    """A case of the matrix, as test_bundle_tamper.test_tampered_file makes it."""
    files = world.bundles[bundle]
    path = tamper._resolve(world, bundle, slot)
    new = tamper._mutate(world, bundle, slot, mutation, files[path])
    if variant == "consistent":
        return tamper._relisted(files, {path: new})
    out = dict(files)
    if new is None:
        del out[path]
    else:
        out[path] = new
    return out


# -- the ground ----------------------------------------------------------------------------
@pytest.mark.parametrize("bundle", ["pades", "cms", "other"])
def test_an_untampered_bundle_passes_every_check_in_scope(page: Page, world: World,
                                                          bundle: str) -> None:
    files = world.bundles[bundle]
    report, found = _agree(page, world, Case(files, world.log_key))
    assert report.bottom_line is Verdict.PASSED
    (scope,) = (c for c in found["checks"] if c["verdict"] != "PASSED")
    assert (scope["name"], scope["verdict"], scope["code"]) == (
        "browser.scope", "INDETERMINATE", "not_checked_in_browser")
    assert "stele verify" in scope["detail"] and "inspector page" in scope["detail"]
    assert found["verdict"] == "INDETERMINATE"
    manifest = world.manifest(bundle)
    summary = found["summary"]
    created = world.event(bundle, 1)
    assert summary["checked_verdict"] == "PASSED"
    assert (summary["record"], summary["origin"]) == (manifest["record"], manifest["origin"])
    assert summary["events"] == [
        {"version": v, "type": e["type"], "at": e["at"], "actor": e["actor"]}
        for v, e in ((v, world.event(bundle, v)) for v in range(1, len(manifest["events"]) + 1))]
    assert summary["checkpoints"] == [world.size(bundle)]
    assert summary["content_digest"] == created["data"]["content"]["digest"]
    assert summary["content"] == created["data"]["content"]
    assert summary["log_key"] == {"pinned": world.log_key, "bundled": world.log_key}
    assert (summary["kind"], summary["destroyed"]) == ("record", False)


def test_the_scripts_are_classic_scripts_without_a_network_or_a_dom() -> None:
    """What lets a page saved to disk work: no module syntax, no fetch, no eval; one global
    each; and the verifier writes nothing into a page."""
    for name, global_ in (("zip.js", "SteleZip"), ("bundle-verify.js", "SteleBundle")):
        text = (SCRIPTS / name).read_text(encoding="utf-8")
        assert text.isascii()
        assert f"var {global_} = (function () {{" in text
        for banned in ("import ", "export ", "fetch(", "eval(", "new Function", "XMLHttpRequest",
                       "innerHTML", "outerHTML", "require(", "</script"):
            assert banned not in text, (name, banned)
        assert not re.search(r"\bdocument\.(create|get|query|body|write)|window\.", text)


# -- the tamper matrix ---------------------------------------------------------------------
@pytest.mark.parametrize(("bundle", "slot", "mutation", "variant"), tamper.CASES)
def test_a_tampered_file(page: Page, world: World, bundle: str, slot: str, mutation: str,
                         variant: str) -> None:
    _agree(page, world, Case(_tampered(world, bundle, slot, mutation, variant), world.log_key))


# More edits of the manifest: values of the wrong type, which the Python verifier reads as
# Python does (True == 1, str() in names), and shapes that stop a step.
EDITS: dict[str, Callable[[dict[str, Any]], object]] = {
    **{name: change for name, (change, _) in tamper.MANIFEST_EDITS.items()},
    **{f"label_{name}": change for name, change in tamper.LABELS.items()},
    "version_true": lambda m: m.update(version=True),
    "version_string": lambda m: m.update(version="1"),
    "format_other": lambda m: m.update(format="stele-bundle"),
    "files_entry_sha256_upper": lambda m: m["files"][0].update(
        sha256=m["files"][0]["sha256"].upper()),
    "files_entry_path_number": lambda m: m["files"][0].update(path=5),
    "files_entry_size_float": lambda m: m["files"][0].update(size=float(m["files"][0]["size"])),
    "event_version_true": lambda m: m["events"][0].update(version=True),
    "event_version_string": lambda m: m["events"][0].update(version="1"),
    "event_path_number": lambda m: m["events"][0].update(event=1),
    "event_proof_path_dropped": lambda m: m["events"][1].pop("proof"),
    "event_checkpoint_string": lambda m: m["events"][0].update(checkpoint=str(
        m["events"][0]["checkpoint"])),
    "event_checkpoint_object": lambda m: m["events"][0].update(checkpoint={"size": 5}),
    "events_not_a_list": lambda m: m.update(events={"1": m["events"][0]}),
    "checkpoint_size_dropped": lambda m: m["checkpoints"][0].pop("size"),
    "checkpoint_size_string": lambda m: m["checkpoints"][0].update(size=str(
        m["checkpoints"][0]["size"])),
    "checkpoint_size_object": lambda m: m["checkpoints"][0].update(size={"n": 1}),
    "checkpoint_note_path_other": lambda m: m["checkpoints"][0].update(note="checkpoints/x"),
    "checkpoints_repeated": lambda m: m.update(checkpoints=m["checkpoints"] * 2),
    "checkpoints_not_objects": lambda m: m.update(checkpoints=["a", 1, None]),
    "origin_dropped": lambda m: m.pop("origin"),
    "record_dropped": lambda m: m.pop("record"),
    "log_key_dropped": lambda m: m.pop("log_key"),
    "log_key_with_a_space": lambda m: m.update(log_key=m["log_key"] + " "),
    "witnessed_null": lambda m: m.update(witnessed=None),
    "witnessed_not_an_object": lambda m: m.update(witnessed="checkpoints/5.witnessed.note"),
    "witnessed_note_missing": lambda m: m.update(witnessed={"size": 5, "note": "x"}),
    "signatures_not_objects": lambda m: m.update(signatures=[1, "x"]),
    "signature_version_true": lambda m: m["signatures"][0].update(version=True),
    "document_path_other": lambda m: m.update(document="manifest.json"),
    "source_named": lambda m: m.update(source="document"),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_an_edited_manifest(page: Page, world: World, edit: str) -> None:
    _agree(page, world, Case(tamper._edited(world.bundles["pades"], EDITS[edit]),
                             world.log_key))


def _last_event_edited(world: World, edit: Callable[[dict[str, Any]], object]) -> Files:
    """The PAdES record's last event (a signature record; no successor pins its hash) edited
    and written back in canonical form, its file relisted: its leaf no longer matches, and
    what is left of it is read by the signature step."""
    files = world.bundles["pades"]
    path = tamper._resolve(world, "pades", "event:3")
    event = json.loads(files[path])
    edit(event["data"])
    return tamper._relisted(files, {path: canonical_bytes(event)})


def _proof_edited(world: World, version: int, edit: Callable[[dict[str, Any]], object]) -> Files:
    files = world.bundles["pades"]
    path = tamper._resolve(world, "pades", f"proof:{version}")
    proof = json.loads(files[path])
    edit(proof)
    return tamper._relisted(files, {path: json.dumps(proof).encode()})


def _swap_events(world: World) -> Files:
    files = world.bundles["pades"]
    second, third = (tamper._resolve(world, "pades", f"event:{v}") for v in (2, 3))
    return tamper._relisted(files, {second: files[third], third: files[second]})


def _renumbered(m: dict[str, Any]) -> None:
    events = m["events"]
    events[1]["event"], events[2]["event"] = events[2]["event"], events[1]["event"]
    events[1]["proof"], events[2]["proof"] = events[2]["proof"], events[1]["proof"]


def _other(world: World, roles: tuple[str, ...]) -> Files:
    """The PAdES bundle with the other record's files of `roles` for version 1."""
    files, other = world.bundles["pades"], world.bundles["other"]
    return tamper._relisted(files, {
        tamper._resolve(world, "pades", f"{role}:1"): other[tamper._resolve(world, "other",
                                                                            f"{role}:1")]
        for role in roles})


def _impostor(world: World, consistent: bool) -> Files:
    files = world.bundles["pades"]
    path = tamper._resolve(world, "pades", "signer:2")
    impostor = world.pki.party("agency").cert.public_bytes(Encoding.DER)
    return tamper._relisted(files, {path: impostor}) if consistent else {**files, path: impostor}


def _event_mangled(world: World, version: int, text: bytes) -> Files:
    path = tamper._resolve(world, "pades", f"event:{version}")
    return tamper._relisted(world.bundles["pades"], {path: text})


def _event_with(world: World, version: int, edit: Callable[[dict[str, Any]], object]) -> Files:
    """Event `version` edited in place and kept canonical (`prev` links then break after it)."""
    files = world.bundles["pades"]
    path = tamper._resolve(world, "pades", f"event:{version}")
    event = json.loads(files[path])
    edit(event)
    # sorted compact JSON: RFC 8785 where the values are Stele JSON, and as close as it gets
    # where they are not (a fraction, a large integer)
    text = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return tamper._relisted(files, {path: text.encode()})


def _cms_other(world: World) -> Files:
    other = sign_cms(world.other_body, world.pki.party("agency"), pki=world.pki, at=world.at)
    return tamper._relisted(world.bundles["cms"], {
        "document": world.other_body, tamper._resolve(world, "cms", "cms:2"): other})


OTHER_KEY = verifier_key(ORIGIN, b"\x01" * 32)


def _forgeries(world: World, rewritten: tuple[Files, str],
               forgery: Forgery) -> dict[str, Case]:
    """The structural forgeries, forged logs and rewritten histories of the tamper tests, and
    more of the same kind, by name."""
    pades, key = world.bundles["pades"], world.log_key
    history, forger = rewritten
    claiming = tamper._edited(history, lambda m: m.update(log_key=key))
    forged_claiming = tamper._edited(forgery.bundle, lambda m: m.update(log_key=key))
    cases = {
        "events_reordered": Case(_swap_events(world), key),
        "events_renumbered_in_the_manifest": Case(tamper._edited(pades, _renumbered), key),
        "another_records_inclusion_proof": Case(_other(world, ("proof",)), key),
        "another_records_event_with_its_proof": Case(_other(world, ("event", "proof")), key),
        "another_partys_certificate_raw": Case(_impostor(world, False), key),
        "another_partys_certificate_consistent": Case(_impostor(world, True), key),
        "another_anchors_description": Case(tamper._relisted(pades, {
            tamper._resolve(world, "pades", "anchor:2"):
                pades[tamper._resolve(world, "pades", "anchor:3")]}), key),
        "another_signed_pdf_as_the_document": Case(
            tamper._relisted(pades, {"document": world.other_pdf}), key),
        "a_wrong_document_given_bundled": Case(pades, key, world.other_pdf),
        "a_wrong_document_given_not_bundled": Case(
            tamper._relisted(pades, {"document": None}), key, world.other_pdf),
        "the_right_document_given_not_bundled": Case(
            tamper._relisted(pades, {"document": None}), key, pades["document"]),
        "an_empty_document_given": Case(pades, key, b""),
        "another_cms_signature_over_another_document": Case(_cms_other(world), key),
        "a_wrong_document_given_for_a_cms_record": Case(world.bundles["cms"], key,
                                                        world.other_body),
        "the_key_of_another_log_pinned": Case(pades, OTHER_KEY),
        "a_pinned_key_that_is_no_key": Case(pades, "not a key"),
        "a_rewritten_history_under_the_forgers_key": Case(history, forger),
        "a_rewritten_history_resigned_with_another_key": Case(history, key),
        "a_rewritten_history_claiming_the_logs_key": Case(claiming, key),
        "a_rewritten_history_claiming_the_logs_key_unpinned": Case(claiming, None),
        "a_rewritten_history_without_a_pinned_key": Case(history, None),
        "a_forged_log_under_its_own_key": Case(forgery.bundle, forgery.log_key,
                                               trust_roots=forgery.roots()),
        "a_forged_log_against_the_real_key": Case(forgery.bundle, key),
        "a_forged_log_claiming_the_real_key": Case(forged_claiming, key),
        "a_forged_log_without_a_pinned_key": Case(forgery.bundle, None),
        "an_unpinned_bundle_with_a_garbage_key": Case(
            tamper._edited(pades, lambda m: m.update(log_key="not a key")), None),
        "an_unpinned_bundle_without_a_key": Case(
            tamper._edited(pades, lambda m: m.pop("log_key")), None),
        # an inclusion proof of the wrong shape, read as the Python verifier reads it
        "proof_path_of_numbers": Case(_proof_edited(world, 1, lambda p: p.update(proof=[1])),
                                      key),
        "proof_path_bad_base64_then_number": Case(
            _proof_edited(world, 1, lambda p: p.update(proof=["x", 1])), key),
        "proof_path_empty_text": Case(_proof_edited(world, 1, lambda p: p.update(proof="")),
                                      key),
        "proof_path_text": Case(_proof_edited(world, 1, lambda p: p.update(proof="abcd")), key),
        "proof_path_null": Case(_proof_edited(world, 1, lambda p: p.update(proof=None)), key),
        "proof_path_an_object": Case(_proof_edited(world, 2, lambda p: p.update(
            proof={h: 1 for h in p["proof"]})), key),
        "proof_a_list": Case(_proof_edited(world, 1, lambda p: p.clear()), key),
        "proof_index_text": Case(_proof_edited(world, 1, lambda p: p.update(leaf_index="0")),
                                 key),
        "proof_index_true": Case(_proof_edited(world, 1, lambda p: p.update(leaf_index=True)),
                                 key),
        "proof_index_negative": Case(_proof_edited(world, 1, lambda p: p.update(leaf_index=-1)),
                                     key),
        "proof_index_past_the_size": Case(_proof_edited(world, 1, lambda p: p.update(
            leaf_index=p["tree_size"])), key),
        "proof_index_other": Case(_proof_edited(world, 2, lambda p: p.update(
            leaf_index=p["leaf_index"] ^ 1)), key),
        "proof_size_object": Case(_proof_edited(world, 1, lambda p: p.update(
            tree_size={"n": 5})), key),
        "proof_leaf_hash_dropped": Case(_proof_edited(world, 1, lambda p: p.pop("leaf_hash")),
                                        key),
        "proof_path_one_hash_more": Case(_proof_edited(world, 1, lambda p: p["proof"].append(
            p["proof"][0])), key),
        "proof_path_one_hash_less": Case(_proof_edited(world, 1, lambda p: p["proof"].pop()),
                                         key),
        "proof_with_a_byte_order_mark": Case(tamper._relisted(pades, {
            tamper._resolve(world, "pades", "proof:1"):
                b"\xef\xbb\xbf" + pades[tamper._resolve(world, "pades", "proof:1")]}), key),
        # events that are not canonical envelopes, or not this record's first
        "event_with_whitespace": Case(_event_mangled(world, 1, b" " + pades[
            tamper._resolve(world, "pades", "event:1")]), key),
        "event_not_utf8": Case(_event_mangled(world, 1, b"{\"a\":\"\xff\"}"), key),
        "event_a_list": Case(_event_mangled(world, 1, b"[]"), key),
        "event_with_a_fraction": Case(_event_with(world, 1, lambda e: e["data"].update(
            pages=1.5)), key),
        "event_with_a_large_integer": Case(_event_with(world, 1, lambda e: e["data"].update(
            pages=2**53)), key),
        "event_with_a_lone_surrogate": Case(_event_mangled(world, 3, pades[
            tamper._resolve(world, "pades", "event:3")].replace(
                b'"data":{', b'"data":{"x":"\\ud800",')), key),
        "event_v_true": Case(_event_with(world, 3, lambda e: e.update(v=True)), key),
        "event_v_2": Case(_event_with(world, 3, lambda e: e.update(v=2)), key),
        "event_member_more": Case(_event_with(world, 3, lambda e: e.update(extra=1)), key),
        "event_version_zero": Case(_event_with(world, 1, lambda e: e.update(version=0)), key),
        "event_prev_number": Case(_event_with(world, 2, lambda e: e.update(prev=1)), key),
        "event_actor_a_list": Case(_event_with(world, 3, lambda e: e.update(actor=[])), key),
        "event_of_another_record": Case(_event_with(world, 3, lambda e: e.update(
            record="00000000-0000-5000-8000-000000000000")), key),
        "history_starting_with_a_signature": Case(_event_with(world, 1, lambda e: e.update(
            type="record.signed")), key),
        "history_starting_received_without_a_head": Case(_event_with(world, 1, lambda e: e.update(
            type="record.received")), key),
        "history_starting_received": Case(_event_with(world, 1, lambda e: (e.update(
            type="record.received", prev="x"), e["data"].update(source={"head": "x"}))), key),
    }
    # The last event's signature record, bent out of shape (test_the_last_signed_event...).
    for field in ("chain", "format", "signer", "validation"):
        def renamed(data: dict[str, Any], field: str = field) -> None:
            data[field + "_"] = data.pop(field)

        cases[f"last_signed_event_without_{field}"] = Case(_last_event_edited(world, renamed),
                                                           key)
    for name, edit in {
        "validation_a_list": lambda d: d.update(validation=[]),
        "anchor_a_list": lambda d: d["validation"].update(anchor=[1]),
        "chain_a_number": lambda d: d.update(chain=5),
        "chain_of_lists": lambda d: d.update(chain=[[1]]),
        "chain_an_object": lambda d: d.update(chain={"a": 1}),
        "certificates_null": lambda d: d["validation"].update(certificates=None),
        "crls_null": lambda d: d["validation"].update(crls=None),
        "ocsps_of_objects": lambda d: d["validation"].update(ocsps=[{}]),
        "signer_of_another_blob": lambda d: d.update(signer=d["chain"][0]),
        "format_cms_without_signature": lambda d: (d.update(format="cms"), d.pop("signature")),
        "format_cms_signature_a_number": lambda d: d.update(format="cms", signature=5),
    }.items():
        cases[f"last_signed_event_{name}"] = Case(_last_event_edited(world, edit), key)
    for slot in ("event:3", "proof:1", "note:0", "timestamp:0:0", "signer:2"):
        path = tamper._resolve(world, "pades", slot)
        cases[f"unpinned_{slot.replace(':', '.')}_rewritten"] = Case(tamper._relisted(
            pades, {path: tamper._rewrite(world, "pades", slot, pades[path])}), None)
    for bundle in ("pades", "cms", "other"):
        cases[f"unpinned_{bundle}"] = Case(world.bundles[bundle], None)
    return cases


FORGERIES = ["events_reordered", "events_renumbered_in_the_manifest",
             "another_records_inclusion_proof", "another_records_event_with_its_proof",
             "another_partys_certificate_raw", "another_partys_certificate_consistent",
             "another_anchors_description", "another_signed_pdf_as_the_document",
             "a_wrong_document_given_bundled", "a_wrong_document_given_not_bundled",
             "the_right_document_given_not_bundled", "an_empty_document_given",
             "another_cms_signature_over_another_document",
             "a_wrong_document_given_for_a_cms_record", "the_key_of_another_log_pinned",
             "a_pinned_key_that_is_no_key",
             "a_rewritten_history_under_the_forgers_key",
             "a_rewritten_history_resigned_with_another_key",
             "a_rewritten_history_claiming_the_logs_key",
             "a_rewritten_history_claiming_the_logs_key_unpinned",
             "a_rewritten_history_without_a_pinned_key", "a_forged_log_under_its_own_key",
             "a_forged_log_against_the_real_key", "a_forged_log_claiming_the_real_key",
             "a_forged_log_without_a_pinned_key", "an_unpinned_bundle_with_a_garbage_key",
             "an_unpinned_bundle_without_a_key", "proof_path_of_numbers",
             "proof_path_bad_base64_then_number", "proof_path_empty_text", "proof_path_text",
             "proof_path_null", "proof_path_an_object", "proof_a_list", "proof_index_text",
             "proof_index_true", "proof_index_negative", "proof_index_past_the_size",
             "proof_index_other", "proof_size_object", "proof_leaf_hash_dropped",
             "proof_path_one_hash_more", "proof_path_one_hash_less",
             "proof_with_a_byte_order_mark", "event_with_whitespace", "event_not_utf8",
             "event_a_list", "event_with_a_fraction", "event_with_a_large_integer",
             "event_with_a_lone_surrogate", "event_v_true", "event_v_2", "event_member_more",
             "event_version_zero", "event_prev_number", "event_actor_a_list",
             "event_of_another_record", "history_starting_with_a_signature",
             "history_starting_received_without_a_head", "history_starting_received",
             *[f"last_signed_event_without_{f}" for f in ("chain", "format", "signer",
                                                          "validation")],
             *[f"last_signed_event_{n}" for n in (
                 "validation_a_list", "anchor_a_list", "chain_a_number", "chain_of_lists",
                 "chain_an_object", "certificates_null", "crls_null", "ocsps_of_objects",
                 "signer_of_another_blob", "format_cms_without_signature",
                 "format_cms_signature_a_number")],
             *[f"unpinned_{s}_rewritten" for s in ("event.3", "proof.1", "note.0",
                                                   "timestamp.0.0", "signer.2")],
             "unpinned_pades", "unpinned_cms", "unpinned_other"]


@pytest.fixture(scope="module")
def forgeries(world: World, rewritten: tuple[Files, str],
              forgery: Forgery) -> dict[str, Case]:
    cases = _forgeries(world, rewritten, forgery)
    assert sorted(cases) == sorted(FORGERIES)
    return cases


@pytest.mark.parametrize("name", FORGERIES)
def test_a_forgery(page: Page, world: World, forgeries: dict[str, Case], name: str) -> None:
    _agree(page, world, forgeries[name])


# -- witnessed bundles, made here -------------------------------------------------------------
@dataclass(frozen=True)
class Witnessed:
    """The PAdES record's events, unchanged, in a log of this test's own: the events at their
    leaves in a tree with other leaves, its checkpoint (re-timestamped by the real TSA) and,
    three leaves on, a witnessed checkpoint with a cosignature line and the consistency proof
    to it. Signed with this test's key under the log's name: pin `log_key` to verify it."""

    files: Files
    log_key: str
    key: Ed25519PrivateKey
    size: int
    witnessed: int
    path: str  # the witnessed note's
    leaves: list[bytes]


def _signed(world: World, key: Ed25519PrivateKey, size: int, root: bytes) -> str:
    name = world.manifest("pades")["origin"]
    return sign_note(format_checkpoint(name, size, root), name, key)


@pytest.fixture(scope="module")
def witnessed(world: World) -> Witnessed:
    files, manifest = world.bundles["pades"], world.manifest("pades")
    size, entries = world.size("pades"), manifest["events"]
    indexes = [json.loads(files[e["proof"]])["leaf_index"] for e in entries]
    big = size + 3
    leaves = [leaf_hash(b"another entry %d" % i) for i in range(big)]
    for index, entry in zip(indexes, entries, strict=True):
        leaves[index] = leaf_hash(files[entry["event"]])
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    note = _signed(world, key, size, root_of(leaves[:size]))
    cosigner = "\u2014 witness.test/w " + _b64(bytes(76)) + "\n"
    witnessed_note = _signed(world, key, big, root_of(leaves)) + cosigner
    token = request_token(dev_tsa(world.pki, "tsa", Clock(world.at)), note_digest(note)).der
    anchor = manifest["checkpoints"][0]["anchors"][0]
    changed: dict[str, bytes | None] = {
        manifest["checkpoints"][0]["note"]: note.encode(), anchor["timestamp"]: token,
        anchor["evidence_record"]: new_evidence_record(None, token, "sha256")}
    for entry, index in zip(entries, indexes, strict=True):
        changed[entry["proof"]] = canonical_bytes({
            "leaf_index": index, "tree_size": size, "leaf_hash": b64(leaves[index]),
            "proof": [b64(root_of(leaves[s:e])) for s, e in inclusion_ranges(index, size)]})
    path = f"checkpoints/{big}.witnessed.note"
    data = witnessed_note.encode()
    log_key = verifier_key(manifest["origin"], public)

    def add(m: dict[str, Any]) -> None:
        m["files"].append({"path": path, "kind": "checkpoint", "size": len(data),
                           "sha256": hashlib.sha256(data).hexdigest()})
        m["witnessed"] = {"size": big, "note": path, "consistency": [{
            "from": size,
            "proof": [b64(root_of(leaves[s:e])) for s, e in consistency_ranges(size, big)]}]}
        m["log_key"] = log_key

    out = tamper._edited(tamper._relisted(files, changed), add)
    out[path] = data
    return Witnessed(out, log_key, key, size, big, path, leaves)


def _witnessed_edited(w: Witnessed, edit: Callable[[dict[str, Any]], object]) -> Files:
    return tamper._edited(w.files, lambda m: edit(m["witnessed"]))


def _consistency(edit: Callable[[list[Any]], object]) -> Callable[[dict[str, Any]], object]:
    return lambda entry: edit(entry["consistency"][0]["proof"])


def _witnessed_cases(world: World, w: Witnessed) -> dict[str, Case]:
    def renote(data: bytes) -> Files:
        return tamper._relisted(w.files, {w.path: data})

    text = w.files[w.path].decode()
    other = Ed25519PrivateKey.generate()
    note_path = world.manifest("pades")["checkpoints"][0]["note"]
    altered = text.replace(text.split("\n")[2], b64(hashlib.sha256(b"x").digest()), 1)
    smaller = _signed(world, w.key, w.size - 1, root_of(w.leaves[:w.size - 1])).encode()
    return {
        "ok": Case(w.files, w.log_key),
        "unpinned": Case(w.files, None),
        "the_real_logs_key_pinned": Case(w.files, world.log_key),
        "note_dropped": Case(tamper._relisted(w.files, {w.path: None}), w.log_key),
        "note_dropped_raw": Case({p: d for p, d in w.files.items() if p != w.path}, w.log_key),
        "note_flipped_raw": Case({**w.files, w.path: tamper._flip(w.files[w.path], 0)},
                                 w.log_key),
        "note_by_another_key": Case(renote(_signed(world, other, w.witnessed, root_of(
            w.leaves)).encode()), w.log_key),
        "note_altered": Case(renote(altered.encode()), w.log_key),
        "note_unparseable": Case(renote(b"not a note"), w.log_key),
        "note_text_no_checkpoint": Case(renote(sign_note(
            "just text\n", world.manifest("pades")["origin"], w.key).encode()), w.log_key),
        "size_other": Case(_witnessed_edited(w, lambda e: e.update(size=w.witnessed + 1)),
                           w.log_key),
        "size_dropped": Case(_witnessed_edited(w, lambda e: e.pop("size")), w.log_key),
        "proof_altered": Case(_witnessed_edited(w, _consistency(
            lambda p: p.__setitem__(0, b64(hashlib.sha256(b"y").digest())))), w.log_key),
        "proof_one_hash_less": Case(_witnessed_edited(w, _consistency(lambda p: p.pop())),
                                    w.log_key),
        "proof_not_base64": Case(_witnessed_edited(w, _consistency(
            lambda p: p.__setitem__(0, "x"))), w.log_key),
        "proof_of_numbers": Case(_witnessed_edited(w, _consistency(
            lambda p: p.__setitem__(0, 1))), w.log_key),
        "proofs_dropped": Case(_witnessed_edited(w, lambda e: e.update(consistency=[])),
                               w.log_key),
        "proofs_not_a_list": Case(_witnessed_edited(w, lambda e: e.update(consistency={})),
                                  w.log_key),
        "proof_from_another_size": Case(_witnessed_edited(w, lambda e: e["consistency"][0]
                                                          .update({"from": w.size - 1})),
                                        w.log_key),
        "proof_from_true": Case(_witnessed_edited(w, lambda e: e["consistency"][0].update(
            {"from": True})), w.log_key),
        "proof_from_unhashable": Case(_witnessed_edited(w, lambda e: e["consistency"][0].update(
            {"from": [w.size]})), w.log_key),
        "the_checkpoint_itself": Case(tamper._edited(renote(w.files[note_path]), lambda m: m[
            "witnessed"].update(size=w.size, consistency=[])), w.log_key),
        "smaller_than_the_checkpoint": Case(tamper._edited(renote(smaller), lambda m: m[
            "witnessed"].update(size=w.size - 1)), w.log_key),
        "not_an_object": Case(tamper._edited(w.files, lambda m: m.update(witnessed=[1])),
                              w.log_key),
    }


WITNESSED = ["ok", "unpinned", "the_real_logs_key_pinned", "note_dropped", "note_dropped_raw",
             "note_flipped_raw", "note_by_another_key", "note_altered", "note_unparseable",
             "note_text_no_checkpoint", "size_other", "size_dropped", "proof_altered",
             "proof_one_hash_less", "proof_not_base64", "proof_of_numbers", "proofs_dropped",
             "proofs_not_a_list", "proof_from_another_size", "proof_from_true",
             "proof_from_unhashable", "the_checkpoint_itself", "smaller_than_the_checkpoint",
             "not_an_object"]


@pytest.fixture(scope="module")
def witnessed_cases(world: World, witnessed: Witnessed) -> dict[str, Case]:
    cases = _witnessed_cases(world, witnessed)
    assert sorted(cases) == sorted(WITNESSED)
    return cases


@pytest.mark.parametrize("name", WITNESSED)
def test_a_witnessed_bundle(page: Page, world: World, witnessed: Witnessed,
                            witnessed_cases: dict[str, Case], name: str) -> None:
    _, found = _agree(page, world, witnessed_cases[name])
    if name == "ok":
        (check,) = (c for c in found["checks"] if c["name"] == "witnessed")
        assert check["verdict"] == "PASSED" and "no witness policy" in check["detail"]
        assert found["summary"]["witnessed"] == {"size": witnessed.witnessed,
                                                 "cosigners": None}
        assert found["summary"]["checked_verdict"] == "PASSED"


# -- a received record: the sender's bundle inside ---------------------------------------------
@dataclass(frozen=True)
class Received:
    files: Files | bytes
    log_key: str | None
    source_key: str | None


def _received_cases(r: receiving.Received) -> dict[str, Received]:
    path, files = r.source_path(), r.files
    flipped = tamper._flip(files[path], len(files[path]) // 2)
    cases = {
        "untampered": Received(files, r.receiver_key, r.sender_key),
        "without_the_senders_key": Received(files, r.receiver_key, None),
        "without_any_key": Received(files, None, None),
        "the_senders_origin_pinned_to_another_key": Received(
            files, r.receiver_key, verifier_key(receiving.SENDER_ORIGIN, b"\x01" * 32)),
        "another_logs_key_as_the_senders": Received(
            files, r.receiver_key, verifier_key("other.test/log", b"\x01" * 32)),
        "a_byte_of_the_senders_bundle_flipped_raw": Received({**files, path: flipped},
                                                             r.receiver_key, r.sender_key),
        "a_byte_of_the_senders_bundle_flipped_consistent": Received(
            receiving._relisted(files, {path: flipped}), r.receiver_key, r.sender_key),
        "removed_raw": Received({p: d for p, d in files.items() if p != path}, r.receiver_key,
                                r.sender_key),
        "removed_file": Received(receiving._relisted(files, {path: None}), r.receiver_key,
                                 r.sender_key),
        "removed_manifest_key": Received(receiving._edited(files, lambda m: m.pop("source")),
                                         r.receiver_key, r.sender_key),
        "the_received_event_naming_no_source": Received(receiving._relisted(
            files, receiving._event_edited(files, r.event_path(), lambda e: e["data"].update(
                source=[]))), r.receiver_key, r.sender_key),
    }
    for broken in ("leaves", "prev"):
        edit = receiving._leaves_shifted if broken == "leaves" else \
            receiving._continues_an_earlier_event(r)
        cases[f"link_broken_{broken}"] = Received(receiving._relisted(
            files, receiving._event_edited(files, r.event_path(), edit)), r.receiver_key,
            r.sender_key)
    for name, substitute in receiving.SUBSTITUTES.items():
        data = substitute(r)

        def repointed(event: dict[str, Any], data: bytes = data) -> None:
            event["data"]["source"]["bundle"] = receiving._digest(data)

        cases[f"substitute_{name}"] = Received(receiving._relisted(files, {
            **receiving._event_edited(files, r.event_path(), repointed), path: data}),
            r.receiver_key, r.sender_key)
    return cases


RECEIVED = ["untampered", "without_the_senders_key", "without_any_key",
            "the_senders_origin_pinned_to_another_key", "another_logs_key_as_the_senders",
            "a_byte_of_the_senders_bundle_flipped_raw",
            "a_byte_of_the_senders_bundle_flipped_consistent", "removed_raw", "removed_file",
            "removed_manifest_key", "the_received_event_naming_no_source",
            "link_broken_leaves", "link_broken_prev", "substitute_altered",
            "substitute_not_a_bundle", "substitute_without_a_proof"]


@pytest.fixture(scope="module")
def received_cases(received: receiving.Received) -> dict[str, Received]:
    cases = _received_cases(received)
    assert sorted(cases) == sorted(RECEIVED)
    return cases


@pytest.mark.parametrize("name", RECEIVED)
def test_a_received_records_bundle(page: Page, received: receiving.Received,
                                   received_cases: dict[str, Received], name: str) -> None:
    case = received_cases[name]
    assert isinstance(case.files, dict)
    source_keys = None if case.source_key is None else {
        case.source_key.split("+")[0]: case.source_key}
    report = receiving._verify(received, case.files, log_key=case.log_key,
                               source_keys=source_keys, cache=CACHE)
    found = page.verify(case.files, log_key=case.log_key, source_key=case.source_key)
    _assert_agree(report, found)
    if name == "untampered":
        assert [c["name"] for c in found["checks"] if c["verdict"] != "PASSED"] == [
            "source.browser.scope", "browser.scope"]
        assert found["summary"]["source"]["origin"] == receiving.SENDER_ORIGIN
        assert found["summary"]["source"]["log_key"] == {"pinned": received.sender_key,
                                                         "bundled": received.sender_key}


# -- the ZIP reader --------------------------------------------------------------------------
MEMBERS = {"stored.txt": b"stored bytes", "empty": b"", "events/0001.json": b'{"a":1}',
           "d\u00e9cision.pdf": b"%PDF-1.7 " + bytes(range(256)) * 40,
           "large.bin": random.Random(7).randbytes(300_000) + bytes(200_000)}


def _mixed_zip() -> bytes:
    out = BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for i, (name, data) in enumerate(MEMBERS.items()):
            archive.writestr(name, data,
                             compress_type=zipfile.ZIP_STORED if i % 2 else zipfile.ZIP_DEFLATED)
        archive.writestr("folder/", b"")
        archive.comment = b"a comment at the end"
    return out.getvalue()


def test_the_zip_reader_reads_stored_and_deflated_members(page: Page) -> None:
    data = _mixed_zip()
    assert page.read_zip(data) == MEMBERS == read_bundle(data)
    for method in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        assert page.read_zip(_zip(MEMBERS, method)) == MEMBERS


def test_the_zip_reader_reads_a_bundle_as_the_python_verifier(page: Page, world: World) -> None:
    for bundle in ("pades", "cms"):
        zipped = tamper._zip(world.bundles[bundle])
        assert page.read_zip(zipped) == read_bundle(zipped) == world.bundles[bundle]


def _member(data: bytes, name: str) -> tuple[int, int]:
    """Where the member `name`'s data starts in the ZIP, and its compressed size."""
    with zipfile.ZipFile(BytesIO(data)) as archive:
        info = archive.getinfo(name)
    start = info.header_offset
    names = int.from_bytes(data[start + 26:start + 28], "little")
    extra = int.from_bytes(data[start + 28:start + 30], "little")
    return start + 30 + names + extra, info.compress_size


def _flip_at(data: bytes, i: int, mask: int = 0xFF) -> bytes:
    return data[:i] + bytes([data[i] ^ mask]) + data[i + 1:]


def _central(data: bytes, name: str) -> int:
    """The offset of the central directory entry of `name`."""
    return data.rindex(b"PK\x01\x02", 0, data.rindex(name.encode()))


def _patched(data: bytes, at: int, value: int, size: int) -> bytes:
    return data[:at] + value.to_bytes(size, "little") + data[at + size:]


def _damaged(kind: str) -> bytes:
    stored = _zip(MEMBERS, zipfile.ZIP_STORED)
    deflated = _zip(MEMBERS, zipfile.ZIP_DEFLATED)
    if kind == "crc_of_a_stored_member":
        start, _ = _member(stored, "stored.txt")
        return _flip_at(stored, start + 3, 0x01)
    if kind == "crc_in_the_directory":
        return _flip_at(deflated, _central(deflated, "stored.txt") + 16)
    if kind == "damaged_deflate_data":
        start, size = _member(deflated, "large.bin")
        return _flip_at(deflated, start + size // 2)
    if kind.startswith("truncated_"):
        keep = {"truncated_half": len(deflated) // 2, "truncated_last_byte": len(deflated) - 1,
                "truncated_end_record": len(deflated) - 22, "truncated_first_30": 30}[kind]
        return deflated[:keep]
    if kind == "encrypted":
        at = _central(deflated, "stored.txt")
        flags = int.from_bytes(deflated[at + 8:at + 10], "little")
        return _patched(deflated, at + 8, flags | 1, 2)
    if kind == "zip64_sizes":
        return _patched(deflated, _central(deflated, "stored.txt") + 20, 0xFFFFFFFF, 4)
    if kind == "zip64_end_record":
        end = deflated.rindex(b"PK\x05\x06")
        return _patched(deflated, end + 10, 0xFFFF, 2)
    if kind == "a_size_too_small":
        return _patched(deflated, _central(deflated, "large.bin") + 24, 1000, 4)
    if kind == "a_size_too_large":
        return _patched(deflated, _central(deflated, "stored.txt") + 24, 10**6, 4)
    if kind == "another_name_in_the_local_header":
        start = deflated.index(b"stored.txt")
        return deflated[:start] + b"stored.txx" + deflated[start + 10:]
    if kind == "an_offset_past_the_end":
        return _patched(deflated, _central(deflated, "stored.txt") + 42, len(deflated), 4)
    if kind.startswith("random_"):
        return random.Random(kind).randbytes(int(kind.split("_")[1]))
    raise AssertionError(kind)


# Each damage, a phrase of the browser's refusal ("": the first check the damage meets), and
# whether Python's zipfile (so `stele verify`) refuses it too: it is more lenient with sizes
# and ZIP64 markers it does not need, with duplicate names (the last wins) and with bzip2.
DAMAGE: dict[str, tuple[str, bool]] = {
    "crc_of_a_stored_member": ("fails its CRC-32", True),
    "crc_in_the_directory": ("fails its CRC-32", True),
    "damaged_deflate_data": ("", True),  # a bad stream, or its CRC: whichever comes first
    "truncated_half": ("no end of central directory record", True),
    "truncated_last_byte": ("no end of central directory record", True),
    "truncated_end_record": ("no end of central directory record", True),
    "truncated_first_30": ("no end of central directory record", True),
    "encrypted": ("is encrypted", True),
    "a_size_too_small": ("inflates to more than its size", True),
    "another_name_in_the_local_header": ("is named otherwise in its local header", True),
    "an_offset_past_the_end": ("", True),
    **{f"random_{n}": ("", True) for n in (0, 1, 22, 100, 5000)},
    "zip64_sizes": ("ZIP64 archives are not supported", False),
    "zip64_end_record": ("ZIP64 archives are not supported", False),
    "a_size_too_large": ('member "stored.txt" inflates to 12 bytes, not its size 1000000', False),
}


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_the_zip_reader_refuses_a_damaged_zip(page: Page, kind: str) -> None:
    data = _damaged(kind)
    phrase, python_refuses = DAMAGE[kind]
    found = page.read_zip(data)
    assert isinstance(found, str), f"read {sorted(found)}"
    assert found.startswith("not a readable ZIP: ") and phrase in found, found
    if python_refuses:
        with pytest.raises(MalformedError):
            read_bundle(data)
    # else Python's zipfile reads it or not by its version (3.13 refuses some that 3.11
    # reads): the browser refuses it on every one


def test_the_zip_reader_refuses_duplicate_names_and_other_methods(page: Page) -> None:
    """A bundle never has two members of one name, and is deflated."""
    out = BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(out, "w") as archive:
        warnings.simplefilter("ignore")  # zipfile warns of the duplicate it writes
        archive.writestr("manifest.json", b"{}")
        archive.writestr("manifest.json", b"[]")
    assert page.read_zip(out.getvalue()) == (
        'not a readable ZIP: two members are named "manifest.json"')
    bzip2 = _zip({"a": b"text"}, zipfile.ZIP_BZIP2)
    assert page.read_zip(bzip2) == ('not a readable ZIP: member "a" uses compression method 12 '
                                    "(only stored and deflated are read)")
    assert page.read_zip(_zip({})) == {} == read_bundle(_zip({}))


def test_an_unreadable_zip_rejects_verification(page: Page) -> None:
    answer = page.driver.execute_async_script(CALL, "verifyZip", [_b64(b"not a ZIP"), {
        "logKey": None, "sourceLogKey": None, "document": None}])
    assert "not a readable ZIP: no end of central directory record" in answer["thrown"]


# -- the building blocks, against the Python kernel -------------------------------------------
def test_base64_is_decoded_as_the_python_verifier_decodes_it(page: Page) -> None:
    corpus = ["".join(t) for n in range(7) for t in itertools.product("AQ=", repeat=n)]
    corpus += ["QUJD", "QUJDRA==", "QR==", "QUJDRA", "QU JD", "QUJD\n", "qUJ+/w==", "QUJ-",
               "\u00e9AAA", "AAAA=", "AAAA==", "AAAA===", b64(bytes(32)), b64(bytes(33))]

    def python(text: str) -> str | None:
        try:
            return _b64(unb64(text))
        except VerificationError:
            return None

    assert page.call("decode", corpus) == [python(t) for t in corpus]


CANONICAL = [
    '{}', '{"a":1}', '{"b":1,"a":2}', '{"a":1,"b":2}', '{ "a":1}', '{"a":1.0}', '{"a":1e2}',
    '{"a":-0}', '{"a":9007199254740991}', '{"a":9007199254740992}', '{"a":-9007199254740991}',
    '{"a":"\\u00e9"}', '{"a":"\u00e9"}', '{"a":"\\/"}', '{"a":"/"}', '{"a":"\x7f"}',
    '{"a":"\\u001f"}', '{"a":"\\u001F"}', '{"a":"\\n"}', '{"a":"\\u000a"}', '{"a":"\u2028"}',
    '{"a":"\\ud800"}', '{"a":"\\ud83d\\ude00"}', '{"a":"\U0001f600"}', '{"a":1,"a":1}',
    '{"\U0001f600":1,"\uff61":2}', '{"\uff61":2,"\U0001f600":1}', '{"a":[1,true,null,"x"]}',
    '{"a":true}', '{"a":[ 1]}', '{"a":{"c":1,"b":2}}', '{"a":{"b":2,"c":1}}', '{"10":1,"9":2}',
    '{"9":2,"10":1}', '{"__proto__":1}', '{"a":"\\t"}', '{"a":"\\b\\f\\r"}', '{"a":"\\u0008"}',
]


def test_canonical_json_is_the_python_verifiers(page: Page) -> None:
    def python(text: str) -> bool:
        try:
            parse_canonical(text.encode("utf-8", "surrogatepass"))
        except MalformedError:
            return False
        return True

    assert page.call("canonicalForm", CANONICAL) == [python(t) for t in CANONICAL]


def test_merkle_proofs_verify_as_rfc_9162_says(page: Page) -> None:
    """Every inclusion and consistency proof of trees of up to 17 leaves, and each with one
    hash changed, against RFC 9162 proofs built by the Python kernel."""
    items: list[dict[str, Any]] = []
    expected: list[str] = []
    other = b64(hashlib.sha256(b"other").digest())
    for n in range(1, 18):
        leaves = [leaf_hash(b"%d" % i) for i in range(n)]
        for i in range(n):
            proof = [b64(root_of(leaves[s:e])) for s, e in inclusion_ranges(i, n)]
            item = {"kind": "inclusion", "index": i, "size": n, "leaf": b64(leaves[i]),
                    "proof": proof, "root": b64(root_of(leaves))}
            items += [item, {**item, "index": i + n}]
            expected += ["ok", "proof_invalid"]
            if proof:
                items.append({**item, "proof": [other, *proof[1:]]})
                expected.append("root_mismatch")
        for m in range(0, n + 1):
            proof = [b64(root_of(leaves[s:e])) for s, e in consistency_ranges(m, n)]
            item = {"kind": "consistency", "size1": m, "size2": n, "proof": proof,
                    "root1": b64(root_of(leaves[:m])), "root2": b64(root_of(leaves))}
            items += [item, {**item, "proof": [*proof, other]}]
            expected += ["ok", "proof_invalid"]
            if proof:
                items.append({**item, "proof": [*proof[:-1], other]})
                expected.append("root_mismatch")
        items.append({"kind": "consistency", "size1": n, "size2": n - 1, "proof": [],
                      "root1": b64(root_of(leaves)), "root2": b64(root_of(leaves[:-1]))})
        expected.append("proof_invalid")
    assert page.call("proofs", items) == expected
