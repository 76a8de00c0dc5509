"""The offline verifier of evidence bundles (docs/evidence-bundle.md): re-prove one record's
history and signatures from the bundle alone, with trust only from the caller.

The steps follow the format's order; each adds checks to one report, and none raises for what
it finds:
(1) the manifest and the files it lists (SHA-256, size and kind of each);
(2) the record's events: every hash and `prev` link, from `created` to the last;
(2b) for a record received from another log, the sender's bundle it carries, verified in full
    against the caller's key for that log, and the link from its last event to this log's
    `record.received`;
(3) the log key: the caller's pinned key. The bundle's own key is what the bundle says of
    itself (a forger's names the forger's), so without a pin nothing is PASSED: the notes are
    checked against it for consistency only, and the checks say `log_key_not_pinned`;
(4) each checkpoint's signature (by the log key) and origin;
(4b) the checkpoint the log's witnesses cosigned, when the bundle has one: signed by the log
    key, each checkpoint of (4) consistent with it (RFC 9162 consistency proofs), and, with
    the caller's witness policy (C2SP tlog-policy), cosigned by its quorum: then no other
    version of this history can carry the same cosignatures without a witness equivocating;
(5) each event's RFC 9162 inclusion proof to its checkpoint;
(6) each checkpoint's RFC 4998 evidence record, as §5.3 asks (each archive timestamp valid when
    its successor was made, the newest at `at`): the first genTime is the proof of existence
    (POE) of every event under that checkpoint;
(7) each document signature, validated *at its event's POE* (ETSI EN 319 102-1 past
    validation) with the validation data captured at signing, against `trust_roots` only;
(8) the document's digest, when the document is given or bundled.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from verifiers.canonical import b64, event_hash, unb64, utc_iso
from verifiers.certs import certificate_facts, fingerprint
from verifiers.chain import verify_chain
from verifiers.errors import MalformedError, NoteError, VerificationError
from verifiers.ers import verify_binding
from verifiers.evidence import verify_evidence_record
from verifiers.merkle import leaf_hash, verify_consistency, verify_inclusion
from verifiers.note import VerifierKey, open_note, parse_checkpoint, parse_verifier_key
from verifiers.policy import Policy, verify_witnessed
from verifiers.report import Check, Report, Verdict
from verifiers.signature import Revocation, validate_signature

FORMAT = "stele-evidence-bundle"
VERSION = 1
KINDS = ("event", "inclusion_proof", "checkpoint", "timestamp", "evidence_record", "signature",
         "certificate", "crl", "ocsp", "anchor", "document", "source_bundle")
RECEIVED = "record.received"
MAX_BUNDLE = 2**31  # bytes uncompressed: a bundle is a record, not an archive


def read_bundle(data: bytes) -> dict[str, bytes]:
    """The files of a bundle ZIP, by path. Raises MalformedError for what is not one."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            if sum(i.file_size for i in infos) > MAX_BUNDLE:
                raise MalformedError("the bundle is too large", limit=MAX_BUNDLE)
            return {i.filename: archive.read(i) for i in infos if not i.is_dir()}
    except VerificationError:
        raise
    except Exception as exc:  # zipfile reports damage with assorted exceptions
        raise MalformedError("not a readable ZIP", reason=f"{type(exc).__name__}: {exc}") from None


