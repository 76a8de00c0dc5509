"""The inspector's pages: a document's digest (hashed in the browser) looked up, each record
that registers it judged by the node's own verifier, its life, signatures and proofs; the
evidence bundle for a court; the offline bundle verifier."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections import OrderedDict
from typing import Annotated, Any

from cryptography import x509
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from api.http.web.render import STATIC, PageError, Viewer, ledger_of, page, viewer
from domain.errors import DomainError
from ledger.access.policy import may_see
from ledger.bundle import blob_path, export, node_roots, prove
from ledger.errors import NotAnchoredError
from ledger.service import Ledger
from verifiers.bundle import read_bundle, verify_bundle
from verifiers.report import Check, Report, Verdict

router = APIRouter(include_in_schema=False)
HEX = re.compile(r"^[0-9a-f]{64}$")
SHOWN = 20  # records of one digest shown on a page


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    return page(request, "inspect.html", log_key=ledger_of(request).key.verifier,
                digest="", records=None, total=0)


@router.get("/inspect", response_class=HTMLResponse)
def inspect(request: Request,
            digest: Annotated[str, Query(max_length=80)] = "") -> HTMLResponse:
    ledger, who = ledger_of(request), viewer(request)
    hexdigest = digest.strip().lower().removeprefix("sha-256:")
    if not HEX.match(hexdigest):
        raise PageError(400, "invalid_input", field="digest")
    ids = ledger.records.records_with("sha-256:" + hexdigest)
    records = [record_view(request, rid, who) for rid in ids[:SHOWN]]
    return page(request, "inspect.html", who=who, log_key=ledger.key.verifier,
                digest=hexdigest, records=records, total=len(ids))


@router.post("/inspect/bundle")
async def inspect_bundle(request: Request) -> JSONResponse:
    """A dropped evidence bundle (the ZIP, as the body) verified in full on this node, as
    `stele verify` would: this log's key pinned and this node's roots trusted. The page shows
    the report beside the browser's own (which leaves out timestamps and signatures)."""
    ledger = ledger_of(request)
    data = await request.body()

    def verify() -> Report:
        now = ledger.clock()
        files = read_bundle(data)
        return verify_bundle(files, trust_roots=node_roots(ledger, now), at=now,
                             log_key=ledger.key.verifier, document=_held(ledger, files))

    report = await run_in_threadpool(verify)
    return JSONResponse(report.as_json())


