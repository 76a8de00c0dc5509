"""`stele verify` is the auditor's offline tool: it starts with the proof kernel only, and keeps
the exit contract of api/cli/exits.py, run as the auditor runs it (the real command, in a
process of its own): 0 PASSED, 1 FAILED, 2 INDETERMINATE, 3 a bad option or an unreadable
bundle."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from pathlib import Path

import pytest

from ledger.bench.signatures import run_signature_bench
from ledger.config import Settings
from ledger.dev.pki import DevPki
from ledger.service import Ledger
from tests.bundles import roots_pem, signed_record, sqlite_settings
from tests.conftest import Clock
from verifiers.note import verifier_key

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

PROBE = """
import sys
from api.cli.entry import main
sys.argv = ["stele", "verify", "--help"]
try:
    main()
except SystemExit:
    pass
print(sorted({name.split(".")[0] for name in sys.modules}))
"""


def test_stele_verify_loads_no_ledger_database_or_web_code() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], check=True, capture_output=True,
                         text=True).stdout
    loaded = set(json.loads(out.strip().splitlines()[-1].replace("'", '"')))
    assert "verifiers" in loaded
    assert not loaded & {"ledger", "domain", "psycopg", "eventsourcing", "fastapi", "uvicorn",
                         "sqlite3"}


@dataclass(frozen=True)
class Auditor:
    """What an auditor holds: a bundle, the roots they trust, the log's published key."""

    cwd: Path
    log_key: str
    at: str  # a moment when everything in the bundle was valid

    def stele(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The real `stele` command (`stele verify` starts without the ledger)."""
        exe = shutil.which("stele", path=str(BIN))
        command = [exe] if exe else [sys.executable, "-c",
                                     "from api.cli.entry import main; main()"]
        return self.shell(command, *args)

    def shell(self, command: list[str], *args: str) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, PYTHONPATH=str(ROOT), PATH=f"{BIN}{os.pathsep}"
                   f"{os.environ.get('PATH', '')}")
        done = subprocess.run([*command, *args], cwd=self.cwd, env=env, capture_output=True,
                              text=True, timeout=300)
        assert "Traceback" not in done.stderr, done.stderr
        return done


@pytest.fixture(scope="module")
def auditor(tmp_path_factory: pytest.TempPathFactory, dev_pki: DevPki,
            signed_pdf: bytes) -> Auditor:
    """A signed record's bundle (bundle.zip), the same with an event altered (tampered.zip),
    the roots (roots.pem) and the log's key (log.vkey, as `stele log key > log.vkey`
    writes it)."""
    cwd = tmp_path_factory.mktemp("verify-cli")
    clock = Clock(datetime.fromisoformat("2026-11-27T08:00:00+00:00"))
    with Ledger(sqlite_settings(cwd / "log"), clock=clock) as ledger:
        bundle = signed_record(ledger, dev_pki, clock, signed_pdf).bundle()
        key = ledger.key.verifier
    (cwd / "bundle.zip").write_bytes(bundle)
    (cwd / "tampered.zip").write_bytes(_rewritten(bundle, "events/0002.json",
                                                  lambda b: b.replace(b"individual",
                                                                      b"organizatn")))
    (cwd / "roots.pem").write_bytes(roots_pem(dev_pki))
    (cwd / "log.vkey").write_text(key + "\n")
    (cwd / "not-a-zip.zip").write_bytes(b"PK\x03\x04 this is not a ZIP")
    return Auditor(cwd, key, clock().isoformat())


def _rewritten(bundle: bytes, name: str, change: object) -> bytes:
    out = BytesIO()
    with zipfile.ZipFile(BytesIO(bundle)) as old, zipfile.ZipFile(out, "w") as new:
        for info in old.infolist():
            data = old.read(info)
            new.writestr(info, change(data) if info.filename == name else data)  # type: ignore[operator]
    return out.getvalue()


OTHER_KEY = verifier_key("test.stele/log", b"\x01" * 32)  # another log's key, same name
TRUST = ("--trust", "roots.pem")


def _cases() -> list[object]:
    key = "{key}"  # the log's published key, filled in by the test
    cases = {
        # (arguments, exit status, how the bottom line ends, or a word of the error)
        "passed": (["bundle.zip", *TRUST, "--log-key", key], 0, "PASSED"),
        "no_log_key": (["bundle.zip", *TRUST], 2,
                       "INDETERMINATE (log.key: log_key_not_pinned)"),
        "wrong_log_key": (["bundle.zip", *TRUST, "--log-key", OTHER_KEY], 1,
                          "FAILED (log.key: log_key_mismatch)"),
        "no_trust": (["bundle.zip", "--log-key", key], 2, "tsa.chain: tsa_untrusted)"),
        "tampered": (["tampered.zip", *TRUST, "--log-key", key], 1,
                     "FAILED (bundle.files: file_digest_mismatch)"),
        "unreadable_bundle": (["not-a-zip.zip", *TRUST, "--log-key", key], 3, "malformed"),
        "missing_bundle": (["nowhere.zip", *TRUST, "--log-key", key], 3, "nowhere.zip"),
        "bad_log_key": (["bundle.zip", *TRUST, "--log-key", "not a key"], 3, "--log-key"),
        "bad_trust": (["bundle.zip", "--trust", "bundle.zip", "--log-key", key], 3, "--trust"),
        "unknown_option": (["bundle.zip", "--frobnicate"], 3, "--frobnicate"),
    }
    return [pytest.param(*case, id=name) for name, case in cases.items()]


@pytest.mark.slow
@pytest.mark.parametrize(("args", "status", "said"), _cases())
def test_stele_verify_exit_status(auditor: Auditor, args: list[str], status: int,
                                  said: str) -> None:
    args = [a.format(key=auditor.log_key) for a in args]
    done = auditor.stele("verify", *args, "--at", auditor.at)
    assert done.returncode == status, done.stdout[-3000:] + done.stderr
    if status == 3:  # one line on stderr says what is wrong; no report
        assert said in done.stderr and done.stdout == "", done.stderr
    else:
        assert done.stdout.strip().splitlines()[-1].endswith(said), done.stdout[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("at", ["yesterday", "2026-11-27T08:00:00"], ids=["not_a_time",
                                                                          "no_zone"])
def test_stele_verify_refuses_a_bad_time(auditor: Auditor, at: str) -> None:
    done = auditor.stele("verify", "bundle.zip", *TRUST, "--log-key", auditor.log_key,
                         "--at", at)
    assert done.returncode == 3, done.stdout[-3000:] + done.stderr
    assert "--at" in done.stderr and done.stdout == ""


@pytest.mark.slow
def test_stele_verify_without_a_pinned_key_says_so(auditor: Auditor) -> None:
    done = auditor.stele("verify", "bundle.zip", *TRUST, "--at", auditor.at, "--json")
    assert done.returncode == 2
    report = json.loads(done.stdout)
    assert report["bottom_line"] == "INDETERMINATE"
    assert {c["code"] for c in report["checks"] if c["verdict"] != "PASSED"} == {
        "log_key_not_pinned"}


@pytest.mark.slow
def test_stele_verify_against_another_logs_key_names_the_checkpoint(auditor: Auditor) -> None:
    done = auditor.stele("verify", "bundle.zip", *TRUST, "--log-key", OTHER_KEY,
                         "--at", auditor.at, "--json")
    assert done.returncode == 1
    failed = {(c["name"].split("[")[0], c["code"]) for c in json.loads(done.stdout)["checks"]
              if c["verdict"] == "FAILED"}
    assert {("log.key", "log_key_mismatch"), ("checkpoint", "checkpoint_key_mismatch")} <= failed


@pytest.mark.slow
def test_the_documented_command_line_passes(auditor: Auditor) -> None:
    """README's and docs/evidence-bundle.md's line, as a shell runs it."""
    done = auditor.shell(["bash", "-c", 'stele verify bundle.zip --trust roots.pem '
                          f'--log-key "$(cat log.vkey)" --at {auditor.at}'])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert done.stdout.strip().endswith("PASSED")


@pytest.mark.slow
def test_signature_bench_measures_what_performance_md_reports(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, dev=True)
    result = run_signature_bench(settings, signatures=2)
    for fmt in ("pades_b_lt", "cms"):
        latency = result["sign_latency"][fmt]
        assert latency["n"] == 2 and latency["median_ms"] > 0
        assert latency["baseline_pyhanko"]["median_ms"] > 0
    assert result["throughput"]["two_workers_per_s"] > 0
    assert result["verify_bundle"]["verdict"] == "PASSED"
    assert (result["verify_bundle"]["events"], result["verify_bundle"]["signatures"]) == (10, 2)