@dataclass
class _Run:
    """One verification: its inputs, the checks so far, and what the steps learned."""

    files: Mapping[str, bytes]
    trust_roots: Sequence[bytes]
    at: datetime
    document: bytes | None
    pinned_key: str | None = None
    policy: Policy | None = None
    source_keys: Mapping[str, str] = field(default_factory=dict)
    cache: dict[tuple[str, ...], tuple[Report, bytes | None]] | None = None
    extra_crls: list[bytes] = field(default_factory=list)
    extra_ocsps: list[bytes] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)
    events: dict[int, dict[str, Any]] = field(default_factory=dict)  # version -> envelope
    raw: dict[int, bytes] = field(default_factory=dict)
    key: VerifierKey | None = None
    roots: dict[int, bytes] = field(default_factory=dict)  # checkpoint size -> root
    notes: dict[int, bytes] = field(default_factory=dict)
    poe: dict[int, datetime] = field(default_factory=dict)  # checkpoint size -> POE
    summary: dict[str, Any] = field(default_factory=dict)

    # Positional-only: evidence may hold any key (a signature summary has `verdict`).
    def add(self, name: str, verdict: Verdict, code: str | None = None, message: str = "",
            /, **evidence: Any) -> None:
        self.checks.append(Check(name, verdict, code, message, evidence))

    def ok(self, name: str, /, **evidence: Any) -> None:
        self.add(name, Verdict.PASSED, **evidence)

    def fail(self, name: str, code: str, message: str, /, **evidence: Any) -> None:
        self.add(name, Verdict.FAILED, code, message, **evidence)

    def unsure(self, name: str, code: str, message: str, /, **evidence: Any) -> None:
        self.add(name, Verdict.INDETERMINATE, code, message, **evidence)

    def file(self, path: object) -> bytes | None:
        return self.files.get(path) if isinstance(path, str) else None


def verify_bundle(files: Mapping[str, bytes], *, trust_roots: Sequence[bytes], at: datetime,
                  document: bytes | None = None, log_key: str | None = None,
                  crls: Sequence[bytes] = (), ocsps: Sequence[bytes] = (),
                  witness_policy: Policy | None = None,
                  source_keys: Mapping[str, str] | None = None,
                  cache: dict[tuple[str, ...], Any] | None = None) -> Report:
    """Every check of a bundle, with a bottom line. `trust_roots` (DER) are the only roots
    trusted, for signatures and TSAs alike; `log_key` pins the log's verifier key (without
    it the bottom line is at best INDETERMINATE, `log_key_not_pinned`: the bundle's own key
    proves nothing); `crls` and `ocsps` are revocation data the auditor adds (e.g. published
    after the signing: a revocation after the proof of existence does not matter, one before
    it does); `witness_policy` (the caller's) requires the quorum's cosignatures on the
    bundle's witnessed checkpoint, and pins the log key it lists when `log_key` is not
    given; `source_keys` (origin -> verifier key) pins the logs a received record came from:
    its bundle carries the sender's bundle, verified against that key (step 2b). `cache`:
    a dict shared by the verifications of many bundles of one log (a transfer package), in
    which each checkpoint's evidence record is verified once for the same roots and time."""
    run = _Run(files, trust_roots, at, document, pinned_key=log_key, policy=witness_policy,
               source_keys=dict(source_keys or {}), extra_crls=list(crls),
               extra_ocsps=list(ocsps), cache=cache)
    for step in (_manifest, _events, _source, _log_key, _checkpoints, _witnessed, _inclusion,
                 _evidence, _signatures, _document):
        try:
            step(run)
        except _Stop:
            break
        except VerificationError as exc:  # a step found input it cannot read at all
            run.fail(f"bundle{step.__name__.replace('_', '.')}", exc.code, exc.message,
                     **exc.evidence)
            break
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            # a manifest or event not shaped as the format says: a finding, never a crash
            run.fail(f"bundle{step.__name__.replace('_', '.')}", "malformed",
                     "the bundle is not shaped as its format says",
                     reason=f"{type(exc).__name__}: {exc}")
            break
    run.summary.update(at=utc_iso(at), trusted_roots=[dict(_root_name(r)) for r in trust_roots])
    return Report(tuple(run.checks), run.summary)


class _Stop(Exception):
    """Nothing further can be checked (no manifest, no events)."""