@router.get("/records/{record}/evidence.zip")
def evidence(record: str, request: Request) -> Response:
    ledger, who = ledger_of(request), viewer(request)
    try:
        described = ledger.records.describe(record)
    except DomainError:  # no such record, or not a record's id
        raise PageError(404, "not_found") from None
    if not may_see(who.principal, described["state"]):
        raise PageError(403, "forbidden", role=who.role)
    try:
        data = export(ledger, record, described=described)
    except NotAnchoredError:
        raise PageError(409, "not_yet_anchored") from None
    return Response(data, media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="evidence-{described["id"]}.zip"'})


@router.get("/verifier.html", response_class=HTMLResponse)
def offline_verifier(request: Request) -> HTMLResponse:
    """The bundle verifier as one page with its scripts inside, to save and open from disk:
    its own CSP allows exactly those scripts (by hash), nothing else."""
    scripts = [(STATIC / "js" / name).read_text("utf-8")
               for name in ("zip.js", "bundle-verify.js", "verify-page.js", "offline.js")]
    css = (STATIC / "css" / "stele.css").read_text("utf-8")
    csp = offline_csp(scripts, css)
    answer = page(request, "offline.html", scripts=scripts, css=css, csp=csp,
                  log_key=ledger_of(request).key.verifier)
    answer.headers["Content-Security-Policy"] = csp
    answer.headers["Content-Disposition"] = 'inline; filename="stele-verifier.html"'
    return answer


def offline_csp(scripts: list[str], css: str) -> str:
    """The offline page's policy, in its header and in its own <meta> (which is what holds
    once it is saved to disk): its scripts and style by hash, nothing from anywhere."""
    allowed = " ".join(_csp_hash(s) for s in scripts)
    return (f"default-src 'none'; script-src {allowed}; style-src {_csp_hash(css)}; "
            "img-src data:; form-action 'none'; base-uri 'none'")


def _held(ledger: Ledger, files: dict[str, bytes]) -> bytes | None:
    """The document a bundle without one is of, when this node holds it: its signatures are
    then validated too. (The verifier checks it is the record's, by the created event.)"""
    try:
        content = json.loads(files["manifest.json"]).get("content") or {}
        digest = content.get("digest")
    except (KeyError, ValueError, AttributeError):
        return None
    if "document" in files or not isinstance(digest, str):
        return None
    try:
        return ledger.content.get(digest) if ledger.content.has(digest) else None
    except DomainError:  # not a digest
        return None


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


class Verdicts:
    """The node's recent verdicts, each kept while what it rests on is unchanged: the record's
    version, the registry's anchors (a suspension changes verdicts) and the day (`at` is
    now). A bundle proves the same whichever later checkpoint it is exported with."""

    SIZE = 256

    def __init__(self) -> None:
        self.kept: OrderedDict[tuple[Any, ...], tuple[Report, dict[str, bytes]]] = OrderedDict()
        self.lock = threading.Lock()

    def prove(self, ledger: Ledger, described: dict[str, Any]
              ) -> tuple[Report, dict[str, bytes]]:
        anchors = tuple((a.fingerprint, a.version) for a in ledger.trust.anchors())
        key = (described["id"], len(described["events"]), anchors, ledger.clock().date())
        with self.lock:
            if key in self.kept:
                self.kept.move_to_end(key)
                return self.kept[key]
        proven = prove(ledger, described["id"], described)
        with self.lock:
            self.kept[key] = proven
            while len(self.kept) > self.SIZE:
                self.kept.popitem(last=False)
        return proven


def verdicts(request: Request) -> Verdicts:
    if not hasattr(request.app.state, "verdicts"):
        request.app.state.verdicts = Verdicts()
    kept: Verdicts = request.app.state.verdicts
    return kept


def record_view(request: Request, record: str, who: Viewer) -> dict[str, Any]:
    """One record as the pages show it: the node's verdict always; its life, signatures and
    proofs when the viewer may see them (`may_see`)."""
    ledger = ledger_of(request)
    described = ledger.records.describe(record)
    state = described["state"]
    try:
        report, files = verdicts(request).prove(ledger, described)
    except NotAnchoredError:
        report, files = Report(checks=(Check(
            "log.anchored", Verdict.INDETERMINATE, "not_yet_anchored",
            "an event of the record is not yet under an anchored checkpoint"),)), {}
    view: dict[str, Any] = {
        "id": described["id"], "kind": described["kind"], "verdict": report.bottom_line.value,
        "failures": [c.as_json() for c in report.failures][:8],
        "status": state.get("status"), "visible": may_see(who.principal, state),
    }
    if not view["visible"]:
        return view
    manifest = json.loads(files["manifest.json"]) if files else {"checkpoints": []}
    poe = report.summary.get("proof_of_existence", {})
    checks = {c.name: c for c in report.checks}
    anchors = {a["fingerprint"]: a for a in report.summary.get("anchors_in_bundle", [])}
    view.update(
        state=state, metadata=state.get("metadata") or {}, checks=report.checks,
        timeline=[{"version": e["version"], "type": e["event"]["type"],
                   "at": e["event"]["at"], "actor": e["event"]["actor"],
                   "data": e["event"]["data"], "poe": poe.get(str(e["version"]))}
                  for e in described["events"]],
        signatures=[_signature(e, checks.get(f"signature[{e['version']}]"), files, anchors)
                    for e in described["events"] if e["event"]["type"] == "record.signed"],
        checkpoints=[{"size": cp["size"], "note": files[cp["note"]].decode("utf-8"),
                      "tsas": [a["tsa"] for a in cp.get("anchors", [])]}
                     for cp in manifest["checkpoints"] if cp["note"] in files],
    )
    return view


def _signature(event: dict[str, Any], check: Check | None, files: dict[str, bytes],
               anchors: dict[str, dict[str, Any]]) -> dict[str, Any]:
    data = event["event"]["data"]
    validation = data.get("validation") or {}
    return {"version": event["version"], "class": data.get("signer_class"),
            "format": data.get("format"), "signer": _subject(files, data.get("signer")),
            "signing_time": data.get("signing_time"),
            "best_time": validation.get("best_signature_time"),
            "anchor": anchors.get(validation.get("anchor") or "", {}).get(
            "subject", validation.get("anchor")),
            "verdict": None if check is None else check.verdict.value,
            "code": None if check is None else check.code,
            "poe": None if check is None else check.evidence.get("proof_of_existence")}


def _subject(files: dict[str, bytes], digest: str | None) -> str | None:
    """A captured certificate's subject, or its digest when the bundle lacks it."""
    if digest is None:
        return None
    blob = files.get(blob_path(digest))
    if blob is None:
        return digest
    try:
        return x509.load_der_x509_certificate(blob).subject.rfc4514_string()
    except ValueError:
        return digest
