"""`stele bench --signatures N`: the cost of validating signatures as they arrive, and of
verifying an evidence bundle offline.

- Sign-event latency, per format (PAdES B-LT PDF, detached CMS with its CRLs and OCSP
  supplied): `record.sign` through the lifecycle service, median and p95 over N records;
  the baseline, measured in the same run on the same inputs, is pyHanko's validation alone
  (`verifiers.signature.validate_signature`), so the ratio is what the ledger adds (loading,
  anchor lookup, storing the captured data, the event).
- Throughput: N CMS signatures by one worker process, then by two at once on the same store.
- Offline verification of a typical bundle (10 events, 2 signatures, 3 evidence-record
  renewals): `verifiers.bundle.verify_bundle` in process, and `stele verify` as a command
  (with Python's start-up), medians.
Documents are signed before the clock starts: signing is the signer's cost, not the ledger's.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from domain.envelope import Actor
from ledger.bench.log import fresh_database
from ledger.bundle import export
from ledger.config import Settings
from ledger.dev.pki import DevPki, blank_pdf, register_roots, sign_cms, sign_pdf
from ledger.longterm.renewal import renew
from ledger.records import Command
from ledger.service import Ledger
from verifiers.bundle import read_bundle, verify_bundle
from verifiers.certs import certificates_pem
from verifiers.signature import validate_signature

AGENCY = Actor("bench", "agency", "000.00.00.G01")
COMMITTEE = Actor("bench-committee", "committee", "000.00.00.B01")


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median_ms": round(statistics.median(ordered) * 1000, 1),
            "p95_ms": round(p95 * 1000, 1), "n": len(ordered)}


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _metadata(i: int, tag: str) -> dict[str, Any]:
    return {"doc_type": "Quyết định", "number": str(i), "notation": f"{i}/QĐ-{tag}",
            "issued": "2020-01-02", "issuer": AGENCY.agency, "subject": f"bench {tag} {i}",
            "language": "vi", "pages": 1, "access": "open", "reliability": "born_digital"}


def _create(ledger: Ledger, i: int, tag: str, body: bytes) -> str:
    digest = ledger.records.put_content(body, agency=AGENCY.agency)
    (event,) = ledger.records.do(AGENCY, "record.create", metadata=_metadata(i, tag), retention=10,
                                 schedule="S-1", content={"digest": digest, "size": len(body),
                                                          "media_type": "application/pdf"})
    return event.record


class _Setup:
    """A scratch ledger with the dev PKI's roots registered, and fresh revocation data."""

    def __init__(self, settings: Settings, directory: Path) -> None:
        now = datetime.now(UTC)
        self.settings = settings
        self.pki = DevPki.create(directory / "pki", now - timedelta(days=1))
        self.ledger = Ledger(settings)
        register_roots(self.ledger, self.pki, COMMITTEE)
        blobs = [self.pki.crl("NEAC CA", now), self.pki.crl("NEAC", now),
                 self.pki.ocsp_response("individual", now)]
        self.revocation = blobs
        self.revocation_digests = [self.ledger.records.put_content(b, agency=AGENCY.agency)
                                   for b in blobs]
        self.roots = [r.public_bytes(serialization.Encoding.DER) for r in self.pki.roots.values()]


def _latencies(setup: _Setup, n: int) -> dict[str, Any]:
    ledger, pki, person = setup.ledger, setup.pki, setup.pki.party("individual")
    out: dict[str, Any] = {}
    pdfs = [sign_pdf(blank_pdf(f"QUYET DINH {i}"), person, level="B-LT", pki=pki,
                     field="Individual") for i in range(n)]
    bodies = [f"record {i}".encode() for i in range(n)]
    signatures = [sign_cms(body, person, pki=pki) for body in bodies]
    now = datetime.now(UTC)
    # PAdES B-LT: the PDF is the record's content and carries its own revocation data.
    ours, bare = [], []
    for i, pdf in enumerate(pdfs):
        rid = _create(ledger, i, "PADES", pdf)
        ours.append(_timed(partial(ledger.records.do, AGENCY, "record.sign", record=rid,
                                   signer_class="individual")))
        bare.append(_timed(partial(validate_signature, pdf, trust_roots=setup.roots, at=now)))
    out["pades_b_lt"] = {**_ms(ours), "baseline_pyhanko": _ms(bare),
                         "ratio": round(statistics.median(ours) / statistics.median(bare), 2)}
    ours, bare = [], []
    for i, (body, sig) in enumerate(zip(bodies, signatures, strict=True)):
        rid = _create(ledger, i, "CMS", body)
        digest = ledger.records.put_content(sig, agency=AGENCY.agency)
        ours.append(_timed(partial(
            ledger.records.do, AGENCY, "record.sign", record=rid, signer_class="individual",
            signature=digest, validation_data=setup.revocation_digests)))
        bare.append(_timed(partial(
            validate_signature, sig, content=body, trust_roots=setup.roots, at=now,
            crls=setup.revocation[:2], ocsps=setup.revocation[2:])))
    out["cms"] = {**_ms(ours), "baseline_pyhanko": _ms(bare),
                  "ratio": round(statistics.median(ours) / statistics.median(bare), 2)}
    return out