# (1) ------------------------------------------------------------------------------------------
def _manifest(run: _Run) -> None:
    raw = run.files.get("manifest.json")
    if raw is None:
        run.fail("bundle.manifest", "manifest_missing", "the bundle has no manifest.json")
        raise _Stop
    try:
        manifest = json.loads(raw)
    except ValueError as exc:
        run.fail("bundle.manifest", "malformed", f"manifest.json is not JSON: {exc}")
        raise _Stop from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        run.fail("bundle.manifest", "malformed", f"not a {FORMAT} manifest")
        raise _Stop
    if manifest.get("version") != VERSION:
        run.fail("bundle.manifest", "unsupported_version",
                 f"bundle format version {manifest.get('version')!r}; this verifier reads "
                 f"{VERSION}")
        raise _Stop
    run.manifest = manifest
    listed = manifest.get("files")
    if not isinstance(listed, list):
        run.fail("bundle.manifest", "malformed", "the manifest lists no files")
        raise _Stop
    missing, altered, unknown = [], [], []
    for entry in listed:
        path = entry.get("path") if isinstance(entry, dict) else None
        data = run.file(path)
        if data is None:
            missing.append(path)
        elif (hashlib.sha256(data).hexdigest() != entry.get("sha256")
              or entry.get("size") != len(data)):
            altered.append(path)
        elif entry.get("kind") not in KINDS:
            unknown.append(path)
    if missing:
        run.fail("bundle.files", "file_missing", "files the manifest lists are missing",
                 files=missing)
    if altered:
        run.fail("bundle.files", "file_digest_mismatch",
                 "files differ from the SHA-256 and size the manifest gives", files=altered)
    if unknown:
        run.fail("bundle.files", "malformed", "files of a kind this format does not define",
                 files=unknown)
    if not missing and not altered and not unknown:
        run.ok("bundle.files", count=len(listed))
    run.summary.update(record=manifest.get("record"), origin=manifest.get("origin"))


# (2) ------------------------------------------------------------------------------------------
def _events(run: _Run) -> None:
    entries = run.manifest.get("events")
    if not isinstance(entries, list) or not entries:
        run.fail("events.chain", "events_missing", "the bundle holds no events")
        raise _Stop
    raw = []
    for i, entry in enumerate(entries, start=1):
        data = run.file(entry.get("event") if isinstance(entry, dict) else None)
        if data is None or not isinstance(entry, dict) or entry.get("version") != i:
            run.fail("events.chain", "event_missing", f"event {i} is missing or out of order",
                     version=i)
            raise _Stop
        raw.append(data)
    try:
        envelopes = verify_chain(raw)
    except VerificationError as exc:
        run.fail("events.chain", exc.code, exc.message, **exc.evidence)
        raise _Stop from None
    first = envelopes[0]["type"]
    if first not in ("record.created", RECEIVED, "dossier.opened") \
            and not first.startswith("trust."):
        run.fail("events.chain", "chain_incomplete", f"the history starts with {first}, "
                 "not with the record's creation", first=first)
        raise _Stop
    if envelopes[0]["record"] != run.manifest.get("record"):
        run.fail("events.chain", "record_mismatch", "the events are another record's",
                 manifest=run.manifest.get("record"), events=envelopes[0]["record"])
        raise _Stop
    run.events = dict(enumerate(envelopes, start=1))
    run.raw = dict(enumerate(raw, start=1))
    run.ok("events.chain", events=len(raw), first=first, last=envelopes[-1]["type"])
    run.summary["events"] = [{"version": v, "type": e["type"], "at": e["at"]}
                             for v, e in run.events.items()]
    # What the proven events say, not what the (unsigned) manifest claims.
    run.summary.update(kind="dossier" if first == "dossier.opened" else "record",
                       destroyed=_destroyed(run))


