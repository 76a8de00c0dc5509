"""`stele verify` is the auditor's offline tool: it starts with the proof kernel only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.bench.signatures import run_signature_bench
from ledger.config import Settings

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