def _sign_worker(settings: Settings, jobs: list[tuple[str, str]], digests: list[str],
                 ready: Any, start: Any, done: Any) -> None:
    with Ledger(replace(settings, create_tables=False)) as ledger:
        ready.put(True)
        start.wait()
        for rid, signature in jobs:
            ledger.records.do(AGENCY, "record.sign", record=rid, signer_class="individual",
                              signature=signature, validation_data=digests)
    done.put(len(jobs))


def _throughput(setup: _Setup, n: int) -> dict[str, Any]:
    """CMS signatures per second, by one worker process and by two on the same store."""
    ledger, pki, person = setup.ledger, setup.pki, setup.pki.party("individual")
    rates = {}
    for workers, tag in ((1, "ONE"), (2, "TWO")):
        jobs = []
        for i in range(n):
            body = f"throughput {tag} {i}".encode()
            rid = _create(ledger, i, tag, body)
            jobs.append((rid, ledger.records.put_content(sign_cms(body, person, pki=pki),
                                                          agency=AGENCY.agency)))
        ctx = multiprocessing.get_context("spawn")
        ready, start, done = ctx.Queue(), ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=_sign_worker, args=(
            setup.settings, jobs[k::workers], setup.revocation_digests, ready, start, done))
            for k in range(workers)]
        for p in procs:
            p.start()
        for _ in procs:  # every worker has imported and opened its ledger
            ready.get(timeout=120)
        began = time.perf_counter()
        start.set()
        signed = sum(done.get(timeout=600) for _ in procs)
        elapsed = time.perf_counter() - began
        for p in procs:
            p.join()
        rates[workers] = signed / elapsed
    return {"signatures": n, "one_worker_per_s": round(rates[1], 1),
            "two_workers_per_s": round(rates[2], 1),
            "speedup": round(rates[2] / rates[1], 2)}


def _typical_bundle(setup: _Setup, directory: Path) -> dict[str, Any]:
    """10 events, 2 signatures (PAdES B-LT, individual and agency), 3 renewals."""
    ledger, pki = setup.ledger, setup.pki
    pdf = sign_pdf(blank_pdf("QUYET DINH bundle"), pki.party("individual"), level="B-LT",
                   pki=pki, field="Individual")
    pdf = sign_pdf(pdf, pki.party("agency"), level="B-LT", pki=pki, field="Agency")
    rid = _create(ledger, 1, "BUNDLE", pdf)
    ledger.records.do(AGENCY, "dossier.open", code=f"{AGENCY.agency}.2020.HS-B", title="Hồ sơ",
                      retention=10)
    commands = [Command("record.sign", {"record": rid, "signer_class": c, "field": f})
                for c, f in (("individual", "Individual"), ("organization", "Agency"))]
    commands.append(Command("record.file", {"record": rid,
                                            "dossier": f"{AGENCY.agency}.2020.HS-B"}))
    ledger.records.execute(AGENCY, commands)
    for k in range(3):  # 3 holds placed and released: 10 events in all
        ledger.records.do(AGENCY, "record.hold.place", record=rid, hold=f"H{k}", reason="audit")
        ledger.records.do(AGENCY, "record.hold.release", record=rid, hold=f"H{k}", reason="done")
    ledger.log.sync()
    for _ in range(3):
        renew(ledger.longterm.anchorer, reason="bench")
    ledger.log.sync()
    bundle = export(ledger, rid, with_content=True)
    roots = setup.roots + list(ledger.longterm.anchorer.roots())
    files = read_bundle(bundle)
    key = ledger.key.verifier  # pinned, as an auditor does
    runs = [_timed(lambda: verify_bundle(files, trust_roots=roots, at=datetime.now(UTC),
                                         log_key=key)) for _ in range(5)]
    report = verify_bundle(files, trust_roots=roots, at=datetime.now(UTC), log_key=key)
    path, trust = directory / "bundle.zip", directory / "roots.pem"
    path.write_bytes(bundle)
    trust.write_bytes(certificates_pem(roots))
    stele = [str(Path(sys.executable).parent / "stele"), "verify", str(path), "--trust",
             str(trust), "--log-key", key]
    cli = [_timed(lambda: subprocess.run(stele, check=True, capture_output=True))
           for _ in range(3)]
    return {"events": len(report.summary["events"]),
            "signatures": sum(c.name.startswith("signature[") for c in report.checks),
            "renewals": 3, "bundle_bytes": len(bundle),
            "verdict": report.bottom_line.value, "in_process": _ms(runs),
            "stele_verify_command": _ms(cli)}


def run_signature_bench(settings: Settings, *, signatures: int) -> dict[str, Any]:
    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform()},
        "database": settings.database.kind, "started": datetime.now(UTC).isoformat(),
    }
    with fresh_database(settings.database, "sign") as (database, directory):
        # A scratch ledger, signing with the development PKI: development trust by design.
        scratch = replace(settings, data_dir=directory, database=database, dev=True)
        setup = _Setup(scratch, directory)
        try:
            results["sign_latency"] = _latencies(setup, signatures)
            results["throughput"] = _throughput(setup, signatures)
            with tempfile.TemporaryDirectory() as tmp:
                results["verify_bundle"] = _typical_bundle(setup, Path(tmp))
        finally:
            setup.ledger.close()
    return results