# (2b) -----------------------------------------------------------------------------------------
def _source(run: _Run) -> None:
    """A record received from another log starts here with `record.received`, whose `prev` is
    the sender's last event: the bundle carries the sender's bundle (the one the receiving
    archive re-proved, named by its digest in that event), verified here in full against the
    caller's key for the source log, and linked to this history event by event."""
    first = run.events[1]
    if first["type"] != RECEIVED:
        return
    source = first["data"].get("source")
    if not isinstance(source, dict):
        run.fail("source.bundle", "malformed", "the received event names no source")
        return
    data = run.file(run.manifest.get("source"))
    if data is None:
        run.fail("source.bundle", "source_missing", "the bundle lacks the sender's bundle "
                 "that the received record's history continues")
        return
    if _digest(data) != source.get("bundle"):
        run.fail("source.bundle", "source_digest_mismatch", "the sender's bundle is not the "
                 "one the receiving log registered", expected=source.get("bundle"),
                 found=_digest(data))
        return
    origin = str(source.get("origin"))
    # From here on what is wrong is the sender's bundle's: a finding of this step, never a
    # stop, so the receiving log's own checks (3)-(8) still run and show the forged event.
    try:
        nested_files = read_bundle(data)
    except MalformedError as exc:  # the digest the received event names is of no bundle
        run.fail("source.bundle", exc.code, exc.message, **exc.evidence)
        return
    document = run.document if run.document is not None else run.file(
        run.manifest.get("document"))
    nested = verify_bundle(nested_files, trust_roots=run.trust_roots, at=run.at,
                           document=document, log_key=run.source_keys.get(origin),
                           crls=run.extra_crls, ocsps=run.extra_ocsps,
                           source_keys=run.source_keys, cache=run.cache)
    run.checks.extend(Check("source." + c.name, c.verdict, c.code, c.message, c.evidence)
                      for c in nested.checks)
    try:
        manifest = json.loads(nested_files["manifest.json"])
        raw = [nested_files[e["event"]] for e in manifest["events"]]
        leaves = [json.loads(nested_files[e["proof"]])["leaf_index"] for e in manifest["events"]]
        link = {"record": manifest.get("record") == run.manifest.get("record"),
                "origin": manifest.get("origin") == origin,
                "prev": b64(event_hash(raw[-1])) == first["prev"],
                "leaves": leaves == source.get("leaves")}
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        # its own checks (source.*) say what is missing; without it there is no link to show
        run.fail("source.link", "malformed", "the sender's bundle lacks the events and proofs "
                 "the link is made of", reason=f"{type(exc).__name__}: {exc}")
        return
    if all(link.values()):
        run.ok("source.link", origin=origin, events=len(raw))
    else:
        run.fail("source.link", "source_link_broken", "the received event does not continue "
                 "the sender's history", broken=sorted(k for k, ok in link.items() if not ok))
    run.summary["source"] = {"origin": origin, "events": nested.summary.get("events"),
                             "log_key": nested.summary.get("log_key")}


# (3) ------------------------------------------------------------------------------------------
def _log_key(run: _Run) -> None:
    """The key the notes must be signed with: the caller's. The bundle's own key is only
    what the bundle says of itself (a forger's bundle names the forger's key), so without a
    pinned key the checkpoints are checked with it for consistency alone, and never PASSED."""
    bundled, pinned = run.manifest.get("log_key"), run.pinned_key
    listed = None if run.policy is None else run.policy.log(str(run.manifest.get("origin")))
    if pinned is None and listed is not None:
        pinned = run.pinned_key = str(listed.key)  # the caller's policy pins it
    run.summary["log_key"] = {"pinned": pinned, "bundled": bundled}
    if pinned is None:
        run.key = parse_verifier_key(str(bundled))
        run.unsure("log.key", "log_key_not_pinned", "no log key was pinned: the bundle's own "
                   "key proves only that the bundle agrees with itself; pass the log's "
                   "published key", bundled=bundled)
        return
    run.key = parse_verifier_key(pinned)
    if bundled != pinned:
        run.fail("log.key", "log_key_mismatch", "the bundle's log key is not the one given",
                 given=pinned, bundled=bundled)
    else:
        run.ok("log.key", key=pinned, pinned=True)


