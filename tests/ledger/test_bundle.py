"""Evidence bundles: exported by the ledger, verified offline by verifiers/ alone."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.serialization import Encoding

from api.cli.main import cli
from ledger.config import Settings
from ledger.dev.pki import DevPki
from ledger.records import Command
from ledger.service import Ledger
from tests.bundles import Scene, roots_der, signed_record
from tests.conftest import Clock, database_url
from tests.ledger.builders import AGENCY
from verifiers.bundle import read_bundle, verify_bundle
from verifiers.note import verifier_key
from verifiers.report import Verdict


@pytest.fixture
def scene(settings: Settings, clock: Clock, dev_pki: DevPki,
          signed_pdf: bytes) -> Iterator[Scene]:
    with Ledger(settings, clock=clock) as ledger:
        yield signed_record(ledger, dev_pki, clock, signed_pdf)


def _verify(scene: Scene, bundle: bytes, **kw: object) -> tuple[Verdict, dict[str, object]]:
    options = {"trust_roots": roots_der(scene.pki), "at": scene.clock(),
               "log_key": scene.ledger.key.verifier, **kw}
    report = verify_bundle(read_bundle(bundle), **options)  # type: ignore[arg-type]
    return report.bottom_line, report.as_json()


def _codes(report: dict[str, object]) -> set[str]:
    return {c.get("code") for c in report["checks"] if c["verdict"] != "PASSED"}  # type: ignore


def test_a_bundle_reproves_the_record_and_its_signatures(scene: Scene) -> None:
    bundle = scene.bundle()
    verdict, report = _verify(scene, bundle)
    assert verdict is Verdict.PASSED, _codes(report)
    checks = {c["name"]: c for c in report["checks"]}
    assert {"signature[2]", "signature[3]", "events.chain", "document.digest"} <= set(checks)
    assert checks["signature[2]"]["evidence"]["proof_of_existence"]
    summary = report["summary"]
    assert len(summary["proof_of_existence"]) == 3  # every event proven to exist
    assert all(a["trusted_here"] for a in summary["anchors_in_bundle"])


def test_a_bundle_is_self_describing(scene: Scene) -> None:
    with zipfile.ZipFile(BytesIO(scene.bundle())) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        names = set(archive.namelist())
    assert manifest["format"] == "stele-evidence-bundle"
    assert {f["path"] for f in manifest["files"]} | {"manifest.json"} == names
    kinds = {f["kind"] for f in manifest["files"]}
    assert kinds >= {"event", "inclusion_proof", "checkpoint", "timestamp", "evidence_record",
                     "certificate", "crl", "ocsp", "anchor", "document"}
    assert scene.bundle() == scene.bundle()  # the same record, at the same time: same bytes


def test_trust_comes_only_from_the_caller(scene: Scene) -> None:
    verdict, report = _verify(scene, scene.bundle(), trust_roots=[])
    assert verdict is Verdict.INDETERMINATE
    assert not any(a["trusted_here"] for a in report["summary"]["anchors_in_bundle"])


def test_the_document_is_needed_to_revalidate_signatures(scene: Scene) -> None:
    bundle = scene.bundle(with_content=False)
    verdict, report = _verify(scene, bundle)
    assert verdict is Verdict.INDETERMINATE
    assert _codes(report) == {"document_missing"}
    verdict, _ = _verify(scene, bundle, document=scene.document)
    assert verdict is Verdict.PASSED
    verdict, report = _verify(scene, bundle, document=scene.document + b"\n")
    assert verdict is Verdict.FAILED
    assert "document_mismatch" in _codes(report)


def test_a_pinned_log_key_must_be_the_bundles(scene: Scene) -> None:
    bundle = scene.bundle()
    verdict, _ = _verify(scene, bundle, log_key=scene.ledger.key.verifier)
    assert verdict is Verdict.PASSED
    other = verifier_key(scene.ledger.settings.origin, b"\x01" * 32)  # another log's key
    verdict, report = _verify(scene, bundle, log_key=other)
    assert verdict is Verdict.FAILED
    assert "log_key_mismatch" in _codes(report)


def test_a_destroyed_record_exports_its_tombstone_and_history(scene: Scene) -> None:
    rid = scene.record
    scene.ledger.records.execute(AGENCY, [
        Command("record.appraise", {"record": rid, "council": "HĐ", "minutes": "BB-1",
                                    "decision": "destroy", "retention": 10}),
        Command("record.destruction.approve", {"record": rid, "decision": "QĐ-HUY-1"}),
    ])
    scene.ledger.records.do(AGENCY, "record.destruction.execute", record=rid, minutes="BB-HUY-1",
                            replicas_purged=1)
    bundle = scene.bundle()
    files = read_bundle(bundle)
    assert "document" not in files
    verdict, report = _verify(scene, bundle)
    assert verdict is Verdict.INDETERMINATE
    assert _codes(report) == {"content_destroyed"}
    assert report["summary"]["events"][-1]["type"] == "record.destroyed"
    assert report["summary"]["destroyed"] is True


def test_cli_exports_and_verifies_with_exit_codes(scene: Scene, tmp_path: Path) -> None:
    settings = scene.ledger.settings
    store = ["--data-dir", str(settings.data_dir), "--db", _url(settings)]
    runner = CliRunner(env={"STELE_LOG_ORIGIN": settings.origin, "STELE_ENV": "dev"})
    out = tmp_path / "bundle.zip"
    result = runner.invoke(cli, ["evidence", scene.record, "-o", str(out), "--with-content",
                                 *store])
    assert result.exit_code == 0, result.output
    roots = tmp_path / "roots.pem"
    roots.write_bytes(b"".join(r.public_bytes(Encoding.PEM) for r in scene.pki.roots.values()))
    at = ["--at", scene.clock().isoformat(), "--log-key", scene.ledger.key.verifier]
    result = runner.invoke(cli, ["verify", str(out), "--trust", str(roots), *at])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("PASSED")
    assert "proven to exist by" in result.output
    result = runner.invoke(cli, ["verify", str(out), *at, "--json"])  # nothing trusted
    assert result.exit_code == 2
    assert json.loads(result.output)["bottom_line"] == "INDETERMINATE"
    broken = tmp_path / "broken.zip"
    _rewrite(out, broken, "events/0002.json", lambda b: b.replace(b"individual", b"organizatn"))
    result = runner.invoke(cli, ["verify", str(broken), "--trust", str(roots), *at])
    assert result.exit_code == 1, result.output
    result = runner.invoke(cli, ["verify", str(tmp_path / "roots.pem")])  # not a ZIP
    assert result.exit_code != 0
    assert "Traceback" not in result.output


def _rewrite(source: Path, target: Path, name: str, change: object) -> None:
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, change(data) if info.filename == name else data)  # type: ignore


def _url(settings: Settings) -> str:
    return database_url(settings.database)