# (4) ------------------------------------------------------------------------------------------
def _checkpoints(run: _Run) -> None:
    assert run.key is not None
    for entry in _list(run.manifest.get("checkpoints")):
        size = entry.get("size")
        name = f"checkpoint[{size}]"
        note = run.file(entry.get("note"))
        if note is None:
            run.fail(name, "file_missing", "the checkpoint note is missing")
            continue
        try:
            opened = open_note(note, [run.key])
            checkpoint = parse_checkpoint(opened.text)
        except NoteError as exc:
            # open_note names the signers when none is the key's, the key when its
            # signature does not verify: a note of another log, or an altered note
            if "signers" in exc.evidence:
                run.fail(name, "checkpoint_key_mismatch", "the note is not signed by the "
                         "log key", key=str(run.key), **exc.evidence)
            else:
                run.fail(name, "checkpoint_signature_invalid", "the log key's signature on "
                         "the note does not verify", **exc.evidence)
            continue
        except VerificationError as exc:
            run.fail(name, exc.code, exc.message, **exc.evidence)
            continue
        if checkpoint.origin != run.manifest.get("origin") or checkpoint.size != size:
            run.fail(name, "checkpoint_mismatch", "the note names another log or size",
                     origin=checkpoint.origin, size=checkpoint.size)
            continue
        # Checked on: a self-consistent bundle still has its events proven under the note,
        # so what else is wrong with it is found too.
        run.roots[checkpoint.size] = checkpoint.root
        run.notes[checkpoint.size] = note
        if run.pinned_key is None:
            run.unsure(name, "log_key_not_pinned", "the note verifies only with the bundle's "
                       "own key, which no one pinned", root=b64(checkpoint.root))
        else:
            run.ok(name, root=b64(checkpoint.root))


# (4b) -----------------------------------------------------------------------------------------
def _witnessed(run: _Run) -> None:
    assert run.key is not None
    entry = run.manifest.get("witnessed")
    if entry is None:
        if run.policy is not None:
            run.fail("witnessed", "not_witnessed", "the bundle has no checkpoint cosigned by "
                     "the log's witnesses, and a witness policy was given")
        return
    size = entry.get("size")
    note = run.file(entry.get("note"))
    if note is None:
        run.fail("witnessed", "file_missing", "the witnessed checkpoint note is missing")
        return
    try:
        checkpoint = parse_checkpoint(open_note(note, [run.key]).text)
    except VerificationError as exc:
        run.fail("witnessed", "checkpoint_signature_invalid" if exc.code == "note_invalid"
                 else exc.code, "the witnessed checkpoint is not signed by the log key",
                 **exc.evidence)
        return
    if checkpoint.origin != run.manifest.get("origin") or checkpoint.size != size:
        run.fail("witnessed", "checkpoint_mismatch", "the note names another log or size",
                 origin=checkpoint.origin, size=checkpoint.size)
        return
    proofs = {p.get("from"): p.get("proof") for p in _list(entry.get("consistency"))}
    for old, root in sorted(run.roots.items()):
        try:
            verify_consistency(old, checkpoint.size,
                               [] if old == checkpoint.size else
                               [unb64(h, length=32) for h in _strings(proofs.get(old))],
                               root, checkpoint.root)
        except VerificationError as exc:
            run.fail(f"witnessed.consistency[{old}]", "witnessed_inconsistent",
                     "a checkpoint of the bundle is not consistent with the witnessed one",
                     size=old, witnessed=checkpoint.size, reason=exc.code)
            return
    run.summary["witnessed"] = {"size": checkpoint.size, "cosigners": None}
    if run.policy is None:
        run.ok("witnessed", size=checkpoint.size, root=b64(checkpoint.root),
               cosignatures="not checked: no witness policy was given")
        return
    try:
        witnessed = verify_witnessed(note, run.policy)
    except VerificationError as exc:
        run.fail("witnessed", exc.code, exc.message, **exc.evidence)
        return
    cosigners = {name: utc_iso(datetime.fromtimestamp(t, UTC))
                 for name, t in witnessed.cosigners.items()}
    run.summary["witnessed"] = {"size": checkpoint.size, "cosigners": cosigners,
                                "quorum": run.policy.describe()}
    run.ok("witnessed", size=checkpoint.size, root=b64(checkpoint.root), cosigners=cosigners,
           quorum=run.policy.describe())


def _strings(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MalformedError("a consistency proof must be a list of base64 hashes")
    return value


# (5) ------------------------------------------------------------------------------------------
def _inclusion(run: _Run) -> None:
    for entry in run.manifest["events"]:
        version = entry["version"]
        name = f"event[{version}].inclusion"
        data = run.file(entry.get("proof"))
        if data is None:
            run.fail(name, "proof_missing", "the inclusion proof is missing")
            continue
        try:
            proof = json.loads(data)
            index, size = proof["leaf_index"], proof["tree_size"]
            path = [unb64(p, length=32) for p in proof["proof"]]
        except (ValueError, TypeError, KeyError, VerificationError):
            run.fail(name, "malformed", "the inclusion proof is unreadable")
            continue
        if size != entry.get("checkpoint") or size not in run.roots:
            run.fail(name, "checkpoint_missing", "no verified checkpoint of that size",
                     tree_size=size)
            continue
        leaf = leaf_hash(run.raw[version])
        if proof.get("leaf_hash") != b64(leaf):
            run.fail(name, "leaf_mismatch", "the proof is for another leaf than the event",
                     leaf_index=index)
            continue
        try:
            verify_inclusion(index, size, leaf, path, run.roots[size])
        except VerificationError as exc:
            run.fail(name, exc.code, exc.message, leaf_index=index, **exc.evidence)
            continue
        run.ok(name, leaf_index=index, tree_size=size)


# (6) ------------------------------------------------------------------------------------------
def _evidence(run: _Run) -> None:
    for entry in _list(run.manifest.get("checkpoints")):
        size = entry.get("size")
        if size not in run.notes:
            continue
        found: list[datetime] = []
        for k, anchor in enumerate(_list(entry.get("anchors"))):
            name = f"checkpoint[{size}].evidence[{k}]"
            record, token = run.file(anchor.get("evidence_record")), run.file(
                anchor.get("timestamp"))
            if record is None:
                run.unsure(name, "evidence_missing", "the evidence record is missing")
                continue
            report, first = _evidence_record(run, record, run.notes[size])
            for check in report.checks:
                if check.verdict is not Verdict.PASSED:
                    run.add(f"{name}.{check.name}", check.verdict, check.code, check.message,
                            **check.evidence)
            if token is None:  # the record holds it, but the bundle lost a file it names
                run.unsure(f"{name}.timestamp", "timestamp_missing",
                           "the timestamp file is missing")
            elif report.bottom_line is Verdict.FAILED:
                continue  # the record's own findings say what is wrong with it
            elif first != token:
                run.fail(name, "timestamp_mismatch",
                         "the timestamp file is not the evidence record's first timestamp")
                continue
            if report.bottom_line is Verdict.PASSED:
                poe = report.summary["proof_of_existence"]
                found.append(datetime.fromisoformat(poe))
                run.ok(name, tsa=anchor.get("tsa"), proof_of_existence=poe,
                       archive_timestamps=report.summary["archive_timestamps"])
        if found:
            run.poe[size] = min(found)
        else:
            run.unsure(f"checkpoint[{size}].anchored", "no_proof_of_existence",
                       "no evidence record of this checkpoint verifies")
    run.summary["proof_of_existence"] = {
        str(v): utc_iso(run.poe[e["checkpoint"]]) for v, e in
        ((e["version"], e) for e in run.manifest["events"]) if e.get("checkpoint") in run.poe}


def _evidence_record(run: _Run, record: bytes, data: bytes) -> tuple[Report, bytes | None]:
    """The evidence record's report (verify_evidence_record) and its first timestamp token
    (None if it has none that reads), once per record, data, roots and time in the run's
    cache: a pure function of those, so the same inputs give the same answer."""
    key = (_digest(record), _digest(data), utc_iso(run.at),
           *sorted(_digest(r) for r in run.trust_roots))
    found = run.cache.get(key) if run.cache is not None else None
    if found is None:
        found = (verify_evidence_record(record, data=data, trust_roots=run.trust_roots,
                                        at=run.at), _first_token(record))
        if run.cache is not None:
            run.cache[key] = found
    return found


def _first_token(record: bytes) -> bytes | None:
    try:
        first, _ = verify_binding(record).timestamps()[0]
    except (VerificationError, IndexError):
        return None
    return bytes(first)


# (7) ------------------------------------------------------------------------------------------
def _registered_digest(run: _Run) -> str | None:
    """The content digest of the `created` event: the events are proven, the manifest not."""
    content = run.events.get(1, {}).get("data", {}).get("content")
    return content.get("digest") if isinstance(content, dict) else None


def _signatures(run: _Run) -> None:
    registered = _registered_digest(run)
    document = run.document if run.document is not None else run.file(
        run.manifest.get("document"))
    shown, listed = [], set()
    for entry in _list(run.manifest.get("signatures")):
        version = entry.get("version")
        name = f"signature[{version}]"
        event = run.events.get(version) if isinstance(version, int) else None
        if event is None or event["type"] != "record.signed":
            run.fail(name, "signature_event_missing", "no signed event of that version")
            continue
        listed.add(version)
        data = event["data"]
        shown.append(_anchor_shown(run, name, entry, data))
        if document is None:
            code, why = (("content_destroyed", "the record was destroyed; its content is gone")
                         if _destroyed(run) else
                         ("document_missing", "give the document (--document) to re-validate"))
            run.unsure(name, code, why)
            continue
        if _digest(document) != registered:
            run.fail(name, "document_mismatch", "the document is not the record's content",
                     expected=registered, found=_digest(document))
            continue
        _signature(run, name, data, document, _poe_of(run, event["version"]))
    for version, event in run.events.items():  # the events are proven, the manifest not
        if event["type"] == "record.signed" and version not in listed:
            run.fail(f"signature[{version}]", "signature_unlisted", "the manifest does not list "
                     "this signed event, so its signature was not checked")
    run.summary["anchors_in_bundle"] = shown


def _signature(run: _Run, name: str, data: dict[str, Any], document: bytes,
               poe: datetime | None) -> None:
    validation = data["validation"]
    blobs: dict[str, list[bytes]] = {"certs": [], "crls": [], "ocsps": []}
    missing: list[str] = []
    wanted = {"certs": [data["signer"], *data["chain"], *validation.get("certificates", [])],
              "crls": validation.get("crls", []), "ocsps": validation.get("ocsps", [])}
    for kind, digests in wanted.items():
        for digest in dict.fromkeys(digests):
            blob = run.file("blobs/" + str(digest).replace(":", "-"))
            if blob is None:
                missing.append(digest)
                continue
            if _digest(blob) != digest:
                run.fail(name, "blob_digest_mismatch", "a captured file is not what the event "
                         "names", digest=digest)
                return
            blobs[kind].append(blob)
    if missing:  # the validation may not need it (a root given, an OCSP for a CRL), but the
        # bundle is not all the event says was captured at signing
        run.unsure(f"{name}.validation_data", "validation_data_missing", "validation data "
                   "captured at signing is missing from the bundle", digests=missing)
    signature, content = document, None
    if data["format"] != "pades":
        detached = run.file("blobs/" + data["signature"].replace(":", "-"))
        if detached is None:
            run.fail(name, "signature_missing", "the CMS signature the event names is missing",
                     digest=data["signature"])
            return
        if _digest(detached) != data["signature"]:
            run.fail(name, "blob_digest_mismatch", "the CMS signature is not the one the "
                     "event names", digest=data["signature"])
            return
        signature, content = detached, document
    def validate(crls: list[bytes], ocsps: list[bytes], revocation: Revocation) -> Any:
        return validate_signature(
            signature, content=content, field=validation.get("field"),
            trust_roots=run.trust_roots, at=run.at, poe=poe, certs=blobs["certs"],
            crls=crls, ocsps=ocsps, revocation=revocation)

    try:
        report = validate(blobs["crls"] + run.extra_crls, blobs["ocsps"] + run.extra_ocsps,
                          "require")
        if run.extra_crls or run.extra_ocsps:
            # pyHanko accepts the first "good" answer it finds, so a "good" captured at
            # signing would mask a revocation the auditor's later data dates before the POE:
            # that data is also heard on its own, and a revocation it shows prevails.
            later = validate(run.extra_crls, run.extra_ocsps, "soft")
            if later.subindication in _REVOKED and later.verdict is not Verdict.PASSED:
                report = later
    except VerificationError as exc:
        run.fail(name, exc.code, exc.message, **exc.evidence)
        return
    evidence = {"proof_of_existence": None if poe is None else utc_iso(poe),
                "recorded_verdict": validation.get("verdict"),
                **report.summary()}
    if not report.signer:  # fail closed: a signature that names no signer is no one's
        run.fail(name, "signer_missing", "the validation found no signer certificate, so "
                 "the signature cannot be the signer's the event names", **evidence)
        return
    if fingerprint(report.signer) != data["signer"]:
        run.fail(name, "signer_mismatch", "the signature's certificate is not the one the "
                 "event names", **evidence)
        return
    run.add(name, report.verdict, None if report.passed else (report.subindication or
                                                               "signature_not_valid"),
            report.message or "", **evidence)


_REVOKED = frozenset({"REVOKED", "REVOKED_NO_POE", "REVOKED_CA_NO_POE"})


def _poe_of(run: _Run, version: int) -> datetime | None:
    entry = next((e for e in run.manifest["events"] if e.get("version") == version), None)
    return None if entry is None else run.poe.get(entry.get("checkpoint"))


def _anchor_shown(run: _Run, name: str, entry: dict[str, Any],
                  data: dict[str, Any]) -> dict[str, Any]:
    """The anchor the ledger used, as the bundle describes it: shown, never trusted. Its
    certificate must still be the one the signed event names, and its subject that
    certificate's; the registry's word on it (pki, status) cannot be proven offline."""
    fingerprint_ = data["validation"].get("anchor")
    raw = run.file(entry.get("anchor"))
    shown: dict[str, Any] = {"fingerprint": fingerprint_,
                             "trusted_here": fingerprint_ in {fingerprint(r)
                                                              for r in run.trust_roots}}
    if raw is None:
        run.unsure(f"{name}.anchor", "anchor_missing", "the description of the signature's "
                   "trust anchor is missing", fingerprint=fingerprint_)
        return shown
    try:
        described = json.loads(raw)
        facts = certificate_facts(str(described["certificate"]))
    except (ValueError, TypeError, KeyError, VerificationError):
        run.fail(f"{name}.anchor", "malformed", "the trust anchor's description is unreadable")
        return shown
    if not (fingerprint_ == facts.fingerprint == described.get("fingerprint")
            and described.get("subject") == facts.subject):
        run.fail(f"{name}.anchor", "anchor_mismatch", "the trust anchor described is not the "
                 "one the signed event names", named=fingerprint_, described=facts.fingerprint)
        return shown
    shown.update(pki=described.get("pki"), subject=facts.subject,
                 status=described.get("status"))
    return shown


# (8) ------------------------------------------------------------------------------------------
def _document(run: _Run) -> None:
    document = run.document if run.document is not None else run.file(
        run.manifest.get("document"))
    if document is None:
        return
    registered = _registered_digest(run)
    if _digest(document) == registered:
        run.ok("document.digest", digest=registered)
    else:
        run.fail("document.digest", "document_mismatch", "the document's digest is not the "
                 "registered one", registered=registered, found=_digest(document))


# -- helpers ------------------------------------------------------------------------------------
def _destroyed(run: _Run) -> bool:
    return any(e["type"] == "record.destroyed" for e in run.events.values())


def _digest(data: bytes) -> str:
    return "sha-256:" + hashlib.sha256(data).hexdigest()


def _list(value: object) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []



@functools.lru_cache(maxsize=256)  # the same few roots name every bundle of a package
def _root_name(der: bytes) -> dict[str, str]:
    try:
        facts = certificate_facts(der)
    except VerificationError:
        return {"fingerprint": fingerprint(der), "subject": "(unreadable)"}
    return {"fingerprint": facts.fingerprint, "subject": facts.subject}

